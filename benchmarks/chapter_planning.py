"""Planning a long chapter: parse + plan a 200-page script (no model; Pillow's bundled font), median of repeats.

    python benchmarks/chapter_planning.py [--pages 200] [--repeats 3] [--dpi 300] [--quick] [--out FILE]

The script is the bundled example's three pages repeated (with the dialogue lengths varied page by page), so
every kind of panel, hint and line is in it. Reports seconds for parsing and planning, per page and per bubble.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import common

from diffsensei_core.chapter.grammar import parse_script
from diffsensei_core.chapter.planner import plan_chapter
from diffsensei_core.lettering.fonts import FontChain, pillow_face

EXAMPLE = common.REPO / "workflows" / "chapters" / "the_late_bell.txt"
FILLER = ("again", "really", "today", "right now", "I mean it")


def long_script(pages: int, example: Path = EXAMPLE) -> str:
    """``pages`` pages cycling through the example's pages; page k adds k mod 5 words to its first dialogue line."""
    head, *bodies = re.split(r"^Page \d+\n", example.read_text(encoding="utf-8"), flags=re.MULTILINE)
    out = [head]
    for k in range(pages):
        lines = bodies[k % len(bodies)].splitlines()
        extra = " ".join(FILLER[: k % 5])
        for n, line in enumerate(lines):
            if extra and re.match(r"\s+(Ren|Mio)\b[^:]*: ", line):
                lines[n] = f"{line} ({extra})"
                break
        out.append("Page\n" + "\n".join(lines) + "\n")
    return "".join(out)


def main() -> None:
    parser = common.parser(__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=200)
    parser.add_argument("--dpi", type=int, default=300)
    args = parser.parse_args()
    pages = 20 if args.quick else args.pages
    repeats = args.repeats or (1 if args.quick else 3)
    script = long_script(pages)
    chain = FontChain([pillow_face()])
    parse_times, plan_times = [], []
    for _ in range(repeats):
        start = time.perf_counter()
        chapter = parse_script(script)
        parsed = time.perf_counter()
        plan = plan_chapter(chapter, dpi=args.dpi, typesetter=chain)
        parse_times.append(parsed - start)
        plan_times.append(time.perf_counter() - parsed)
    panels = len(plan.panels)
    bubbles = sum(len(p.dialogs) for p in plan.panels)
    parse_s, plan_s = common.median(parse_times), common.median(plan_times)
    common.print_table(f"Planning a {pages}-page chapter at {args.dpi} dpi (median of {repeats})",
                       ["pages", "panels", "bubbles", "parse s", "plan s", "ms / page", "ms / bubble"],
                       [[pages, panels, bubbles, parse_s, plan_s, 1000 * (parse_s + plan_s) / pages,
                         1000 * plan_s / max(bubbles, 1)]])
    common.write_json("chapter_planning", args, {
        "pages": pages, "panels": panels, "bubbles": bubbles, "dpi": args.dpi, "font": "Pillow's bundled font",
        "repeats": repeats, "parse_s": parse_times, "plan_s": plan_times, "median_parse_s": parse_s,
        "median_plan_s": plan_s, "script_lines": len(script.splitlines())})


if __name__ == "__main__":
    main()
