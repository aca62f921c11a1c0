"""atomic.py: a write either completes or leaves the old file; no temporary file survives."""

import pytest

from cyclegan_core.atomic import atomic_path, atomic_write_text


def test_atomic_write_replaces_and_creates_folders(tmp_path):
    target = tmp_path / "a" / "b" / "file.txt"
    atomic_write_text(target, "one")
    atomic_write_text(target, "two")
    assert target.read_text() == "two" and [p.name for p in target.parent.iterdir()] == ["file.txt"]


def test_a_failed_write_keeps_the_old_file_and_cleans_up(tmp_path):
    target = tmp_path / "file.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half of the new")
            raise RuntimeError("interrupted mid-write")
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["file.txt"]
