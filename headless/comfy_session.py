"""ComfyUI in-process, without its web server: one bootstrap shared by the workflow runner and the host tests.

Steps (design doc comfyui-host.md §A6): put the ComfyUI checkout on ``sys.path``; set ``comfy.cli_args.args``
before ``comfy.model_management`` is imported (CPU mode when there is no CUDA, API nodes off); import the core
modules; load the comfy_extras and this pack from a temporary ``custom_nodes`` folder that holds only a link to the
pack, exactly as the server's loader does; then validate and execute API-format prompts with a stand-in for the
server object.

ComfyUI keeps its state in module globals, so everything here is once per process.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import logging
import os
import sys
import types
import uuid
from pathlib import Path

from . import dynamic_vram
from .find_comfyui import find_comfyui

log = logging.getLogger("diffsensei")

REPO = Path(__file__).resolve().parents[1]
PACK_NAME = "ComfyUI-DiffSensei"

NOT_FOUND_MESSAGE = (
    "ComfyUI not found. Looked in $COMFYUI_PATH ({env}), in the ComfyUI tree this pack is installed in "
    "(<ComfyUI>/custom_nodes/<this pack>), and in {home}. Set COMFYUI_PATH to your ComfyUI folder "
    "(the one that contains main.py)."
)

__all__ = [
    "NOT_FOUND_MESSAGE",
    "PACK_NAME",
    "ComfyUIUnavailable",
    "FakeServer",
    "find_comfyui",
    "import_comfyui",
    "load_pack",
    "new_executor",
    "not_found_message",
    "run_prompt",
    "set_directories",
]


class ComfyUIUnavailable(RuntimeError):
    """ComfyUI was not found, or the running Python cannot import it (the message says which)."""


def not_found_message() -> str:
    return NOT_FOUND_MESSAGE.format(env=os.environ.get("COMFYUI_PATH") or "not set",
                                    home=Path.home() / "comfy" / "ComfyUI")


_state: dict = {}


def import_comfyui(root: Path | None = None, *, cpu: bool | None = None) -> types.SimpleNamespace:
    """Import ComfyUI's core modules once and return them.

    ``root``: the checkout (default: :func:`find_comfyui`). ``cpu``: force CPU mode; ``None`` picks CPU only when
    CUDA is unavailable. On a GPU, dynamic VRAM is switched on where the host's ``main.py`` would (see
    :mod:`.dynamic_vram`). Only the first call configures anything. Raises :class:`ComfyUIUnavailable`.
    Attributes: ``root``, ``nodes``, ``execution``, ``folder_paths``, ``mm`` (comfy.model_management),
    ``utils`` (comfy.utils), ``args`` (comfy.cli_args.args).
    """
    if "comfy" in _state:
        return _state["comfy"]
    root = Path(root).resolve() if root is not None else find_comfyui()
    if root is None:
        raise ComfyUIUnavailable(not_found_message())
    try:
        import torch

        if str(root) not in sys.path:
            sys.path.insert(0, str(root))
        from comfy.cli_args import args

        # Must happen before comfy.model_management is imported: it probes the devices at import time.
        fresh = "comfy.model_management" not in sys.modules
        if fresh:
            args.cpu = (not torch.cuda.is_available()) if cpu is None else cpu
            args.disable_api_nodes = True
        dynamic = fresh and dynamic_vram.before_model_management(args)
        # main.py imports ComfyUI's utils package first; later imports put comfy/ on sys.path, where
        # comfy/utils.py would otherwise shadow it (and comfy_extras/nodes_images.py fails to import).
        importlib.import_module("utils.extra_config")
        import comfy.model_management

        if dynamic:
            dynamic_vram.after_model_management(args)
        import comfy.utils
        import execution
        import folder_paths

        import nodes
    except Exception as e:
        raise ComfyUIUnavailable(
            f"ComfyUI at {root} cannot be imported by {sys.executable} ({type(e).__name__}: {e}); "
            "run this with ComfyUI's own Python"
        ) from e
    if Path(nodes.__file__).resolve().parent != root:
        raise ComfyUIUnavailable(f"'nodes' resolved to {nodes.__file__}, not ComfyUI's nodes.py in {root}")
    _state["comfy"] = types.SimpleNamespace(root=root, nodes=nodes, execution=execution, folder_paths=folder_paths,
                                            mm=comfy.model_management, utils=comfy.utils, args=args)
    return _state["comfy"]


def set_directories(comfy: types.SimpleNamespace, *, output: Path | None = None, temp: Path | None = None,
                    input: Path | None = None) -> None:
    """Point ComfyUI's output/temp/input folders somewhere (created if missing); ``None`` keeps the current one."""
    fp = comfy.folder_paths
    for path, setter in ((output, fp.set_output_directory), (temp, fp.set_temp_directory),
                         (input, fp.set_input_directory)):
        if path is not None:
            Path(path).mkdir(parents=True, exist_ok=True)
            setter(str(Path(path).resolve()))


class _ListHandler(logging.Handler):
    def __init__(self):
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record):
        self.records.append(record)


def load_pack(comfy: types.SimpleNamespace, custom_nodes: Path, pack_dir: Path | None = None,
              *, only_this_pack: bool = True) -> tuple[types.ModuleType | None, list[str]]:
    """Load the comfy_extras and the pack the way the server does; return ``(pack module or None, errors)``.

    ``custom_nodes``: an empty folder that gets a ``ComfyUI-DiffSensei`` link to ``pack_dir`` (default: this repo,
    or ``$DIFFSENSEI_PACK_DIR``). ``only_this_pack`` replaces ComfyUI's custom_nodes folders instead of adding one,
    which keeps other installed packs out. ``errors``: ComfyUI's warnings that mention the pack. Runs once per
    process; later calls return the first result.
    """
    if "pack" in _state:
        return _state["pack"]
    nodes, folder_paths = comfy.nodes, comfy.folder_paths
    pack_dir = Path(pack_dir or os.environ.get("DIFFSENSEI_PACK_DIR") or REPO).resolve()
    custom_nodes = Path(custom_nodes)
    custom_nodes.mkdir(parents=True, exist_ok=True)
    link = custom_nodes / PACK_NAME
    if not link.exists():
        link.symlink_to(pack_dir, target_is_directory=True)
    if only_this_pack:
        folder_paths.folder_names_and_paths["custom_nodes"] = ([str(custom_nodes)], set())
    else:
        folder_paths.add_model_folder_path("custom_nodes", str(custom_nodes))

    _install_headless_server(comfy)
    handler = _ListHandler()
    logging.getLogger().addHandler(handler)
    try:
        asyncio.run(nodes.init_extra_nodes(init_custom_nodes=True, init_api_nodes=False))
    finally:
        logging.getLogger().removeHandler(handler)

    module_name = str(link).replace(".", "_x_")  # how nodes.load_custom_node names the module
    pack = sys.modules.get(module_name) if PACK_NAME in nodes.LOADED_MODULE_DIRS else None
    errors = [r.getMessage() for r in handler.records if PACK_NAME in r.getMessage()]
    _state["pack"] = (pack, errors)
    return _state["pack"]


class FakeServer:
    """The part of ComfyUI's PromptServer that ``execution.PromptExecutor`` and the node packs use, headless.

    Every message is recorded in ``messages``; ``on_message(event, data)``, when given, is called as well. On hosts
    with a node replacement registry (``app.node_replace_manager``, ComfyUI 0.33) the server holds the process's one,
    as the real server does: ComfyUI's own replacements register into it at load time and prompts are rewritten by it
    before validation.
    """

    def __init__(self, on_message=None):
        self.client_id = None
        self.last_node_id = None
        self.last_prompt_id = None
        self.messages: list[tuple[str, object]] = []
        self.on_message = on_message
        self.node_replace_manager = _node_replace_manager()

    def send_sync(self, event, data, sid=None):
        self.messages.append((event, data))
        if self.on_message is not None:
            self.on_message(event, data)

    def queue_updated(self):
        pass


def _node_replace_manager():
    """The process's one registry (every headless server shares it, as the real server is one), or None."""
    if "replacements" not in _state:
        try:
            from app.node_replace_manager import NodeReplaceManager
        except ImportError:  # hosts before the registry (0.3.64)
            NodeReplaceManager = None
        _state["replacements"] = NodeReplaceManager() if NodeReplaceManager else None
    return _state["replacements"]


def _install_headless_server(comfy: types.SimpleNamespace) -> FakeServer:
    """Give ``server.PromptServer.instance`` a headless stand-in when no real server runs in this process.

    Packs (ComfyUI's own ``nodes_replacements`` among them) reach the server through that class attribute at load
    time; a real ``main.py`` sets it by constructing its server, which a headless session never does.
    """
    import server

    if getattr(server.PromptServer, "instance", None) is None:
        server.PromptServer.instance = FakeServer()
    comfy.server = server.PromptServer.instance
    return comfy.server


def new_executor(comfy: types.SimpleNamespace, server: FakeServer | None = None):
    """A ``PromptExecutor`` with the classic cache, built the way this host's own ``main.py`` builds one.

    Hosts whose executor takes ``cache_args`` (0.33: it reads ``"ram"`` and ``"ram_inactive"`` on every prompt) get
    the values ``main.py`` passes for the classic cache (no RAM-pressure headroom); 0.3.64 takes no such argument.
    """
    execution = comfy.execution
    kwargs: dict = {"cache_type": execution.CacheType.CLASSIC}
    if "cache_args" in inspect.signature(execution.PromptExecutor.__init__).parameters:
        kwargs["cache_args"] = {"lru": 0, "ram": 0.0, "ram_inactive": 0.0}
    return execution.PromptExecutor(server or FakeServer(), **kwargs)


class PromptInvalid(ValueError):
    """``execution.validate_prompt`` rejected the prompt; ``error`` and ``node_errors`` are ComfyUI's."""

    def __init__(self, error: dict, node_errors: dict):
        self.error, self.node_errors = error, node_errors
        super().__init__(f"prompt failed validation: {error} {node_errors}")


def run_prompt(comfy: types.SimpleNamespace, prompt: dict, server: FakeServer | None = None,
               *, client_id: str | None = None, strict: bool = True, extra_pnginfo: dict | None = None):
    """Validate and execute an API-format prompt in-process; return the ``PromptExecutor``.

    ``executor.success``, ``executor.status_messages`` and ``executor.history_result["outputs"]`` (the ``/history``
    outputs) tell how it went. Raises :class:`PromptInvalid` when validation fails. Must not be called from inside a
    running event loop (``PromptExecutor.execute`` uses ``asyncio.run``). ``strict``: also refuse a prompt where only
    some outputs failed validation (ComfyUI's server would run the others). ``extra_pnginfo``: what the browser sends
    beside the prompt, e.g. ``{"workflow": <editor graph>}``; nodes read it through their hidden EXTRA_PNGINFO input
    (Save Image writes it into the PNG).
    """
    execution = comfy.execution
    prompt_id = uuid.uuid4().hex
    server = server or FakeServer()
    if server.node_replace_manager is not None:  # as the real server does before validating a queued prompt
        server.node_replace_manager.apply_replacements(prompt)
    ok, error, output_ids, node_errors = asyncio.run(execution.validate_prompt(prompt_id, prompt, None))
    if not ok or (strict and node_errors):
        raise PromptInvalid(error, node_errors)
    executor = new_executor(comfy, server)
    extra: dict = {"client_id": client_id} if client_id else {}
    if extra_pnginfo is not None:
        extra["extra_pnginfo"] = extra_pnginfo
    executor.execute(prompt, prompt_id, extra, output_ids)
    return executor
