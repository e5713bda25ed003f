"""Whole files or none: the atomic writer and copier leave no half file and say one line on failure."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from alpool.core.atomic_files import atomic_copy, atomic_write_bytes
from alpool.core.errors import NotWritableError


def test_a_copy_keeps_bytes_and_times_and_a_failed_one_leaves_no_temporary_file(tmp_path: Path) -> None:
    source = tmp_path / "photo.jpg"
    source.write_bytes(b"\xff\xd8 not really a jpeg")
    os.utime(source, (1_600_000_000, 1_600_000_000))
    atomic_copy(source, tmp_path / "out" / "a" / "photo.jpg")
    copied = tmp_path / "out" / "a" / "photo.jpg"
    assert copied.read_bytes() == source.read_bytes() and copied.stat().st_mtime == 1_600_000_000
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where a folder should be")
    with pytest.raises(NotWritableError, match=r"cannot copy to .*blocked/photo.jpg .*make .*out writable"):
        atomic_copy(source, blocked / "photo.jpg", writable=tmp_path / "out")
    with pytest.raises(NotWritableError, match=r"cannot copy to .*missing.jpg"):
        atomic_copy(tmp_path / "gone.jpg", tmp_path / "out" / "missing.jpg")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a"]  # no temporary file, no half copy


def test_a_failed_write_keeps_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "labels.csv"
    atomic_write_bytes(target, b"old")
    with pytest.raises(NotWritableError, match="cannot write"):
        atomic_write_bytes(target / "under-a-file", b"new")
    assert target.read_bytes() == b"old" and not list(tmp_path.glob(".*.tmp-*"))


def test_export_copies_clear_what_a_killed_copy_left_and_keep_a_running_ones(tmp_path: Path) -> None:
    from types import SimpleNamespace

    from alpool.labelling.export import ExportRow, copy_files

    (tmp_path / "photos" / "a").mkdir(parents=True)
    (tmp_path / "photos" / "a" / "cat.jpg").write_bytes(b"cat")
    dest = tmp_path / "copies"
    (dest / "a").mkdir(parents=True)
    dead = dest / "a" / ".cat.jpg.tmp-999999"  # no such process: a killed copy's half file
    dead.write_bytes(b"c")
    running = dest / "a" / f".dog.jpg.tmp-{os.getppid()}"  # a live process's copy in progress
    running.write_bytes(b"d")
    rows = [ExportRow(rank=1, index=0, path="a/cat.jpg", score=1.0)]
    assert copy_files(rows, SimpleNamespace(root=str(tmp_path / "photos")), dest) == 1  # type: ignore[arg-type]
    assert (dest / "a" / "cat.jpg").read_bytes() == b"cat" and not dead.exists() and running.exists()
