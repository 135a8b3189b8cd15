"""Per-panel cast: which of the connected characters a panel's character boxes show.

A panel's ``"cast"`` in the page JSON lists character numbers (1 = the first reference image) in the order of
its character boxes: ``"cast": [2]`` is a panel showing only character 2, in its one box. Without ``"cast"`` a
panel shows every character, one box each (as a single panel layout does), and a panel without character boxes
shows nobody.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..errors import LayoutError

Cast = tuple[int, ...]


def parse_cast(value, boxes: int, what: str) -> Cast | None:
    """A panel's ``"cast"`` as given in the JSON (None = not given) → character numbers, checked against its
    ``boxes`` character boxes. ``what`` names the panel in errors, e.g. "panel 2"."""
    if value is None:
        return None
    example = '"cast": [2] (only character 2) or [1, 3]'
    if isinstance(value, str | bytes) or not isinstance(value, Sequence) \
            or any(isinstance(c, bool) or not isinstance(c, int) or c < 1 for c in value):
        raise LayoutError(
            f'{what}: "cast" must list character numbers (1 = the first reference image), one per character box '
            f"in box order, e.g. {example}; got {value!r}."
        )
    cast = tuple(value)
    repeated = sorted({c for c in cast if cast.count(c) > 1})
    if repeated:
        raise LayoutError(
            f'{what}: "cast" {list(cast)} names character {repeated[0]} more than once; expected each character at '
            "most once per panel. Delete the repeat (and its character box)."
        )
    if len(cast) != boxes:
        fix = (f"draw {len(cast) - boxes} more character box(es)" if len(cast) > boxes
               else f"delete {boxes - len(cast)} character box(es)")
        raise LayoutError(
            f'{what} has {boxes} character box(es) but its "cast" {list(cast)} names {len(cast)} character(s); '
            f'expected one box per cast member, in the same order. {fix[0].upper()}{fix[1:]}, or edit "cast".'
        )
    return cast


def cast_indices(cast: Cast | None, boxes: int, count: int, what: str) -> tuple[int, ...]:
    """0-based indices into ``count`` connected characters for a panel's boxes, in box order.

    ``cast`` None: every character (``boxes`` must equal ``count``), or nobody when the panel has no boxes.
    """
    if cast is None:
        if boxes == 0:
            return ()
        if boxes != count:
            raise LayoutError(
                f'{what} has {boxes} character box(es) and no "cast", so it shows all {count} connected '
                f"character(s), one box each; expected {count} box(es). Add \"cast\" to the panel naming the "
                f"characters its boxes show in box order (e.g. \"cast\": [{', '.join(map(str, range(1, boxes + 1)))}]"
                f"), or draw one box per character."
            )
        return tuple(range(count))
    missing = [c for c in cast if c > count]
    if missing:
        raise LayoutError(
            f'{what}: "cast" {list(cast)} names character {missing[0]} but {count} character(s) are connected; '
            f"expected numbers 1..{count}. Connect more reference images, or edit \"cast\"."
        )
    return tuple(c - 1 for c in cast)


def box_of_character(cast: Cast | None, character: int, boxes: int) -> int | None:
    """The 0-based box index showing ``character`` (1-based number) in a panel, or None if it is not there."""
    if cast is None:
        return character - 1 if character <= boxes else None
    return cast.index(character) if character in cast else None
