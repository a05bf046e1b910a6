"""Prove generator.binaries.store: files addressed by their sha256, re-hashed on every read."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from generator.binaries.store import BinaryStore

DATA = b"\x00asm\x01\x00\x00\x00" + bytes(range(256))
SHA = hashlib.sha256(DATA).hexdigest()


def files_under(root: Path) -> list[Path]:
    return sorted(path for path in root.rglob("*") if path.is_file())


def test_put_then_get_returns_the_bytes(store: BinaryStore) -> None:
    assert store.put(DATA) == SHA
    assert store.get(SHA) == DATA


def test_put_writes_sha256_two_hex_digits_sha_wasm(store: BinaryStore) -> None:
    store.put(DATA)
    expected = store.root / "sha256" / SHA[:2] / f"{SHA}.wasm"
    assert files_under(store.root) == [expected]
    assert expected.read_bytes() == DATA
    assert store.path_for(SHA) == expected


def test_put_twice_leaves_the_file_alone(store: BinaryStore) -> None:
    store.put(DATA)
    before = store.path_for(SHA).stat()
    assert store.put(DATA) == SHA
    after = store.path_for(SHA).stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert files_under(store.root) == [store.path_for(SHA)]


def test_absent_binary_is_none_and_not_had(store: BinaryStore) -> None:
    assert store.get(SHA) is None
    assert not store.has(SHA)
    store.put(b"other bytes")
    assert store.get(SHA) is None
    assert not store.has(SHA)


def test_has_after_put(store: BinaryStore) -> None:
    store.put(DATA)
    assert store.has(SHA)


@pytest.mark.parametrize("corrupt", [DATA[:-1], DATA + b"\x00", b"", b"\xff" + DATA[1:]])
def test_corrupted_file_is_dropped_by_get(store: BinaryStore, corrupt: bytes) -> None:
    store.put(DATA)
    store.path_for(SHA).write_bytes(corrupt)
    assert store.get(SHA) is None
    assert not store.path_for(SHA).exists()
    assert not store.has(SHA)


def test_put_repairs_a_corrupted_file(store: BinaryStore) -> None:
    store.put(DATA)
    store.path_for(SHA).write_bytes(b"tampered")
    assert store.put(DATA) == SHA
    assert store.get(SHA) == DATA


def test_for_repo_uses_catalog_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    elsewhere = tmp_path / "elsewhere"
    monkeypatch.setenv("CATALOG_STORE", str(elsewhere))
    store = BinaryStore.for_repo(tmp_path / "repo")
    assert store.root == elsewhere
    store.put(DATA)
    assert (elsewhere / "sha256" / SHA[:2] / f"{SHA}.wasm").read_bytes() == DATA
    assert not (tmp_path / "repo").exists()


@pytest.mark.parametrize("value", [None, ""])
def test_for_repo_defaults_to_catalog_cache_in_the_repository(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, value: str | None
) -> None:
    if value is None:
        monkeypatch.delenv("CATALOG_STORE", raising=False)
    else:
        monkeypatch.setenv("CATALOG_STORE", value)
    repo = tmp_path / "repo"
    store = BinaryStore.for_repo(repo)
    assert store.root == repo / ".catalog-cache" / "store"
    store.put(DATA)
    assert (repo / ".catalog-cache" / "store" / "sha256" / SHA[:2] / f"{SHA}.wasm").read_bytes() == DATA


@pytest.mark.parametrize("bad", ["../../etc/x", "ABC", "0" * 63, "g" * 64])
def test_only_sha256_names_are_addressable(tmp_path: Path, bad: str) -> None:
    with pytest.raises(ValueError, match="expected a sha256"):
        BinaryStore(tmp_path).get(bad)
