"""Photo → manga prompt: keep rule, ordering, scene choice, no-person handling, scoring, file validation and a
balanced synthetic set showing that ambiguous attributes are never forced and no option is favoured."""

import copy
import json
import logging

import pytest
import torch

from diffsensei_core.errors import DiffSenseiError, InputShapeError
from diffsensei_core.photo import prompt as photo_prompt
from diffsensei_core.photo import vocabulary as photo_vocabulary
from diffsensei_core.photo.prompt import (
    attribute_scores,
    describe,
    final_prompt,
    generic_description,
    style_for_scene,
)
from diffsensei_core.photo.vocabulary import (
    DEFAULT_STYLES,
    DEFAULT_VOCABULARY,
    SCENE_CLASSES,
    load_styles,
    load_vocabulary,
    parse_vocabulary,
)

VOCAB = load_vocabulary()
STYLES = load_styles()


def clear(attribute: str, option: str, p: float = 0.97) -> dict[str, float]:
    """A clear winner: ``option`` gets ``p``, the rest share the remainder evenly."""
    names = [o.name for o in VOCAB.attribute(attribute).options]
    rest = (1.0 - p) / (len(names) - 1)
    return {n: (p if n == option else rest) for n in names}


def one_person(**extra: dict[str, float]) -> dict[str, dict[str, float]]:
    return {"people_count": clear("people_count", "one"), **extra}


def kept_names(description) -> dict[str, str]:
    return {d.attribute: d.option for d in description.kept}


# ------------------------------------------------------------------------------------------------ shipped files


def test_shipped_files_load_and_live_in_the_package():
    assert DEFAULT_VOCABULARY.parent.parts[-3:] == ("diffsensei_core", "photo", "data")
    names = [a.name for a in VOCAB.attributes]
    assert names == [
        "people_count",
        "age_group",
        "gender_presentation",
        "hair_length",
        "glasses",
        "expression",
        "framing",
    ]
    for attribute in VOCAB.attributes:
        assert attribute.margin > 0
        for option in attribute.options:
            assert 2 <= len(option.prompts) <= 4
    assert set(STYLES["scenes"]) == set(SCENE_CLASSES)
    assert STYLES["negative"]
    prompts = VOCAB.text_prompts()
    assert prompts["glasses"]["with"][0].startswith("a photo")


# ---------------------------------------------------------------------------------------------- keep rule


def test_clear_winner_kept():
    d = describe(one_person(glasses=clear("glasses", "with", 0.95)), VOCAB)
    assert kept_names(d)["glasses"] == "with"
    assert "glasses" in d.content_prompt.split(", ")


def test_near_tie_omitted_even_above_threshold():
    # expression: threshold 0.5, margin 0.2 → 0.52 vs 0.40 passes the threshold but not the margin
    d = describe(one_person(expression={"smiling": 0.52, "neutral": 0.40, "serious": 0.05, "surprised": 0.03}), VOCAB)
    assert "expression" not in kept_names(d)
    (omitted,) = [o for o in d.omitted if o.attribute == "expression"]
    assert "margin" in omitted.reason
    assert "smiling" not in d.content_prompt


def test_low_max_omitted_even_with_a_lead():
    # framing: threshold 0.55, margin 0.2 → 0.5 leads by 0.25 but is below the threshold
    d = describe(one_person(framing={"close_up": 0.5, "upper_body": 0.25, "full_body": 0.25}), VOCAB)
    assert "framing" not in kept_names(d)
    (omitted,) = [o for o in d.omitted if o.attribute == "framing"]
    assert "threshold" in omitted.reason


def test_exact_tie_omitted():
    d = describe(one_person(glasses={"with": 0.5, "without": 0.5}), VOCAB)
    assert "glasses" not in kept_names(d)


def test_missing_attributes_are_omitted_not_scored():
    d = describe(one_person(), VOCAB)
    assert {o.attribute for o in d.omitted if o.reason == "not scored"} == {a.name for a in VOCAB.attributes} - {
        "people_count"
    }


def test_empty_label_kept_but_adds_no_words():
    d = describe(one_person(glasses=clear("glasses", "without")), VOCAB)
    assert kept_names(d)["glasses"] == "without"
    assert d.content_prompt == "solo"


# ---------------------------------------------------------------------------------------------- ordering


def test_content_follows_order_not_input_order():
    scores = {
        "framing": clear("framing", "upper_body"),
        "expression": clear("expression", "smiling"),
        "glasses": clear("glasses", "with"),
        "hair_length": clear("hair_length", "long"),
        "gender_presentation": clear("gender_presentation", "woman"),
        "age_group": clear("age_group", "young_adult"),
        "people_count": clear("people_count", "one"),
    }
    d = describe(scores, VOCAB)
    assert d.content_prompt == "solo, young adult, woman, long hair, glasses, smiling, upper body"
    assert [k.attribute for k in d.kept] == [a.name for a in VOCAB.attributes]


def test_order_comes_from_the_file():
    data = json.loads(DEFAULT_VOCABULARY.read_text())
    for attribute in data["attributes"]:
        attribute["order"] = -attribute["order"]  # reverse
    vocab = parse_vocabulary(data)
    d = describe({"people_count": clear("people_count", "one"), "framing": clear("framing", "full_body")}, vocab)
    assert d.content_prompt == "full body, solo"


# ---------------------------------------------------------------------------------------------- scene choice


@pytest.mark.parametrize(
    ("people", "age", "gender", "scene"),
    [
        ("one", None, "man", "single_man"),
        ("one", None, "woman", "single_woman"),
        ("one", "young_adult", "woman", "single_woman"),
        ("one", "adult", None, "single_person"),
        ("one", None, None, "single_person"),
        ("one", "child", "man", "child"),
        ("one", "child", None, "child"),
        ("one", "elder", "woman", "elder"),
        ("two", None, "man", "group"),
        ("group", "child", "woman", "group"),
        (None, None, "man", "single_man"),  # people count uncertain → one person assumed
        (None, "elder", None, "elder"),
    ],
)
def test_scene_table(people, age, gender, scene):
    scores = {}
    if people:
        scores["people_count"] = clear("people_count", people)
    else:
        scores["people_count"] = {"none": 0.25, "one": 0.25, "two": 0.25, "group": 0.25}
    ages = [o.name for o in VOCAB.attribute("age_group").options]
    scores["age_group"] = clear("age_group", age) if age else dict.fromkeys(ages, 0.25)
    scores["gender_presentation"] = clear("gender_presentation", gender) if gender else {"man": 0.55, "woman": 0.45}
    d = describe(scores, VOCAB)
    assert d.scene == scene
    if people is None:
        assert any("uncertain" in n for n in d.notes)


def test_gender_below_its_high_bar_is_omitted_and_neutral():
    d = describe(one_person(gender_presentation={"man": 0.75, "woman": 0.25}), VOCAB)
    assert d.scene == "single_person"
    assert "man" not in d.content_prompt.split(", ")


def test_group_drops_per_person_attributes_but_keeps_framing():
    scores = {
        "people_count": clear("people_count", "group"),
        "gender_presentation": clear("gender_presentation", "man"),
        "glasses": clear("glasses", "with"),
        "framing": clear("framing", "full_body"),
    }
    d = describe(scores, VOCAB)
    assert d.scene == "group"
    assert d.content_prompt == "group of people, full body"
    reasons = {o.attribute: o.reason for o in d.omitted}
    assert reasons["gender_presentation"].startswith("several people")
    assert reasons["glasses"].startswith("several people")


# ---------------------------------------------------------------------------------------------- no person


def test_no_person_raises_by_default():
    with pytest.raises(DiffSenseiError, match="no person was found"):
        describe({"people_count": clear("people_count", "none")}, VOCAB)


def test_no_person_fallback(caplog):
    scores = {"people_count": clear("people_count", "none"), "glasses": clear("glasses", "with")}
    with caplog.at_level(logging.WARNING, logger="diffsensei"):
        d = describe(scores, VOCAB, allow_no_person_fallback=True)
    assert d.scene == "no_person"
    assert d.content_prompt == VOCAB.no_person_prompt
    assert [k.attribute for k in d.kept] == ["people_count"]
    assert "no person" in caplog.text
    positive, negative = final_prompt(d, STYLES)
    assert positive.startswith(VOCAB.no_person_prompt) and STYLES["scenes"]["no_person"][0] in positive
    assert negative == STYLES["negative"]


def test_uncertain_no_person_is_not_claimed():
    d = describe({"people_count": {"none": 0.45, "one": 0.4, "two": 0.1, "group": 0.05}}, VOCAB)
    assert d.scene == "single_person"


# ---------------------------------------------------------------------------------------------- final prompt


def test_final_prompt_scene_style_user_style_and_sampling():
    d = describe(one_person(gender_presentation=clear("gender_presentation", "man")), VOCAB)
    positive, negative = final_prompt(d, STYLES)
    assert positive == "solo, man, " + STYLES["scenes"]["single_man"][0]
    assert negative == STYLES["negative"]
    positive, _ = final_prompt(d, STYLES, user_style="  my own ink style  ")
    assert positive == "solo, man, my own ink style"
    positive, _ = final_prompt(d, STYLES, user_style="   ")  # blank → scene style
    assert STYLES["scenes"]["single_man"][0] in positive
    drawn = {final_prompt(d, STYLES, seed=s)[0] for s in range(40)}
    assert drawn == {"solo, man, " + v for v in STYLES["scenes"]["single_man"]}
    # a seed always picks the same variant, in any process and Python version (random.Random(seed) is stable):
    # seeds 0, 5, 7, 9 draw the second of single_man's two styles, seeds 1–4, 6, 8 the first
    variants = STYLES["scenes"]["single_man"]
    assert [final_prompt(d, STYLES, seed=s)[0] for s in (0, 1, 7, 8)] == \
        ["solo, man, " + variants[i] for i in (1, 0, 1, 0)]


def test_final_prompt_missing_scene():
    d = describe(one_person(), VOCAB)
    with pytest.raises(DiffSenseiError, match="no manga style for scene 'single_person'"):
        final_prompt(d, {"negative": "", "scenes": {}})


# ---------------------------------------------------------------------------------------------- bad scores


def test_bad_scores_rejected():
    with pytest.raises(InputShapeError, match="does not have"):
        describe({"hat": {"yes": 1.0, "no": 0.0}}, VOCAB)
    with pytest.raises(InputShapeError, match="missing"):
        describe({"glasses": {"with": 1.0}}, VOCAB)
    with pytest.raises(InputShapeError, match="not probabilities"):
        describe({"glasses": {"with": 0.9, "without": 0.9}}, VOCAB)
    with pytest.raises(InputShapeError, match="not probabilities"):
        describe({"glasses": {"with": float("nan"), "without": 0.5}}, VOCAB)


def test_tensor_scores_accepted():
    d = describe({"glasses": {"with": torch.tensor(0.95), "without": torch.tensor(0.05)}}, VOCAB)
    assert kept_names(d)["glasses"] == "with"


# ---------------------------------------------------------------------------------------------- attribute_scores


def test_attribute_scores_matching_option_wins_and_sums_to_one():
    g = torch.Generator().manual_seed(0)
    d = 64
    text = {name: torch.randn(3, d, generator=g) for name in ("short", "medium", "long")}
    target = torch.nn.functional.normalize(text["long"], dim=-1).mean(0) * 5.0  # scale does not matter
    probs = attribute_scores(target, text)
    assert list(probs) == ["short", "medium", "long"]
    assert max(probs, key=probs.get) == "long"
    assert probs["long"] > 0.99
    assert sum(probs.values()) == pytest.approx(1.0, abs=1e-6)
    # batch of one accepted, single prompt per option accepted, low logit scale softens
    soft = attribute_scores(target.unsqueeze(0), {k: v[0] for k, v in text.items()}, logit_scale=1.0)
    assert sum(soft.values()) == pytest.approx(1.0, abs=1e-6)
    assert max(soft.values()) < 0.9


def test_attribute_scores_equidistant_image_gives_a_tie():
    text = {"a": torch.tensor([[1.0, 0.0, 0.0]]), "b": torch.tensor([[0.0, 1.0, 0.0]])}
    probs = attribute_scores(torch.tensor([1.0, 1.0, 0.0]), text)
    assert probs["a"] == pytest.approx(0.5) and probs["b"] == pytest.approx(0.5)
    d = describe({"glasses": {"with": probs["a"], "without": probs["b"]}}, VOCAB)
    assert "glasses" not in kept_names(d)


def test_attribute_scores_shape_errors():
    text = {"a": torch.randn(2, 8), "b": torch.randn(2, 8)}
    with pytest.raises(InputShapeError, match=r"expected \(d,\)"):
        attribute_scores(torch.randn(2, 8), text)
    with pytest.raises(InputShapeError, match=r"expected \(p, 16\)"):
        attribute_scores(torch.randn(16), text)
    with pytest.raises(InputShapeError, match="2 or more options"):
        attribute_scores(torch.randn(8), {"a": torch.randn(2, 8)})


# ---------------------------------------------------------------------------------------------- file validation


def _write(tmp_path, name, data):
    path = tmp_path / name
    path.write_text(json.dumps(data) if not isinstance(data, str) else data)
    return path


def _vocab_data():
    return json.loads(DEFAULT_VOCABULARY.read_text())


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda d: d.pop("attributes"), "attributes"),
        (lambda d: d["attributes"][0].pop("threshold"), "attributes[people_count].threshold"),
        (lambda d: d["attributes"][0].update(threshold=1.5), "attributes[people_count].threshold"),
        (lambda d: d["attributes"][0].update(margin=0), "attributes[people_count].margin"),
        (lambda d: d["attributes"][0].update(order="first"), "attributes[people_count].order"),
        (lambda d: d["attributes"][4]["options"].pop(), "attributes[glasses].options"),
        (lambda d: d["attributes"][4]["options"][0].update(prompts=[]), "attributes[glasses].options[0].prompts"),
        (lambda d: d["attributes"][4]["options"][0].update(label=3), "attributes[glasses].options[0].label"),
        (lambda d: d["attributes"][4]["options"][0].update(scene="man"), "attributes[glasses].options[0].scene"),
        (
            lambda d: d["attributes"][2]["options"][0].update(scene="robot"),
            "attributes[gender_presentation].options[0].scene",
        ),
        (lambda d: d["attributes"][1].update(order=0), "attributes[*].order"),
        (lambda d: d["attributes"][1].update(name="people_count"), "attributes[*].name"),
        (lambda d: d["attributes"][4]["options"][1].update(name="with"), "attributes[glasses].options"),
        (lambda d: d["attributes"][3].update(scene_role="age"), "attributes[*].scene_role"),
    ],
)
def test_vocabulary_validation(tmp_path, mutate, field):
    data = _vocab_data()
    mutate(data)
    path = _write(tmp_path, "vocab.json", data)
    with pytest.raises(DiffSenseiError) as info:
        load_vocabulary(path)
    assert str(path) in str(info.value)
    assert f"'{field}'" in str(info.value)


def test_vocabulary_bad_json_and_missing_file(tmp_path):
    path = _write(tmp_path, "broken.json", '{"attributes": [,]}')
    with pytest.raises(DiffSenseiError, match="not valid JSON"):
        load_vocabulary(path)
    with pytest.raises(DiffSenseiError, match="cannot read"):
        load_vocabulary(tmp_path / "absent.json")


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda d: d.pop("negative"), "negative"),
        (lambda d: d["scenes"].pop("elder"), "scenes.elder"),
        (lambda d: d["scenes"].update(single_man=[]), "scenes.single_man"),
        (lambda d: d["scenes"].update(group=["ok", ""]), "scenes.group[1]"),
        (lambda d: d["scenes"].update(cat="whiskers"), "scenes"),
        (lambda d: d.update(scenes="all manga"), "scenes"),
    ],
)
def test_styles_validation(tmp_path, mutate, field):
    data = json.loads(DEFAULT_STYLES.read_text())
    mutate(data)
    path = _write(tmp_path, "styles.json", data)
    with pytest.raises(DiffSenseiError) as info:
        load_styles(path)
    assert str(path) in str(info.value) and f"'{field}'" in str(info.value)


def test_styles_single_string_scene_accepted(tmp_path):
    data = json.loads(DEFAULT_STYLES.read_text())
    data["scenes"]["child"] = "one style"
    styles = load_styles(_write(tmp_path, "styles.json", data))
    assert styles["scenes"]["child"] == ["one style"]


# ---------------------------------------------------------------------------------------------- balanced set

N_SAMPLES = 4000


def _dirichlet(k: int, concentration: float, n: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    gamma = torch._standard_gamma(torch.full((n, k), concentration, dtype=torch.float64), generator=g)
    return gamma / gamma.sum(-1, keepdim=True)


def _kept_counts(attribute_name: str, samples: torch.Tensor) -> tuple[dict[str, int], int]:
    attribute = VOCAB.attribute(attribute_name)
    names = [o.name for o in attribute.options]
    counts = dict.fromkeys(names, 0)
    omitted = 0
    for row in samples.tolist():
        scores = {"people_count": clear("people_count", "one")} if attribute_name != "people_count" else {}
        scores[attribute_name] = dict(zip(names, row, strict=True))
        d = describe(scores, VOCAB, allow_no_person_fallback=True)
        chosen = kept_names(d).get(attribute_name)
        if chosen is None:
            omitted += 1
        else:
            counts[chosen] += 1
    return counts, omitted


@pytest.mark.parametrize("attribute_name", [a.name for a in VOCAB.attributes])
def test_balanced_ambiguous_scores_are_never_forced(attribute_name):
    """Exchangeable, near-equal scores (Dirichlet with a high concentration) → omitted in (almost) all."""
    k = len(VOCAB.attribute(attribute_name).options)
    samples = _dirichlet(k, 50.0, N_SAMPLES, seed=k)
    counts, omitted = _kept_counts(attribute_name, samples)
    assert omitted / N_SAMPLES >= 0.995, (attribute_name, counts)
    # exact ties are always omitted
    tie = torch.full((1, k), 1.0 / k, dtype=torch.float64)
    assert _kept_counts(attribute_name, tie)[1] == 1


@pytest.mark.parametrize("attribute_name", [a.name for a in VOCAB.attributes])
def test_balanced_set_favours_no_option(attribute_name):
    """Exchangeable but spread scores (uniform on the simplex): some are kept, each option equally often."""
    k = len(VOCAB.attribute(attribute_name).options)
    samples = _dirichlet(k, 1.0, N_SAMPLES, seed=100 + k)
    counts, omitted = _kept_counts(attribute_name, samples)
    kept = N_SAMPLES - omitted
    assert kept > 0.05 * N_SAMPLES
    assert omitted > 0.05 * N_SAMPLES  # the keep rule does cut ambiguous cases
    expected = kept / k
    # binomial sd of one option's count ≈ sqrt(kept·(1/k)(1-1/k)) ≤ ~32 here; 5 sd tolerance
    tolerance = 5 * (kept * (1 / k) * (1 - 1 / k)) ** 0.5
    for option, count in counts.items():
        assert abs(count - expected) <= tolerance, (attribute_name, option, counts)


@pytest.mark.parametrize("attribute_name", [a.name for a in VOCAB.attributes])
def test_decision_is_permutation_equivariant(attribute_name):
    """Permuting the scores permutes the decision: the file's option order never breaks a tie."""
    names = [o.name for o in VOCAB.attribute(attribute_name).options]
    samples = _dirichlet(len(names), 2.0, 300, seed=7).tolist()
    g = torch.Generator().manual_seed(1)
    for row in samples:
        perm = torch.randperm(len(names), generator=g).tolist()
        base = {"people_count": clear("people_count", "one")}
        a = copy.deepcopy(base)
        a[attribute_name] = dict(zip(names, row, strict=True))
        b = copy.deepcopy(base)
        b[attribute_name] = {names[perm[i]]: row[i] for i in range(len(names))}
        chosen_a = kept_names(describe(a, VOCAB, allow_no_person_fallback=True)).get(attribute_name)
        chosen_b = kept_names(describe(b, VOCAB, allow_no_person_fallback=True)).get(attribute_name)
        if chosen_a is None:
            assert chosen_b is None
        else:
            assert chosen_b == names[perm[names.index(chosen_a)]]


# ------------------------------------------------------------------------------------ person search, overrides


def test_shipped_person_search():
    assert VOCAB.person_prompts and VOCAB.background_prompts
    assert 0.0 < VOCAB.person_threshold < 1.0
    assert not set(VOCAB.person_prompts) & set(VOCAB.background_prompts)


def test_person_search_defaults_when_absent():
    data = _vocab_data()
    data.pop("person_search")
    vocab = parse_vocabulary(data)
    assert vocab.person_prompts and vocab.background_prompts and vocab.person_threshold == 0.6


@pytest.mark.parametrize(
    ("block", "field"),
    [
        ("all of them", "person_search"),
        ({"threshold": 1.0}, "person_search.threshold"),
        ({"threshold": True}, "person_search.threshold"),
        ({"person": []}, "person_search.person"),
        ({"background": ["ok", " "]}, "person_search.background[1]"),
    ],
)
def test_person_search_validation(tmp_path, block, field):
    data = _vocab_data()
    data["person_search"] = block
    path = _write(tmp_path, "vocab.json", data)
    with pytest.raises(DiffSenseiError) as info:
        load_vocabulary(path)
    assert f"'{field}'" in str(info.value)


def test_overrides_replace_every_attribute_rule_and_keep_the_original():
    strict = VOCAB.with_overrides(threshold=0.99, margin=0.9)
    assert all(a.threshold == 0.99 and a.margin == 0.9 for a in strict.attributes)
    assert VOCAB.attribute("glasses").threshold == 0.75  # unchanged
    d = describe(one_person(glasses=clear("glasses", "with", 0.95)), strict)
    assert "glasses" not in kept_names(d) and "people_count" not in kept_names(d)
    loose = VOCAB.with_overrides(margin=0.05)
    assert loose.attribute("glasses").threshold == 0.75 and loose.attribute("glasses").margin == 0.05
    d = describe(one_person(expression={"smiling": 0.52, "neutral": 0.40, "serious": 0.05, "surprised": 0.03}), loose)
    assert kept_names(d)["expression"] == "smiling"
    assert VOCAB.with_overrides() == VOCAB
    with pytest.raises(DiffSenseiError, match="threshold override"):
        VOCAB.with_overrides(threshold=0.0)
    with pytest.raises(DiffSenseiError, match="margin override"):
        VOCAB.with_overrides(margin=1.0)


def test_style_for_scene_variants_wrap_and_unknown_scene():
    variants = STYLES["scenes"]["single_woman"]
    assert style_for_scene(STYLES, "single_woman") == variants[0]
    assert style_for_scene(STYLES, "single_woman", variant=len(variants) + 1) == variants[1 % len(variants)]
    with pytest.raises(DiffSenseiError, match="no manga style for scene 'robot'"):
        style_for_scene(STYLES, "robot")


def test_final_prompt_seed_picks_the_variant_random_choice_picks():
    # the drawn variant for a seed is that of random.Random(seed).choice, so saved workflows keep their style
    import random

    d = describe(one_person(gender_presentation=clear("gender_presentation", "woman")), VOCAB)
    variants = STYLES["scenes"]["single_woman"]
    for seed in range(20):
        expected = random.Random(seed).choice(variants)
        assert final_prompt(d, STYLES, seed=seed)[0] == "solo, woman, " + expected


def test_vocabulary_names_still_import_from_photo_prompt():
    for name in ("DEFAULT_STYLES", "DEFAULT_VOCABULARY", "SCENE_CLASSES", "Attribute", "Option", "Vocabulary",
                 "load_styles", "load_vocabulary", "parse_styles", "parse_vocabulary"):
        assert getattr(photo_prompt, name) is getattr(photo_vocabulary, name), name


def test_generic_description():
    d = generic_description(VOCAB, {"people_count": clear("people_count", "none")}, reason="no person found: test")
    assert d.scene == "no_person" and d.content_prompt == VOCAB.no_person_prompt and d.kept == []
    assert {o.attribute for o in d.omitted} == {a.name for a in VOCAB.attributes}
    assert d.notes == ["no person found: test"]
    positive, _negative = final_prompt(d, STYLES)
    assert STYLES["scenes"]["no_person"][0] in positive
