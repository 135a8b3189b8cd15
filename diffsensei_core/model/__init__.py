"""The paper's model (DiffSensei §4, the released image generator).

One panel's data path: ``panel_layout`` (boxes JSON → PanelLayout) → ``masks`` (boxes → attention bias on a token
grid, dialog region) → ``panel_conditioning`` (both CFG branches, cached per grid) → ``attention`` (text attention +
ip_scale × masked character attention: the one formula) and ``dialog`` (the embedding added after conv_in).
The tokens come from the character encoders (``character_images`` prepares the reference images, CLIP-H comes
from the host, ``magi_encoder`` is the Magi ViT-MAE, ``character_slots`` pads the features) through the
``resampler``; ``checkpoint`` and ``convert`` read and write the released files (``weights_file`` reads one file
safely, ``release_layout`` finds the files, ``adapter_weights`` separates DiffSensei's additions from the UNet's
keys); ``schedule`` gives the official sampler's sigmas.
"""
