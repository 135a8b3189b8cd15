"""The chapter on a local Ray (2 CPU workers, demo weights, the example chapter): the same pages as one process; a
worker killed mid-chapter costs nothing; an interrupted driver resumes; a bad panel fails with its own error while
the others are saved. Skipped with one line when Ray is not installed (``pip install "ray>=2.59"``)."""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from headless import chapter_runner, demo_mode, ray_chapter, runner
from tests.support.skips import skip_or_fail

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "workflows" / "chapters" / "the_late_bell.txt"
PANELS = 11

try:
    import ray
except ImportError:
    skip_or_fail("ray", "Ray tests skipped: ray is not installed (pip install \"ray>=2.59\")", module=True)


def run_chapter(comfy, out: Path, *args: str) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, "scripts/run_chapter.py", "--demo", "--output", str(out), *args],
                            capture_output=True, text=True, timeout=1800, cwd=str(REPO),
                            env={**os.environ, "COMFYUI_PATH": str(comfy.root)})
    assert result.returncode == 0, result.stderr[-6000:]
    return result


def pixels(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image)


def test_pages_match_one_process_at_the_same_thread_count(comfy, tmp_path):
    single = run_chapter(comfy, tmp_path / "single", "--threads", "1")
    spread = run_chapter(comfy, tmp_path / "ray", "--ray", "--workers", "2", "--threads", "1")
    assert "started a local Ray on this machine (dashboard off, token authentication on)" in spread.stderr
    assert "2 Ray worker(s)" in spread.stderr and "done: 11 panel(s) rendered, 0 up to date" in spread.stderr
    assert "done: 11 panel(s) rendered" in single.stderr
    ours = sorted((tmp_path / "ray" / "panels").glob("*.png"))
    assert [p.name for p in ours] == [p.name for p in sorted((tmp_path / "single" / "panels").glob("*.png"))]
    assert len(ours) == PANELS
    for path in ours:  # PNG metadata differs (file names); the pixels may not
        assert np.array_equal(pixels(path), pixels(tmp_path / "single" / "panels" / path.name)), path.name
    for page in sorted((tmp_path / "single" / "pages").glob("*.png")):
        assert np.array_equal(pixels(page), pixels(tmp_path / "ray" / "pages" / page.name)), page.name


# ------------------------------------------------------------------------------------- in-process driver cases


@pytest.fixture(scope="module")
def chapter(comfy, pack, tmp_path_factory):
    """The example chapter planned in this process (the driver), demo weights and inputs where the workers find
    them, and a local Ray for the module."""
    models = tmp_path_factory.mktemp("ray_models")
    demo_mode.build_demo_models(models)
    runner.register_models(comfy, models)
    input_dir = Path(comfy.folder_paths.get_input_directory())
    demo_mode.prepare_inputs(input_dir, None)
    core = chapter_runner.Core(pack)
    ns = argparse.Namespace(demo=True, checkpoint="x", model="x", steps=3, cfg=7.5, sampler="euler",
                            scheduler="normal", ip_scale=0.6, scale=128, font="default")
    settings = chapter_runner._settings(ns)
    plan = chapter_runner.read_plan(core, EXAMPLE, dpi=demo_mode.DEMO_PAGE_DPI, font="default")
    context = chapter_runner.run_context(core, comfy, plan, settings, True)
    job = ray_chapter.WorkerJob(comfy_root=str(comfy.root), plan_json=plan.to_json(), settings=settings.key_data(),
                                demo=True, models=str(models), input=str(input_dir), threads=1, cpu=True)
    ray_chapter.start(None, num_cpus=2)
    yield core, plan, context, job
    ray.shutdown()


def stored_names(output: Path) -> list[str]:
    return sorted(json.loads((output / "panels" / "manifest.json").read_text(encoding="utf-8")))


def test_a_worker_killed_mid_chapter_costs_nothing(chapter, tmp_path, caplog):
    core, plan, context, job = chapter
    stored, killed = [], []

    def kill_a_busy_worker(panel, pool):
        stored.append((panel.page, panel.number))
        fresh = [i for i, entry in pool.busy.items() if time.monotonic() - entry[3] < 0.4]
        if not killed and len(stored) >= 2 and fresh:
            killed.append(pool.pids[fresh[0]])
            os.kill(pool.pids[fresh[0]], signal.SIGKILL)

    with caplog.at_level(logging.WARNING, logger="diffsensei"):
        counts = ray_chapter.render_panels(core, plan, context, tmp_path, job, workers=2,
                                           on_stored=kill_a_busy_worker)
    assert killed, "a worker was killed while it rendered a panel"
    assert "died while rendering" in caplog.text and "goes back in the queue" in caplog.text
    assert counts == {"rendered": PANELS, "cached": 0}
    assert len(stored) == len(set(stored)) == PANELS, "every panel stored exactly once"
    assert len(list((tmp_path / "panels").glob("*.png"))) == PANELS and len(stored_names(tmp_path)) == PANELS


def test_an_interrupted_driver_resumes_with_the_unfinished_panels(chapter, tmp_path):
    core, plan, context, job = chapter
    first = []

    def interrupt_after_four(panel, pool):
        first.append((panel.page, panel.number))
        if len(first) == 4:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        ray_chapter.render_panels(core, plan, context, tmp_path, job, workers=2, on_stored=interrupt_after_four)
    assert len(stored_names(tmp_path)) == 4
    second = []
    counts = ray_chapter.render_panels(core, plan, context, tmp_path, job, workers=2,
                                       on_stored=lambda panel, pool: second.append((panel.page, panel.number)))
    assert counts == {"rendered": PANELS - 4, "cached": 4}
    assert not set(first) & set(second) and len(set(first) | set(second)) == PANELS


def test_a_bad_panel_fails_with_its_own_error_and_the_others_are_saved(chapter, tmp_path):
    """Page 2, panel 2 of the workers' plan casts a character the chapter does not have (the driver's plan is
    unchanged): that panel's graph fails in a worker, with the pack's error naming it."""
    core, plan, context, job = chapter
    data = json.loads(job.plan_json)
    data["pages"][1]["page"]["panels"][1]["cast"] = [1, 9]
    bad = ray_chapter.WorkerJob(**{**job.as_dict(), "plan_json": json.dumps(data)})
    with pytest.raises(ray_chapter.RenderError, match=r"page 2, panel 2: .*character 9"):
        ray_chapter.render_panels(core, plan, context, tmp_path, bad, workers=2)
    saved = stored_names(tmp_path)
    assert "page002_panel02" not in saved and len(saved) >= 1
    for name in saved:
        assert (tmp_path / "panels" / f"{name}.png").is_file()


def test_the_local_ray_has_no_dashboard_and_requires_its_token(chapter):
    """What the driver starts when given no address. (Ray binds its gRPC services to every interface whatever it is
    told, so the token is what guards them: docs/ray.md.)"""
    from ray._private.authentication.authentication_utils import is_token_auth_enabled

    assert is_token_auth_enabled()
    assert not ray._private.worker.global_worker.node.address_info.get("webui_url")
    assert len([n for n in ray.nodes() if n["Alive"]]) == 1, "a single-machine cluster"
