"""The newest ComfyUI frontend for the browser tests: ``comfyui-frontend-package`` from PyPI (version pinned below),
installed with pip into ``tests/web/.frontend/<version>/`` (ignored by git, never committed). The browser tests run
each host twice more with it (classic canvas and Nodes 2.0), starting ComfyUI with ``--front-end-root``.

    python tests/web/install_frontend.py     # installs it unless it is there; prints its static folder

``scripts/test.sh`` runs this before the browser tests; without it those two modes are skipped with this command as
the reason. ``DIFFSENSEI_FRONTEND_ROOT`` points the tests at another frontend's static folder instead.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

FRONTEND_VERSION = "1.58.1"  # the newest on PyPI when last checked (2026-12-07)
TARGET = Path(__file__).resolve().parent / ".frontend" / FRONTEND_VERSION


def static_root() -> Path | None:
    """The static folder to pass to ``--front-end-root``, or None when the package is not installed."""
    override = os.environ.get("DIFFSENSEI_FRONTEND_ROOT")
    folder = Path(override) if override else TARGET / "comfyui_frontend_package" / "static"
    return folder if (folder / "index.html").is_file() else None


def install() -> Path:
    """Install the pinned package (once) and return its static folder; raises CalledProcessError if pip fails."""
    found = static_root()
    if found:
        return found
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-deps",
                    "--target", str(TARGET), f"comfyui-frontend-package=={FRONTEND_VERSION}"], check=True)
    found = static_root()
    if found is None:
        raise FileNotFoundError(f"comfyui-frontend-package {FRONTEND_VERSION} installed into {TARGET} has no "
                                "static/index.html; delete that folder and run this again")
    return found


if __name__ == "__main__":
    sys.stdout.write(f"{install()}\n")
