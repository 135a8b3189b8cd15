"""Find ComfyUI checkouts to run against, and each one's Python.

The runner takes the first of: ``$COMFYUI_PATH``, the ComfyUI tree this pack sits in (``<ComfyUI>/custom_nodes/
<pack>``), ``~/comfy/ComfyUI``. The test command runs every host it finds: ``$COMFYUI_PATHS`` (separated by
``os.pathsep``) when set, else those three plus ``~/comfy-new/ComfyUI`` (the project's current-ComfyUI host).

As a command: prints the checkout (``--python``: its Python; ``--all``: one ``checkout<TAB>python`` line per host),
or nothing and exit 1 when none is found.
"""

import os
import sys
from pathlib import Path

PACK = Path(__file__).resolve().parents[1]


def is_comfyui(path) -> bool:
    return bool(path) and (Path(path) / "comfy" / "model_patcher.py").is_file()


def _candidates() -> list:
    installed = PACK.parent.parent if PACK.parent.name == "custom_nodes" else None
    return [os.environ.get("COMFYUI_PATH"), installed, Path.home() / "comfy" / "ComfyUI"]


def find_comfyui() -> Path | None:
    """The checkout the runner uses, or None."""
    return next((Path(c).resolve() for c in _candidates() if is_comfyui(c)), None)


def find_all() -> list[Path]:
    """Every checkout the tests run against, each once, in order."""
    listed = os.environ.get("COMFYUI_PATHS")
    candidates = listed.split(os.pathsep) if listed else [*_candidates(), Path.home() / "comfy-new" / "ComfyUI"]
    found = [Path(c).resolve() for c in candidates if is_comfyui(c)]
    return list(dict.fromkeys(found))


def venv_python(root: Path) -> Path | None:
    """ComfyUI's own Python next to or inside the checkout (a venv, or the Windows portable build), if there is one."""
    for folder in (root.parent / "venv", root / "venv", root / ".venv", root.parent / ".venv"):
        for rel in ("bin/python", "Scripts/python.exe"):
            if (folder / rel).is_file():
                return folder / rel
    portable = root.parent / "python_embeded" / "python.exe"
    return portable if portable.is_file() else None


def version(root: Path) -> str:
    """ComfyUI's version string from ``comfyui_version.py`` ("?" when absent)."""
    try:
        text = (Path(root) / "comfyui_version.py").read_text(encoding="utf-8")
    except OSError:
        return "?"
    return next((line.split("=", 1)[1].strip().strip("\"'") for line in text.splitlines()
                 if line.startswith("__version__")), "?")


def _main(argv: list[str]) -> int:
    if "--all" in argv:
        hosts = find_all()
        sys.stdout.write("".join(f"{root}\t{venv_python(root) or ''}\t{version(root)}\n" for root in hosts))
        return 0 if hosts else 1
    found = find_comfyui()
    if found is not None and "--python" in argv:
        found = venv_python(found)
    if found is None:
        return 1
    sys.stdout.write(f"{found}\n")
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
