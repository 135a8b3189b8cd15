"""ComfyUI nodes of the pack (V3 schema). Each module holds one topic; execute() = validate → core → output."""

from __future__ import annotations

from comfy_api.v0_0_2 import ComfyExtension, io

from .host.folders import register_model_folder


class DiffSenseiExtension(ComfyExtension):
    async def get_node_list(self) -> list[type[io.ComfyNode]]:
        register_model_folder()
        from . import (
            apply,
            characters,
            distribution,
            distribution_train,
            lettering,
            loaders,
            mllm,
            page,
            page_export,
            panel_layout,
            photo,
            photo_to_manga,
            sigmas,
        )

        return [
            *loaders.NODES,
            *characters.NODES,
            *panel_layout.NODES,
            *apply.NODES,
            *sigmas.NODES,
            *mllm.NODES,
            *distribution_train.NODES,
            *distribution.NODES,
            *page.NODES,
            *lettering.NODES,
            *page_export.NODES,
            *photo.NODES,
            *photo_to_manga.NODES,
        ]
