"""The core is pure torch: importing it must not import ComfyUI."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HOST_MODULES = ("comfy", "comfy_api", "comfy_extras", "folder_paths", "nodes", "server", "execution")


def test_core_imports_no_comfyui():
    """Every module, subpackages included (page/, lettering/, mllm/, ...)."""
    code = (
        "import sys, pkgutil, importlib, diffsensei_core\n"
        "for m in pkgutil.walk_packages(diffsensei_core.__path__, 'diffsensei_core.'):\n"
        "    if m.name.endswith('__main__'): continue\n"
        "    importlib.import_module(m.name)\n"
        f"bad = sorted(m for m in sys.modules if m.split('.')[0] in {HOST_MODULES!r})\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)
