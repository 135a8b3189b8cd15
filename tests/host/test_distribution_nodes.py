"""Prompt-distribution nodes in real ComfyUI: ComfyUI's SDXL and SD1.x text-encoder classes with tiny random weights,
tiny UNets (the real SDXL/SD1 code, and an SDXL model whose network reads the prompt, see distribution_models.py), the
demo VAE; models are built and nodes run under inference mode, as ComfyUI runs them."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import torch
from conftest import import_from_pack, registered_nodes, source_node
from distribution_models import reading_unet, tiny_sd1_unet, tiny_sdxl_unet

from headless import demo_nodes
from headless.tiny_text_encoders import tiny_sd1_clip, tiny_sdxl_clip

RESOLUTION = 64


@pytest.fixture(scope="module", autouse=True)
def distribution_folder(comfy, pack, tmp_path_factory):
    """A temporary models/prompt_distributions in front of the default, so tests never write into ComfyUI's."""
    place = import_from_pack(pack, "nodes.host.distribution_folder")
    place.register_distribution_folder()
    folder = str(tmp_path_factory.mktemp("prompt_distributions"))
    comfy.folder_paths.add_model_folder_path(place.FOLDER, folder, is_default=True)
    yield folder
    comfy.folder_paths.folder_names_and_paths[place.FOLDER][0].remove(folder)


@pytest.fixture(scope="module")
def models(comfy):
    with torch.inference_mode():  # like a loader node: inference tensors everywhere
        return tiny_sdxl_unet(), tiny_sdxl_clip(0), demo_nodes.DemoVAE()


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


def other_images(count: int = 3, size: int = 80) -> torch.Tensor:
    """A second, different set: bright-to-dark panels whose lower half has almost no green."""
    images = torch.ones(count, size, size, 3) * torch.linspace(0.9, 0.2, count).view(-1, 1, 1, 1)
    images[:, size // 2:, :, 1] = 0.05
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


def fixed_loss(nodes, models, distribution, images=None) -> float:
    """The UNet's noise-prediction MSE for the distribution's mean prompt on the reference images with fixed noise
    and timesteps (16 draws): the same evaluation batch for every distribution."""
    train_node, _ = nodes
    unet, _clip, vae = models
    pixels = train_node.prepare_images(reference_images() if images is None else images, RESOLUTION)
    with torch.no_grad():
        latents = unet.model.process_latent_in(vae.encode(pixels)).float()
        loss = train_node.UNetDenoiseLoss(unet, latents, images_per_step=16, width=RESOLUTION, height=RESOLUTION)
        g = distribution.gaussian
        return float(loss(g.mean.expand(16, -1, -1), g.pooled_mean.expand(16, -1), torch.Generator().manual_seed(123)))


def encodes_like_comfyui(pack, clip, layers: tuple[int | None, ...]):
    """Our differentiable encoding of a plain text equals ``CLIP.encode_from_tokens`` for each CLIPSetLastLayer
    choice in ``layers`` (None = the model's default); returns the last encoder."""
    text_embeds = import_from_pack(pack, "nodes.host.text_embeds")
    clip = clip.clone()
    words = "a manga panel of a cat"
    for layer in layers:
        if layer is not None:
            clip.clip_layer(layer)
        encoder = text_embeds.ComfyPromptEncoder(clip, prefix=words, tokens=0, where="test")
        with torch.no_grad():
            ours = encoder([torch.zeros(1, 0, width) for width in encoder.identity.widths])
            cond, pooled = clip.encode_from_tokens(clip.tokenize(words), return_pooled=True)
        torch.testing.assert_close(ours.hidden, cond, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(ours.pooled, pooled, rtol=1e-5, atol=1e-5)
    return encoder


def test_encoder_matches_comfyui_text_encoding(pack, models):
    encoder = encodes_like_comfyui(pack, models[1], (None, -1))
    assert encoder.identity.names == ("clip_l", "clip_g") and encoder.identity.widths == (32, 32)
    assert encoder.identity.pooled_width == 1280


@pytest.fixture(scope="module")
def reading_models(comfy):
    with torch.inference_mode():
        return reading_unet(), tiny_sdxl_clip(0), demo_nodes.DemoVAE()


def test_training_learns_a_conditioning_specific_to_its_references(nodes, reading_models):
    """Through a network that reads the prompt (distribution_models.PromptReadingDenoiser), training on set A must
    close a large part of the gap between the untrained prompts and the best possible conditioning, and fit A better
    than a distribution trained on another set B does (and the other way round): the drop is learned from the
    references, not a generic shrinkage. All numbers are on one fixed evaluation batch."""
    a_images, b_images = reference_images(), other_images()
    untrained = train(nodes, reading_models, name="dss_read_untrained", steps=1, lr=1e-9)
    on_a = train(nodes, reading_models, name="dss_read_a", steps=150, lr=0.3)
    on_b = train(nodes, reading_models, name="dss_read_b", steps=150, lr=0.3, images=b_images)
    assert on_a.info.steps == 150 and on_a.info.note == ""

    def loss(distribution, images):
        return fixed_loss(nodes, reading_models, distribution, images)

    denoiser = reading_models[0].model.diffusion_model
    pixels = nodes[0].prepare_images(a_images, RESOLUTION)
    with torch.no_grad():
        denoiser.target = reading_models[0].model.process_latent_in(reading_models[2].encode(pixels)).mean(0)
    try:
        best = loss(untrained, a_images)  # the clean-latent estimate fixed at A's mean latent
    finally:
        denoiser.target = None
    before, after = loss(untrained, a_images), loss(on_a, a_images)
    assert after - best < 0.6 * (before - best)  # deterministic on CPU: 0.239 → 0.136, best 0.026
    assert after < 0.85 * loss(on_b, a_images)  # 0.136 vs 0.210
    assert loss(on_b, b_images) < 0.85 * loss(on_a, b_images)  # 0.360 vs 0.488


def test_gradients_reach_both_encoders_through_the_real_unet(pack, nodes, models):
    """The real SDXL UNet code (cross-attention for the sequence, ADM for the pooled vector) passes gradients to the
    soft prompts of both encoders; CLIP-L's prompts reach the loss only through the UNet's cross-attention."""
    core = import_from_pack(pack, "diffsensei_core.distribution")
    initial = core.SoftPrompts(prompts=4, tokens=2, widths=(32, 32), seed=0).snapshot()
    trained = train(nodes, models, name="dss_real_unet", steps=3, lr=0.01)
    assert trained.info.steps == 3
    for before, after in zip(initial, trained.contexts, strict=True):
        assert after.shape == before.shape and float((after - before).abs().max()) > 1e-3
    assert torch.isfinite(torch.tensor(fixed_loss(nodes, models, trained)))


def test_the_artifact_loads_bit_identically(pack, nodes, models, distribution_folder, caplog):
    _, dist = nodes
    core = import_from_pack(pack, "diffsensei_core.distribution")
    trained = train(nodes, models, name="dss_style", steps=2, suffix="in ink")
    assert trained.info.steps == 2 and trained.info.prompts == 4 and trained.info.tokens == 2
    assert trained.info.training == core.TrainingSettings(learning_rate=0.05, samples_per_step=2, images_per_step=1,
                                                          resolution=RESOLUTION, seed=0, steps_requested=2)
    path = import_from_pack(pack, "nodes.host.distribution_folder").output_folder() + "/dss_style.safetensors"
    assert path.startswith(distribution_folder)
    with torch.inference_mode(), caplog.at_level(logging.INFO, logger="diffsensei"):
        loaded, text = dist.DiffSenseiLoadPromptDistribution.execute(distribution_name="dss_style.safetensors").args
    lines = text.splitlines()
    for line in ("soft prompts: K=4, 2 tokens each", "learning rate: 0.05", "samples per image and step (M): 2",
                 "images per step: 1", "resolution: 64x64", "seed: 0", "prefix: ''", "suffix: 'in ink'"):
        assert line in lines
    assert any(line.startswith("steps: 2 done of 2 asked, last loss ") for line in lines)
    assert any("loaded prompt distribution dss_style.safetensors" in r.getMessage()
               and "learning rate: 0.05" in r.getMessage() for r in caplog.records)
    a, b = sample(nodes, trained, seed=5), sample(nodes, loaded, seed=5)
    assert torch.equal(a[0][0], b[0][0]) and torch.equal(a[0][1]["pooled_output"], b[0][1]["pooled_output"])
    assert a[0][0].shape == (2, 77, 64) and a[0][1]["pooled_output"].shape == (2, 1280)
    assert loaded.info == trained.info


def test_gamma_zero_gives_one_conditioning_for_every_seed(nodes, models):
    distribution = train(nodes, models, name="dss_gamma", steps=2)
    first = sample(nodes, distribution, gamma=0.0, seed=0)[0][0]
    for seed in (1, 2):
        assert torch.equal(sample(nodes, distribution, gamma=0.0, seed=seed)[0][0], first)
    assert not torch.equal(sample(nodes, distribution, seed=1)[0][0], sample(nodes, distribution, seed=2)[0][0])


def interrupt_at(comfy, step: int, run):
    """Run ``run()`` with ComfyUI's interrupt flag raised when the progress bar reaches ``step``."""
    import comfy.model_management as mm
    import comfy.utils

    def hook(value, total, preview, node_id=None):
        if value == step:
            mm.interrupt_current_processing(True)

    comfy.utils.set_progress_bar_global_hook(hook)
    try:
        with pytest.raises(mm.InterruptProcessingException):
            run()
    finally:
        comfy.utils.set_progress_bar_global_hook(None)
        mm.interrupt_current_processing(False)


def test_interrupt_saves_the_last_good_state(comfy, nodes, models, caplog):
    _, dist = nodes
    with caplog.at_level(logging.WARNING, logger="diffsensei"):
        interrupt_at(comfy, 3, lambda: train(nodes, models, name="dss_interrupted", steps=50))
    with torch.inference_mode():
        saved = dist.DiffSenseiLoadPromptDistribution.execute(distribution_name="dss_interrupted.safetensors").args[0]
    assert saved.info.steps == 3 and saved.info.note == "interrupted after 3 of 50 steps"
    assert all(torch.isfinite(c).all() for c in saved.contexts)
    assert any("interrupted after 3 of 50 steps; that state is saved to" in r.getMessage()
               and r.getMessage().endswith("dss_interrupted.safetensors") for r in caplog.records)


def test_interrupt_before_the_first_step_saves_nothing_and_keeps_an_existing_file(comfy, nodes, models,
                                                                                  distribution_folder, caplog):
    """A cancel that lands before the first step finished (here: during loading, so the loss's interrupt check fires
    at step 1) writes nothing; an earlier file of that name is left byte for byte."""
    import comfy.model_management as mm

    train(nodes, models, name="dss_cancel_early", steps=2)
    existing = Path(distribution_folder) / "dss_cancel_early.safetensors"
    before = existing.read_bytes()
    for name, kept in (("dss_cancel_early", "; the existing dss_cancel_early.safetensors is unchanged"),
                       ("dss_cancel_new", "")):
        caplog.clear()
        mm.interrupt_current_processing(True)
        try:
            with pytest.raises(mm.InterruptProcessingException), caplog.at_level(logging.WARNING, logger="diffsensei"):
                train(nodes, models, name=name, steps=5)
        finally:
            mm.interrupt_current_processing(False)
        messages = [r.getMessage() for r in caplog.records]
        assert any("interrupted before the first step finished, so nothing was saved to" in m
                   and m.endswith(f"{name}.safetensors{kept}") for m in messages), messages
    assert existing.read_bytes() == before
    assert sorted(p.name for p in Path(distribution_folder).glob("dss_cancel_*")) == ["dss_cancel_early.safetensors"]


def test_nan_loss_stops_and_saves_the_last_good_state(nodes, models, monkeypatch, caplog):
    train_node, dist = nodes
    real_loss = train_node.UNetDenoiseLoss.__call__
    calls = []

    def nan_on_third_call(self, hidden, pooled, generator):
        calls.append(1)
        loss = real_loss(self, hidden, pooled, generator)
        return loss * float("nan") if len(calls) == 3 else loss

    monkeypatch.setattr(train_node.UNetDenoiseLoss, "__call__", nan_on_third_call)
    with caplog.at_level(logging.WARNING, logger="diffsensei"):
        distribution = train(nodes, models, name="dss_nan", steps=5)
    assert distribution.info.steps == 2 and distribution.info.note == "stopped early at step 3: loss nan"
    assert all(torch.isfinite(c).all() for c in distribution.contexts)
    assert any("the state after step 2 is saved to" in r.getMessage() and "dss_nan.safetensors" in r.getMessage()
               for r in caplog.records)
    with torch.inference_mode():
        saved = dist.DiffSenseiLoadPromptDistribution.execute(distribution_name="dss_nan.safetensors").args[0]
    assert saved.info.steps == 2 and all(torch.equal(a, b) for a, b in zip(saved.contexts, distribution.contexts,
                                                                             strict=True))


def test_nan_at_the_first_step_saves_nothing_and_keeps_an_existing_file(pack, nodes, models):
    errors = import_from_pack(pack, "diffsensei_core.errors")
    _, dist = nodes
    train(nodes, models, name="dss_nan_first", steps=2)
    images = reference_images()
    images[:, 0, 0, 0] = float("nan")
    with pytest.raises(errors.DistributionError, match=r"step 1: loss nan before any step finished, so nothing was "
                                                       r"saved \(the existing dss_nan_first.safetensors is unchanged"):
        train(nodes, models, name="dss_nan_first", steps=5, images=images)
    with torch.inference_mode():
        kept = dist.DiffSenseiLoadPromptDistribution.execute(distribution_name="dss_nan_first.safetensors").args[0]
    assert kept.info.steps == 2


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


def test_mix_warns_when_the_inputs_were_trained_on_other_clip_weights(nodes, models, caplog):
    """Same shapes, other token-embedding weights: the mix runs but warns, naming the inputs; same CLIP: silent."""
    _, dist = nodes
    unet, _clip, vae = models
    with torch.inference_mode():
        other_clip = tiny_sdxl_clip(1)
    a = train(nodes, models, name="dss_fp_a", steps=1)
    b = train(nodes, models, name="dss_fp_b", steps=1, seed=3)
    c = train(nodes, (unet, other_clip, vae), name="dss_fp_c", steps=1)
    assert c.info.identity.same_shape(a.info.identity) and c.info.identity.fingerprints != a.info.identity.fingerprints

    def mixed(**inputs):
        caplog.clear()
        with torch.inference_mode(), caplog.at_level(logging.WARNING, logger="diffsensei"):
            out = dist.DiffSenseiMixPromptDistributions.execute(**inputs).args[0]
        return out, [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]

    _out, warnings = mixed(distribution_1=a, distribution_2=b)
    assert warnings == []
    out, warnings = mixed(distribution_1=a, distribution_2=b, distribution_4=c)
    assert out.info.training is None and out.info.prompts == 0
    assert len(warnings) == 1 and "distribution_1 and distribution_4 have the same encoder shapes" in warnings[0]
    assert "different CLIP weights" in warnings[0]


@pytest.fixture
def model_node(comfy, models):
    with registered_nodes(comfy, DSDTestTinyModel=source_node(("MODEL",), lambda: (models[0],))):
        yield


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


class ProgressTextRecorder:
    """Stands in for PromptServer.instance: records what the nodes send with send_progress_text."""

    def __init__(self):
        self.texts: list[tuple[str, str]] = []

    def send_progress_text(self, text, node_id, sid=None):
        self.texts.append((str(node_id), text))


@pytest.fixture
def reference_node(comfy, reading_models):
    produce = lambda: (*reading_models, reference_images())  # noqa: E731
    with registered_nodes(comfy, DSDTestReadingModels=source_node(("MODEL", "CLIP", "VAE", "IMAGE"), produce)):
        yield


def test_train_shows_the_loss_and_the_outcome_as_progress_text(comfy, nodes, reference_node, run_prompt, monkeypatch):
    import server

    recorder = ProgressTextRecorder()
    monkeypatch.setattr(server.PromptServer, "instance", recorder, raising=False)
    prompt = {
        "models": {"class_type": "DSDTestReadingModels", "inputs": {}},
        "train": {"class_type": "DiffSenseiTrainPromptDistribution", "inputs": {
            "model": ["models", 0], "clip": ["models", 1], "vae": ["models", 2], "images": ["models", 3],
            "name": "dss_progress", "prompts": 4, "tokens_per_prompt": 2, "steps": 6, "learning_rate": 0.1,
            "samples_per_step": 2, "images_per_step": 2, "resolution": RESOLUTION, "seed": 1}},
    }
    executor, _outputs = run_prompt(prompt)
    assert executor.success, executor.status_messages
    assert recorder.texts and {node for node, _text in recorder.texts} == {"train"}
    texts = [text for _node, text in recorder.texts]
    assert texts[0].startswith("step 1/6  loss ") and "orthogonality" in texts[0]
    assert texts[-2].startswith("step 6/6  loss ")
    assert texts[-1].startswith("done: 6 steps, last loss ") and texts[-1].endswith("dss_progress.safetensors")


@pytest.fixture(scope="module")
def sd1_models(comfy):
    with torch.inference_mode():
        return tiny_sd1_unet(context_dim=32), tiny_sd1_clip(0), demo_nodes.DemoVAE()


def test_sd1_clip_encodes_like_comfyui_trains_and_samples_for_ksampler(comfy, pack, nodes, sd1_models, models):
    errors = import_from_pack(pack, "diffsensei_core.errors")
    unet, sd1_clip, _vae = sd1_models
    encoder = encodes_like_comfyui(pack, sd1_clip, (None, -2))
    assert encoder.identity.names == ("clip_l",) and encoder.identity.widths == (32,)
    assert encoder.identity.pooled_width == 32

    distribution = train(nodes, sd1_models, name="dss_sd1", steps=3, suffix="in ink")
    assert distribution.info.steps == 3 and len(distribution.contexts) == 1
    conditioning = sample(nodes, distribution, clip=sd1_clip, suffix="at night")
    assert conditioning[0][0].shape == (2, 77, 32) and conditioning[0][1]["pooled_output"].shape == (2, 32)
    with torch.inference_mode():
        latent = {"samples": torch.zeros(2, 4, 8, 8)}
        out = comfy.nodes.KSampler().sample(unet, 0, 2, 4.0, "euler", "normal", conditioning,
                                            sample(nodes, distribution, gamma=0.0), latent)[0]["samples"]
    assert out.shape == (2, 4, 8, 8) and torch.isfinite(out).all()
    with pytest.raises(errors.DistributionError, match=r"trained for the text encoders clip_l \(32-d\), pooled 32-d, "
                                                       r"but the connected CLIP has clip_l \(32-d\) \+ clip_g"):
        sample(nodes, distribution, clip=models[1])



def _plain_copies(unet, clip):
    """The same UNet and CLIP with every weight an ordinary tensor of its own and no weight wrappers: plain autograd."""
    import copy

    import comfy.model_patcher

    def patcher_of(module, like):
        return comfy.model_patcher.ModelPatcher(module, load_device=like.load_device,
                                                offload_device=like.offload_device)

    config = unet.model.model_config  # shared, not copied: 0.33's config object answers None for any attribute
    model = copy.deepcopy(unet.model, memo={id(config): config})
    text = clip.clone()
    text.cond_stage_model = copy.deepcopy(clip.cond_stage_model)
    text.patcher = patcher_of(text.cond_stage_model, clip.patcher)
    return patcher_of(model, unet), text


def _prompt_gradients(pack, nodes, unet, clip, latents) -> list[torch.Tensor]:
    """d loss / d soft prompts for one fixed draw (2 prompts of 2 tokens, one image, fixed noise and timestep)."""
    import comfy.model_management as mm

    train_node, _ = nodes
    text_embeds = import_from_pack(pack, "nodes.host.text_embeds")
    core = import_from_pack(pack, "diffsensei_core.distribution")
    mm.load_models_gpu([unet, clip.patcher])
    encoder = text_embeds.ComfyPromptEncoder(clip, tokens=2, where="test")
    contexts = [c.detach().clone().requires_grad_(True)
                for c in core.SoftPrompts(prompts=2, tokens=2, widths=encoder.identity.widths, seed=0).snapshot()]
    encoded = encoder(contexts)
    loss = train_node.UNetDenoiseLoss(unet, latents, images_per_step=1, width=RESOLUTION, height=RESOLUTION)
    loss(encoded.hidden, encoded.pooled, torch.Generator().manual_seed(5)).backward()
    return [c.grad for c in contexts]


def test_training_gradients_match_plain_autograd(pack, nodes, models):
    """The trainer's copy-on-use clones give the gradients plain autograd gives on private copies of the weights.
    Runs on whatever device ComfyUI picks (with dynamic VRAM on CUDA, weights are cast per use into shared buffers:
    this is the check that the trainer's copies are its own)."""
    train_node, _ = nodes
    unet, clip, vae = models
    pixels = train_node.prepare_images(reference_images(), RESOLUTION)
    with torch.no_grad():
        latents = unet.model.process_latent_in(vae.encode(pixels)).float()
    with torch.inference_mode(False), torch.enable_grad():
        latents = latents.clone()
        trainable_unet, trainable_clip = train_node.trainable(unet), clip.clone()
        trainable_clip.patcher = train_node.trainable(trainable_clip.patcher)
        try:
            ours = _prompt_gradients(pack, nodes, trainable_unet, trainable_clip, latents)
        finally:
            train_node._remove_wrappers(trainable_unet)
            train_node._remove_wrappers(trainable_clip.patcher)
        reference = _prompt_gradients(pack, nodes, *_plain_copies(unet, clip), latents)
    for got, expected in zip(ours, reference, strict=True):
        assert float(expected.abs().max()) > 0, "the loss reaches the prompts"
        torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-7)


def test_the_encoders_device_comes_from_the_patcher_not_a_weight(pack, models):
    """With dynamic VRAM the weights stay in RAM until a layer casts them: the device to run on is the patcher's."""
    text_embeds = import_from_pack(pack, "nodes.host.text_embeds")
    _unet, clip, _vae = models
    elsewhere = clip.clone()
    elsewhere.patcher = clip.patcher.clone()
    elsewhere.patcher.load_device = torch.device("meta")  # weights stay on the CPU
    encoder = text_embeds.ComfyPromptEncoder(elsewhere, tokens=2, where="test")
    assert encoder.device == torch.device("meta")
