"""The run's self-signed certificate."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from generator.perf.tls import TlsError, self_signed
from tests.conftest import require


def test_a_certificate_for_127_0_0_1(tmp_path: Path) -> None:
    require(None if shutil.which("openssl") else "the openssl command is not installed (Debian: openssl)")
    files = self_signed(tmp_path)
    text = subprocess.run(
        ["openssl", "x509", "-in", str(files.certificate), "-noout", "-text"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "CN = 127.0.0.1" in text
    assert "IP Address:127.0.0.1" in text
    assert "prime256v1" in text or "P-256" in text
    assert files.private_key.read_text().startswith("-----BEGIN PRIVATE KEY-----")


def test_without_openssl_the_error_says_what_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(TlsError, match="apt-get install openssl"):
        self_signed(tmp_path)
