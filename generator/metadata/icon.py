"""A filter's optional icon: a small PNG in its directory, shown on cards and its page.

PNG only: the site serves icons from its own origin, and an SVG there could carry script. The
signature, the header and the size are checked; the bytes are never decoded further.
"""

from __future__ import annotations

import struct
from pathlib import Path, PurePosixPath

from generator.metadata.files import KIB, read_bytes
from generator.metadata.findings import Finding

MAX_ICON_BYTES = 64 * KIB
MAX_ICON_PIXELS = 1024
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def load_icon(directory: Path, display: str, relative: str) -> tuple[bytes | None, list[Finding], str | None]:
    """The icon's bytes, or None with file findings or a message saying what is wrong with it."""
    path = directory / PurePosixPath(relative)
    try:
        inside = path.resolve().is_relative_to(directory.resolve())
    except OSError:
        inside = False
    if not inside:
        return None, [], f"expected a path inside the filter's directory, got '{relative}'"
    data, findings = read_bytes(path, f"{display}/{relative}", MAX_ICON_BYTES)
    if data is None:
        return None, findings, None
    problem = png_problem(data)
    return (None, [], problem) if problem else (data, [], None)


def png_problem(data: bytes) -> str | None:
    """What keeps `data` from being a usable icon, or None."""
    if not data.startswith(PNG_SIGNATURE) or data[12:16] != b"IHDR" or len(data) < 24:
        return f"expected a PNG image, got {len(data)} bytes starting {data[:8]!r}"
    width, height = struct.unpack(">II", data[16:24])
    if not (0 < width <= MAX_ICON_PIXELS and 0 < height <= MAX_ICON_PIXELS):
        return f"expected at most {MAX_ICON_PIXELS}x{MAX_ICON_PIXELS} pixels, got {width}x{height}"
    return None
