"""Loading and validating DiffSensei's image generator: the release as downloaded, or the converted files.

The release (``image_generator/``, model spec §1) ships the fine-tuned SDXL UNet as one diffusers state
dict that also holds DiffSensei's extras: a ``to_k_ip``/``to_v_ip`` pair per cross-attention block
(70 sites for SDXL) and a ``dialog_bbox_embedding`` vector. The topics live beside this module:
``weights_file`` (reading one file safely), ``release_layout`` (where the files are), ``adapter_weights``
(separating the extras and mapping their sites); here they are put together and checked against each other
(``convert.py`` writes the release as two safetensors files).

Shape legend: inner = heads·dim_head of a site's attention, c_ctx = cross-attention (context) width
(2048 for SDXL), c0 = UNet width after ``conv_in`` (320 for SDXL).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import torch

from ..errors import WeightsError
from .adapter_weights import DIALOG_KEY, AdapterWeights, split_unet_state_dict
from .release_layout import ReleasedLayout, encoder_dir, find_image_generator
from .weights_file import load_state_dict_file, read_json_object

log = logging.getLogger("diffsensei")

# keys every SDXL-layout diffusers UNet has; an SD1.5 UNet lacks the add_embedding (pooled text + time ids)
SDXL_REQUIRED_KEYS = ("conv_in.weight", "time_embedding.linear_1.weight", "add_embedding.linear_1.weight")


@dataclass(frozen=True, eq=False)
class DiffSenseiCheckpoint:
    """A validated DiffSensei image generator.

    ``unet_state_dict`` holds the standard diffusers UNet keys only (None when only a converted adapter
    file was given: the UNet then comes from ComfyUI's own loader).
    """

    unet_state_dict: dict[str, torch.Tensor] | None
    unet_config: dict | None
    adapter: AdapterWeights
    layout: ReleasedLayout | None = None
    magi_dir: Path | None = None
    clip_dir: Path | None = None



# ------------------------------------------------------------------------------------------------- validation


def _check_adapter(adapter: AdapterWeights, source: str, resampler_source: str | None = None) -> None:
    if not adapter.sites:
        raise WeightsError(
            f"{source}: no to_k_ip/to_v_ip weights found; expected one pair per cross-attention block (70 for "
            "SDXL). This is a plain UNet, not DiffSensei's; use image_generator/unet/pytorch_model.bin."
        )
    width = adapter.sites[0].to_k.shape[-1]
    for site in adapter.sites:
        for kind, weight in (("to_k_ip", site.to_k), ("to_v_ip", site.to_v)):
            _check_floating(weight, f"{site.name}.{kind}", source)
            if weight.ndim != 2 or weight.shape[1] != width:
                raise WeightsError(
                    f"{source}: {site.name}.{kind} must be (inner, {width}) like the other sites; got "
                    f"{tuple(weight.shape)}. The file is damaged or mixes models; re-download it."
                )
        if site.to_k.shape != site.to_v.shape:
            raise WeightsError(
                f"{source}: {site.name}: to_k_ip {tuple(site.to_k.shape)} and to_v_ip {tuple(site.to_v.shape)} "
                "must have the same shape. The file is damaged; re-download it."
            )
    _check_floating(adapter.dialog_embedding, DIALOG_KEY, source)
    if adapter.dialog_embedding.ndim != 1:
        raise WeightsError(
            f"{source}: {DIALOG_KEY} must be a vector (c0,), got {tuple(adapter.dialog_embedding.shape)}. "
            "Re-download the UNet file."
        )
    resampler = adapter.resampler(source=resampler_source or f"{source} (resampler.*)")
    if resampler.output_dim != width:
        raise WeightsError(
            f"{source}: the resampler emits {resampler.output_dim}-wide tokens but the ip projections read "
            f"{width}-wide ones; expected equal widths. The resampler and UNet come from different models."
        )


def _check_floating(tensor: torch.Tensor, name: str, source: str) -> None:
    if not tensor.is_floating_point():
        raise WeightsError(
            f"{source}: {name} is {tensor.dtype}; expected floating-point weights (fp16, bf16 or fp32). The file is "
            "damaged or not a DiffSensei checkpoint; re-download it, or re-run `python -m diffsensei_core convert`."
        )


def _check_unet(unet_sd: Mapping[str, torch.Tensor], adapter: AdapterWeights, config: dict | None, source: str):
    for key, tensor in unet_sd.items():
        _check_floating(tensor, key, source)
    missing = [k for k in SDXL_REQUIRED_KEYS if k not in unet_sd]
    if missing:
        raise WeightsError(
            f"{source}: not an SDXL-layout DiffSensei UNet; keys {missing} are missing (an SD1.5 UNet has no "
            "add_embedding). Expected DiffSensei's fine-tuned SDXL UNet, image_generator/unet/pytorch_model.bin."
        )
    c0 = unet_sd["conv_in.weight"].shape[0]
    if adapter.dialog_embedding.shape[0] != c0:
        raise WeightsError(
            f"{source}: {DIALOG_KEY} has {adapter.dialog_embedding.shape[0]} channels but conv_in gives {c0}; "
            "expected equal. The file is damaged or mixes models; re-download it."
        )
    configured = (config or {}).get("block_out_channels") or [c0]
    if configured[0] != c0:
        raise WeightsError(
            f"{source}: config.json block_out_channels[0]={configured[0]} but the weights have "
            f"{c0} channels after conv_in. Use the config.json that shipped with these weights."
        )
    for site in adapter.sites:
        text_key = f"{site.name.removesuffix('.attn2')}.attn2.to_k.weight"
        if text_key not in unet_sd or unet_sd[text_key].shape != site.to_k.shape:
            got = tuple(unet_sd[text_key].shape) if text_key in unet_sd else "missing"
            raise WeightsError(
                f"{source}: the text cross-attention {text_key} must exist with the same shape as its to_k_ip "
                f"{tuple(site.to_k.shape)}; got {got}. This is not an SDXL-layout DiffSensei UNet "
                f"(context width {adapter.context_dim} expected). Use image_generator/unet/pytorch_model.bin."
            )


def _read_config(path: Path | None) -> dict | None:
    if path is None:
        return None
    return read_json_object(path, what="a model config", fix="re-download it from the DiffSensei release.")


def _layers_per_block(config: dict | None, source: Path | None) -> int:
    value = 2 if config is None else config.get("layers_per_block", 2)
    if isinstance(value, list) and value and all(v == value[0] for v in value):
        value = value[0]
    if not isinstance(value, int) or value < 1:
        raise WeightsError(
            f"{source}: layers_per_block must be a positive integer, got {value!r}. "
            "Use the config.json that shipped with the UNet."
        )
    return value


# ---------------------------------------------------------------------------------------------------- loading


def load_image_generator(path: str | os.PathLike, *, resampler_dim_head: int = 64) -> DiffSenseiCheckpoint:
    """Find, load and fully validate the released ``image_generator/`` (or the folder above it).

    The release has no resampler config (its head width is 64); an optional
    ``image_proj_model/config.json`` with ``{"dim_head": N}`` overrides it for narrow test/demo models.
    """
    layout = find_image_generator(path)
    resampler_config = _read_config(_optional(layout.image_proj_model.parent / "config.json"))
    if resampler_config and "dim_head" in resampler_config:
        resampler_dim_head = int(resampler_config["dim_head"])
    config = _read_config(layout.unet_config)
    layers_per_block = _layers_per_block(config, layout.unet_config)
    log.info("loading DiffSensei UNet from %s", layout.unet_weights)
    unet_sd, sites, dialog = split_unet_state_dict(
        load_state_dict_file(layout.unet_weights), layers_per_block, source=str(layout.unet_weights)
    )
    if dialog is None:
        raise WeightsError(
            f"{layout.unet_weights}: {DIALOG_KEY} is missing; expected DiffSensei's UNet with its dialog embedding, "
            f"got {len(unet_sd)} UNet keys and {len(sites)} ip sites. Re-download image_generator/unet/."
        )
    adapter = AdapterWeights(
        sites, dialog, load_state_dict_file(layout.image_proj_model), resampler_dim_head, layers_per_block
    )
    _check_adapter(adapter, str(layout.unet_weights), str(layout.image_proj_model))
    _check_unet(unet_sd, adapter, config, str(layout.unet_weights))
    log.info("DiffSensei: %d ip sites, context width %d, dialog width %d", adapter.num_sites,
             adapter.context_dim, dialog.shape[0])
    return DiffSenseiCheckpoint(unet_sd, config, adapter, layout, layout.magi_dir, layout.clip_dir)


def _optional(path: Path) -> Path | None:
    return path if path.is_file() else None


def load_adapter_file(path: str | os.PathLike) -> AdapterWeights:
    """Read a converted ``diffsensei_adapter_*.safetensors`` back, strictly."""
    path = Path(path)
    if path.suffix.lower() != ".safetensors":
        raise WeightsError(
            f"{path}: a converted DiffSensei adapter is a .safetensors file, got {path.suffix!r}. "
            "Create one with `python -m diffsensei_core convert`."
        )
    state_dict = load_state_dict_file(path)
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as handle:
        metadata = handle.metadata()
    adapter = AdapterWeights.from_state_dict(state_dict, metadata, source=str(path))
    _check_adapter(adapter, str(path))
    return adapter


def load_diffsensei(
    path: str | os.PathLike, *, resampler_dim_head: int = 64, load_unet: bool = True
) -> DiffSenseiCheckpoint:
    """Load either the release (``image_generator/`` or its parent) or converted files.

    Converted input: the adapter ``.safetensors`` itself, or a folder holding
    ``diffsensei_adapter_*.safetensors`` (and usually ``diffsensei_unet_*.safetensors``, read when
    ``load_unet``). ``resampler_dim_head`` applies to the release only; converted files record it.
    """
    path = Path(path).expanduser()
    if path.is_file():
        adapter_path, folder = path, path.parent
    elif path.is_dir() and not any((path / sub).is_dir() for sub in ("unet", "image_proj_model", "image_generator")):
        adapters = sorted(path.glob("diffsensei_adapter_*.safetensors"))
        if len(adapters) != 1:
            raise WeightsError(
                f"{path}: expected the DiffSensei download (with image_generator/), its image_generator/ folder, or "
                f"a folder with exactly one converted diffsensei_adapter_*.safetensors; found {len(adapters)} "
                f"adapter files {[p.name for p in adapters]}. Point the loader at one of those."
            )
        adapter_path, folder = adapters[0], path
    else:
        return load_image_generator(path, resampler_dim_head=resampler_dim_head)
    adapter = load_adapter_file(adapter_path)
    unet_sd, config = None, None
    unets = sorted(folder.glob("diffsensei_unet_*.safetensors"))
    if load_unet and unets:
        unet_file = _matching_unet(adapter_path, unets)
        unet_sd = load_state_dict_file(unet_file)
        config_file = unet_file.with_suffix(".config.json")
        config = _read_config(config_file if config_file.is_file() else None)
        _check_unet(unet_sd, adapter, config, str(unet_file))
    return DiffSenseiCheckpoint(
        unet_sd, config, adapter, None, encoder_dir(folder / "magi_image_encoder"),
        encoder_dir(folder / "clip_image_encoder"),
    )


def _matching_unet(adapter_path: Path, unets: list[Path]) -> Path:
    twin = adapter_path.with_name(adapter_path.name.replace("diffsensei_adapter_", "diffsensei_unet_", 1))
    return twin if twin in unets else unets[0]
