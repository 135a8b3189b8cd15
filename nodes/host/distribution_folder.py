"""``models/prompt_distributions``: where prompt distributions are loaded from and trained ones are saved, and the
menu category that the distribution nodes (load/sample/mix, train) share."""

from __future__ import annotations

import folder_paths

from .folders import register_folder

FOLDER = "prompt_distributions"
CATEGORY = "DiffSensei/prompt distribution"


def register_distribution_folder() -> None:
    """Add models/prompt_distributions (see folders.register_folder)."""
    register_folder(FOLDER, {".safetensors"})


def distribution_choices() -> list[str]:
    register_distribution_folder()
    return folder_paths.get_filename_list(FOLDER)


def output_folder() -> str:
    register_distribution_folder()
    return folder_paths.get_folder_paths(FOLDER)[0]
