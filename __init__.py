"""ComfyUI-DiffSensei: customized multi-character manga panels (DiffSensei, CVPR 2025) in ComfyUI.

Importing this package does nothing but define the V3 entry point; the nodes (and everything they
import) load when ComfyUI calls it.
"""


async def comfy_entrypoint():
    from .nodes import DiffSenseiExtension

    return DiffSenseiExtension()
