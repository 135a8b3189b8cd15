"""Find the ComfyUI checkout to run against (COMFYUI_PATH, the tree this pack sits in, ~/comfy/ComfyUI) and its Python.

As a command: prints the checkout (or, with ``--python``, its Python), or nothing and exit 1 when none is found.
"""

import os
import sys
from pathlib import Path


def find_comfyui() -> Path | None:
    here = Path(__file__).resolve().parents[1]
    candidates = [os.environ.get("COMFYUI_PATH"), here.parent.parent if here.parent.name == "custom_nodes" else None,
                  Path.home() / "comfy" / "ComfyUI"]
    for candidate in candidates:
        if candidate and (Path(candidate) / "comfy" / "model_patcher.py").is_file():
            return Path(candidate).resolve()
    return None


def venv_python(root: Path) -> Path | None:
    """ComfyUI's own Python next to or inside the checkout (a venv, or the Windows portable build), if there is one."""
    for folder in (root.parent / "venv", root / "venv", root / ".venv", root.parent / ".venv"):
        for rel in ("bin/python", "Scripts/python.exe"):
            if (folder / rel).is_file():
                return folder / rel
    portable = root.parent / "python_embeded" / "python.exe"
    return portable if portable.is_file() else None


if __name__ == "__main__":
    found = find_comfyui()
    if found is None:
        sys.exit(1)
    if "--python" in sys.argv[1:]:
        python = venv_python(found)
        if python is None:
            sys.exit(1)
        found = python
    sys.stdout.write(f"{found}\n")
