"""ComfyUI glue shared by the node modules: the adapter's ModelPatcher, the attention and dialog patches, UNet
building from diffusers configs, encoder loading, model folders, the pack's socket types and differentiable text
embeddings. Node modules import from here, never from each other."""
