"""Downloading filter binaries: https only, capped in size and time, checked against a sha256.

The URL comes from a stranger, so the download refuses plain http (unless the caller explicitly
allows it for a local mirror), refuses redirects to plain http, stops at a size cap even when the
server lies about Content-Length, and gives up after a deadline even when the server trickles.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx

DEFAULT_MAX_BYTES = 32 * 1024 * 1024
DEFAULT_TIMEOUT = 60.0
USER_AGENT = "envoy-wasm-catalog"

Progress = Callable[[int, int | None], None]  # (bytes so far, total if known)


class FetchError(Exception):
    """A download failed; the message says why in words a user can act on."""


@dataclass(frozen=True)
class FetchPolicy:
    """What a download may do."""

    allow_http: bool = False
    max_bytes: int = DEFAULT_MAX_BYTES
    timeout: float = DEFAULT_TIMEOUT


def check_url(url: str, policy: FetchPolicy) -> None:
    """Raise FetchError unless `url` is one this policy allows."""
    try:
        parts = urlsplit(url)
    except ValueError as err:
        raise FetchError(f"expected a URL, got '{url}' ({err})") from None
    allowed = ("https", "http") if policy.allow_http else ("https",)
    if parts.scheme not in allowed:
        hint = " (pass --allow-http for a local mirror)" if parts.scheme == "http" else ""
        raise FetchError(f"expected an https URL, got '{url}'{hint}")
    if not parts.hostname:
        raise FetchError(f"expected a URL with a host, got '{url}'")
    if parts.username or parts.password:
        raise FetchError(f"expected a URL without credentials, got '{url}'")


def download(
    url: str,
    policy: FetchPolicy,
    *,
    expected_sha256: str | None = None,
    progress: Progress | None = None,
) -> bytes:
    """The bytes at `url`, or FetchError."""
    check_url(url, policy)
    deadline = time.monotonic() + policy.timeout

    def check_redirect(request: httpx.Request) -> None:
        check_url(str(request.url), policy)

    try:
        with (
            httpx.Client(
                follow_redirects=True,
                max_redirects=5,
                timeout=httpx.Timeout(policy.timeout),
                headers={"user-agent": USER_AGENT},
                event_hooks={"request": [check_redirect]},
                trust_env=False,
            ) as client,
            client.stream("GET", url) as response,
        ):
            if response.status_code != 200:
                raise FetchError(f"expected HTTP 200 from {url}, got {response.status_code} {response.reason_phrase}")
            total = _content_length(response)
            if total is not None and total > policy.max_bytes:
                raise FetchError(f"expected at most {policy.max_bytes} bytes, server announces {total}")
            chunks: list[bytes] = []
            received = 0
            for chunk in response.iter_bytes():
                received += len(chunk)
                if received > policy.max_bytes:
                    raise FetchError(f"expected at most {policy.max_bytes} bytes, got more; download stopped")
                if time.monotonic() > deadline:
                    raise FetchError(f"download took longer than {policy.timeout:g} s; stopped")
                chunks.append(chunk)
                if progress is not None:
                    progress(received, total)
    except httpx.TimeoutException:
        raise FetchError(f"no answer from {url} within {policy.timeout:g} s") from None
    except httpx.TooManyRedirects:
        raise FetchError(f"too many redirects from {url}") from None
    except httpx.HTTPError as err:
        raise FetchError(f"could not download {url}: {err}") from None
    data = b"".join(chunks)
    if expected_sha256 is not None:
        actual = hashlib.sha256(data).hexdigest()
        if actual != expected_sha256:
            raise FetchError(f"expected sha256 {expected_sha256}, got {actual}; the bytes were refused")
    return data


def _content_length(response: httpx.Response) -> int | None:
    value = response.headers.get("content-length")
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None
