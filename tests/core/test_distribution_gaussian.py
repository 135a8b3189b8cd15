"""Prompt-distribution Gaussian: fitting, seeded sampling, γ scaling and mixing."""

import pytest
import torch

from diffsensei_core.distribution import PromptGaussian, SoftPrompts, draw, fit, mix, sample, standard_noise
from diffsensei_core.errors import DistributionError

from .toy_text_encoder import ToyEncoder


@pytest.fixture
def gaussian() -> PromptGaussian:
    prompts = SoftPrompts(prompts=6, tokens=3, widths=(8, 12), seed=4)
    with torch.no_grad():
        return fit(ToyEncoder()(prompts.tensors()))


def test_fit_is_the_per_position_mean_and_unbiased_std():
    hidden = torch.randn(5, 12, 20, generator=torch.Generator().manual_seed(0))
    pooled = torch.randn(5, 16, generator=torch.Generator().manual_seed(1))
    from diffsensei_core.distribution import EncodedPrompts

    g = fit(EncodedPrompts(hidden, pooled))
    assert torch.equal(g.mean, hidden.mean(0)) and torch.equal(g.std, hidden.std(0, unbiased=True))
    assert torch.equal(g.pooled_mean, pooled.mean(0)) and torch.equal(g.pooled_std, pooled.std(0, unbiased=True))
    with pytest.raises(DistributionError, match="at least 2"):
        fit(EncodedPrompts(hidden[:1], pooled[:1]))


def test_soft_prompts_start_small_and_seeded():
    a = SoftPrompts(prompts=32, tokens=4, widths=(64, 96), seed=1)
    b = SoftPrompts(prompts=32, tokens=4, widths=(64, 96), seed=1)
    assert [tuple(c.shape) for c in a.contexts] == [(32, 4, 64), (32, 4, 96)]
    assert all(torch.equal(x, y) for x, y in zip(a.contexts, b.contexts, strict=True))
    assert 0.018 < float(a.contexts[1].detach().std()) < 0.022
    with pytest.raises(DistributionError, match="K=1"):
        SoftPrompts(prompts=1, tokens=4, widths=(8,))


def test_gamma_zero_gives_the_mean_for_every_seed(gaussian):
    samples = [draw(gaussian, batch=2, seed=seed, gamma=0.0) for seed in range(5)]
    for hidden, pooled in samples:
        assert torch.equal(hidden, gaussian.mean.expand(2, -1, -1))
        assert torch.equal(pooled, gaussian.pooled_mean.expand(2, -1))


def test_gamma_scales_the_spread_exactly(gaussian):
    base_hidden, base_pooled = draw(gaussian, batch=3, seed=7, gamma=1.0)
    assert not torch.equal(base_hidden, gaussian.mean.expand(3, -1, -1))
    for gamma in (0.5, 2.0, 3.0):
        hidden, pooled = draw(gaussian, batch=3, seed=7, gamma=gamma)
        torch.testing.assert_close(hidden - gaussian.mean, gamma * (base_hidden - gaussian.mean), rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(pooled - gaussian.pooled_mean, gamma * (base_pooled - gaussian.pooled_mean),
                                   rtol=1e-5, atol=1e-6)
    many, _ = draw(gaussian, batch=4000, seed=1, gamma=2.0)
    torch.testing.assert_close(many.std(0), 2.0 * gaussian.std, rtol=0.1, atol=1e-4)
    with pytest.raises(DistributionError, match="γ ≥ 0, got -1"):
        draw(gaussian, batch=1, seed=0, gamma=-1.0)
    for bad in (float("nan"), float("inf")):
        with pytest.raises(DistributionError, match="finite γ ≥ 0"):
            gaussian.scaled(bad)


def test_one_seed_draws_sequence_and_pooled_jointly(gaussian):
    a = draw(gaussian, batch=2, seed=11, gamma=1.0)
    b = draw(gaussian, batch=2, seed=11, gamma=1.0)
    c = draw(gaussian, batch=2, seed=12, gamma=1.0)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(a[0], c[0]) and not torch.equal(a[1], c[1])
    eps, eps_pooled = standard_noise(gaussian, 2, seed=11)
    generator = torch.Generator().manual_seed(11)
    assert torch.equal(eps, torch.randn(eps.shape, generator=generator))
    assert torch.equal(eps_pooled, torch.randn(eps_pooled.shape, generator=generator))
    assert torch.equal(sample(gaussian, eps, eps_pooled)[1], a[1])


def test_mixing_formula(gaussian):
    other = PromptGaussian(gaussian.mean + 1.0, gaussian.std * 3.0 + 0.1, gaussian.pooled_mean - 2.0,
                           gaussian.pooled_std * 0.5)
    mixed = mix([gaussian, other], weights=[2.0, 6.0], gammas=[1.5, 0.5])
    w1, w2 = 0.25, 0.75
    torch.testing.assert_close(mixed.mean, w1 * gaussian.mean + w2 * other.mean)
    torch.testing.assert_close(mixed.std, ((w1 * 1.5 * gaussian.std) ** 2 + (w2 * 0.5 * other.std) ** 2).sqrt())
    torch.testing.assert_close(mixed.pooled_mean, w1 * gaussian.pooled_mean + w2 * other.pooled_mean)
    torch.testing.assert_close(mixed.pooled_std,
                               ((w1 * 1.5 * gaussian.pooled_std) ** 2 + (w2 * 0.5 * other.pooled_std) ** 2).sqrt())
    alone = mix([gaussian], weights=[3.0], gammas=[1.0])
    torch.testing.assert_close(alone.std, gaussian.std)
    with pytest.raises(DistributionError, match="gamma_2"):
        mix([gaussian, other], weights=[1, 1], gammas=[1, -0.5])
    with pytest.raises(DistributionError, match="sum to 0"):
        mix([gaussian, other], weights=[0, 0], gammas=[1, 1])
    narrow = PromptGaussian(gaussian.mean[:, :4], gaussian.std[:, :4], gaussian.pooled_mean, gaussian.pooled_std)
    with pytest.raises(DistributionError, match="same text encoders"):
        mix([gaussian, narrow], weights=[1, 1], gammas=[1, 1])
