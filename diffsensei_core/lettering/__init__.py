"""Lettering: speech bubbles, text fitting (horizontal and tategaki), fonts with per-glyph fallback.

Pure PIL/numpy: nothing here imports ComfyUI. The font folders come in as arguments.
"""
