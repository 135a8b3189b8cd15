"""Peak RSS across a 10-page demo chapter: does memory grow page by page?

    python benchmarks/chapter_memory.py [--pages 10] [--quick] [--out FILE]

Renders a chapter of ``--pages`` pages (the bundled example's pages repeated) on the demo weights in this process,
the way ``scripts/run_chapter.py`` does (one renderer, resume cache, compose, letter, export), and records the
process's RSS after every panel and its peak (VmHWM) after every page. "Flat" means the per-page peak does not grow
after the first page (which loads the models): the least-squares slope of the peaks over pages 2..n, in MiB per
page, is reported with the peak of page 1 and of the last page.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import common
from chapter_overhead import setup_demo
from chapter_planning import long_script

from headless import chapter_render, comfy_session, demo_mode
from headless import chapter_runner as run_chapter

MIB = 2**20


def slope(values: list[float]) -> float:
    """Least-squares slope of values over their index."""
    n = len(values)
    if n < 2:
        return 0.0
    mean_x, mean_y = (n - 1) / 2, sum(values) / n
    return sum((k - mean_x) * (v - mean_y) for k, v in enumerate(values)) / sum((k - mean_x) ** 2 for k in range(n))


def main() -> None:
    parser = common.parser(__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=10)
    args = parser.parse_args()
    pages = 3 if args.quick else args.pages
    comfy = common.setup(args)
    setup_demo(comfy)
    work = Path(tempfile.mkdtemp(prefix="diffsensei-chapter-memory-"))
    script = work / "chapter.txt"
    script.write_text(long_script(pages), encoding="utf-8")
    core = run_chapter.Core(comfy.pack)
    plan = run_chapter.read_plan(core, script, dpi=demo_mode.DEMO_PAGE_DPI, font="default")
    settings = chapter_render.RenderSettings(model=demo_mode.DEMO_MODEL, steps=demo_mode.DEMO_MAX_STEPS,
                                             scale=demo_mode.DEMO_MAX_SIDE)
    context = run_chapter.run_context(core, comfy, plan, settings, True)
    start_rss = common.rss_bytes()
    samples: list[dict] = []

    class Recording(chapter_render.PanelRenderer):
        def render(self, panel) -> bytes:
            png = super().render(panel)
            samples.append({"page": panel.page, "panel": panel.number, "rss": common.rss_bytes(),
                            "peak": common.status_kb("VmHWM") * 1024})
            return png

    def make_renderer():
        return Recording(comfy, plan, settings, new_executor=comfy_session.new_executor,
                         server=comfy_session.FakeServer(), prepare=demo_mode.demo_prompt)

    run_chapter.render_panels(core, plan, context, work / "out", make_renderer)
    run_chapter.finish_pages(core, plan, work / "out", "default")
    finished = {"rss": common.rss_bytes(), "peak": common.status_kb("VmHWM") * 1024}
    report(args, comfy, pages, samples, start_rss, finished)


def report(args, comfy, pages: int, samples: list[dict], start_rss: int, finished: dict) -> None:
    per_page = {}
    for sample in samples:
        per_page[sample["page"]] = max(per_page.get(sample["page"], 0), sample["rss"])
    peaks = [per_page[p] / MIB for p in sorted(per_page)]
    growth = slope(peaks[1:])
    rows = [[page, peak, peak - peaks[0]] for page, peak in zip(sorted(per_page), peaks, strict=True)]
    common.print_table(f"RSS after each page's panels ({len(samples)} panels, demo weights)",
                       ["page", "max RSS MiB", "vs page 1 MiB"], rows)
    common.print_table("Summary", ["start MiB", "page 1 MiB", f"page {pages} MiB", "growth MiB/page (2..n)",
                                   "VmHWM MiB", "after export MiB"],
                       [[start_rss / MIB, peaks[0], peaks[-1], growth, finished["peak"] / MIB,
                         finished["rss"] / MIB]])
    common.write_json("chapter_memory", args, {
        "pages": pages, "panels": len(samples), "start_rss": start_rss, "samples": samples,
        "max_rss_per_page_mib": peaks, "growth_mib_per_page": growth, "finished": finished}, comfy)


if __name__ == "__main__":
    main()
