"""A trained prompt distribution as a value and as a ``.safetensors`` file.

Tensors: ``mean``/``std`` (L, D), ``pooled_mean``/``pooled_std`` (P,), and ``contexts.<e>`` (K, n, w_e) per
encoder (absent for mixes, which can be sampled but not re-encoded). Metadata (strings): the format version and
a JSON record of K, n, prefix, suffix, steps, last loss, the encoder identity (names, widths, pooled width,
token-embedding fingerprints) and the training settings (absent in mixes and in files from before they were recorded).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from ..errors import DistributionError
from .gaussian import PromptGaussian
from .soft_prompts import EncoderIdentity

FORMAT = "diffsensei_prompt_distribution"
VERSION = 1


@dataclass(frozen=True)
class TrainingSettings:
    """What the Train node was asked for; steps done, prefix and suffix live in :class:`DistributionInfo`."""

    learning_rate: float
    samples_per_step: int  # M, per image and step
    images_per_step: int
    resolution: int
    seed: int
    steps_requested: int

    def to_record(self) -> dict:
        return {"learning_rate": self.learning_rate, "samples_per_step": self.samples_per_step,
                "images_per_step": self.images_per_step, "resolution": self.resolution, "seed": self.seed,
                "steps_requested": self.steps_requested}

    @classmethod
    def from_record(cls, record: dict) -> TrainingSettings:
        return cls(float(record["learning_rate"]), int(record["samples_per_step"]), int(record["images_per_step"]),
                   int(record["resolution"]), int(record["seed"]), int(record["steps_requested"]))


@dataclass(frozen=True)
class DistributionInfo:
    identity: EncoderIdentity
    prompts: int  # K (0 for a mix)
    tokens: int  # n per prompt (0 for a mix)
    prefix: str = ""
    suffix: str = ""
    steps: int = 0
    last_loss: float | None = None
    note: str = ""  # e.g. "mix of a (0.7), b (0.3)" or "stopped early: …"
    version: int = VERSION
    training: TrainingSettings | None = None  # None for mixes and older files


def describe_training(info: DistributionInfo) -> str:
    """One line per setting, for the log and the Load node's text output."""
    lines = [f"encoders: {info.identity.describe()}"]
    if info.prompts == 0:
        lines.append(f"a mix, not trained: {info.note or 'no details recorded'}")
        return "\n".join(lines)
    lines.append(f"soft prompts: K={info.prompts}, {info.tokens} tokens each")
    t = info.training
    asked = f" of {t.steps_requested} asked" if t is not None else ""
    loss = f", last loss {info.last_loss:.4f}" if info.last_loss is not None else ""
    lines.append(f"steps: {info.steps} done{asked}{loss}")
    if t is not None:
        lines += [f"learning rate: {t.learning_rate:g}",
                  f"samples per image and step (M): {t.samples_per_step}",
                  f"images per step: {t.images_per_step}",
                  f"resolution: {t.resolution}x{t.resolution}",
                  f"seed: {t.seed}"]
    else:
        lines.append("training settings: not recorded (file written before they were)")
    lines += [f"prefix: {info.prefix!r}", f"suffix: {info.suffix!r}"]
    if info.note:
        lines.append(f"note: {info.note}")
    return "\n".join(lines)


@dataclass(frozen=True, eq=False)
class PromptDistribution:
    """The DIFFSENSEI_PROMPT_DISTRIBUTION value: μ/σ, its description, and the contexts when re-encoding is possible."""

    gaussian: PromptGaussian
    info: DistributionInfo
    contexts: tuple[torch.Tensor, ...] | None = None

    @property
    def editable(self) -> bool:
        return self.contexts is not None

    def with_gaussian(self, gaussian: PromptGaussian, **changes) -> PromptDistribution:
        return PromptDistribution(gaussian, replace(self.info, **changes), self.contexts)


def check_encoders(expected: EncoderIdentity, got: EncoderIdentity, *, where: str) -> None:
    """Raise unless ``got`` has the names and widths the distribution was trained for (fingerprints: same shape
    but other weights only warn-worthy, so they are compared by the caller if wanted)."""
    if not expected.same_shape(got):
        raise DistributionError(
            f"{where}: this prompt distribution was trained for the text encoders {expected.describe()}, but the "
            f"connected CLIP has {got.describe()}; connect the CLIP the distribution was trained with (or train a "
            "new distribution with this CLIP)")


def to_state_dict(distribution: PromptDistribution) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    g = distribution.gaussian
    tensors = {"mean": g.mean, "std": g.std, "pooled_mean": g.pooled_mean, "pooled_std": g.pooled_std}
    for index, context in enumerate(distribution.contexts or ()):
        tensors[f"contexts.{index}"] = context
    tensors = {k: v.detach().to("cpu", torch.float32).contiguous() for k, v in tensors.items()}
    info = distribution.info
    record = {
        "prompts": info.prompts, "tokens": info.tokens, "prefix": info.prefix, "suffix": info.suffix,
        "steps": info.steps, "last_loss": info.last_loss, "note": info.note,
        "encoders": {"names": list(info.identity.names), "widths": list(info.identity.widths),
                     "pooled_width": info.identity.pooled_width, "fingerprints": list(info.identity.fingerprints)},
    }
    if info.training is not None:
        record["training"] = info.training.to_record()
    return tensors, {"format": FORMAT, "version": str(info.version), "distribution": json.dumps(record)}


def from_state_dict(tensors: dict[str, torch.Tensor], metadata: dict[str, str], *, source: str) -> PromptDistribution:
    if (metadata or {}).get("format") != FORMAT:
        raise DistributionError(f"{source} is not a prompt distribution (its metadata has no format '{FORMAT}'); "
                                "pick a file written by 'DiffSensei: Train prompt distribution'")
    version = int(metadata.get("version", "0"))
    if version > VERSION:
        raise DistributionError(f"{source} has format version {version}, this pack reads up to {VERSION}; update "
                                "the pack")
    try:
        record = json.loads(metadata["distribution"])
        encoders = record["encoders"]
        identity = EncoderIdentity(tuple(encoders["names"]), tuple(int(w) for w in encoders["widths"]),
                                   int(encoders["pooled_width"]), tuple(encoders["fingerprints"]))
        gaussian = PromptGaussian(tensors["mean"], tensors["std"], tensors["pooled_mean"], tensors["pooled_std"])
        training = TrainingSettings.from_record(record["training"]) if record.get("training") else None
    except (KeyError, ValueError, TypeError) as e:
        raise DistributionError(f"{source}: the prompt distribution is incomplete ({e!r} missing or malformed); "
                                "train it again") from None
    contexts = tuple(tensors[f"contexts.{i}"] for i in range(len(identity.names)) if f"contexts.{i}" in tensors)
    if contexts and len(contexts) != len(identity.names):
        raise DistributionError(f"{source}: {len(contexts)} context tensors for {len(identity.names)} encoders; "
                                "train it again")
    info = DistributionInfo(identity, int(record["prompts"]), int(record["tokens"]), record.get("prefix", ""),
                            record.get("suffix", ""), int(record.get("steps", 0)), record.get("last_loss"),
                            record.get("note", ""), version, training)
    return PromptDistribution(gaussian, info, contexts or None)


def save(distribution: PromptDistribution, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors, metadata = to_state_dict(distribution)
    temporary = path.with_name(path.name + ".partial")
    save_file(tensors, str(temporary), metadata=metadata)
    temporary.replace(path)  # never leave a half-written artifact under the real name
    return path


def load(path: str | Path) -> PromptDistribution:
    path = Path(path)
    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
        tensors = load_file(str(path))
    except (OSError, SafetensorError) as e:
        raise DistributionError(f"could not read the prompt distribution {path}: {e}") from None
    return from_state_dict(tensors, metadata, source=str(path))
