"""The mllm/ folder as downloaded: completeness checks naming the missing file, strict LLM loading, tokenizer."""

from __future__ import annotations

import pytest
import torch

from diffsensei_core.errors import WeightsError
from diffsensei_core.mllm.folder import find_mllm_folder, load_llm, load_tokenizer
from diffsensei_core.mllm.template import build_prompt

from .test_mllm_tiny import write_tiny_mllm


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    root = tmp_path_factory.mktemp("download") / "mllm"
    written = write_tiny_mllm(root, max_shard_size="40KB")
    return root, written


def copy_release(release, tmp_path):
    import shutil

    root = tmp_path / "mllm"
    shutil.copytree(release[0], root)
    return root


def test_finds_the_folder_from_the_download_root(release):
    root, _ = release
    found = find_mllm_folder(root.parent)
    assert (found.llm, found.tokenizer, found.agent) == (root / "llm", root / "tokenizer", root / "agent")


@pytest.mark.parametrize("sub", ["llm", "tokenizer", "agent"])
def test_missing_subfolder_is_named(release, tmp_path, sub):
    import shutil

    root = copy_release(release, tmp_path)
    shutil.rmtree(root / sub)
    with pytest.raises(WeightsError, match=f"subfolder {sub}/ is missing"):
        find_mllm_folder(root)


@pytest.mark.parametrize(
    ("path", "match"),
    [
        ("llm/config.json", r"llm/config\.json is missing"),
        ("tokenizer/tokenizer.model", r"no tokenizer in .*tokenizer\.model or tokenizer\.json"),
        ("agent/pytorch_model.bin", r"agent/pytorch_model\.bin"),
        ("llm/model.safetensors.index.json", r"no LLM weights"),
    ],
)
def test_missing_file_is_named(release, tmp_path, path, match):
    root = copy_release(release, tmp_path)
    (root / path).unlink()
    with pytest.raises(WeightsError, match=match):
        find_mllm_folder(root)


def test_missing_shard_is_named(release, tmp_path):
    root = copy_release(release, tmp_path)
    shards = sorted((root / "llm").glob("model-*.safetensors"))
    assert len(shards) > 1
    shards[1].unlink()
    with pytest.raises(WeightsError, match=f"shard .*{shards[1].name} is missing"):
        find_mllm_folder(root)


def test_llm_loads_strictly_in_the_requested_dtype(release):
    root, written = release
    llm = load_llm(root / "llm", dtype=torch.bfloat16)
    assert llm.dtype == torch.bfloat16
    original = written["llm"].state_dict()
    for key, value in llm.state_dict().items():
        torch.testing.assert_close(value, original[key].to(torch.bfloat16), atol=0, rtol=0)


def test_unexpected_llm_tensor_is_refused(tmp_path):
    from safetensors.torch import load_file, save_file

    root = tmp_path / "mllm"
    write_tiny_mllm(root)
    path = root / "llm" / "model.safetensors"
    state = load_file(str(path))
    state.pop("model.layers.1.mlp.up_proj.weight")
    save_file(state, str(path), metadata={"format": "pt"})
    with pytest.raises(WeightsError, match=r"missing 1 \['model\.layers\.1\.mlp\.up_proj\.weight'\]"):
        load_llm(root / "llm", dtype=torch.float32)


def test_not_a_llama(tmp_path):
    import json

    root = tmp_path / "mllm"
    write_tiny_mllm(root)
    config = json.loads((root / "llm" / "config.json").read_text())
    config["model_type"] = "mistral"
    (root / "llm" / "config.json").write_text(json.dumps(config))
    with pytest.raises(WeightsError, match="expected 'llama'"):
        load_llm(root / "llm", dtype=torch.float32)


def test_quantization_needs_a_gpu(release):
    with pytest.raises(WeightsError, match="needs a CUDA GPU"):
        load_llm(release[0] / "llm", dtype=torch.float16, quantization="8bit", device="cpu")


def test_tokenizer_round_trip(release):
    root, written = release
    tokenizer = load_tokenizer(root / "tokenizer")
    expected = build_prompt(written["tokenizer"], "the boy runs")
    assert torch.equal(build_prompt(tokenizer, "the boy runs").input_ids, expected.input_ids)


def test_unreadable_tokenizer(tmp_path):
    (tmp_path / "tokenizer.json").write_text("not json")
    with pytest.raises(WeightsError, match="could not load the tokenizer"):
        load_tokenizer(tmp_path)
