"""Prompt-distribution training on a toy text encoder: loss falls, orthogonality, NaN and interrupt handling."""

import math

import pytest
import torch

from diffsensei_core.distribution import (
    EncodedPrompts,
    SoftPrompts,
    TrainConfig,
    Trainer,
    fit,
    orthogonality_loss,
)

from .toy_text_encoder import ToyEncoder, toy_denoise_loss


def _mean(values):
    return sum(values) / len(values)


def test_orthogonality_loss_values():
    eye = torch.eye(4, 16)
    assert float(orthogonality_loss(eye)) == pytest.approx(0.0)
    assert float(orthogonality_loss(torch.ones(3, 16))) == pytest.approx(1.0, abs=1e-6)
    pair = torch.tensor([[1.0, 0.0], [1.0, 1.0]])
    assert float(orthogonality_loss(pair)) == pytest.approx(0.5, abs=1e-6)  # cos 45° squared


def test_gradients_reach_every_context():
    prompts = SoftPrompts(prompts=4, tokens=2, widths=(8, 12), seed=0)
    encoded = ToyEncoder(prefix=(5,), suffix=(6, 7))(prompts.tensors())
    (encoded.hidden.sum() + encoded.pooled.sum()).backward()
    assert all(c.grad is not None and float(c.grad.abs().sum()) > 0 for c in prompts.contexts)


def test_training_lowers_the_loss_on_a_toy_set():
    prompts = SoftPrompts(prompts=8, tokens=3, widths=(8, 12), seed=0)
    encoder, denoise = ToyEncoder(prefix=(4,)), toy_denoise_loss()
    with torch.no_grad():
        before = denoise.expected(fit(encoder(prompts.tensors())))
    trainer = Trainer(prompts, encoder, denoise, TrainConfig(steps=150, learning_rate=3e-2, samples=3, seed=0)).run()
    losses = [r.denoise for r in trainer.history]
    assert trainer.steps_done == 150 and trainer.stopped is None
    fitted = trainer.fitted()
    assert denoise.expected(fitted) - denoise.floor < 0.3 * (before - denoise.floor)
    assert _mean(losses[-50:]) < _mean(losses[:50])
    assert fitted.mean.shape == (12, 20) and fitted.pooled_mean.shape == (16,)


def test_orthogonality_term_decreases_prompt_similarity():
    prompts = SoftPrompts(prompts=6, tokens=2, widths=(8, 12), seed=3)
    encoder = ToyEncoder()
    with torch.no_grad():
        before = float(orthogonality_loss(encoder(prompts.tensors()).pooled))

    def no_denoising(hidden, pooled, generator):
        return (hidden.sum() + pooled.sum()) * 0.0

    Trainer(prompts, encoder, no_denoising,
            TrainConfig(steps=60, learning_rate=5e-2, samples=2, orthogonality_weight=1.0)).run()
    with torch.no_grad():
        after = float(orthogonality_loss(encoder(prompts.tensors()).pooled))
    assert after < 0.5 * before


def test_non_finite_loss_stops_and_keeps_the_last_good_state():
    prompts = SoftPrompts(prompts=4, tokens=2, widths=(8, 12), seed=0)
    base = toy_denoise_loss()
    calls = {"n": 0}
    saved = []

    def flaky(hidden, pooled, generator):
        calls["n"] += 1
        loss = base(hidden, pooled, generator)
        return loss * float("nan") if calls["n"] == 4 else loss

    trainer = Trainer(prompts, ToyEncoder(), flaky, TrainConfig(steps=10, learning_rate=1e-2),
                      on_step=lambda r: saved.append(prompts.snapshot())).run()
    assert trainer.steps_done == 3 and "step 4" in trainer.stopped and "nan" in trainer.stopped
    assert all(torch.equal(a, b) for a, b in zip(prompts.contexts, saved[-1], strict=True))
    assert math.isfinite(trainer.last_loss)


def test_exploding_contexts_are_rolled_back():
    prompts = SoftPrompts(prompts=4, tokens=2, widths=(8, 12), seed=0)

    class Exploding(ToyEncoder):
        def forward(self, contexts):
            out = super().forward(contexts)
            return EncodedPrompts(out.hidden, out.pooled)

    trainer = Trainer(prompts, Exploding(), toy_denoise_loss(), TrainConfig(steps=5, learning_rate=float("inf"))).run()
    assert trainer.steps_done == 0 and "non-finite" in trainer.stopped
    assert prompts.is_finite()
    assert torch.equal(prompts.contexts[0], SoftPrompts(prompts=4, tokens=2, widths=(8, 12), seed=0).contexts[0])


class Interrupted(Exception):
    pass


def test_an_interrupt_keeps_the_last_good_state():
    prompts = SoftPrompts(prompts=4, tokens=2, widths=(8, 12), seed=0)
    saved = []

    def on_step(result):
        saved.append(prompts.snapshot())
        if result.step == 2:
            raise Interrupted

    trainer = Trainer(prompts, ToyEncoder(), toy_denoise_loss(), TrainConfig(steps=10, learning_rate=1e-2),
                      on_step=on_step)
    with pytest.raises(Interrupted):
        trainer.run()
    assert trainer.steps_done == 2
    assert all(torch.equal(a, b) for a, b in zip(prompts.contexts, saved[-1], strict=True))
