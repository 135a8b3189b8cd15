"""DiffSensei in pure torch, one package per product; nothing here imports ComfyUI (host features such as the
attention kernel, dtype and device are passed in as arguments).

* ``model/`` — the paper's model: panel layouts and their masks, the resampler, the one masked-attention formula,
  the dialog embedding, the character encoders, checkpoints (+ the converter) and the official schedule.
* ``mllm/`` — the optional SEED-X stage that adapts the characters to the panel's caption.
* ``page/`` — whole pages: page layouts and presets, reading order, casts, composition, export.
* ``lettering/`` — speech bubbles and the text inside them: shapes, fitting, line breaking, fonts, rendering.
* ``distribution/`` — prompt distributions (DreamDistribution): soft prompts, the Gaussian, training, the file.
* ``photo/`` — photo → manga character: the attribute vocabulary, person regions, zero-shot description, prompts.
* ``errors.py`` — the pack's exception family, shared by all of them.
"""

__version__ = "0.1.0"
