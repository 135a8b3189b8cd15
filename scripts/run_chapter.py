"""Render a chapter script headless (plan, panels, pages, CBZ, PDF), resuming from what an earlier run left.

    ~/comfy/venv/bin/python scripts/run_chapter.py story.txt --output out/ [options]
    ~/comfy/venv/bin/python scripts/run_chapter.py --demo --output out/    (the bundled example on demo weights)

``scripts/run_workflow.py --chapter story.txt …`` is the same command. The work is done by
``headless/chapter_runner.py`` (its docstring lists the output folder's files and the options).
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if __package__ is None or __package__ == "":  # run as a script: the runner's modules live in the repository root,
    sys.path.append(str(REPO))  # after ComfyUI's root, so ComfyUI's `nodes` keeps precedence over the pack's
    import run_workflow
else:
    from . import run_workflow

from headless import chapter_runner  # noqa: E402

log = run_workflow.log


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    ns = chapter_runner.parser().parse_args(argv)
    run_workflow._configure_logging(ns.verbose)
    if ns.chapter is None and not ns.demo:
        log.error("give a chapter script, or --demo")
        return 2
    if ns.chapter is not None and not ns.chapter.is_file():
        log.error("chapter script not found: %s", ns.chapter)
        return 2
    return run_workflow.run_in_session(argv, lambda comfy, scratch: chapter_runner.run(ns, comfy, scratch),
                                       script=Path(__file__).resolve(), prefix="diffsensei-chapter-")


if __name__ == "__main__":
    sys.exit(main())
