"""Chapters: a writer's script → planned manga pages.

A chapter script (plain text, ``grammar.py``; or the same content as JSON, ``script_json.py``) names the characters
and their reference images, then lists pages and panels: each panel's caption, shot and size hints, dialogue and
narration. The planner (``planner.py``) turns it into pages in the page JSON of ``diffsensei_core.page`` (panels with
their cast, character boxes, dialog boxes and prompt), the bubble texts in the Letter bubbles format, and one seed
per panel — deterministically and without a model, so the page canvas and the panel editor can change anything
afterwards. ``resume.py`` decides which panels of a rendered chapter are still up to date.

Pure Python/PIL: nothing here imports ComfyUI. Fonts come in as a typesetter argument (``lettering.fonts``).
"""
