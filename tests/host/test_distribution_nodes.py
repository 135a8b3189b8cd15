"""Prompt-distribution nodes in real ComfyUI: ComfyUI's SDXL text-encoder classes with tiny random weights, a tiny
SDXL-layout UNet of context width 64, the demo VAE; models are built and nodes run under inference mode, as ComfyUI
runs them."""

from __future__ import annotations

import importlib
import logging

import pytest
import torch

from scripts import demo_nodes, random_models
from scripts.tiny_text_encoders import tiny_sdxl_clip

RESOLUTION = 64


def import_from_pack(pack, dotted: str):
    return importlib.import_module(f"{pack.__name__}.{dotted}")


def tiny_unet(seed: int = 0):
    """random_models' tiny SDXL-layout UNet with the demo's context width (64) instead of 2048."""
    from comfy import model_patcher, supported_models

    config = supported_models.SDXL({**random_models.SDXL_LAYOUT, "model_channels": 32, "context_dim": 64})
    config.unet_config["num_head_channels"] = 8
    config.set_inference_dtype(torch.float32, None)
    model = config.get_model({}, device=torch.device("cpu"))
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.diffusion_model.named_parameters():
            values = torch.randn(p.shape, generator=generator)
            p.copy_(values / p[0].numel() ** 0.5 if p.ndim > 1 else (1 + 0.1 * values if name.endswith("weight")
                                                                         else 0.02 * values))
    return model_patcher.ModelPatcher(model, load_device=torch.device("cpu"), offload_device=torch.device("cpu"))


@pytest.fixture(scope="module", autouse=True)
def distribution_folder(comfy, pack, tmp_path_factory):
    """A temporary models/prompt_distributions in front of the default, so tests never write into ComfyUI's."""
    dist = import_from_pack(pack, "nodes.distribution")
    dist.register_distribution_folder()
    folder = str(tmp_path_factory.mktemp("prompt_distributions"))
    comfy.folder_paths.add_model_folder_path(dist.FOLDER, folder, is_default=True)
    yield folder
    comfy.folder_paths.folder_names_and_paths[dist.FOLDER][0].remove(folder)


@pytest.fixture(scope="module")
def models(comfy):
    with torch.inference_mode():  # like a loader node: inference tensors everywhere
        return tiny_unet(), tiny_sdxl_clip(0), demo_nodes.DemoVAE()


@pytest.fixture(scope="module")
def nodes(pack):
    train = import_from_pack(pack, "nodes.distribution_train")
    dist = import_from_pack(pack, "nodes.distribution")
    return train, dist


def reference_images(count: int = 3, size: int = 80) -> torch.Tensor:
    """Flat-colour panels with a dark stripe (not the training size, so they are resized)."""
    images = torch.ones(count, size, size, 3) * torch.linspace(0.3, 0.9, count).view(-1, 1, 1, 1)
    images[:, size // 3: size // 2] = 0.1
    return images


def train(nodes, models, *, name: str, steps: int, images=None, lr: float = 0.05, **extra):
    train_node, _ = nodes
    unet, clip, vae = models
    settings = dict(name=name, prompts=4, tokens_per_prompt=2, steps=steps, learning_rate=lr, samples_per_step=2,
                    images_per_step=1, resolution=RESOLUTION, seed=0)
    settings.update(extra)
    with torch.inference_mode():
        out = train_node.DiffSenseiTrainPromptDistribution.execute(
            model=unet, clip=clip, vae=vae, images=reference_images() if images is None else images, **settings)
    return out.args[0]


def sample(nodes, distribution, **kwargs):
    _, dist = nodes
    settings = dict(gamma=1.0, seed=0, batch_size=2, width=RESOLUTION, height=RESOLUTION)
    settings.update(kwargs)
    with torch.inference_mode():
        return dist.DiffSenseiSamplePromptDistribution.execute(distribution=distribution, **settings).args[0]


def fixed_loss(nodes, models, distribution) -> float:
    """The UNet's noise-prediction MSE for the distribution's mean prompt on fixed noise/timesteps (16 draws)."""
    train_node, _ = nodes
    unet, _clip, vae = models
    pixels = train_node.prepare_images(reference_images(), RESOLUTION)
    with torch.no_grad():
        latents = unet.model.process_latent_in(vae.encode(pixels)).float()
        loss = train_node.UNetDenoiseLoss(unet, latents, images_per_step=16, width=RESOLUTION, height=RESOLUTION)
        g = distribution.gaussian
        return float(loss(g.mean[None], g.pooled_mean[None], torch.Generator().manual_seed(123)))


def test_encoder_matches_comfyui_text_encoding(pack, models):
    text_embeds = import_from_pack(pack, "nodes.text_embeds")
    clip = models[1].clone()
    words = "a manga panel of a cat"
    for layer in (None, -1):
        if layer is not None:
            clip.clip_layer(layer)
        encoder = text_embeds.ComfyPromptEncoder(clip, prefix=words, tokens=0, where="test")
        with torch.no_grad():
            ours = encoder([torch.zeros(1, 0, 32), torch.zeros(1, 0, 32)])
            cond, pooled = clip.encode_from_tokens(clip.tokenize(words), return_pooled=True)
        torch.testing.assert_close(ours.hidden, cond, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(ours.pooled, pooled, rtol=1e-5, atol=1e-5)
    assert encoder.identity.names == ("clip_l", "clip_g") and encoder.identity.widths == (32, 32)
    assert encoder.identity.pooled_width == 1280


def test_training_lowers_the_loss_and_the_artifact_loads_bit_identically(comfy, nodes, models, distribution_folder):
    _, dist = nodes
    untrained = train(nodes, models, name="untrained", steps=1, lr=1e-9)
    trained = train(nodes, models, name="dss_style", steps=60, lr=0.1)
    assert trained.info.steps == 60 and trained.info.prompts == 4 and trained.info.tokens == 2
    before, after = fixed_loss(nodes, models, untrained), fixed_loss(nodes, models, trained)
    assert after < 0.99 * before  # deterministic on CPU: 1.327 → 1.272

    path = dist.output_folder() + "/dss_style.safetensors"
    assert path.startswith(distribution_folder)
    with torch.inference_mode():
        loaded = dist.DiffSenseiLoadPromptDistribution.execute(distribution_name="dss_style.safetensors").args[0]
    a, b = sample(nodes, trained, seed=5), sample(nodes, loaded, seed=5)
    assert torch.equal(a[0][0], b[0][0]) and torch.equal(a[0][1]["pooled_output"], b[0][1]["pooled_output"])
    assert a[0][0].shape == (2, 77, 64) and a[0][1]["pooled_output"].shape == (2, 1280)
    assert path.endswith("dss_style.safetensors")


def test_gamma_zero_gives_one_conditioning_for_every_seed(nodes, models):
    distribution = train(nodes, models, name="dss_gamma", steps=2)
    first = sample(nodes, distribution, gamma=0.0, seed=0)[0][0]
    for seed in (1, 2):
        assert torch.equal(sample(nodes, distribution, gamma=0.0, seed=seed)[0][0], first)
    assert not torch.equal(sample(nodes, distribution, seed=1)[0][0], sample(nodes, distribution, seed=2)[0][0])


def test_interrupt_saves_the_last_good_state(comfy, nodes, models):
    import comfy.model_management as mm
    import comfy.utils

    _, dist = nodes

    def hook(value, total, preview, node_id=None):
        if value == 3:
            mm.interrupt_current_processing(True)

    comfy.utils.set_progress_bar_global_hook(hook)
    try:
        with pytest.raises(mm.InterruptProcessingException):
            train(nodes, models, name="dss_interrupted", steps=50)
    finally:
        comfy.utils.set_progress_bar_global_hook(None)
        mm.interrupt_current_processing(False)
    with torch.inference_mode():
        saved = dist.DiffSenseiLoadPromptDistribution.execute(distribution_name="dss_interrupted.safetensors").args[0]
    assert saved.info.steps == 3 and "interrupted after 3" in saved.info.note
    assert all(torch.isfinite(c).all() for c in saved.contexts)


def test_nan_loss_stops_and_keeps_the_last_good_state(nodes, models, caplog):
    images = reference_images()
    images[0, 0, 0, 0] = float("nan")
    with caplog.at_level(logging.WARNING, logger="diffsensei"):
        distribution = train(nodes, models, name="dss_nan", steps=5, images=images, images_per_step=3)
    assert distribution.info.steps == 0 and "nan" in distribution.info.note
    assert any("training stopped" in r.getMessage() for r in caplog.records)
    assert all(torch.isfinite(c).all() for c in distribution.contexts)


def test_bad_inputs_fail_with_clear_messages(pack, nodes, models):
    errors = import_from_pack(pack, "diffsensei_core.errors")
    distribution = train(nodes, models, name="dss_checks", steps=1)
    with pytest.raises(errors.DistributionError, match="2 or more reference images, got 1"):
        train(nodes, models, name="dss_one", steps=1, images=reference_images(1))
    with pytest.raises(errors.DistributionError, match=r"'gamma'.*γ ≥ 0, got -1"):
        sample(nodes, distribution, gamma=-1.0)
    with pytest.raises(errors.DistributionError, match="needs the CLIP"):
        sample(nodes, distribution, suffix="at night")
    with torch.inference_mode():
        narrow = tiny_sdxl_clip(1, width_l=16, width_g=16)
    with pytest.raises(errors.DistributionError, match=r"trained for the text encoders clip_l \(32-d\) \+ clip_g "
                                                       r"\(32-d\).*clip_l \(16-d\)"):
        sample(nodes, distribution, clip=narrow)


def test_text_edit_reencodes_and_mix_follows_the_formula(pack, nodes, models):
    _, dist = nodes
    core = import_from_pack(pack, "diffsensei_core.distribution")
    clip = models[1]
    a = train(nodes, models, name="dss_a", steps=2)
    b = train(nodes, models, name="dss_b", steps=2, seed=7, prefix="a drawing of")
    plain = sample(nodes, a)[0][0]
    assert torch.equal(sample(nodes, a, clip=clip)[0][0], plain)  # same text: no re-encode
    night = sample(nodes, a, clip=clip, suffix="at night")[0][0]
    assert night.shape == plain.shape and not torch.allclose(night, plain)
    with torch.inference_mode():
        mixed = dist.DiffSenseiMixPromptDistributions.execute(distribution_1=a, weight_1=1.0, gamma_1=1.0,
                                                              distribution_2=b, weight_2=3.0, gamma_2=0.5).args[0]
    expected = core.mix([a.gaussian, b.gaussian], [0.25, 0.75], [1.0, 0.5])
    torch.testing.assert_close(mixed.gaussian.std, expected.std)
    torch.testing.assert_close(mixed.gaussian.mean, 0.25 * a.gaussian.mean + 0.75 * b.gaussian.mean)
    assert not mixed.editable
    errors = import_from_pack(pack, "diffsensei_core.errors")
    with pytest.raises(errors.DistributionError, match="is a mix"):
        sample(nodes, mixed, clip=clip, suffix="at night")


@pytest.fixture
def model_node(comfy, models):
    class TinyModel:
        RETURN_TYPES = ("MODEL",)
        FUNCTION = "run"
        CATEGORY = "testing"

        @classmethod
        def INPUT_TYPES(cls):
            return {"required": {}}

        def run(self):
            return (models[0],)

    registry = comfy.nodes.NODE_CLASS_MAPPINGS
    registry["DSDTestTinyModel"] = TinyModel
    yield
    registry.pop("DSDTestTinyModel")


def test_ksampler_consumes_the_sampled_conditioning(comfy, nodes, models, model_node, run_prompt):
    train(nodes, models, name="dss_ksampler", steps=1)
    sampled = {"class_type": "DiffSenseiSamplePromptDistribution",
               "inputs": {"distribution": ["load", 0], "gamma": 1.0, "seed": 3, "batch_size": 2, "width": 64,
                          "height": 64}}
    prompt = {
        "model": {"class_type": "DSDTestTinyModel", "inputs": {}},
        "load": {"class_type": "DiffSenseiLoadPromptDistribution",
                 "inputs": {"distribution_name": "dss_ksampler.safetensors"}},
        "positive": sampled,
        "negative": {**sampled, "inputs": {**sampled["inputs"], "gamma": 0.0}},
        "latent": {"class_type": "EmptyLatentImage", "inputs": {"width": 64, "height": 64, "batch_size": 2}},
        "sample": {"class_type": "KSampler", "inputs": {
            "model": ["model", 0], "positive": ["positive", 0], "negative": ["negative", 0],
            "latent_image": ["latent", 0], "seed": 0, "steps": 2, "cfg": 4.0, "sampler_name": "euler",
            "scheduler": "normal", "denoise": 1.0}},
        "save": {"class_type": "SaveLatent", "inputs": {"samples": ["sample", 0], "filename_prefix": "dsd/sample"}},
    }
    executor, outputs = run_prompt(prompt)
    assert executor.success, executor.status_messages
    from safetensors.torch import load_file

    entry = outputs["save"]["latents"][0]
    latent = load_file(comfy.folder_paths.get_output_directory() + f"/{entry['subfolder']}/{entry['filename']}")
    assert latent["latent_tensor"].shape == (2, 4, 8, 8) and torch.isfinite(latent["latent_tensor"]).all()
