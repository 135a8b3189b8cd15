"""DiffSensei's model math in pure torch: layouts and masks, resampler, masked character attention,
dialog embedding, encoders and checkpoint loading. Imports nothing from ComfyUI; host features
(attention kernel, dtype, device) are passed in as arguments.
"""

__version__ = "0.1.0"
