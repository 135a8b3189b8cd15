"""Whole manga pages: page layouts and reading order, composition, export, and bubble lettering.

Pure Python/torch/PIL: nothing here imports ComfyUI.
"""
