"""Print the ComfyUI checkout to test against, or nothing: COMFYUI_PATH, the tree this pack sits in, ~/comfy/ComfyUI."""

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


if __name__ == "__main__":
    found = find_comfyui()
    if found is None:
        sys.exit(1)
    sys.stdout.write(f"{found}\n")
