"""A chapter's panels on Ray: one actor per GPU (or per few CPU cores), each with the chapter's models loaded once.

The driver plans the chapter and keeps the resume cache (``diffsensei_core/chapter/resume.py``); it sends each stale
panel to an idle worker as a task, stores every image the moment it comes back, and composes, letters and exports at
the end (``chapter_runner.finish_pages``). Faults:

* a worker that dies (killed, out of memory, its machine gone) has its panel put back in the queue for another
  worker, and Ray restarts it (``MAX_RESTARTS``); panels are deterministic (each has its own seed), so a panel
  rendered again is the same panel, and it is stored once;
* a panel that fails by itself (bad input) fails the chapter with that panel's error, after the panels already in
  flight have come back and been stored;
* an interrupted driver, run again, renders only the panels that are not in the cache yet.

Safe by default: without an address the driver starts a local, single-machine Ray with the dashboard off and token
authentication on (Ray's default for local clusters since 2.59, which this runner requires; ``RAY_AUTH_MODE=disabled``
is respected as the user's explicit choice). Ray itself advertises the machine's routable address even when asked for
127.0.0.1 and binds its gRPC services to every interface; the token is what guards them, so run Ray only on private
networks (docs/ray.md). Workers receive plain data — a plan and panel numbers — never code. Ray is imported only here,
and only when a run asks for it (``pip install "ray>=2.59"``).
"""

from __future__ import annotations

import collections
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path

from .chapter_progress import PanelProgress
from .chapter_render import RenderError
from .ray_worker import PanelWorker, WorkerJob

__all__ = ["WorkerJob", "WorkerPool", "default_workers", "render_panels", "start"]

log = logging.getLogger("diffsensei")

REPO = Path(__file__).resolve().parents[1]
MIN_RAY = (2, 59)
"""Token authentication on by default for local clusters."""
MAX_RESTARTS = 3
"""How often Ray restarts a worker that died before the driver gives that worker up."""


def ray_module():
    """``ray``, or a RenderError saying how to install it."""
    try:
        import ray
    except ImportError:
        raise RenderError("--ray needs Ray, which is not installed in this Python: pip install \"ray>=2.59\" "
                          "(or run without --ray on this machine)") from None
    version = tuple(int(part) for part in ray.__version__.split(".")[:2] if part.isdigit())
    if version < MIN_RAY:
        raise RenderError(f"--ray needs Ray 2.59 or newer (token authentication on by default); this Python has "
                          f"{ray.__version__}: pip install -U \"ray>=2.59\"")
    return ray


def start(address: str | None, *, num_cpus: int | None = None) -> None:
    """Connect to Ray: ``address`` "auto" or "host:port" joins that cluster; None starts a local one without the
    dashboard. Workers find this repository through PYTHONPATH (the same path on every node)."""
    ray = ray_module()
    if ray.is_initialized():
        return
    path = os.pathsep.join(p for p in (os.environ.get("PYTHONPATH"), str(REPO)) if p)
    runtime_env = {"env_vars": {"PYTHONPATH": path}}
    if address is None:
        ray.init(num_cpus=num_cpus, include_dashboard=False, runtime_env=runtime_env, configure_logging=False,
                 log_to_driver=False)
        log.info("started a local Ray on this machine (dashboard off, token authentication %s)",
                 "on" if _token_auth(ray) else "OFF: RAY_AUTH_MODE disables it")
    else:
        ray.init(address=address, runtime_env=runtime_env, configure_logging=False, log_to_driver=False)
        log.info("joined the Ray cluster at %s: %s", address, ray.cluster_resources())
        if not _token_auth(ray):
            log.warning("the Ray cluster at %s runs without token authentication: anyone who can reach its ports "
                        "can run code on its machines. Start it with a token (docs/ray.md, 'Security') and keep it "
                        "on a private network", address)


def _token_auth(ray) -> bool:
    try:
        from ray._private.authentication.authentication_utils import is_token_auth_enabled
    except ImportError:  # a Ray that moved it: say nothing we did not check
        return False
    return is_token_auth_enabled()


def default_workers() -> int:
    """One per GPU in the cluster, else one per core (each worker then runs torch on one thread)."""
    resources = ray_module().cluster_resources()
    return int(resources.get("GPU", 0)) or max(1, int(resources.get("CPU", 1)))


class WorkerPool:
    """The actors and which panel each one is rendering (``busy``: worker index → (panel, key, ref, started))."""

    def __init__(self, job: WorkerJob, count: int):
        ray = ray_module()
        gpus = 1 if ray.cluster_resources().get("GPU", 0) >= 1 else 0
        options = {"num_gpus": 1} if gpus else {"num_cpus": max(1, job.threads or 1)}
        actor = ray.remote(max_restarts=MAX_RESTARTS, max_task_retries=0, **options)(PanelWorker)
        self.ray = ray
        self.workers = [actor.remote(job.as_dict()) for _ in range(count)]
        self.deaths = [0] * count
        self.busy: dict[int, tuple] = {}
        try:  # waits until every worker has its ComfyUI session; a worker that cannot start says why here
            self.pids = ray.get([worker.pid.remote() for worker in self.workers])
        except ray.exceptions.RayError as err:
            self.shutdown()
            raise RenderError(f"the Ray workers could not start: {err}") from None
        log.info("%d Ray worker(s) for this chapter (%s each; pids %s)", count,
                 "1 GPU" if gpus else f"{options['num_cpus']} CPU", ", ".join(map(str, self.pids)))

    def shutdown(self) -> None:
        for worker in self.workers:
            self.ray.kill(worker, no_restart=True)

    def alive(self) -> list[int]:
        return [i for i, deaths in enumerate(self.deaths) if deaths <= MAX_RESTARTS]

    def dispatch(self, index: int, panel, key: str) -> None:
        ref = self.workers[index].render.remote(panel.page, panel.number)
        self.busy[index] = (panel, key, ref, time.monotonic())
        log.info("page %d, panel %d → worker %d", panel.page, panel.number, index + 1)

    def next_done(self):
        """Wait for any busy worker; return (worker index, panel, key, seconds, result or exception)."""
        refs = {entry[2]: index for index, entry in self.busy.items()}
        (ready,), _ = self.ray.wait(list(refs), num_returns=1)
        index = refs[ready]
        panel, key, _ref, started = self.busy.pop(index)
        try:
            result = self.ray.get(ready)
        except Exception as err:  # sorted out by the caller: a worker's death or the panel's own error
            result = err
        return index, panel, key, time.monotonic() - started, result


def render_panels(core, plan, context: tuple[dict, dict], output: Path, job: WorkerJob, *, workers: int,
                  on_stored: Callable | None = None) -> dict:
    """Render every stale panel of ``plan`` on the pool; the counts, as ``chapter_runner.render_panels`` returns.

    ``on_stored(panel, pool)`` is called after each panel is in the cache (progress reporting, tests).
    """
    from .chapter_runner import panel_context

    cache = core.resume.ResumeCache(output)
    progress = PanelProgress(len(plan.panels))
    queue = collections.deque()
    for panel in plan.panels:
        key = core.resume.panel_key(panel, panel_context(plan, panel, *context))
        if cache.is_current(panel, key):
            progress.cached(panel)
        else:
            queue.append((panel, key))
    if queue:
        pool = WorkerPool(job, min(workers, len(queue)))
        try:
            _drain(pool, queue, cache, progress, on_stored)
        finally:
            pool.shutdown()
    progress.finish()
    return {"rendered": progress.rendered_count, "cached": progress.cached_count}


def _drain(pool: WorkerPool, queue: collections.deque, cache, progress: PanelProgress, on_stored) -> None:
    failure = None
    while (queue and failure is None) or pool.busy:
        for index in pool.alive():
            if queue and failure is None and index not in pool.busy:
                pool.dispatch(index, *queue.popleft())
        if not pool.busy:
            break
        index, panel, key, seconds, result = pool.next_done()
        if _is_worker_death(pool.ray, result):
            pool.deaths[index] += 1
            log.warning("worker %d died while rendering page %d, panel %d (%s); the panel goes back in the queue%s",
                        index + 1, panel.page, panel.number, type(result).__name__,
                        "" if index in pool.alive() else ", and the worker is given up")
            queue.appendleft((panel, key))
        elif isinstance(result, BaseException):
            failure = failure or (panel, result)
        else:
            cache.store(panel, key, result)
            progress.rendered(panel, seconds)
            if on_stored is not None:
                on_stored(panel, pool)
    if failure is not None:
        panel, error = failure
        cause = getattr(error, "cause", None) or error
        raise RenderError(f"{cause}" if isinstance(cause, RenderError) else
                          f"page {panel.page}, panel {panel.number}: {type(cause).__name__}: {cause}")
    if queue:
        raise RenderError(f"every Ray worker died {MAX_RESTARTS + 1} times; {len(queue)} panel(s) were not rendered "
                          "(the finished ones are kept). Check the workers' memory and logs, then run again.")


def _is_worker_death(ray, result) -> bool:
    exceptions = ray.exceptions
    deaths = tuple(getattr(exceptions, name) for name in ("RayActorError", "ActorDiedError", "ActorUnavailableError",
                                                          "WorkerCrashedError", "NodeDiedError")
                   if hasattr(exceptions, name))
    return isinstance(result, deaths)
