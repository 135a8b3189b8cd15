"""A real ComfyUI server on 127.0.0.1 with this pack loaded, shared by the host tests and the browser tests.

The pack is loaded from a throw-away folder (``<base>/custom_nodes/ComfyUI-DiffSensei`` → this repo) through
``--extra-model-paths-config``, so nothing is written into the ComfyUI checkout: output, input, temp and user
folders all live under ``base`` too. The user folder is seeded with ``Comfy.TutorialCompleted`` so the browser
opens on an empty graph instead of the first-run template dialog.

Usage::

    with live_server.start(comfy_root, tmp_path) as server:
        server.get_json("/object_info")
"""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACK_NAME = "ComfyUI-DiffSensei"
STARTUP_SECONDS = 90


class ServerStartError(RuntimeError):
    """ComfyUI exited or did not answer in time; the message ends with the tail of its log."""


@dataclass(frozen=True)
class LiveServer:
    port: int
    base: Path
    log_path: Path
    process: subprocess.Popen

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def get_json(self, path: str, timeout: float = 10):
        with urllib.request.urlopen(self.url + path, timeout=timeout) as response:
            return json.loads(response.read())

    def post_json(self, path: str, body, timeout: float = 10):
        request = urllib.request.Request(self.url + path, data=json.dumps(body).encode(), method="POST",
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.loads(response.read() or b"null")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def start(comfy_root: Path, base: Path, *, pack_dir: Path = REPO, python: str = sys.executable,
          startup_seconds: float = STARTUP_SECONDS, extra_args: tuple[str, ...] = ()) -> Iterator[LiveServer]:
    """Start ``main.py --cpu`` of ``comfy_root`` with this pack (and ``extra_args``, e.g. ``--front-end-root``); stop
    it on exit. Raises ServerStartError."""
    base = Path(base)
    (base / "custom_nodes").mkdir(parents=True, exist_ok=True)
    link = base / "custom_nodes" / PACK_NAME
    if not link.exists():
        link.symlink_to(Path(pack_dir).resolve(), target_is_directory=True)
    for folder in ("models/diffsensei", "output", "input", "temp", "user/default"):
        (base / folder).mkdir(parents=True, exist_ok=True)
    settings = base / "user" / "default" / "comfy.settings.json"
    if not settings.exists():
        settings.write_text(json.dumps({"Comfy.TutorialCompleted": True}))
    config = base / "extra_paths.yaml"
    config.write_text(
        f"dss_test:\n  base_path: {base}\n  custom_nodes: custom_nodes\n  diffsensei: models/diffsensei\n"
    )
    port = free_port()
    log_path = base / "server.log"
    with open(log_path, "w") as log_file:
        process = subprocess.Popen(
            [python, "main.py", "--cpu", "--listen", "127.0.0.1", "--port", str(port),
             "--extra-model-paths-config", str(config), "--output-directory", str(base / "output"),
             "--input-directory", str(base / "input"), "--temp-directory", str(base / "temp"),
             "--user-directory", str(base / "user"), "--disable-auto-launch", *extra_args],
            cwd=comfy_root, stdout=log_file, stderr=subprocess.STDOUT,
        )
    server = LiveServer(port=port, base=base, log_path=log_path, process=process)
    try:
        deadline = time.monotonic() + startup_seconds
        while True:
            try:
                server.get_json("/system_stats")
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    state = "exited" if process.poll() is not None else f"did not answer in {startup_seconds:.0f} s"
                    raise ServerStartError(f"ComfyUI {state}; log {log_path}:\n{server.log()[-3000:]}") from None
                time.sleep(0.5)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
