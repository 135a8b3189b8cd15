"""The paper's model (DiffSensei §4, the released image generator).

One panel's data path: ``panel_layout`` (boxes JSON → PanelLayout) → ``masks`` (boxes → attention bias on a token
grid, dialog region) → ``panel_conditioning`` (both CFG branches, cached per grid) → ``attention`` (text attention +
ip_scale × masked character attention: the one formula) and ``dialog`` (the embedding added after conv_in).
The tokens come from ``encoders`` (CLIP-H + Magi features) through the ``resampler``; ``checkpoint`` and ``convert``
read and write the released files; ``schedule`` gives the official sampler's sigmas.
"""
