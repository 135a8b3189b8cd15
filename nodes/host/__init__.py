"""ComfyUI glue shared by the node modules (folders, fonts, chapter inputs); the only other place besides the node
modules that imports ComfyUI."""
