"""Demo-only stand-ins that ``run_workflow.py --demo`` uses at run time (never part of the node pack).

The demo weights have no real text encoder and no real VAE. Two ways to run a graph on them anyway:

* ``workflows/diffsensei_demo.json`` uses two explicit demo nodes: :class:`DiffSenseiDemoConditioning` (seeded
  random tokens of the tiny UNet's context width plus an SDXL pooled vector) and
  :class:`DiffSenseiDemoLatentPreview` (first three latent channels as RGB, scaled up to pixel size).
* The example workflows use the stock SDXL nodes. For them the runner swaps ``CheckpointLoaderSimple`` for
  :class:`DiffSenseiDemoCheckpointLoader` (and ``VAELoader`` for :class:`DiffSenseiDemoVAELoader`): the tiny
  DiffSensei UNet as MODEL, a :class:`DemoCLIP` that the stock ``CLIPTextEncode``/``CLIPTextEncodeSDXL`` nodes can
  call (deterministic context rows of the tiny UNet's width, derived from the words), and a :class:`DemoVAE` that the
  stock ``VAEDecode``/``VAEEncode`` nodes can call (a fixed channel mix and an 8× resampling, no network).

Everything here exists only so the whole DiffSensei graph runs on a CPU in seconds; the pictures are noise.
"""

from __future__ import annotations

import functools
import logging
import re
import zlib

import torch

log = logging.getLogger("diffsensei")

CATEGORY = "DiffSensei/demo (runner only)"
DEMO_CONTEXT_DIM = 64  # the tiny UNet's cross-attention width (scripts/demo_weights.py DEMO_UNET_CONFIG)
POOLED_DIM = 1280  # SDXL's pooled text vector (part of the 2816-wide ADM input)
TOKENS_PER_CHUNK = 77  # CLIP's window: start token, 75 words, end/padding
VOCABULARY = 49408  # CLIP's vocabulary size; token ids are word hashes modulo this
START, END = VOCABULARY - 2, VOCABULARY - 1
DEMO_MODEL = "diffsensei_demo/image_generator"  # what the runner builds under models/diffsensei


class DiffSenseiDemoConditioning:
    """Random SDXL-shaped CONDITIONING: ``rows`` tokens of width ``context_dim`` and a 1280-wide pooled vector."""

    CATEGORY = CATEGORY
    RETURN_TYPES = ("CONDITIONING",)
    FUNCTION = "build"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {
            "width": ("INT", {"default": 1024, "min": 8, "max": 16384, "step": 8}),
            "height": ("INT", {"default": 1024, "min": 8, "max": 16384, "step": 8}),
            "seed": ("INT", {"default": 0, "min": 0, "max": 0xFFFFFFFF}),
            "context_dim": ("INT", {"default": 2048, "min": 1, "max": 8192}),
            "rows": ("INT", {"default": 77, "min": 1, "max": 1024}),
        }}

    def build(self, width, height, seed, context_dim, rows):
        generator = torch.Generator().manual_seed(seed)
        tokens = torch.randn((1, rows, context_dim), generator=generator)
        pooled = torch.randn((1, 1280), generator=generator)
        extra = {"pooled_output": pooled, "width": width, "height": height, "crop_w": 0, "crop_h": 0,
                 "target_width": width, "target_height": height}
        return ([[tokens, extra]],)


class DiffSenseiDemoLatentPreview:
    """LATENT → IMAGE without a VAE: channels 0–2 min-max scaled to [0, 1], enlarged ``scale`` times (nearest)."""

    CATEGORY = CATEGORY
    RETURN_TYPES = ("IMAGE",)
    FUNCTION = "preview"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {
            "samples": ("LATENT",),
            "scale": ("INT", {"default": 8, "min": 1, "max": 16}),
        }}

    def preview(self, samples, scale):
        latent = samples["samples"].float()[:, :3]
        low = latent.amin(dim=(1, 2, 3), keepdim=True)
        high = latent.amax(dim=(1, 2, 3), keepdim=True)
        rgb = ((latent - low) / (high - low).clamp_min(1e-6)).nan_to_num(0.0)
        rgb = torch.nn.functional.interpolate(rgb, scale_factor=scale, mode="nearest")
        return (rgb.permute(0, 2, 3, 1).contiguous(),)


# ------------------------------------------------------------------------------------------------ demo CLIP


def _word_ids(text: str) -> list[int]:
    """Lower-cased words and punctuation marks as token ids (a stable hash, not CLIP's BPE)."""
    return [zlib.crc32(word.encode("utf-8")) % (VOCABULARY - 2) for word in re.findall(r"\w+|[^\w\s]", text.lower())]


@functools.lru_cache(maxsize=4096)
def _token_vector(token: int, width: int) -> torch.Tensor:
    return torch.randn(width, generator=torch.Generator().manual_seed(int(token) * 7919 + width))


def _token_vectors(ids: list[int], width: int) -> torch.Tensor:
    """One fixed pseudo-random vector per token id: the same word always gives the same row."""
    return torch.stack([_token_vector(i, width) for i in ids]) if ids else torch.zeros(0, width)


class DemoCLIP:
    """A text "encoder" with the interface of ``comfy.sd.CLIP`` that the stock text-encode nodes use.

    ``tokenize(text)`` returns SDXL-style ``{"g": chunks, "l": chunks}`` (chunks of 77 ``(id, weight)`` pairs);
    ``encode_from_tokens_scheduled`` returns ``[[cond, {"pooled_output": pooled, **add_dict}]]`` with ``cond`` of
    shape ``(1, 77 × chunks, context_dim)``: the first half of each row from the "l" tokens, the second half from the
    "g" tokens, as SDXL concatenates CLIP-L and CLIP-G; ``pooled`` ``(1, 1280)`` is a fixed projection of the mean of
    the "g" rows. Deterministic: the same text gives the same conditioning.
    """

    def __init__(self, context_dim: int = DEMO_CONTEXT_DIM, layer_idx: int | None = None):
        self.context_dim = context_dim
        self.layer_idx = layer_idx
        self.cond_stage_model = torch.nn.Module()  # empty: a LoRA finds no text-encoder keys in it
        self.patches: list = []

    # the parts of comfy.sd.CLIP that nodes call
    def clone(self) -> DemoCLIP:
        other = DemoCLIP(self.context_dim, self.layer_idx)
        other.patches = list(self.patches)
        return other

    def clip_layer(self, layer_idx: int) -> None:
        self.layer_idx = layer_idx

    def add_patches(self, patches, strength_patch=1.0, strength_model=1.0) -> list:
        return []

    def load_model(self):
        return None

    def tokenize(self, text: str, return_word_ids: bool = False, **kwargs) -> dict[str, list]:
        ids = _word_ids(text)
        words = TOKENS_PER_CHUNK - 2
        chunks = []
        for start in range(0, max(len(ids), 1), words):
            part = ids[start:start + words]
            row = [START, *part, END] + [END] * (words - len(part))
            chunks.append([(token, 1.0) for token in row])
        return {"g": [list(c) for c in chunks], "l": [list(c) for c in chunks]}

    def _rows(self, chunks: list, width: int) -> torch.Tensor:
        ids = [token for chunk in chunks for token, _weight in chunk]
        weights = torch.tensor([weight for chunk in chunks for _token, weight in chunk]).unsqueeze(1)
        return _token_vectors(ids, width) * weights

    def encode_from_tokens(self, tokens: dict, return_pooled=False, return_dict=False):
        half = self.context_dim // 2
        rows_l = self._rows(tokens.get("l") or tokens["g"], half)
        rows_g = self._rows(tokens.get("g") or tokens["l"], self.context_dim - half)
        count = min(len(rows_l), len(rows_g))
        cond = torch.cat([rows_l[:count], rows_g[:count]], dim=1).unsqueeze(0)
        projection = torch.randn((self.context_dim - half, POOLED_DIM), generator=torch.Generator().manual_seed(17))
        pooled = (rows_g.mean(dim=0, keepdim=True) @ projection) / (self.context_dim - half) ** 0.5
        if return_dict:
            return {"cond": cond, "pooled_output": pooled}
        return (cond, pooled) if return_pooled else cond

    def encode_from_tokens_scheduled(self, tokens: dict, unprojected=False, add_dict: dict | None = None,
                                     show_pbar=True) -> list:
        encoded = self.encode_from_tokens(tokens, return_pooled=True, return_dict=True)
        cond = encoded.pop("cond")
        encoded.update(add_dict or {})
        return [[cond, encoded]]

    def encode(self, text: str) -> torch.Tensor:
        return self.encode_from_tokens(self.tokenize(text))


# ------------------------------------------------------------------------------------------------- demo VAE


class DemoVAE:
    """An "autoencoder" with the interface of ``comfy.sd.VAE`` that the stock VAE nodes use, without a network.

    ``decode``: 4 latent channels → 3 image channels through a fixed mix (roughly SDXL's latent-to-RGB look), a
    sigmoid, and an 8× bilinear enlargement; ``encode``: 8× average pooling and the inverse mix. Images are
    ``(B, H, W, 3)`` in [0, 1], latents ``(B, 4, H/8, W/8)``.
    """

    downscale_ratio = 8
    upscale_ratio = 8
    latent_channels = 4
    output_channels = 3
    MIX = torch.tensor([[0.30, 0.25, 0.20], [0.15, 0.30, 0.10], [-0.10, 0.05, 0.35], [-0.20, -0.15, -0.25]])

    def throw_exception_if_invalid(self) -> None:
        return None

    def spacial_compression_decode(self) -> int:
        return self.upscale_ratio

    def spacial_compression_encode(self) -> int:
        return self.downscale_ratio

    def temporal_compression_decode(self):
        return None

    def temporal_compression_encode(self):
        return None

    def vae_encode_crop_pixels(self, pixels: torch.Tensor) -> torch.Tensor:
        h = (pixels.shape[1] // 8) * 8
        w = (pixels.shape[2] // 8) * 8
        return pixels[:, :h, :w]

    def decode(self, samples: torch.Tensor, **kwargs) -> torch.Tensor:
        latent = samples.float().cpu()
        if latent.ndim != 4 or latent.shape[1] != self.latent_channels:
            raise ValueError(f"demo VAE: expected a (B, 4, h, w) latent, got {tuple(latent.shape)}")
        rgb = torch.einsum("bchw,cd->bdhw", latent, self.MIX)
        rgb = torch.sigmoid(2.0 * rgb)
        rgb = torch.nn.functional.interpolate(rgb, scale_factor=self.upscale_ratio, mode="bilinear",
                                              align_corners=False)
        return rgb.clamp(0, 1).movedim(1, -1).contiguous()

    def encode(self, pixels: torch.Tensor, **kwargs) -> torch.Tensor:
        image = self.vae_encode_crop_pixels(pixels[..., :3].float().cpu()).movedim(-1, 1)
        image = torch.nn.functional.avg_pool2d(image, self.downscale_ratio)
        centred = torch.logit(image.clamp(0.02, 0.98)) / 2.0
        return torch.einsum("bdhw,dc->bchw", centred, torch.linalg.pinv(self.MIX))

    def decode_tiled(self, samples, *args, **kwargs) -> torch.Tensor:
        return self.decode(samples)

    def encode_tiled(self, pixels, *args, **kwargs) -> torch.Tensor:
        return self.encode(pixels)


# ------------------------------------------------------------------------------------------ loader stand-ins


def _load_diffsensei_model(model_name: str):
    """The tiny DiffSensei UNet as a MODEL, through the pack's own loader node (looked up in ComfyUI's registry)."""
    import nodes  # ComfyUI's nodes.py: the runner and the server import it before any node runs

    loader = nodes.NODE_CLASS_MAPPINGS["DiffSenseiLoadModel"]
    output = loader.execute(model_name=model_name, weight_dtype="default")
    return output.args[0]


class DiffSenseiDemoCheckpointLoader:
    """Stand-in for CheckpointLoaderSimple: tiny DiffSensei UNet as MODEL, :class:`DemoCLIP`, :class:`DemoVAE`."""

    CATEGORY = CATEGORY
    RETURN_TYPES = ("MODEL", "CLIP", "VAE")
    FUNCTION = "load"

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {"ckpt_name": ("STRING", {"default": "sd_xl_base_1.0.safetensors",
                                                  "tooltip": "The checkpoint the workflow asked for (not read)."})},
            "optional": {
                "model_name": ("STRING", {"default": DEMO_MODEL,
                                          "tooltip": "The demo DiffSensei release whose UNet is the MODEL output."}),
                "context_dim": ("INT", {"default": DEMO_CONTEXT_DIM, "min": 2, "max": 8192}),
            },
        }

    def load(self, ckpt_name, model_name=DEMO_MODEL, context_dim=DEMO_CONTEXT_DIM):
        log.warning("DEMO: checkpoint %r replaced by the tiny demo UNet (%s), a demo CLIP (context width %d) and a "
                    "demo VAE", ckpt_name, model_name, context_dim)
        return (_load_diffsensei_model(model_name), DemoCLIP(context_dim), DemoVAE())


class DiffSenseiDemoVAELoader:
    """Stand-in for VAELoader: a :class:`DemoVAE`."""

    CATEGORY = CATEGORY
    RETURN_TYPES = ("VAE",)
    FUNCTION = "load"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"vae_name": ("STRING", {"default": "sdxl_vae.safetensors"})}}

    def load(self, vae_name):
        log.warning("DEMO: VAE %r replaced by the demo VAE (no network)", vae_name)
        return (DemoVAE(),)


NODE_CLASS_MAPPINGS = {
    "DiffSenseiDemoConditioning": DiffSenseiDemoConditioning,
    "DiffSenseiDemoLatentPreview": DiffSenseiDemoLatentPreview,
    "DiffSenseiDemoCheckpointLoader": DiffSenseiDemoCheckpointLoader,
    "DiffSenseiDemoVAELoader": DiffSenseiDemoVAELoader,
}
