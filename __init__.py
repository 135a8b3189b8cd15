"""ComfyUI-DiffSensei: customized multi-character manga panels (DiffSensei, CVPR 2025) in ComfyUI.

Importing this package does nothing but define the V3 entry point; the nodes (and everything they
import) load when ComfyUI calls it.
"""

# The box editor of the Panel layout node (web/js) and the per-node help pages (web/docs, where the frontend's
# node help looks: /extensions/<pack>/docs/<NodeId>.md). ComfyUI imports every .js file under this folder.
WEB_DIRECTORY = "./web"


async def comfy_entrypoint():
    from .nodes import DiffSenseiExtension

    return DiffSenseiExtension()
