"""The resume cache: keys follow everything that decides a panel's picture, and only those; files are replaced
atomically and survive a new cache object (a new run)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from diffsensei_core.chapter import resume
from diffsensei_core.chapter.grammar import parse_script
from diffsensei_core.chapter.planner import plan_chapter
from diffsensei_core.chapter.resume import ResumeCache, file_identity, folder_identity, panel_key

from .lettering_fakes import MonoTypesetter

EXAMPLE = (Path(__file__).resolve().parents[2] / "workflows" / "chapters" / "the_late_bell.txt").read_text("utf-8")
CONTEXT = {"settings": {"steps": 30}, "models": {"unet": "sha256:00"}, "pack": "0.1.0", "references": {}}


def panels(text: str = EXAMPLE):
    return plan_chapter(parse_script(text), dpi=100, typesetter=MonoTypesetter()).panels


def test_keys_are_stable_and_follow_the_plan_and_the_context():
    first, again = panels(), panels()
    assert [panel_key(p, CONTEXT) for p in first] == [panel_key(p, CONTEXT) for p in again]
    assert len({panel_key(p, CONTEXT) for p in first}) == len(first)
    for change in ({"settings": {"steps": 31}}, {"models": {"unet": "sha256:01"}}, {"pack": "0.1.1"},
                   {"references": {"ren.png": "sha256:ff"}}):
        assert panel_key(first[0], {**CONTEXT, **change}) != panel_key(first[0], CONTEXT), change


def test_a_new_line_above_changes_no_key():
    """Keys hold the panels' content, not their line numbers."""
    shifted = EXAMPLE.replace("Title: The Late Bell", "# a new comment line\nTitle: The Late Bell")
    assert [panel_key(p, CONTEXT) for p in panels(shifted)] == [panel_key(p, CONTEXT) for p in panels()]


def test_store_then_current_across_runs(tmp_path):
    panel = panels()[4]
    cache = ResumeCache(tmp_path)
    assert not cache.is_current(panel, "k1")
    path = cache.store(panel, "k1", b"\x89PNG fake")
    assert path == tmp_path / "panels" / "page002_panel02.png" and path.read_bytes() == b"\x89PNG fake"
    again = ResumeCache(tmp_path)  # a new run reads the manifest
    assert again.is_current(panel, "k1") and not again.is_current(panel, "k2")
    path.unlink()
    assert not again.is_current(panel, "k1"), "a missing image is rendered again"
    assert not list((tmp_path / "panels").glob(".*.tmp")), "no staging files left behind"


def test_an_interrupted_write_keeps_the_previous_manifest(tmp_path, monkeypatch):
    first, second = panels()[:2]
    cache = ResumeCache(tmp_path)
    cache.store(first, "k1", b"one")

    def broken(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(resume.os, "replace", broken)
    with pytest.raises(OSError):
        cache.store(second, "k2", b"two")
    monkeypatch.undo()
    reread = ResumeCache(tmp_path)
    assert reread.is_current(first, "k1") and not reread.is_current(second, "k2")


def test_file_identity_by_content_when_small_and_by_stat_when_large(tmp_path, monkeypatch):
    a, b = tmp_path / "a.bin", tmp_path / "b.bin"
    a.write_bytes(b"same")
    b.write_bytes(b"same")
    os.utime(b, ns=(1, 1))
    assert file_identity(a) == file_identity(b), "small files: contents, whatever their dates"
    monkeypatch.setattr(resume, "SMALL_FILE", 2)
    assert file_identity(a) != file_identity(b), "large files: size and modification time"
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "c.txt").write_text("x")
    assert list(folder_identity(tmp_path)) == ["a.bin", "b.bin", "sub/c.txt"]
