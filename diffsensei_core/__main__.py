"""Command line: ``python -m diffsensei_core convert SRC OUT_DIR [--dtype fp16|bf16|fp32]`` or ``inspect PATH``.

``convert`` turns the released ``image_generator/`` into a plain diffusers UNet safetensors file (for
ComfyUI's stock UNet loader) plus a small DiffSensei adapter file. ``inspect`` reports what a folder or
file holds. Exit code 2 on a DiffSensei error (the message says what to fix).
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections import Counter

import torch

from .errors import DiffSenseiError
from .model.checkpoint import load_diffsensei
from .model.convert import convert_image_generator

log = logging.getLogger("diffsensei")

DTYPES = {"fp16": torch.float16, "bf16": torch.bfloat16, "fp32": torch.float32}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m diffsensei_core", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    convert = commands.add_parser("convert", help="convert the released image_generator/ to safetensors")
    convert.add_argument("src", help="DiffSensei download folder or its image_generator/ subfolder")
    convert.add_argument("out_dir", help="folder for the converted files (e.g. ComfyUI/models/diffusion_models)")
    convert.add_argument("--dtype", choices=sorted(DTYPES), default="fp16", help="output precision (default fp16)")
    convert.add_argument("--resampler-dim-head", type=int, default=64, help="resampler head width (released: 64)")
    inspect = commands.add_parser("inspect", help="report the sites, widths and resampler of a checkpoint")
    inspect.add_argument("path", help="release folder, converted adapter file, or folder of converted files")
    inspect.add_argument("--resampler-dim-head", type=int, default=64, help="resampler head width (released: 64)")
    return parser


def _inspect(path: str, dim_head: int) -> None:
    checkpoint = load_diffsensei(path, resampler_dim_head=dim_head)
    adapter = checkpoint.adapter
    if checkpoint.layout is not None:
        layout = checkpoint.layout
        log.info("release folder %s: UNet %s, config %s, resampler %s", layout.root, layout.unet_weights.name,
                 layout.unet_config, layout.image_proj_model)
    unet = checkpoint.unet_state_dict
    log.info("UNet: %s", f"{len(unet)} standard diffusers keys" if unet is not None else "not included")
    log.info("Magi encoder: %s; CLIP image encoder: %s", checkpoint.magi_dir, checkpoint.clip_dir)
    widths = Counter((site.key[0], site.to_k.shape[0]) for site in adapter.sites)
    log.info("%d ip sites, context width %d, layers_per_block %d; sites per (block, inner width): %s",
             adapter.num_sites, adapter.context_dim, adapter.layers_per_block, dict(sorted(widths.items())))
    log.info("dialog embedding: %d channels", adapter.dialog_embedding.shape[0])
    resampler = adapter.resampler()
    log.info("resampler: width %d, depth %d, %d heads x %d, %d queries, %d dummy tokens, CLIP %d, Magi %d, out %d",
             resampler.latents.shape[-1], len(resampler.layers), resampler.layers[0][0].heads,
             adapter.resampler_dim_head, resampler.num_queries, resampler.num_dummy_tokens, resampler.clip_dim,
             resampler.magi_dim, resampler.output_dim)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        if args.command == "convert":
            unet, adapter = convert_image_generator(
                args.src, args.out_dir, dtype=DTYPES[args.dtype], resampler_dim_head=args.resampler_dim_head
            )
            log.info("done: %s and %s", unet, adapter)
        else:
            _inspect(args.path, args.resampler_dim_head)
    except DiffSenseiError as error:
        log.error("%s", error)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
