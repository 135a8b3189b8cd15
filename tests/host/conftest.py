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

import asyncio
import importlib
import json
import logging
import os
import sys
import types
import uuid
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PACK_NAME = "ComfyUI-DiffSensei"
GOLDEN_DIR = Path(os.environ.get("DIFFSENSEI_GOLDEN", REPO.parent / "shared" / "golden"))

def _find_comfyui() -> Path | None:
    candidates = []
    if os.environ.get("COMFYUI_PATH"):
        candidates.append(Path(os.environ["COMFYUI_PATH"]).expanduser())
    if REPO.parent.name == "custom_nodes":
        candidates.append(REPO.parent.parent)
    candidates.append(Path("~/comfy/ComfyUI").expanduser())
    for path in candidates:
        if (path / "comfy").is_dir() and (path / "nodes.py").is_file() and (path / "execution.py").is_file():
            return path.resolve()
    return None


_bootstrap: dict = {}


def _bootstrap_comfyui() -> str | None:
    """Import ComfyUI's core modules once (CPU mode); return a skip reason, or None when usable."""
    if "reason" in _bootstrap:
        return _bootstrap["reason"]
    reason = None
    root = _find_comfyui()
    if root is None:
        reason = (
            "ComfyUI not found: set COMFYUI_PATH to a ComfyUI checkout and run with its Python "
            "(see tests/host/conftest.py) to run the host tests"
        )
    else:
        try:
            import torch  # noqa: F401

            if str(root) not in sys.path:
                sys.path.insert(0, str(root))
            from comfy.cli_args import args

            # Must happen before comfy.model_management is imported: it probes devices at import time.
            args.cpu = True
            args.disable_api_nodes = True
            import comfy.model_management
            import folder_paths

            # ComfyUI's top-level `utils` package must be imported before `nodes`: nodes.py puts ComfyUI/comfy
            # first on sys.path, after which `import utils` would find comfy/utils.py instead (main.py does the same).
            importlib.import_module("utils.extra_config")

            import execution

            import nodes

            if Path(nodes.__file__).resolve().parent != root:
                raise ImportError(f"'nodes' resolved to {nodes.__file__}, not ComfyUI's nodes.py")
            _bootstrap.update(root=root, nodes=nodes, execution=execution, folder_paths=folder_paths,
                              mm=comfy.model_management)
        except Exception as e:
            if str(root) in sys.path:
                sys.path.remove(str(root))
            reason = (
                f"ComfyUI at {root} cannot be imported by {sys.executable} ({type(e).__name__}: {e}); "
                "run the host tests with ComfyUI's own Python"
            )
    _bootstrap["reason"] = reason
    return reason


class _SkippedModule(pytest.Module):
    def collect(self):
        pytest.skip(_bootstrap["reason"])


@pytest.hookimpl(tryfirst=True)
def pytest_pycollect_makemodule(module_path, parent):
    # One skip reason for the whole directory instead of one error per test module.
    if _bootstrap_comfyui() is not None:
        return _SkippedModule.from_parent(parent, path=module_path)
    return None


class FakeServer:
    """The part of ComfyUI's PromptServer that ``execution.PromptExecutor`` uses; records the messages."""

    def __init__(self):
        self.client_id = None
        self.last_node_id = None
        self.last_prompt_id = None
        self.messages: list[tuple[str, object]] = []

    def send_sync(self, event, data, sid=None):
        self.messages.append((event, data))

    def queue_updated(self):
        pass


class _ListHandler(logging.Handler):
    def __init__(self):
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record):
        self.records.append(record)


@pytest.fixture(scope="session")
def comfy(tmp_path_factory):
    """ComfyUI imported in-process, CPU only, with the comfy_extras and this pack loaded like the server does.

    Attributes: ``root``, ``nodes``, ``execution``, ``folder_paths``, ``mm`` (comfy.model_management),
    ``tmp`` (output/temp/input live there), ``pack`` (the loaded pack module or None), ``pack_errors``.
    """
    assert _bootstrap_comfyui() is None
    nodes, folder_paths = _bootstrap["nodes"], _bootstrap["folder_paths"]
    tmp = tmp_path_factory.mktemp("comfyui")
    for name, setter in (("output", folder_paths.set_output_directory), ("temp", folder_paths.set_temp_directory),
                         ("input", folder_paths.set_input_directory)):
        (tmp / name).mkdir()
        setter(str(tmp / name))

    pack_dir = Path(os.environ.get("DIFFSENSEI_PACK_DIR", REPO)).resolve()
    custom_nodes = tmp / "custom_nodes"
    custom_nodes.mkdir()
    (custom_nodes / PACK_NAME).symlink_to(pack_dir, target_is_directory=True)
    # Only our pack: replacing (not adding to) the list keeps other installed packs out of the tests.
    folder_paths.folder_names_and_paths["custom_nodes"] = ([str(custom_nodes)], set())

    handler = _ListHandler()
    logging.getLogger().addHandler(handler)
    try:
        asyncio.run(nodes.init_extra_nodes(init_custom_nodes=True, init_api_nodes=False))
    finally:
        logging.getLogger().removeHandler(handler)

    module_name = str(custom_nodes / PACK_NAME).replace(".", "_x_")  # how nodes.load_custom_node names it
    pack = sys.modules.get(module_name) if PACK_NAME in nodes.LOADED_MODULE_DIRS else None
    pack_errors = [h.getMessage() for h in handler.records if PACK_NAME in h.getMessage()]
    return types.SimpleNamespace(**{k: v for k, v in _bootstrap.items() if k != "reason"}, tmp=tmp,
                                 pack=pack, pack_dir=pack_dir, pack_errors=pack_errors)


@pytest.fixture(scope="session")
def pack(comfy):
    """The pack's top-level module as ComfyUI loaded it; fails with ComfyUI's import error if it did not load."""
    if comfy.pack is None:
        detail = "\n".join(comfy.pack_errors) or "no log record"
        pytest.fail(f"ComfyUI did not load the pack from {comfy.pack_dir}:\n{detail}")
    return comfy.pack


def import_from_pack(pack_module: types.ModuleType, dotted: str) -> types.ModuleType:
    """Import a submodule of the loaded pack, e.g. ``import_from_pack(pack, "nodes.comfy_unet")``.

    The pack cannot be imported by its folder name (dashes) and its ``nodes`` package would clash with
    ComfyUI's ``nodes`` module, so submodules are always reached through the loaded package.
    """
    return importlib.import_module(f"{pack_module.__name__}.{dotted}")


@pytest.fixture(scope="session")
def comfy_unet(pack):
    return import_from_pack(pack, "nodes.comfy_unet")


@pytest.fixture
def fake_server():
    return FakeServer()


@pytest.fixture
def run_prompt(comfy, fake_server):
    """``run_prompt(prompt) -> (executor, outputs)``: validate and execute an API-format prompt in-process.

    ``outputs`` is the ``/history`` outputs dict; ``executor.success`` and ``executor.status_messages`` tell
    how it went. Do not call from inside a running event loop (``PromptExecutor.execute`` uses asyncio.run).
    """
    execution = comfy.execution

    def run(prompt: dict):
        prompt_id = uuid.uuid4().hex
        ok, error, output_ids, node_errors = asyncio.run(execution.validate_prompt(prompt_id, prompt, None))
        if not ok:
            raise AssertionError(f"prompt failed validation: {error} {node_errors}")
        executor = execution.PromptExecutor(fake_server, cache_type=execution.CacheType.CLASSIC)
        executor.execute(prompt, prompt_id, {}, output_ids)
        return executor, executor.history_result.get("outputs", {})

    return run


@pytest.fixture(scope="session")
def golden():
    """The golden tensors, keys ``<case>.<name>`` (see the golden README)."""
    path = GOLDEN_DIR / "golden.safetensors"
    if not path.is_file():
        pytest.skip(f"golden data not found at {path}: set DIFFSENSEI_GOLDEN to the golden folder")
    from safetensors.torch import load_file

    return load_file(str(path))


@pytest.fixture(scope="session")
def golden_unet_files(pack):
    """``(state dict without DiffSensei's keys, config.json dict, the removed keys)`` of the golden tiny UNet.

    The split is the pack's own ``diffsensei_core.checkpoint.split_unet_state_dict``.
    """
    import torch

    unet_dir = GOLDEN_DIR / "image_generator" / "unet"
    if not (unet_dir / "pytorch_model.bin").is_file():
        pytest.skip(f"golden UNet not found in {unet_dir}: set DIFFSENSEI_GOLDEN to the golden folder")
    state_dict = torch.load(unet_dir / "pytorch_model.bin", map_location="cpu", weights_only=True)
    checkpoint = import_from_pack(pack, "diffsensei_core.checkpoint")
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
    import torch
    from comfy import model_management, model_patcher, supported_models

    unet_config = {
        "use_checkpoint": False, "image_size": 32, "in_channels": 4, "out_channels": 4, "model_channels": 32,
        "num_res_blocks": [2, 2, 2], "channel_mult": [1, 2, 4], "transformer_depth": [0, 0, 2, 2, 10, 10],
        "transformer_depth_middle": 10, "transformer_depth_output": [0, 0, 0, 2, 2, 2, 10, 10, 10],
        "context_dim": 2048, "use_linear_in_transformer": True, "use_spatial_transformer": True,
        "legacy": False, "adm_in_channels": 2816, "num_classes": "sequential",
        "use_temporal_attention": False, "use_temporal_resblock": False,
    }
    model_config = supported_models.SDXL(unet_config)
    model_config.unet_config["num_head_channels"] = 8
    model_config.set_inference_dtype(torch.float32, None)
    model = model_config.get_model({})
    # ComfyUI's ops skip weight init, so every parameter must be filled; keep activations at a sane scale.
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, p in model.diffusion_model.named_parameters():
            if p.ndim > 1:
                p.copy_(torch.randn(p.shape, generator=gen) / (p[0].numel() ** 0.5))
            elif name.endswith("weight"):
                p.copy_(1 + 0.1 * torch.randn(p.shape, generator=gen))
            else:
                p.copy_(0.02 * torch.randn(p.shape, generator=gen))
    return model_patcher.ModelPatcher(model, load_device=model_management.get_torch_device(),
                                      offload_device=model_management.unet_offload_device())
