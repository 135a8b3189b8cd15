"""Photo → manga prompt nodes: "Describe photo" (zero-shot CLIP attributes, person finding) and "Manga style preset".

The logic lives in ``diffsensei_core.photo`` (``describe`` / ``prompt`` / ``regions``; the data files in
``vocabulary``); here the user's CLIP pair is turned into the two encoders those modules take, and the data
file choices are the pack's files plus the user's copies in ``models/diffsensei/photo/`` (``folders.user_files``):

* image side: ``ClipVisionModel.encode_image`` → ``image_embeds`` (projected), crops resized to the model's square;
* text side: the text tower of the connected CLIP whose projected pooled width equals the image embedding width
  (SDXL's CLIP-G with ViT-bigG = 1280, CLIP-L with CLIP-L vision = 768), all prompts batched through the tower.
"""

from __future__ import annotations

import logging
from pathlib import Path

import comfy.model_management as mm
import comfy.utils
import folder_paths
import torch
from comfy_api.v0_0_2 import io, ui

from ..diffsensei_core.errors import DiffSenseiError, InputShapeError
from ..diffsensei_core.photo.describe import SUBJECTS, describe_photo
from ..diffsensei_core.photo.prompt import style_for_scene
from ..diffsensei_core.photo.regions import resize_square
from ..diffsensei_core.photo.vocabulary import (
    DEFAULT_STYLES,
    DEFAULT_VOCABULARY,
    SCENE_CLASSES,
    load_styles,
    load_vocabulary,
)
from .host import folders

log = logging.getLogger("diffsensei")

CATEGORY = "DiffSensei/photo"
DESCRIBE = "DiffSensei: Describe photo"
STYLE = "DiffSensei: Manga style preset"
USER_SUBFOLDER = "photo"  # models/diffsensei/photo/*.json: the user's own vocabularies and style files
IMAGE_BATCH = 16
TEXT_BATCH = 32
TOWERS = ("clip_l", "clip_g")
PAIRS = "CLIP-G text (SDXL's CLIP) with ViT-bigG vision (1280), or CLIP-L text with CLIP-L vision (768)"


# ------------------------------------------------------------------------------------------------ data files


def data_file_choices(default: Path) -> list[str]:
    """The pack's file (its name) first, then every ``models/diffsensei/photo/*.json`` as ``photo/<name>``."""
    return [default.name, *folders.user_files(USER_SUBFOLDER, "*.json")]


def resolve_data_file(choice: str, default: Path, where: str) -> Path:
    """The file of a :func:`data_file_choices` choice: the pack's file, or the first root that holds ``choice``."""
    if choice in ("", default.name):
        return default
    path = folders.find(choice)
    if path is not None and path.is_file():
        return path
    roots = [str(Path(r) / USER_SUBFOLDER) for r in folder_paths.get_folder_paths(folders.FOLDER)]
    raise DiffSenseiError(
        f"{where}: the file '{choice}' was not found in {roots}; expected '{default.name}' or a JSON file there. "
        f"Copy {default} into one of those folders to edit it, then refresh."
    )


# ------------------------------------------------------------------------------------------------ encoders


def image_embed_width(clip_vision) -> int:
    """Width of ``image_embeds`` of a ComfyUI CLIP vision model; refuses models without a CLIP projection."""
    model = getattr(clip_vision, "model", None)
    projection = getattr(model, "visual_projection", None)
    if not isinstance(projection, torch.nn.Module) or getattr(clip_vision, "return_all_hidden_states", False):
        raise DiffSenseiError(
            f"{DESCRIBE}, input 'clip_vision': expected a CLIP vision model with its projection (image_embeds), got "
            f"{type(model).__name__} without one (SigLIP, DINOv2 and projection-less files do not pair with a CLIP "
            f"text tower). Load clip_vision_g.safetensors (ViT-bigG) or a CLIP-L vision file with Load CLIP Vision."
        )
    return int(projection.weight.shape[0])


def text_towers(clip) -> dict[str, tuple[object, int]]:
    """name → (tower, projected pooled width) of the CLIP text towers of a ComfyUI CLIP."""
    model = getattr(clip, "cond_stage_model", None)
    towers = {}
    for name in TOWERS:
        tower = getattr(model, name, None)
        projection = getattr(getattr(tower, "transformer", None), "text_projection", None)
        if tower is not None and isinstance(projection, torch.nn.Module) and hasattr(tower, "encode"):
            towers[name] = (tower, int(projection.weight.shape[0]))
    return towers


def pick_text_tower(clip, width: int) -> tuple[str, object]:
    """The text tower whose projected pooled vector is ``width`` wide, or an error naming both widths."""
    towers = text_towers(clip)
    for name, (tower, tower_width) in towers.items():
        if tower_width == width:
            return name, tower
    found = ", ".join(f"{n} {w}" for n, (_t, w) in towers.items()) or "no CLIP-L/CLIP-G text tower"
    raise DiffSenseiError(
        f"{DESCRIBE}, inputs 'clip' and 'clip_vision': the CLIP vision model's image embeddings are {width} wide "
        f"but the text "
        f"towers of the connected CLIP give {found}; a zero-shot pair needs equal widths. Use {PAIRS}."
    )


def make_text_encoder(clip, name: str, tower):
    key = name.split("_")[-1]  # clip_l → "l", clip_g → "g" (the keys of ComfyUI's token dicts)

    def encode(prompts: list[str]) -> torch.Tensor:
        clip.cond_stage_model.reset_clip_options()
        clip.load_model()
        out = []
        with torch.no_grad():
            for start in range(0, len(prompts), TEXT_BATCH):
                mm.throw_exception_if_processing_interrupted()
                ids = []
                for prompt in prompts[start : start + TEXT_BATCH]:
                    tokens = clip.tokenize(prompt)
                    if key not in tokens:
                        raise DiffSenseiError(
                            f"{DESCRIBE}, input 'clip': the CLIP's tokenizer gives {sorted(tokens)} tokens, "
                            f"expected '{key}' "
                            f"for its {name} tower. Use an SDXL checkpoint's CLIP or a CLIP-L text encoder."
                        )
                    ids.append([pair[0] for pair in tokens[key][0]])
                pooled = tower.encode(ids)[1]
                out.append(pooled.float().to(mm.intermediate_device()))
        return torch.cat(out)

    return encode


def make_image_encoder(clip_vision):
    side = int(getattr(clip_vision, "image_size", 224))

    def encode(crops) -> torch.Tensor:
        progress = comfy.utils.ProgressBar(len(crops))
        out = []
        with torch.no_grad():
            for start in range(0, len(crops), IMAGE_BATCH):
                mm.throw_exception_if_processing_interrupted()
                batch = torch.cat([resize_square(c, side) for c in crops[start : start + IMAGE_BATCH]])
                out.append(clip_vision.encode_image(batch, crop=True).image_embeds.float())
                progress.update(batch.shape[0])
        return torch.cat(out)

    return encode


# ------------------------------------------------------------------------------------------------ describe


class DiffSenseiDescribePhoto(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="DiffSenseiDescribePhoto",
            display_name=DESCRIBE,
            category=CATEGORY,
            description=(
                "Describes a photo without a prompt: zero-shot CLIP scores for people count, age group, gender "
                "presentation, hair, glasses, expression and framing. Only confident attributes enter the prompt; "
                "uncertain ones are left out, never guessed. Finds the person with CLIP over a window grid (or a "
                "connected person mask) and outputs the content prompt, the scene class for the manga style, the "
                "scores, and the described part of the photo."
            ),
            inputs=[
                io.Clip.Input("clip", tooltip=(
                    "Your text encoder: an SDXL checkpoint's CLIP (its CLIP-G pairs with clip_vision_g, its CLIP-L "
                    "with a CLIP-L vision model) or a CLIP-L text encoder from Load CLIP.")),
                io.ClipVision.Input("clip_vision", tooltip=(
                    "The matching CLIP vision model from Load CLIP Vision: clip_vision_g (ViT-bigG) for SDXL's "
                    "CLIP-G, or CLIP-L vision for CLIP-L text. A mismatched pair is refused.")),
                io.Image.Input("image", tooltip=(
                    "The photo (first of a batch). At least 64 px on the short side; large photos are downscaled "
                    "for the analysis; grayscale works.")),
                io.Combo.Input("subject", options=list(SUBJECTS), default=SUBJECTS[0], tooltip=(
                    "largest person: one character is expected; with several people the largest is cropped and "
                    "described (with a warning). whole photo: the whole photo is described (several people give "
                    "the 'group' scene).")),
                io.Combo.Input("vocabulary", options=data_file_choices(DEFAULT_VOCABULARY), tooltip=(
                    "The attribute vocabulary: the pack's photo_attributes.json, or your own copy in "
                    "models/diffsensei/photo/ (edit prompts, labels, thresholds, delete attributes).")),
                io.Float.Input("threshold", default=0.0, min=0.0, max=1.0, step=0.01, tooltip=(
                    "0 = each attribute's own threshold from the file. Otherwise the probability every attribute's "
                    "best option must reach to be kept.")),
                io.Float.Input("margin", default=0.0, min=0.0, max=0.99, step=0.01, tooltip=(
                    "0 = each attribute's own margin from the file. Otherwise how far the best option must lead the "
                    "runner-up to be kept (higher = fewer, surer words).")),
                io.Float.Input("person_threshold", default=0.0, min=0.0, max=1.0, step=0.01, tooltip=(
                    "0 = the file's person_search threshold. Otherwise p(person) a window (or the whole photo) "
                    "must reach to count as a person.")),
                io.Boolean.Input("allow_generic", default=False, tooltip=(
                    "When no person is found: off = stop with an error; on = continue with the vocabulary's "
                    "generic scene prompt (scene 'no_person').")),
                io.Mask.Input("person_mask", optional=True, tooltip=(
                    "Optional mask of the people from a detector or segmenter pack. Its connected parts are the "
                    "people (largest first) and CLIP's window search is skipped.")),
            ],
            outputs=[
                io.String.Output(display_name="prompt", tooltip="The content prompt, e.g. 'solo, woman, long hair'."),
                io.String.Output(display_name="scene", tooltip=(
                    f"The scene class for the manga style: one of {', '.join(SCENE_CLASSES)}.")),
                io.String.Output(display_name="scores", tooltip=(
                    "JSON: every option's probability, what was kept or omitted and why, the person regions.")),
                io.Image.Output(display_name="subject", tooltip=(
                    "The part of the photo that was described (the largest person, or the whole photo), for "
                    "DiffSensei: Photo to manga.")),
            ],
        )

    @classmethod
    def execute(cls, clip, clip_vision, image, subject, vocabulary, threshold=0.0, margin=0.0, person_threshold=0.0,
                allow_generic=False, person_mask=None) -> io.NodeOutput:
        width = image_embed_width(clip_vision)
        name, tower = pick_text_tower(clip, width)
        vocab = load_vocabulary(resolve_data_file(vocabulary, DEFAULT_VOCABULARY, f"{DESCRIBE}, input 'vocabulary'"))
        vocab = vocab.with_overrides(threshold=threshold or None, margin=margin or None)
        if person_mask is not None and (not isinstance(person_mask, torch.Tensor) or person_mask.ndim not in (2, 3)):
            raise InputShapeError(f"{DESCRIBE}, input 'person_mask': expected a MASK (batch, height, width), got "
                                  f"{getattr(person_mask, 'shape', type(person_mask).__name__)}.")
        result = describe_photo(
            image, vocab,
            encode_images=make_image_encoder(clip_vision),
            encode_texts=make_text_encoder(clip, name, tower),
            subject=subject, person_mask=person_mask, allow_generic=allow_generic,
            person_threshold=person_threshold or None,
        )
        summary = f"text tower: {name} ({width})\n{result.summary()}"
        log.info("%s: scene %s, prompt %r", DESCRIBE, result.description.scene, result.description.content_prompt)
        subject_image = result.subject.to(mm.intermediate_device())
        return io.NodeOutput(result.description.content_prompt, result.description.scene, result.to_json(),
                             subject_image, ui=ui.PreviewText(summary))


# ------------------------------------------------------------------------------------------------ style


def concat_conditioning(first: list, second: list, where: str) -> list:
    """ComfyUI CONDITIONING ``first`` with the tokens of ``second``'s first entry appended (as ConditioningConcat):
    ``(b, n, c)`` + ``(b', m, c)`` → ``(max b, n + m, c)``; the pooled vector and size info stay ``first``'s."""
    if not second:
        return first
    if len(second) > 1:
        log.warning("%s: the style conditioning has %d entries; only the first is appended", where, len(second))
    extra = second[0][0]
    out = []
    for tokens, info in first:
        if tokens.shape[-1] != extra.shape[-1]:
            raise InputShapeError(
                f"{where}: the text conditioning is {tokens.shape[-1]} wide but the style conditioning is "
                f"{extra.shape[-1]} wide; expected the same text encoders for both (a distribution trained for "
                "this checkpoint's CLIP)."
            )
        batch = max(tokens.shape[0], extra.shape[0])
        if {tokens.shape[0], extra.shape[0]} - {1, batch}:
            raise InputShapeError(f"{where}: conditioning batches {tokens.shape[0]} and {extra.shape[0]} differ; "
                                  "expected equal batches or a batch of 1.")
        joined = torch.cat([tokens.expand(batch, -1, -1), extra.to(tokens).expand(batch, -1, -1)], dim=1)
        out.append([joined, info.copy()])
    return out


class DiffSenseiMangaStyle(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="DiffSenseiMangaStyle",
            display_name=STYLE,
            category=CATEGORY,
            description=(
                "The manga style for a scene class (single man, single woman, group, child, elder, …) from the "
                "editable manga_styles.json, or your own style text; optionally combined with a sampled prompt "
                "distribution (its tokens appended to the style text's)."
            ),
            inputs=[
                io.String.Input("scene", default="single_person", tooltip=(
                    f"Scene class, usually the scene output of Describe photo: one of {', '.join(SCENE_CLASSES)}.")),
                io.Combo.Input("style_file", options=data_file_choices(DEFAULT_STYLES), tooltip=(
                    "The style presets: the pack's manga_styles.json, or your own copy in models/diffsensei/photo/.")),
                io.String.Input("style_text", default="", multiline=True, tooltip=(
                    "Your own style words. Empty = the preset of the scene.")),
                io.Int.Input("variant", default=0, min=0, max=999, tooltip=(
                    "Which of the scene's preset variants to use (counted from 0, wrapping around).")),
                io.Clip.Input("clip", optional=True, tooltip=(
                    "Optional: encode the style text into style_conditioning.")),
                io.Conditioning.Input("distribution", optional=True, tooltip=(
                    "Optional CONDITIONING sampled from a prompt distribution: appended to the encoded style text "
                    "(or passed on alone when no CLIP is connected) in style_conditioning.")),
            ],
            outputs=[
                io.String.Output(display_name="style", tooltip="The style text (preset or yours)."),
                io.String.Output(display_name="negative", tooltip="The style file's negative prompt."),
                io.Conditioning.Output(display_name="style_conditioning", tooltip=(
                    "The style as CONDITIONING (encoded style text + distribution tokens); empty (None) when neither "
                    "clip nor distribution is connected. Photo to manga appends it to the content prompt instead of "
                    "the style text.")),
            ],
        )

    @classmethod
    def execute(cls, scene, style_file, style_text="", variant=0, clip=None, distribution=None) -> io.NodeOutput:
        styles = load_styles(resolve_data_file(style_file, DEFAULT_STYLES, f"{STYLE}, input 'style_file'"))
        scene = scene.strip()
        if scene not in SCENE_CLASSES:
            raise DiffSenseiError(f"{STYLE}, input 'scene': expected one of {list(SCENE_CLASSES)}, got {scene!r}; "
                                  f"connect "
                                  "the scene output of Describe photo or type one of those names.")
        style = style_text.strip() or style_for_scene(styles, scene, variant=variant)
        conditioning = None
        if clip is not None:
            conditioning = clip.encode_from_tokens_scheduled(clip.tokenize(style))
        if distribution:
            conditioning = distribution if conditioning is None else concat_conditioning(
                conditioning, distribution, f"{STYLE}, input 'distribution'")
        return io.NodeOutput(style, styles["negative"], conditioning)


NODES = [DiffSenseiDescribePhoto, DiffSenseiMangaStyle]
