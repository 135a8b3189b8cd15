"""Random ComfyUI models for tests and benchmarks: an SDXL-layout UNet of any width and a DiffSensei adapter
that fits any SDXL-layout model. Needs ComfyUI imported (see comfy_session.import_comfyui) and the pack loaded."""

from __future__ import annotations

import importlib
import types

import torch

# SDXL's block layout (70 cross-attention sites, context 2048, adm 2816) at a chosen width.
SDXL_LAYOUT = {
    "use_checkpoint": False, "image_size": 32, "in_channels": 4, "out_channels": 4,
    "num_res_blocks": [2, 2, 2], "channel_mult": [1, 2, 4], "transformer_depth": [0, 0, 2, 2, 10, 10],
    "transformer_depth_middle": 10, "transformer_depth_output": [0, 0, 0, 2, 2, 2, 10, 10, 10],
    "context_dim": 2048, "use_linear_in_transformer": True, "use_spatial_transformer": True,
    "legacy": False, "adm_in_channels": 2816, "num_classes": "sequential",
    "use_temporal_attention": False, "use_temporal_resblock": False,
}
TINY = {"model_channels": 32, "head_channels": 8}
"""57 M parameters: the real layout and keys at a width a CPU test runs in milliseconds."""
SDXL = {"model_channels": 320, "head_channels": 64}
"""The real SDXL UNet's size."""


def random_sdxl_model(*, model_channels: int, head_channels: int, dtype: torch.dtype = torch.float32,
                      device: torch.device | None = None, seed: int = 0):
    """A ComfyUI SDXL MODEL (ModelPatcher) with seeded random weights at a sane activation scale."""
    from comfy import model_management, model_patcher, supported_models

    model_config = supported_models.SDXL({**SDXL_LAYOUT, "model_channels": model_channels})
    model_config.unet_config["num_head_channels"] = head_channels  # the class forces 64 on construction
    model_config.set_inference_dtype(dtype, None)
    device = device or model_management.get_torch_device()
    model = model_config.get_model({}, device=device)
    # ComfyUI's ops skip weight init, so every parameter must be filled.
    generator = torch.Generator(device=device).manual_seed(seed)
    with torch.no_grad():
        for name, p in model.diffusion_model.named_parameters():
            values = torch.randn(p.shape, generator=generator, device=device, dtype=torch.float32)
            if p.ndim > 1:
                values /= p[0].numel() ** 0.5
            elif name.endswith("weight"):
                values = 1 + 0.1 * values
            else:
                values *= 0.02
            p.copy_(values)
    return model_patcher.ModelPatcher(model, load_device=device, offload_device=model_management.unet_offload_device())


def random_adapter(pack: types.ModuleType, model, *, dtype: torch.dtype = torch.float32, seed: int = 0,
                   source: str = "random"):
    """A DiffSensei adapter with random weights fitting ``model``'s sites (released token counts: 16 dummy +
    4 × 16 character tokens of the context width; a small resampler taking 48-wide CLIP and 24-wide Magi features)."""
    def module(dotted: str):
        return importlib.import_module(f"{pack.__name__}.{dotted}")

    checkpoint, resampler_module = module("diffsensei_core.model.checkpoint"), module("diffsensei_core.model.resampler")
    generator = torch.Generator().manual_seed(seed)
    sites = []
    for key, attn2 in module("nodes.host.comfy_unet").attn2_sites(model.model.diffusion_model):
        shape = attn2.to_k.weight.shape
        scale = shape[1] ** -0.5
        sites.append(checkpoint.IPSiteWeights(key=key, name=str(key),
                                              to_k=torch.randn(shape, generator=generator) * scale,
                                              to_v=torch.randn(shape, generator=generator) * scale))
    resampler = resampler_module.Resampler(dim=64, depth=1, dim_head=16, heads=4, clip_dim=48, magi_dim=24,
                                           output_dim=sites[0].to_k.shape[1], ff_mult=2)
    channels = model.model.diffusion_model.input_blocks[0][0].out_channels
    weights = checkpoint.AdapterWeights(tuple(sites), torch.randn(channels, generator=generator),
                                        resampler.state_dict(), 16)
    return module("nodes.host.adapter").DiffSenseiAdapter(weights, dtype=dtype, source=source)


def random_upscale_model(folder, *, seed: int = 0, num_feat: int = 64, num_conv: int = 16):
    """A 2× UPSCALE_MODEL exactly as this host's Load Upscale Model returns it (on 0.33 with a ``patcher``).

    The network is spandrel's Compact (Real-ESRGAN compact) with seeded random weights (the defaults are the released
    compact model's widths). It is written to ``folder`` (registered as an ``upscale_models`` folder) and loaded by
    ComfyUI's own loader node, so each host builds the object its own upscale node expects.
    """
    from pathlib import Path

    import folder_paths
    from comfy_extras.nodes_upscale_model import UpscaleModelLoader
    from safetensors.torch import save_file
    from spandrel.architectures.Compact import Compact

    torch.manual_seed(seed)
    network = Compact(num_feat=num_feat, num_conv=num_conv, upscale=2)
    name = f"diffsensei_random_compact_{num_feat}x{num_conv}_{seed}.safetensors"
    Path(folder).mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in network.state_dict().items()}, str(Path(folder) / name))
    folder_paths.add_model_folder_path("upscale_models", str(folder))
    return UpscaleModelLoader.execute(name).args[0]
