"""Finding, safely loading, splitting and validating DiffSensei's image-generator weights.

The release (``image_generator/``, model spec §1) ships the fine-tuned SDXL UNet as one diffusers state
dict that also holds DiffSensei's extras: a ``to_k_ip``/``to_v_ip`` pair per cross-attention block
(70 sites for SDXL) and a ``dialog_bbox_embedding`` vector. This module separates the extras from the
standard UNet keys and maps every site to the key ComfyUI uses at run time (``convert.py`` writes the release
as two safetensors files).

Shape legend: inner = heads·dim_head of a site's attention, c_ctx = cross-attention (context) width
(2048 for SDXL), c0 = UNet width after ``conv_in`` (320 for SDXL).
"""

from __future__ import annotations

import json
import logging
import os
import pickle
import re
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import torch

from ..errors import WeightsError
from .resampler import Resampler

log = logging.getLogger("diffsensei")

SiteKey = tuple  # ("input" | "middle" | "output", block id, transformer block index)

UNET_FILE_NAMES = (
    "pytorch_model.bin",  # current release
    "diffusion_pytorch_model.safetensors",  # renamed upload, later deleted
    "diffusion_pytorch_model.bin",
    "diffsensei_unet.safetensors",  # first upload (2024-12-03)
)
RESAMPLER_FILE_NAMES = ("pytorch_model.bin", "model.safetensors")
ENCODER_FILE_NAMES = ("pytorch_model.bin", "model.safetensors")
DIALOG_KEY = "dialog_bbox_embedding"
ADAPTER_FORMAT = "diffsensei-adapter"
ADAPTER_FORMAT_VERSION = "1"
DTYPE_NAMES = {torch.float16: "fp16", torch.bfloat16: "bf16", torch.float32: "fp32"}
# keys every SDXL-layout diffusers UNet has; an SD1.5 UNet lacks the add_embedding (pooled text + time ids)
SDXL_REQUIRED_KEYS = ("conv_in.weight", "time_embedding.linear_1.weight", "add_embedding.linear_1.weight")

_SITE_NAME = re.compile(
    r"(?:down_blocks\.(?P<down>\d+)\.attentions\.(?P<down_att>\d+)"
    r"|mid_block\.attentions\.0"
    r"|up_blocks\.(?P<up>\d+)\.attentions\.(?P<up_att>\d+))"
    r"\.transformer_blocks\.(?P<t>\d+)(?:\.attn2)?"
)
_IP_KEY = re.compile(r"(?P<name>.+)\.processor\.to_(?P<kv>[kv])_ip\.weight")
_BLOCK_ORDER = {"input": 0, "middle": 1, "output": 2}


# ----------------------------------------------------------------------------------------------------- files


def load_state_dict_file(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Load a flat ``{name: tensor}`` file without ever running code from it.

    ``.safetensors`` is read with safetensors; ``.bin/.pt/.pth`` with ``torch.load(weights_only=True)``
    (memory-mapped when the file is in torch's zip format, so an 11.6 GB UNet costs no RAM up front).
    """
    path = Path(path)
    if not path.is_file():
        raise WeightsError(
            f"weights file not found: expected {path.name} in {path.parent}, but it does not exist. "
            "Download it again or point the loader at the folder that holds it."
        )
    if path.stat().st_size == 0:
        raise _corrupted(path, "the file is empty (0 bytes)")
    suffix = path.suffix.lower()
    if suffix == ".safetensors":
        state_dict = _load_safetensors(path)
    elif suffix in (".bin", ".pt", ".pth", ".ckpt"):
        state_dict = _load_torch(path)
    else:
        raise WeightsError(
            f"{path}: unknown weights format {suffix!r}; expected .safetensors, .bin, .pt or .pth. "
            "Use the file exactly as released, or convert it with `python -m diffsensei_core convert`."
        )
    _check_tensor_dict(state_dict, path)
    return state_dict


def _load_safetensors(path: Path) -> dict:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        return load_file(str(path), device="cpu")
    except (SafetensorError, OSError, RuntimeError, ValueError) as error:
        raise _corrupted(path, f"safetensors could not read it ({error})") from None


def _load_torch(path: Path) -> dict:
    is_zip = zipfile.is_zipfile(path)
    try:
        return torch.load(path, map_location="cpu", weights_only=True, **({"mmap": True} if is_zip else {}))
    except pickle.UnpicklingError as error:
        if "global" in str(error).lower():  # weights_only met a class/function reference: never executed
            raise WeightsError(
                f"{path}: the file contains non-tensor objects (Python classes or functions), so it was refused "
                "for safety and nothing in it was run. Expected a plain {name: tensor} state dict. Re-download "
                "the file from the official release, or convert a trusted copy to .safetensors."
            ) from None
        raise _corrupted(path, "it is not a readable torch file") from None
    except (EOFError, RuntimeError, OSError, ValueError, zipfile.BadZipFile) as error:
        raise _corrupted(path, f"torch.load failed: {str(error).splitlines()[0][:200]}") from None


def _corrupted(path: Path, detail: str) -> WeightsError:
    return WeightsError(
        f"{path}: the file is truncated or corrupted ({detail}; size {path.stat().st_size} bytes). "
        "Expected a complete weights file; re-download it."
    )


def _check_tensor_dict(state_dict: object, path: Path) -> None:
    if not isinstance(state_dict, Mapping):
        raise WeightsError(
            f"{path}: expected a flat {{name: tensor}} state dict, got a {type(state_dict).__name__}. "
            "Use the file exactly as released, or re-download it."
        )
    bad = [
        f"{k!r}: {type(v).__name__}" for k, v in state_dict.items() if not (isinstance(k, str) and torch.is_tensor(v))
    ]
    if bad:
        raise WeightsError(
            f"{path}: expected only tensors keyed by name, but {len(bad)} entries are not ({bad[:3]}). "
            "This is not a plain state dict; re-download the file from the official release."
        )


# ------------------------------------------------------------------------------------------------- discovery


@dataclass(frozen=True)
class ReleasedLayout:
    """Paths of one ``image_generator/`` folder as downloaded (model spec §1.1–1.2)."""

    root: Path
    unet_weights: Path
    unet_config: Path | None
    image_proj_model: Path
    magi_dir: Path | None
    clip_dir: Path | None


def find_image_generator(path: str | os.PathLike) -> ReleasedLayout:
    """Locate the released files; ``path`` is ``image_generator/`` itself or the download root above it."""
    path = Path(path).expanduser()
    if not path.is_dir():
        raise WeightsError(
            f"DiffSensei folder not found: {path} does not exist or is not a folder. Expected the downloaded "
            "DiffSensei folder (containing image_generator/) or its image_generator/ subfolder."
        )
    candidates = [path, path / "image_generator"]
    root = next((c for c in candidates if (c / "unet").is_dir() or (c / "image_proj_model").is_dir()), None)
    if root is None:
        raise WeightsError(
            f"{path}: no DiffSensei image_generator folder here; looked for {path / 'unet'} and "
            f"{path / 'image_generator' / 'unet'}. Point the loader at the downloaded DiffSensei folder "
            "or at its image_generator/ subfolder."
        )
    unet = _first_file(root / "unet", UNET_FILE_NAMES, "UNet weights")
    proj = _first_file(root / "image_proj_model", RESAMPLER_FILE_NAMES, "character resampler weights")
    config = root / "unet" / "config.json"
    return ReleasedLayout(
        root=root,
        unet_weights=unet,
        unet_config=config if config.is_file() else None,
        image_proj_model=proj,
        magi_dir=_encoder_dir(root / "magi_image_encoder"),
        clip_dir=_encoder_dir(root / "clip_image_encoder"),
    )


def _first_file(folder: Path, names: Iterable[str], what: str) -> Path:
    names = tuple(names)
    for name in names:
        if (folder / name).is_file():
            return folder / name
    raise WeightsError(
        f"{what} not found in {folder}: looked for {', '.join(names)} and found none "
        f"(folder contents: {sorted(p.name for p in folder.iterdir())[:8] if folder.is_dir() else 'folder missing'}). "
        "Download the missing file from the DiffSensei release into that folder."
    )


def _encoder_dir(folder: Path) -> Path | None:
    has_weights = any((folder / name).is_file() for name in ENCODER_FILE_NAMES)
    return folder if has_weights and (folder / "config.json").is_file() else None


# ----------------------------------------------------------------------------------------------- typed weights


@dataclass(frozen=True, eq=False)
class IPSiteWeights:
    """The character-attention projections of one cross-attention block.

    ``to_k``/``to_v``: (inner, c_ctx), bias-free Linear weights applied to the resampler tokens.
    """

    key: SiteKey
    name: str
    to_k: torch.Tensor
    to_v: torch.Tensor


@dataclass(frozen=True, eq=False)
class AdapterWeights:
    """Everything DiffSensei adds to an SDXL UNet: the ip sites, the dialog vector and the resampler.

    ``dialog_embedding``: (c0,); ``resampler_state_dict``: the released ``image_proj_model`` keys.
    """

    sites: tuple[IPSiteWeights, ...]
    dialog_embedding: torch.Tensor
    resampler_state_dict: dict
    resampler_dim_head: int = 64
    layers_per_block: int = 2

    @property
    def num_sites(self) -> int:
        return len(self.sites)

    @property
    def context_dim(self) -> int:
        """c_ctx, the width of the tokens the ip projections read (= the resampler's output width)."""
        return self.sites[0].to_k.shape[1]

    def resampler(self, source: str = "image_proj_model") -> Resampler:
        """Build the resampler from the stored tensors (strict; raises WeightsError on any mismatch)."""
        return Resampler.from_state_dict(self.resampler_state_dict, dim_head=self.resampler_dim_head, source=source)

    def to_state_dict(self) -> dict[str, torch.Tensor]:
        """Flat tensors of the converted adapter file: ``ip.<name>.to_k/to_v``, dialog vector, ``resampler.*``."""
        out: dict[str, torch.Tensor] = {}
        for site in self.sites:
            out[f"ip.{site.name}.to_k"] = site.to_k
            out[f"ip.{site.name}.to_v"] = site.to_v
        out[DIALOG_KEY] = self.dialog_embedding
        out.update({f"resampler.{k}": v for k, v in self.resampler_state_dict.items()})
        return out

    def metadata(self) -> dict[str, str]:
        """safetensors metadata of the converted adapter file."""
        return {
            "format": ADAPTER_FORMAT,
            "format_version": ADAPTER_FORMAT_VERSION,
            "resampler_dim_head": str(self.resampler_dim_head),
            "layers_per_block": str(self.layers_per_block),
            "num_sites": str(self.num_sites),
        }

    @classmethod
    def from_state_dict(
        cls, state_dict: Mapping[str, torch.Tensor], metadata: Mapping[str, str] | None, *, source: str
    ) -> AdapterWeights:
        """Inverse of :meth:`to_state_dict` + :meth:`metadata`; strict about keys and format."""
        metadata = dict(metadata or {})
        if metadata.get("format") != ADAPTER_FORMAT or metadata.get("format_version") != ADAPTER_FORMAT_VERSION:
            raise WeightsError(
                f"{source}: not a DiffSensei adapter file; expected metadata format={ADAPTER_FORMAT!r} "
                f"version {ADAPTER_FORMAT_VERSION}, got format={metadata.get('format')!r} "
                f"version {metadata.get('format_version')!r}. Re-create it with `python -m diffsensei_core convert`."
            )
        try:
            dim_head = int(metadata["resampler_dim_head"])
            layers_per_block = int(metadata["layers_per_block"])
            num_sites = int(metadata["num_sites"])
        except (KeyError, ValueError) as error:
            raise WeightsError(
                f"{source}: adapter metadata is incomplete or malformed ({error!r}); expected integer "
                "resampler_dim_head, layers_per_block and num_sites. Re-create it with the converter."
            ) from None
        pairs: dict[str, dict[str, torch.Tensor]] = {}
        resampler_sd: dict[str, torch.Tensor] = {}
        dialog = None
        unknown = []
        for key, tensor in state_dict.items():
            match = re.fullmatch(r"ip\.(?P<name>.+)\.to_(?P<kv>[kv])", key)
            if match:
                pairs.setdefault(match["name"], {})[match["kv"]] = tensor
            elif key.startswith("resampler."):
                resampler_sd[key.removeprefix("resampler.")] = tensor
            elif key == DIALOG_KEY:
                dialog = tensor
            else:
                unknown.append(key)
        if unknown or dialog is None:
            raise WeightsError(
                f"{source}: unexpected adapter keys {unknown[:3]} ({len(unknown)} in all)"
                f"{'' if dialog is not None else f' and {DIALOG_KEY} is missing'}; expected only ip.*.to_k/to_v, "
                f"{DIALOG_KEY} and resampler.*. Re-create the file with `python -m diffsensei_core convert`."
            )
        sites = _build_sites(pairs, layers_per_block, source)
        if len(sites) != num_sites:
            raise WeightsError(
                f"{source}: metadata says {num_sites} ip sites but the file holds {len(sites)}; the file is "
                "damaged. Re-create it with `python -m diffsensei_core convert`."
            )
        return cls(sites, dialog, resampler_sd, dim_head, layers_per_block)


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


# -------------------------------------------------------------------------------------------------- splitting


def runtime_key(name: str, layers_per_block: int = 2) -> SiteKey:
    """Diffusers module name of a transformer block → ComfyUI's ``(block, id, block_index)`` attn2 key."""
    match = _SITE_NAME.fullmatch(name)
    if match is None:
        raise WeightsError(
            f"unrecognised cross-attention site {name!r}; expected down_blocks.I.attentions.J.transformer_blocks.T, "
            "mid_block.attentions.0.transformer_blocks.T or up_blocks.I.attentions.J.transformer_blocks.T "
            "(optionally ending in .attn2). Use the UNet file exactly as released."
        )
    t = int(match["t"])
    if match["down"] is not None:
        return ("input", 1 + int(match["down"]) * (layers_per_block + 1) + int(match["down_att"]), t)
    if match["up"] is not None:
        return ("output", int(match["up"]) * (layers_per_block + 1) + int(match["up_att"]), t)
    return ("middle", 0, t)


def _site_sort_key(site: IPSiteWeights) -> tuple:
    block, number, index = site.key
    return (_BLOCK_ORDER[block], number, index)


def _build_sites(pairs: Mapping[str, Mapping[str, torch.Tensor]], layers_per_block: int, source: str) -> tuple:
    sites = []
    for name, kv in pairs.items():
        if set(kv) != {"k", "v"}:
            have, lack = next(iter(kv)), ({"k", "v"} - set(kv)).pop()
            raise WeightsError(
                f"{source}: site {name} has to_{have}_ip but no to_{lack}_ip; every site needs both. "
                "The file is incomplete; re-download it."
            )
        sites.append(IPSiteWeights(runtime_key(name, layers_per_block), name, kv["k"], kv["v"]))
    keys = [site.key for site in sites]
    if len(set(keys)) != len(keys):
        duplicated = sorted({k for k in keys if keys.count(k) > 1})
        raise WeightsError(
            f"{source}: several ip weight pairs map to the same attention block {duplicated[:3]} (e.g. both "
            "'...transformer_blocks.T.processor' and '...transformer_blocks.T.attn2.processor' keys); expected one "
            "per block. Use the file exactly as released."
        )
    return tuple(sorted(sites, key=_site_sort_key))


def split_unet_state_dict(
    state_dict: Mapping[str, torch.Tensor], layers_per_block: int = 2, *, source: str = "unet"
) -> tuple[dict[str, torch.Tensor], tuple[IPSiteWeights, ...], torch.Tensor | None]:
    """Separate DiffSensei's extras from a released UNet state dict.

    Returns ``(unet_sd, sites, dialog_embedding)``: ``unet_sd`` is a shallow copy holding the standard
    diffusers keys (tensors shared, not copied), ``sites`` the ip pairs sorted input → middle → output,
    ``dialog_embedding`` (c0,) or None when absent.
    """
    unet_sd = dict(state_dict)
    dialog = unet_sd.pop(DIALOG_KEY, None)
    pairs: dict[str, dict[str, torch.Tensor]] = {}
    for key in [k for k in unet_sd if "_ip." in k or k.endswith("_ip")]:
        match = _IP_KEY.fullmatch(key)
        if match is None:
            raise WeightsError(
                f"{source}: unrecognised DiffSensei key {key!r}; expected '<module>.processor.to_k_ip.weight' or "
                "'.to_v_ip.weight'. Use the UNet file exactly as released."
            )
        pairs.setdefault(match["name"], {})[match["kv"]] = unet_sd.pop(key)
    return unet_sd, _build_sites(pairs, layers_per_block, source), dialog


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
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise WeightsError(f"{path}: not a readable JSON file ({error}); re-download it.") from None
    if not isinstance(config, dict):
        raise WeightsError(f"{path}: expected a JSON object (a UNet config), got {type(config).__name__}.")
    return config


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
        unet_sd, config, adapter, None, _encoder_dir(folder / "magi_image_encoder"),
        _encoder_dir(folder / "clip_image_encoder"),
    )


def _matching_unet(adapter_path: Path, unets: list[Path]) -> Path:
    twin = adapter_path.with_name(adapter_path.name.replace("diffsensei_adapter_", "diffsensei_unet_", 1))
    return twin if twin in unets else unets[0]
