"""In-process ComfyUI harness for the host tests (no server, no port).

ComfyUI is looked up in this order: ``$COMFYUI_PATH``; the ComfyUI tree this repo sits in
(``<ComfyUI>/custom_nodes/<repo>``); ``~/comfy/ComfyUI``. Run the host tests with ComfyUI's own Python::

    COMFYUI_PATH=/path/to/ComfyUI /path/to/comfy-venv/bin/python -m pytest tests/host -q

If ComfyUI is missing or cannot be imported by the running interpreter, every host test is skipped with one
reason. The pack is loaded exactly as ComfyUI's server loads it, from a temporary ``custom_nodes`` folder that
holds only a ``ComfyUI-DiffSensei`` link to this repo (``$DIFFSENSEI_PACK_DIR`` points it elsewhere, e.g. at an
installed copy). Golden data comes from ``$DIFFSENSEI_GOLDEN`` or ``<repo>/../shared/golden``.

ComfyUI keeps global state (node registry, folder paths, loaded models), so everything is session-scoped.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import json
import os
import shutil
import types
from pathlib import Path

import pytest

# This repository's `tests` package is imported before ComfyUI's root goes first on sys.path: ComfyUI has a `tests`
# package of its own that would hide tests.support afterwards.
import tests.support  # noqa: F401
from headless import comfy_session
from tests.support import live_server  # noqa: F401 (the host tests take it from here)
from tests.support.skips import skip_or_fail

REPO = Path(__file__).resolve().parents[2]
PACK_NAME = comfy_session.PACK_NAME
GOLDEN_DIR = Path(os.environ.get("DIFFSENSEI_GOLDEN", REPO.parent / "shared" / "golden"))


_bootstrap: dict = {}


def _bootstrap_comfyui() -> str | None:
    """Import ComfyUI once (CPU mode); return a skip reason, or None when usable."""
    if "reason" not in _bootstrap:
        try:
            # CPU unless DIFFSENSEI_TEST_DEVICE=gpu: then ComfyUI picks the GPU and, where its main.py would, dynamic
            # VRAM (the device and gradient checks are written for both)
            _bootstrap["comfy"] = comfy_session.import_comfyui(cpu=os.environ.get("DIFFSENSEI_TEST_DEVICE") != "gpu")
            _bootstrap["reason"] = None
        except comfy_session.ComfyUIUnavailable as e:
            _bootstrap["reason"] = f"{e} (host tests need ComfyUI and its Python; see README, Tests)"
    return _bootstrap["reason"]


class _SkippedModule(pytest.Module):
    def collect(self):
        skip_or_fail("host", _bootstrap["reason"])


@pytest.hookimpl(tryfirst=True)
def pytest_pycollect_makemodule(module_path, parent):
    # One skip reason for the whole directory instead of one error per test module.
    if _bootstrap_comfyui() is not None:
        return _SkippedModule.from_parent(parent, path=module_path)
    return None


FakeServer = comfy_session.FakeServer


@pytest.fixture(scope="session")
def comfy(tmp_path_factory):
    """ComfyUI imported in-process, CPU only, with the comfy_extras and this pack loaded like the server does.

    Attributes: ``root``, ``nodes``, ``execution``, ``folder_paths``, ``mm`` (comfy.model_management),
    ``tmp`` (output/temp/input live there), ``pack`` (the loaded pack module or None), ``pack_errors``.
    """
    assert _bootstrap_comfyui() is None
    comfy = _bootstrap["comfy"]
    tmp = tmp_path_factory.mktemp("comfyui")
    comfy_session.set_directories(comfy, output=tmp / "output", temp=tmp / "temp", input=tmp / "input")
    pack_dir = Path(os.environ.get("DIFFSENSEI_PACK_DIR", REPO)).resolve()
    pack, pack_errors = comfy_session.load_pack(comfy, tmp / "custom_nodes", pack_dir)
    return types.SimpleNamespace(**vars(comfy), tmp=tmp, pack=pack, pack_dir=pack_dir, pack_errors=pack_errors)


@pytest.fixture(scope="session")
def pack(comfy):
    """The pack's top-level module as ComfyUI loaded it; fails with ComfyUI's import error if it did not load."""
    if comfy.pack is None:
        detail = "\n".join(comfy.pack_errors) or "no log record"
        pytest.fail(f"ComfyUI did not load the pack from {comfy.pack_dir}:\n{detail}")
    return comfy.pack


def import_from_pack(pack_module: types.ModuleType, dotted: str) -> types.ModuleType:
    """Import a submodule of the loaded pack, e.g. ``import_from_pack(pack, "nodes.host.comfy_unet")``.

    The pack cannot be imported by its folder name (dashes) and its ``nodes`` package would clash with
    ComfyUI's ``nodes`` module, so submodules are always reached through the loaded package.
    """
    return importlib.import_module(f"{pack_module.__name__}.{dotted}")


@contextlib.contextmanager
def registered_nodes(comfy, **classes: type):
    """Test-only node classes in ComfyUI's node registry for the duration of the block (``Name=Class``)."""
    registry = comfy.nodes.NODE_CLASS_MAPPINGS
    registry.update(classes)
    try:
        yield
    finally:
        for name in classes:
            registry.pop(name, None)


def source_node(return_types: tuple[str, ...], produce) -> type:
    """A test-only node without inputs whose outputs are ``produce()`` (a tuple matching ``return_types``)."""

    class Source:
        RETURN_TYPES = tuple(return_types)
        FUNCTION = "run"
        CATEGORY = "testing"

        @classmethod
        def INPUT_TYPES(cls):
            return {"required": {}}

        def run(self):
            return tuple(produce())

    return Source


def add_models_root(comfy, pack_module: types.ModuleType, root: Path) -> None:
    """Make ``root`` one more models/diffsensei folder (as an extra_model_paths.yaml entry would)."""
    folders = import_from_pack(pack_module, "nodes.host.folders")
    folders.register_model_folder()
    comfy.folder_paths.add_model_folder_path(folders.FOLDER, str(root))


@pytest.fixture(scope="session")
def comfy_unet(pack):
    return import_from_pack(pack, "nodes.host.comfy_unet")


@pytest.fixture
def fake_server():
    return FakeServer()


@pytest.fixture
def run_prompt(comfy, fake_server):
    """``run_prompt(prompt, extra_pnginfo=None) -> (executor, outputs)``: validate and execute an API-format
    prompt in-process.

    ``outputs`` is the ``/history`` outputs dict; ``executor.success`` and ``executor.status_messages`` tell
    how it went. ``extra_pnginfo``: what the browser sends beside the prompt (``{"workflow": graph}``). Do not call
    from inside a running event loop (``PromptExecutor.execute`` uses asyncio.run).
    """

    def run(prompt: dict, *, extra_pnginfo: dict | None = None):
        executor = comfy_session.run_prompt(comfy, prompt, fake_server, extra_pnginfo=extra_pnginfo)
        return executor, executor.history_result.get("outputs", {})

    return run


@pytest.fixture(scope="session")
def golden():
    """The golden tensors, keys ``<case>.<name>`` (see the golden README)."""
    path = GOLDEN_DIR / "golden.safetensors"
    if not path.is_file():
        skip_or_fail("golden", f"golden data not found at {path}: set DIFFSENSEI_GOLDEN to the golden folder")
    from safetensors.torch import load_file

    return load_file(str(path))


@pytest.fixture(scope="session")
def golden_release(comfy, pack, tmp_path_factory) -> str:
    """The golden tiny release copied under one more models/diffsensei root, as a user would drop it; returns its
    model_name choice."""
    source = GOLDEN_DIR / "image_generator"
    if not source.is_dir():
        skip_or_fail("golden", f"golden release not found in {source}: set DIFFSENSEI_GOLDEN to the golden folder")
    root = tmp_path_factory.mktemp("models") / "diffsensei"
    target = root / "golden" / "image_generator"
    shutil.copytree(source, target)
    (target / "image_proj_model" / "config.json").write_text('{"dim_head": 16}')  # the tiny resampler's heads
    add_models_root(comfy, pack, root)
    return "golden/image_generator"


@pytest.fixture(scope="session")
def golden_unet_files(pack):
    """``(state dict without DiffSensei's keys, config.json dict, the removed keys)`` of the golden tiny UNet.

    The split is the pack's own ``diffsensei_core.model.checkpoint.split_unet_state_dict``.
    """
    import torch

    unet_dir = GOLDEN_DIR / "image_generator" / "unet"
    if not (unet_dir / "pytorch_model.bin").is_file():
        skip_or_fail("golden", f"golden UNet not found in {unet_dir}: set DIFFSENSEI_GOLDEN to the golden folder")
    state_dict = torch.load(unet_dir / "pytorch_model.bin", map_location="cpu", weights_only=True)
    checkpoint = import_from_pack(pack, "diffsensei_core.model.checkpoint")
    plain, _sites, _dialog = checkpoint.split_unet_state_dict(state_dict, source=str(unet_dir))
    extra = {k: v for k, v in state_dict.items() if k not in plain}
    config = json.loads((unet_dir / "config.json").read_text())
    return plain, config, extra


@pytest.fixture(scope="session")
def golden_model(comfy_unet, golden_unet_files):
    """The golden tiny UNet as a ComfyUI MODEL (fp32), built through ``nodes/comfy_unet.build_sdxl_model``."""
    import torch

    plain, config, _extra = golden_unet_files
    return comfy_unet.build_sdxl_model(plain, config, weight_dtype=torch.float32)


@pytest.fixture(scope="session")
def tiny_sdxl(comfy):
    """A real-SDXL-layout ComfyUI MODEL with narrow widths and seeded random weights (no files needed).

    Same 70 attn2 sites and patch keys as SDXL; model_channels 32, 8-channel heads, context 2048, adm 2816.
    """
    from tests.support import random_models

    return random_models.random_sdxl_model(**random_models.TINY)
