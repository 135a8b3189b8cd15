"""The official sampler's sigma schedule, for SamplerCustom (exact parity with the reference demo)."""

from __future__ import annotations

from comfy_api.v0_0_2 import io

from ..diffsensei_core.model.schedule import reference_sigmas


class DiffSenseiSigmas(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="DiffSenseiSigmas",
            display_name="DiffSensei: Sigmas",
            category="DiffSensei/sampling",
            description=(
                "The noise levels of DiffSensei's own sampler (Euler discrete, 'leading' spacing, offset 1; starts "
                "at σ≈11.48 for 30 steps). Use with SamplerCustom and the euler sampler to match the official demo; "
                "any ComfyUI scheduler works too."
            ),
            inputs=[io.Int.Input("steps", default=30, min=1, max=1000,
                                 tooltip="Sampling steps (the official default is 30).")],
            outputs=[io.Sigmas.Output(tooltip="steps + 1 sigmas ending with 0, for SamplerCustom.")],
        )

    @classmethod
    def execute(cls, steps: int) -> io.NodeOutput:
        return io.NodeOutput(reference_sigmas(steps))


NODES = [DiffSenseiSigmas]
