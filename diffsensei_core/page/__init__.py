"""Whole manga pages: page layouts (``page_layout``, ``presets``, ``structure``), reading order and geometry, which
characters each panel shows (``cast``), composition of the panel images, and export (PNG, CBZ, PDF). Lettering the
bubbles is its own package, ``lettering/``.

Pure Python/torch/PIL: nothing here imports ComfyUI.
"""
