"""DiffSensei's additions to an SDXL UNet as typed weights: the ip projection pairs, the dialog vector, the resampler.

The released UNet state dict holds a ``to_k_ip``/``to_v_ip`` pair per cross-attention block (70 sites for SDXL)
and a ``dialog_bbox_embedding`` vector beside the standard diffusers keys. :func:`split_unet_state_dict`
separates them and maps every site to the key ComfyUI uses at run time (:func:`runtime_key`);
:class:`AdapterWeights` also reads and writes the converted adapter file's tensors and metadata.

Shape legend: inner = heads·dim_head of a site's attention, c_ctx = cross-attention (context) width
(2048 for SDXL), c0 = UNet width after ``conv_in`` (320 for SDXL).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

import torch

from ..errors import WeightsError
from .resampler import Resampler

SiteKey = tuple  # ("input" | "middle" | "output", block id, transformer block index)

DIALOG_KEY = "dialog_bbox_embedding"
ADAPTER_FORMAT = "diffsensei-adapter"
ADAPTER_FORMAT_VERSION = "1"

_SITE_NAME = re.compile(
    r"(?:down_blocks\.(?P<down>\d+)\.attentions\.(?P<down_att>\d+)"
    r"|mid_block\.attentions\.0"
    r"|up_blocks\.(?P<up>\d+)\.attentions\.(?P<up_att>\d+))"
    r"\.transformer_blocks\.(?P<t>\d+)(?:\.attn2)?"
)
_IP_KEY = re.compile(r"(?P<name>.+)\.processor\.to_(?P<kv>[kv])_ip\.weight")
_BLOCK_ORDER = {"input": 0, "middle": 1, "output": 2}


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
        sites = build_sites(pairs, layers_per_block, source)
        if len(sites) != num_sites:
            raise WeightsError(
                f"{source}: metadata says {num_sites} ip sites but the file holds {len(sites)}; the file is "
                "damaged. Re-create it with `python -m diffsensei_core convert`."
            )
        return cls(sites, dialog, resampler_sd, dim_head, layers_per_block)



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


def build_sites(pairs: Mapping[str, Mapping[str, torch.Tensor]], layers_per_block: int, source: str) -> tuple:
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
    return unet_sd, build_sites(pairs, layers_per_block, source), dialog
