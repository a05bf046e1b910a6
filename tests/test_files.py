"""Safe reading (symlinks, size caps, encodings) and writing that never leaves half a file."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from generator.metadata.files import (
    read_bytes,
    read_text,
    remove_directory,
    staged_copy,
    staged_directory,
    write_atomic,
)
from generator.metadata.findings import Position


def test_symlink_is_refused_even_when_it_points_at_a_real_file(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("token")
    link = tmp_path / "filter.yaml"
    link.symlink_to(secret)
    data, findings = read_bytes(link, "catalog/filters/a/filter.yaml", 1000)
    assert data is None
    assert [f.rule.id for f in findings] == ["CAT005"]
    assert (
        findings[0].format() == "catalog/filters/a/filter.yaml: error: expected a regular file, got a symlink [CAT005]"
    )


def test_directory_and_fifo_are_refused(tmp_path: Path) -> None:
    (tmp_path / "dir").mkdir()
    os.mkfifo(tmp_path / "fifo")
    _, findings = read_bytes(tmp_path / "dir", "dir", 10)
    assert "got a directory" in findings[0].message
    _, findings = read_bytes(tmp_path / "fifo", "fifo", 10)
    assert "got a named pipe" in findings[0].message


def test_missing_file(tmp_path: Path) -> None:
    _, findings = read_bytes(tmp_path / "nope", "nope", 10)
    assert [f.rule.id for f in findings] == ["CAT006"]


def test_size_cap_reads_no_more_than_the_cap(tmp_path: Path) -> None:
    path = tmp_path / "big"
    path.write_bytes(b"x" * 5000)
    data, findings = read_bytes(path, "big", 4096)
    assert data is None
    assert findings[0].rule.id == "CAT001"
    assert findings[0].message == "expected at most 4.0 KiB, got 4.9 KiB"


def test_invalid_utf8_names_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "README.md"
    path.write_bytes(b"line one\nab\xffcd\n")
    text, findings = read_text(path, "README.md", 1000)
    assert text is None
    assert findings[0].rule.id == "CAT007"
    assert findings[0].position == Position(2, 3)
    assert "0xff" in findings[0].message


def test_write_atomic_replaces_whole_file_and_leaves_no_temp(tmp_path: Path) -> None:
    path = tmp_path / "a" / "f.txt"
    write_atomic(path, "one")
    write_atomic(path, b"two")
    assert path.read_text() == "two"
    assert sorted(p.name for p in path.parent.iterdir()) == ["f.txt"]


def test_staged_directory_appears_only_on_success(tmp_path: Path) -> None:
    target = tmp_path / "filters" / "x"

    def interrupted() -> None:
        with staged_directory(target) as staging:
            (staging / "filter.yaml").write_text("half")
            raise RuntimeError("interrupted")

    with pytest.raises(RuntimeError):
        interrupted()
    assert not target.exists()
    assert list(target.parent.iterdir()) == []
    with staged_directory(target) as staging:
        (staging / "filter.yaml").write_text("whole")
    assert (target / "filter.yaml").read_text() == "whole"


def test_staged_copy_keeps_original_on_failure(tmp_path: Path) -> None:
    target = tmp_path / "x"
    target.mkdir()
    (target / "f").write_text("original")

    def interrupted() -> None:
        with staged_copy(target) as staging:
            (staging / "f").write_text("changed")
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        interrupted()
    assert (target / "f").read_text() == "original"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x"]
    with staged_copy(target) as staging:
        (staging / "f").write_text("changed")
    assert (target / "f").read_text() == "changed"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x"]


def test_remove_directory(tmp_path: Path) -> None:
    target = tmp_path / "x"
    (target / "src").mkdir(parents=True)
    (target / "src" / "a").write_text("a")
    remove_directory(target)
    assert list(tmp_path.iterdir()) == []


def test_written_files_keep_or_get_ordinary_permissions(tmp_path: Path) -> None:
    path = tmp_path / "f.yaml"
    write_atomic(path, "new")
    assert path.stat().st_mode & 0o777 == 0o666 & ~_umask()
    path.chmod(0o640)
    write_atomic(path, "changed")
    assert path.stat().st_mode & 0o777 == 0o640
    target = tmp_path / "dir"
    with staged_directory(target) as staging:
        (staging / "f").write_text("x")
    assert target.stat().st_mode & 0o777 == 0o777 & ~_umask()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
