"""A self-signed certificate for one benchmark run, made with the `openssl` command.

The key and certificate live in the run's temporary directory and go with it. Load generators do
not verify the server's certificate, so the certificate only has to be well formed: an ECDSA P-256
key (cheap handshakes, as a production edge would use), valid for a day, for 127.0.0.1.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from generator.perf.target import TlsFiles


class TlsError(Exception):
    """The certificate could not be made; the message says why."""


def self_signed(directory: Path) -> TlsFiles:
    """Write `cert.pem` and `key.pem` into `directory`."""
    openssl = shutil.which("openssl")
    if openssl is None:
        raise TlsError("a TLS profile needs the `openssl` command (Debian: apt-get install openssl)")
    files = TlsFiles(directory / "cert.pem", directory / "key.pem")
    command = [
        openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", str(files.private_key), "-out", str(files.certificate), "-days", "1",
        "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
    ]  # fmt: skip
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired) as err:
        raise TlsError(f"openssl did not run: {err}") from None
    if done.returncode != 0:
        raise TlsError(f"openssl could not make a certificate: {done.stderr.strip()[-400:]}")
    return files
