"""Downloading filter binaries: https only, capped in size and time, checked against a sha256.

The URL comes from a stranger, so the download refuses plain http (unless the caller explicitly
allows it for a local mirror), refuses redirects from https to plain http, stops at a size cap even when the
server lies about Content-Length, and gives up after a deadline even when the server trickles.
"""

from __future__ import annotations

import contextlib
import hashlib
import ipaddress
import socket
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:
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
    """Whether plain http URLs are allowed, for a local mirror; https is always allowed."""
    max_bytes: int = DEFAULT_MAX_BYTES
    """The largest download accepted, whatever the server announces."""
    timeout: float = DEFAULT_TIMEOUT
    """Seconds the whole download may take, connecting and redirects included."""
    ca_file: str | None = None
    """A PEM file of the certificate authorities to trust instead of the system's (a private mirror, tests)."""
    allow_private_hosts: bool = False
    """Whether hosts on loopback, private or link-local addresses may be contacted. Off by default:
    a URL from a pull request must not make CI probe its own network (cloud metadata, admin ports)."""


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
        shown = url.replace(parts.netloc, "***@" + parts.netloc.rsplit("@", 1)[-1], 1)
        raise FetchError(f"expected a URL without credentials, got '{shown}'")
    # httpx is imported where it is used: it takes longer to import than the command line takes to
    # start, and the command line reads this module's defaults for its help.
    import httpx

    # What urlsplit lets through but the download would crash on: a port that is not a number
    # in range, a control character, a host name that is not valid IDNA (an empty label, "a..b").
    try:
        if parts.port == 0:
            raise FetchError(f"expected a URL with a port from 1 to 65535, got '{url}'")
        httpx.URL(url)
        parts.hostname.encode("idna")
    except (ValueError, httpx.InvalidURL) as err:
        raise FetchError(f"expected a valid URL, got {url!r} ({err})") from None
    if not policy.allow_private_hosts:
        _refuse_private_host(parts.hostname, parts.port or (443 if parts.scheme == "https" else 80))


def _refuse_private_host(host: str, port: int) -> None:
    """Raise FetchError if `host` is, or resolves to, an address that is not on the public internet.

    The name is resolved again when connecting, so this is a guard against mistakes and casual
    probing, not against a hostile DNS server; CI runners should also be network-isolated.
    """
    try:
        infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError) as err:
        raise FetchError(f"cannot resolve host '{host}': {err}") from None
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if not address.is_global:
            raise FetchError(f"expected a public host, got '{host}' ({address}); pass --allow-http for a local mirror")


def download(
    url: str,
    policy: FetchPolicy,
    *,
    expected_sha256: str | None = None,
    progress: Progress | None = None,
) -> bytes:
    """The bytes at `url`, or FetchError."""
    import httpx

    check_url(url, policy)

    https_first = urlsplit(url).scheme == "https"

    def check_redirect(request: httpx.Request) -> None:
        target = str(request.url)
        check_url(target, policy)
        # --allow-http admits an http mirror; it never lets an https download fall back to http.
        if https_first and request.url.scheme != "https":
            raise FetchError(f"expected the redirect from {url} to stay on https, got '{target}'")

    verify: ssl.SSLContext | bool = True
    if policy.ca_file:
        try:
            verify = ssl.create_default_context(cafile=policy.ca_file)
        except OSError as err:  # ssl.SSLError is an OSError
            raise FetchError(f"expected a PEM file of certificate authorities at {policy.ca_file} ({err})") from None
    too_slow = f"download of {url} took longer than {policy.timeout:g} s; stopped"
    watchdog = _Watchdog(policy.timeout)
    try:
        with (
            watchdog,
            httpx.Client(
                follow_redirects=True,
                max_redirects=5,
                timeout=httpx.Timeout(policy.timeout),
                headers={"user-agent": USER_AGENT},
                event_hooks={"request": [check_redirect]},
                trust_env=False,
                verify=verify,
            ) as client,
            client.stream("GET", url, extensions={"trace": watchdog.trace}) as response,
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
                if watchdog.expired:
                    raise FetchError(too_slow)
                chunks.append(chunk)
                if progress is not None:
                    progress(received, total)
    except httpx.TimeoutException:
        raise FetchError(f"no answer from {url} within {policy.timeout:g} s") from None
    except httpx.TooManyRedirects:
        raise FetchError(f"too many redirects from {url}") from None
    except httpx.HTTPError as err:
        if watchdog.expired:
            raise FetchError(too_slow) from None
        raise FetchError(f"could not download {url}: {err}") from None
    data = b"".join(chunks)
    if expected_sha256 is not None:
        actual = hashlib.sha256(data).hexdigest()
        if actual != expected_sha256:
            raise FetchError(f"expected sha256 {expected_sha256}, got {actual}; the bytes were refused")
    return data


class _Watchdog:
    """Cuts a download's connections when its time is up.

    httpx's timeouts bound each read, not the whole response, so a server that trickles its
    headers one byte at a time would never time out. At the deadline the watchdog shuts down the
    sockets, which ends the blocked read at once.
    """

    def __init__(self, seconds: float) -> None:
        self.expired = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True

    def __enter__(self) -> _Watchdog:
        self._timer.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._timer.cancel()
        with self._lock:
            for sock in self._sockets:
                sock.close()
            self._sockets.clear()

    def trace(self, event: str, info: dict[str, Any]) -> None:
        """httpcore's trace hook: keep hold of every connection the download opens."""
        if event != "connection.connect_tcp.complete":
            return
        # A duplicate, because wrapping the socket in TLS detaches the original object.
        sock = info["return_value"].get_extra_info("socket").dup()
        with self._lock:
            self._sockets.append(sock)
            if self.expired:
                _shut(sock)

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            for sock in self._sockets:
                _shut(sock)


def _shut(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):  # already closed by the other end
        sock.shutdown(socket.SHUT_RDWR)


def _content_length(response: httpx.Response) -> int | None:
    value = response.headers.get("content-length")
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None
