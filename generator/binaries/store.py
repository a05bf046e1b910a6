"""The local content-addressed store of filter binaries.

Binaries are never committed: the catalog records their sha256, and the bytes live here under
`sha256/<first two hex>/<sha256>.wasm`. Every read re-hashes the file, so a corrupted or tampered
entry is dropped instead of being trusted.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

from generator.metadata.files import write_atomic

STORE_ENV = "CATALOG_STORE"
DEFAULT_STORE = Path(".catalog-cache") / "store"


class BinaryStore:
    """Files addressed by the sha256 of their content."""

    def __init__(self, root: Path) -> None:
        self.root = root

    @classmethod
    def for_repo(cls, repo_root: Path) -> BinaryStore:
        """The store named by $CATALOG_STORE, or `.catalog-cache/store` in the repository."""
        configured = os.environ.get(STORE_ENV)
        return cls(Path(configured) if configured else repo_root / DEFAULT_STORE)

    def path_for(self, sha256: str) -> Path:
        if not re.fullmatch(r"[0-9a-f]{64}", sha256):
            raise ValueError(f"expected a sha256 (64 lower-case hex characters), got {sha256!r}")
        return self.root / "sha256" / sha256[:2] / f"{sha256}.wasm"

    def has(self, sha256: str) -> bool:
        """Whether the store holds a file for `sha256` (not re-hashed; `get` checks the bytes)."""
        return self.path_for(sha256).is_file()

    def get(self, sha256: str) -> bytes | None:
        """The bytes whose sha256 is `sha256`, or None if absent (or present but corrupted)."""
        path = self.path_for(sha256)
        try:
            data = path.read_bytes()
        except (FileNotFoundError, NotADirectoryError):
            return None
        if hashlib.sha256(data).hexdigest() != sha256:
            path.unlink(missing_ok=True)
            return None
        return data

    def put(self, data: bytes) -> str:
        """Store `data` and return its sha256. Storing the same bytes twice is a no-op.

        An entry that is there but corrupted is replaced (`get` drops it), so storing the bytes
        again is how a user repairs the store.
        """
        sha256 = hashlib.sha256(data).hexdigest()
        if self.get(sha256) is None:
            write_atomic(self.path_for(sha256), data)
        return sha256
