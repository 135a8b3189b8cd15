"""Soak (issue 7): a live server on 127.0.0.1 runs a long series of DiffSensei prompts on the demo release.

Layouts, character counts (0–3), dialog boxes, panel sizes (64–256 px), steps, cfg and seeds change from prompt to
prompt; every tenth prompt has a bad layout (an expected node error) and a few are interrupted through
``POST /interrupt`` while their KSampler is running. Afterwards:

* the server still answers and runs a prompt;
* its resident memory grew by less than 5 % between the end of a warm-up and the end of the soak;
* no patch is left on the cached model: the plain demo MODEL (no Apply) gives, bit for bit, the latent it gave at
  the start;
* no exception reached the log other than the expected node errors.

Bounded: ``DIFFSENSEI_SOAK_PROMPTS`` prompts (default 200) or ``DIFFSENSEI_SOAK_SECONDS`` of wall time (default
600), whichever ends first; every wait has its own timeout. Progress and interrupts are watched on the server's
websocket (aiohttp, which ComfyUI itself depends on).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
import time
import uuid
from dataclasses import dataclass, field

import pytest
import torch
from test_robustness import demo_prompt, plain_prompt
from test_robustness_live import (
    log_since_startup,
    running_demo_server,
    saved_latent,
    unexpected_log_trouble,
)

log = logging.getLogger("diffsensei")

PROMPTS = int(os.environ.get("DIFFSENSEI_SOAK_PROMPTS", "200"))
WALL_SECONDS = float(os.environ.get("DIFFSENSEI_SOAK_SECONDS", "600"))
WARM_UP = 20
MIN_PROMPTS = 60  # fewer (a slow or busy machine): the interrupt and memory checks are skipped, with the reason
PROMPT_SECONDS = 180
MAX_RSS_GROWTH = 0.05
SIZES = (64, 128, 192, 256)
BAD_LAYOUTS = (
    '{"characters": [[0.1, 0.1, NaN, 0.9]]}',
    '{"characters": [[0.2, 0.2, 0.2, 0.8]]}',
    '{"characters": [[0, 0, 0.5',
    '{"characters": [[10, 10, 200, 200]]}',
)


@dataclass
class Planned:
    prompt: dict
    kind: str  # "good", "bad" (expected node error) or "interrupt"


@dataclass
class Report:
    outcomes: dict[str, int] = field(default_factory=dict)
    unexpected: list[str] = field(default_factory=list)
    interrupted: int = 0
    ran: int = 0
    rss_after_warm_up: int | None = None
    rss_trace: list[int] = field(default_factory=list)  # MiB after every 20th prompt, for the failure message
    stopped_by_time: bool = False

    def count(self, name: str) -> None:
        self.outcomes[name] = self.outcomes.get(name, 0) + 1


def random_box(rng: random.Random) -> list[float]:
    x1, y1 = rng.uniform(0, 0.7), rng.uniform(0, 0.7)
    return [round(x1, 3), round(y1, 3), round(rng.uniform(x1 + 0.1, 1.0), 3), round(rng.uniform(y1 + 0.1, 1.0), 3)]


def plan(count: int, seed: int = 7) -> list[Planned]:
    rng = random.Random(seed)
    planned = []
    for i in range(count):
        characters = i % 4 if i < WARM_UP else rng.randrange(4)  # the warm-up sees every count and size
        width, height = (SIZES[i % 4], SIZES[(i // 4) % 4]) if i < WARM_UP else (rng.choice(SIZES), rng.choice(SIZES))
        layout = json.dumps({"characters": [random_box(rng) for _ in range(characters)],
                             "dialogs": [random_box(rng) for _ in range(rng.randrange(3))]})
        kind, steps = "good", rng.choice((2, 2, 3))
        if i % 10 == 5:
            kind, layout = "bad", rng.choice(BAD_LAYOUTS)
        elif i % 25 == 12:
            kind, steps, width, height = "interrupt", 40, 128, 128  # long enough to be caught mid-sampling
        planned.append(Planned(demo_prompt(characters=characters, layout=layout, width=width, height=height,
                                           seed=i, steps=steps, cfg=rng.choice((1.0, 4.0)), prefix="soak/panel"),
                               kind))
    return planned


def rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS for process {pid}")


async def run_one(http, ws, url: str, client_id: str, item: Planned) -> str:
    """Queue one prompt and wait on the websocket for its end: success, error, interrupted or a 400 (invalid)."""
    async with http.post(f"{url}/prompt", json={"prompt": item.prompt, "client_id": client_id}) as response:
        body = await response.json()
        if response.status != 200:
            return f"invalid: {json.dumps(body)[:500]}"
    prompt_id = body["prompt_id"]
    deadline = time.monotonic() + PROMPT_SECONDS
    interrupt_sent = False
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return f"timeout after {PROMPT_SECONDS} s"
        message = await asyncio.wait_for(ws.receive(), timeout=remaining)
        if message.type.name != "TEXT":
            if message.type.name in ("CLOSE", "CLOSED", "CLOSING", "ERROR"):
                return f"websocket closed ({message.type.name})"
            continue  # binary previews
        event = json.loads(message.data)
        data = event.get("data") or {}
        if data.get("prompt_id") != prompt_id:
            continue
        sampling = event["type"] == "progress" and data.get("value", 0) >= 1
        if sampling and item.kind == "interrupt" and not interrupt_sent:
            interrupt_sent = True
            async with http.post(f"{url}/interrupt", json={"prompt_id": prompt_id}) as response:
                assert response.status == 200
        elif event["type"] == "execution_success":
            return "success"
        elif event["type"] == "execution_interrupted":
            return "interrupted"
        elif event["type"] == "execution_error":
            return f"error {data.get('exception_type', '?').rsplit('.', 1)[-1]}: {data.get('exception_message', '')}"


async def soak(server, planned: list[Planned], deadline: float) -> Report:
    import aiohttp

    report = Report()
    client_id = f"dss-soak-{uuid.uuid4().hex[:8]}"
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(timeout=timeout) as http, \
            http.ws_connect(f"{server.url}/ws?clientId={client_id}", timeout=aiohttp.ClientWSTimeout(ws_close=30),
                            max_msg_size=0) as ws:
        for index, item in enumerate(planned):
            if time.monotonic() > deadline:
                report.stopped_by_time = True
                break
            outcome = await run_one(http, ws, server.url, client_id, item)
            report.ran += 1
            report.count(outcome.split(":")[0].split()[0])
            expected = {"good": outcome == "success",
                        "bad": outcome.startswith("error LayoutError: DiffSensei: Panel layout, input 'layout'"),
                        "interrupt": outcome in ("interrupted", "success")}[item.kind]
            if not expected:
                report.unexpected.append(f"prompt {index} ({item.kind}): {outcome}")
            report.interrupted += outcome == "interrupted"
            if index == WARM_UP - 1:
                report.rss_after_warm_up = rss_bytes(server.process.pid)
            if index % 20 == 19:
                report.rss_trace.append(rss_bytes(server.process.pid) >> 20)
    return report


@pytest.fixture(scope="module")
def server(comfy, tmp_path_factory):
    yield from running_demo_server(comfy, tmp_path_factory, "soak_server")


def run_plain(server):
    from test_robustness_live import run_live

    result = run_live(server, plain_prompt(prefix="soak/plain"))
    assert result.get("success"), f"the plain prompt failed: {result}"
    cached = next((data["nodes"] for event, data in result["messages"] if event == "execution_cached"), [])
    return saved_latent(server, result["outputs"], "plain_save"), cached


def test_soak(server):
    baseline, _ = run_plain(server)
    started = time.monotonic()
    report = asyncio.run(soak(server, plan(PROMPTS), started + WALL_SECONDS))
    elapsed = time.monotonic() - started
    rss_end = rss_bytes(server.process.pid)
    log.info("soak: %d prompts in %.0f s, outcomes %s, %d interrupted, RSS %.0f → %.0f MiB (every 20: %s)",
             report.ran, elapsed, report.outcomes, report.interrupted, (report.rss_after_warm_up or 0) / 2**20,
             rss_end / 2**20, report.rss_trace)

    assert not report.unexpected, "unexpected outcomes:\n" + "\n".join(report.unexpected[:20])
    assert server.get_json("/system_stats")["system"], "the server stopped answering"

    after, cached = run_plain(server)
    assert "plain_sample" not in cached, "the plain sampler came from the cache; the comparison would prove nothing"
    assert "plain_load" in cached, "the MODEL was loaded afresh, not the cached one every Apply above cloned"
    assert torch.equal(after, baseline), "the plain demo MODEL no longer gives its baseline latent: a patch was left"

    trouble = unexpected_log_trouble(log_since_startup(server))
    assert not trouble, "unexpected exceptions in the server log:\n\n" + "\n\n".join(trouble[:5])

    if report.ran < min(MIN_PROMPTS, PROMPTS) or report.rss_after_warm_up is None:
        # a busy or slow machine: the checks above passed, but too few prompts ran for the ones below to mean much
        pytest.skip(f"the soak stopped at its {WALL_SECONDS:.0f} s budget (DIFFSENSEI_SOAK_SECONDS) after {report.ran} "
                    f"of {PROMPTS} prompts; the interrupt and memory checks need {MIN_PROMPTS}")
    if report.stopped_by_time:
        log.warning("soak stopped by its time budget after %d of %d prompts", report.ran, PROMPTS)
    assert report.interrupted >= 1, f"no prompt was interrupted mid-sampling: {report.outcomes}"
    assert report.outcomes.get("error", 0) >= 1, f"no bad layout reached its node error: {report.outcomes}"
    growth = rss_end / report.rss_after_warm_up - 1
    assert growth < MAX_RSS_GROWTH, (
        f"server RSS grew {growth:.1%} after the warm-up ({report.rss_after_warm_up / 2**20:.0f} → "
        f"{rss_end / 2**20:.0f} MiB over {report.ran - WARM_UP} prompts; MiB every 20 prompts: {report.rss_trace})")
