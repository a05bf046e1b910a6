"""Prove generator.binaries.fetch against real servers on 127.0.0.1.

Every server is a ThreadingHTTPServer on a free port, plain or wrapped in TLS with a certificate
from a test CA (trustme). Its routes are small functions that write the response by hand, so a
test can make the server redirect, lie about its size, trickle or hang. No other network is used.
"""

from __future__ import annotations

import contextlib
import hashlib
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import trustme

from generator.binaries.fetch import FetchError, FetchPolicy, check_url, download

BODY = bytes(range(256)) * 800  # 200 KiB: several reads, so progress is reported more than once
SHORT = 0.3  # the timeout of the tests about deadlines
SLACK = 1.0  # how much later than its deadline a download may give up


class Handler(BaseHTTPRequestHandler):
    server: LocalServer

    def do_GET(self) -> None:
        self.server.paths.append(self.path)
        route = self.server.routes.get(self.path, respond(b"not found", status=404))
        with contextlib.suppress(OSError):  # the client hung up, which is what several tests are about
            route(self)

    def log_message(self, format: str, *args: object) -> None:
        pass


Route = Callable[[Handler], None]


class LocalServer(ThreadingHTTPServer):
    """An HTTP(S) server on 127.0.0.1 that records the paths it was asked for."""

    daemon_threads = True

    def __init__(self, routes: dict[str, Route], tls: ssl.SSLContext | None) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.routes = routes
        self.paths: list[str] = []
        self.stopping = threading.Event()
        self.scheme = "https" if tls else "http"
        if tls:
            # The handshake happens in the handler's thread, so a client that refuses the
            # certificate cannot block the accepting loop.
            self.socket = tls.wrap_socket(self.socket, server_side=True, do_handshake_on_connect=False)

    def url(self, path: str) -> str:
        host, port = self.server_address[:2]
        return f"{self.scheme}://{host!s}:{port}{path}"

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a refused handshake is the point of some tests


Serve = Callable[..., LocalServer]


@pytest.fixture
def serve() -> Iterator[Serve]:
    """Start servers with `serve(routes, tls=context)`; all of them stop when the test ends."""
    started: list[tuple[LocalServer, threading.Thread]] = []

    def start(routes: dict[str, Route], *, tls: ssl.SSLContext | None = None) -> LocalServer:
        server = LocalServer(routes, tls)
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
        thread.start()
        started.append((server, thread))
        return server

    try:
        yield start
    finally:
        for server, thread in started:
            server.stopping.set()
            server.shutdown()
            server.server_close()
            thread.join()


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


def server_context(cert: trustme.LeafCert) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(context)
    return context


@pytest.fixture(scope="module")
def tls(ca: trustme.CA) -> ssl.SSLContext:
    """A server context whose certificate is for 127.0.0.1, issued by `ca`."""
    return server_context(ca.issue_cert("127.0.0.1"))


@pytest.fixture
def ca_file(ca: trustme.CA, tmp_path: Path) -> str:
    path = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return str(path)


def respond(body: bytes, *, status: int = 200, headers: dict[str, str] | None = None) -> Route:
    def route(handler: Handler) -> None:
        handler.send_response(status)
        for name, value in {"Content-Length": str(len(body)), **(headers or {})}.items():
            handler.send_header(name, value)
        handler.end_headers()
        handler.wfile.write(body)

    return route


def redirect(location: str, status: int = 302) -> Route:
    return respond(b"", status=status, headers={"Location": location})


def raw(data: bytes, *, then_hang: bool = False) -> Route:
    """Send `data` as the whole response, status line included; then close, or hang until the test ends."""

    def route(handler: Handler) -> None:
        handler.wfile.write(data)
        if then_hang:
            handler.server.stopping.wait(10)

    return route


def trickle(head: bytes) -> Route:
    """Send `head`, then one byte every 50 ms for 5 s, far past any deadline in these tests."""

    def route(handler: Handler) -> None:
        handler.wfile.write(head)
        for _ in range(100):
            if handler.server.stopping.wait(0.05):
                return
            handler.wfile.write(b"a")

    return route


def chunked(body: bytes, chunk_size: int = 4096) -> Route:
    """Send `body` with chunked encoding, so the client cannot know its size in advance."""

    def route(handler: Handler) -> None:
        handler.wfile.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n")
        for start in range(0, len(body), chunk_size):
            chunk = body[start : start + chunk_size]
            handler.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        handler.wfile.write(b"0\r\n\r\n")

    return route


def refused(url: str, policy: FetchPolicy, **kwargs: object) -> str:
    """The message of the FetchError that `download` raises; any other exception fails the test."""
    with pytest.raises(FetchError) as info:
        download(url, policy, **kwargs)  # type: ignore[arg-type]
    message = str(info.value)
    assert message
    assert "\n" not in message
    assert "Traceback" not in message
    return message


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# Plain http and https


def test_plain_http_is_refused_without_allow_http(serve: Serve) -> None:
    server = serve({"/f.wasm": respond(BODY)})
    message = refused(server.url("/f.wasm"), FetchPolicy(allow_private_hosts=True))
    assert "--allow-http" in message
    assert server.paths == []


def test_plain_http_is_downloaded_with_allow_http(serve: Serve) -> None:
    server = serve({"/f.wasm": respond(BODY)})
    assert download(server.url("/f.wasm"), FetchPolicy(allow_private_hosts=True, allow_http=True)) == BODY


def test_https_is_downloaded_from_a_server_the_ca_file_trusts(serve: Serve, tls: ssl.SSLContext, ca_file: str) -> None:
    server = serve({"/f.wasm": respond(BODY)}, tls=tls)
    assert download(server.url("/f.wasm"), FetchPolicy(allow_private_hosts=True, ca_file=ca_file)) == BODY


@pytest.mark.parametrize("trust", ["system store", "another CA"])
def test_https_server_with_an_untrusted_certificate_is_refused(
    serve: Serve, tls: ssl.SSLContext, tmp_path: Path, trust: str
) -> None:
    server = serve({"/f.wasm": respond(BODY)}, tls=tls)
    ca_file = None
    if trust == "another CA":
        ca_file = str(tmp_path / "other-ca.pem")
        trustme.CA().cert_pem.write_to_path(ca_file)
    message = refused(server.url("/f.wasm"), FetchPolicy(allow_private_hosts=True, ca_file=ca_file))
    assert "certificate" in message.lower()
    assert server.paths == []


def test_https_server_with_a_certificate_for_another_host_is_refused(
    serve: Serve, ca: trustme.CA, ca_file: str
) -> None:
    server = serve({"/f.wasm": respond(BODY)}, tls=server_context(ca.issue_cert("example.org")))
    message = refused(server.url("/f.wasm"), FetchPolicy(allow_private_hosts=True, ca_file=ca_file))
    assert "certificate" in message.lower()
    assert server.paths == []


# Redirects


@pytest.mark.parametrize("allow_http", [False, True])
@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_https_redirect_to_plain_http_is_refused(
    serve: Serve, tls: ssl.SSLContext, ca_file: str, status: int, allow_http: bool
) -> None:
    plain = serve({"/f.wasm": respond(BODY)})
    secure = serve({"/f.wasm": redirect(plain.url("/f.wasm"), status)}, tls=tls)
    message = refused(
        secure.url("/f.wasm"), FetchPolicy(allow_private_hosts=True, ca_file=ca_file, allow_http=allow_http)
    )
    assert plain.url("/f.wasm") in message
    assert secure.paths == ["/f.wasm"]
    assert plain.paths == []


@pytest.mark.parametrize(
    "target",
    ["file:///etc/passwd", "ftp://127.0.0.1/f.wasm", "https://user:secret@{host}/f.wasm", "https://a..b/f.wasm"],
)
def test_redirect_to_another_unsafe_url_is_refused(
    serve: Serve, tls: ssl.SSLContext, ca_file: str, target: str
) -> None:
    routes = {"/f.wasm": respond(BODY)}
    server = serve(routes, tls=tls)
    routes["/start"] = redirect(target.format(host=server.url("").removeprefix("https://")))
    refused(server.url("/start"), FetchPolicy(allow_private_hosts=True, ca_file=ca_file))
    assert server.paths == ["/start"]


def test_https_redirect_to_https_is_followed(serve: Serve, tls: ssl.SSLContext, ca_file: str) -> None:
    server = serve({"/old.wasm": redirect("/new.wasm", 301), "/new.wasm": respond(BODY)}, tls=tls)
    assert download(server.url("/old.wasm"), FetchPolicy(allow_private_hosts=True, ca_file=ca_file)) == BODY
    assert server.paths == ["/old.wasm", "/new.wasm"]


def test_redirect_loop_gives_up(serve: Serve, tls: ssl.SSLContext, ca_file: str) -> None:
    server = serve({"/loop": redirect("/loop")}, tls=tls)
    assert "redirects" in refused(server.url("/loop"), FetchPolicy(allow_private_hosts=True, ca_file=ca_file))
    assert 1 < len(server.paths) <= 10


# Size


def test_announced_size_above_the_cap_is_refused_before_the_body(serve: Serve) -> None:
    # The body never comes: a client that waited for it would time out instead.
    server = serve({"/f.wasm": raw(b"HTTP/1.1 200 OK\r\nContent-Length: 1000000000\r\n\r\n", then_hang=True)})
    started = time.monotonic()
    message = refused(
        server.url("/f.wasm"), FetchPolicy(allow_private_hosts=True, allow_http=True, max_bytes=1000, timeout=5)
    )
    assert time.monotonic() - started < SLACK
    assert "at most 1000 bytes" in message
    assert "1000000000" in message


def test_chunked_body_above_the_cap_is_stopped(serve: Serve) -> None:
    server = serve({"/f.wasm": chunked(BODY * 20)})
    message = refused(
        server.url("/f.wasm"), FetchPolicy(allow_private_hosts=True, allow_http=True, max_bytes=64 * 1024)
    )
    assert f"at most {64 * 1024} bytes" in message


def test_chunked_body_under_the_cap_is_downloaded(serve: Serve) -> None:
    server = serve({"/f.wasm": chunked(BODY)})
    assert (
        download(server.url("/f.wasm"), FetchPolicy(allow_private_hosts=True, allow_http=True, max_bytes=len(BODY)))
        == BODY
    )


def test_body_longer_than_announced_is_cut_at_the_announced_length(serve: Serve) -> None:
    server = serve({"/f.wasm": raw(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n" + BODY)})
    assert (
        download(server.url("/f.wasm"), FetchPolicy(allow_private_hosts=True, allow_http=True, max_bytes=1000))
        == BODY[:10]
    )


def test_body_shorter_than_announced_is_refused(serve: Serve) -> None:
    server = serve({"/f.wasm": raw(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n" + BODY[:10])})
    refused(server.url("/f.wasm"), FetchPolicy(allow_private_hosts=True, allow_http=True))


# Deadlines


@pytest.mark.parametrize(
    ("head", "secure"),
    [
        pytest.param(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n", False, id="body"),
        pytest.param(b"HTTP/1.1 200 OK\r\nX-Slow: ", False, id="headers"),
        pytest.param(b"HTTP/1.1 200 OK\r\nX-Slow: ", True, id="headers over https"),
    ],
)
def test_trickling_server_is_given_up_on_at_the_deadline(
    serve: Serve, tls: ssl.SSLContext, ca_file: str, head: bytes, secure: bool
) -> None:
    server = serve({"/f.wasm": trickle(head)}, tls=tls if secure else None)
    started = time.monotonic()
    message = refused(
        server.url("/f.wasm"), FetchPolicy(allow_private_hosts=True, allow_http=True, ca_file=ca_file, timeout=SHORT)
    )
    assert time.monotonic() - started < SHORT + SLACK
    assert f"longer than {SHORT:g} s" in message


def test_server_that_reads_the_request_and_never_answers_is_given_up_on(serve: Serve) -> None:
    server = serve({"/f.wasm": raw(b"", then_hang=True)})
    started = time.monotonic()
    message = refused(server.url("/f.wasm"), FetchPolicy(allow_private_hosts=True, allow_http=True, timeout=SHORT))
    assert time.monotonic() - started < SHORT + SLACK
    assert f"{SHORT:g} s" in message


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port whose connections the kernel completes but nobody ever reads or answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_connection_that_is_never_answered_is_given_up_on(silent_port: int, ca_file: str, scheme: str) -> None:
    started = time.monotonic()
    policy = FetchPolicy(allow_private_hosts=True, allow_http=True, ca_file=ca_file, timeout=SHORT)
    message = refused(f"{scheme}://127.0.0.1:{silent_port}/f.wasm", policy)
    assert time.monotonic() - started < SHORT + SLACK
    assert f"{SHORT:g} s" in message


# HTTP errors and connection failures


@pytest.mark.parametrize("status", [404, 500])
def test_error_status_is_refused_and_named(serve: Serve, status: int) -> None:
    server = serve({"/f.wasm": respond(b"oops", status=status)})
    assert str(status) in refused(server.url("/f.wasm"), FetchPolicy(allow_private_hosts=True, allow_http=True))


def test_connection_refused_is_a_fetch_error() -> None:
    url = f"http://127.0.0.1:{free_port()}/f.wasm"
    assert url in refused(url, FetchPolicy(allow_private_hosts=True, allow_http=True, timeout=SHORT))


# sha256


def test_expected_sha256_that_matches_returns_the_bytes(serve: Serve) -> None:
    server = serve({"/f.wasm": respond(BODY)})
    digest = hashlib.sha256(BODY).hexdigest()
    assert (
        download(server.url("/f.wasm"), FetchPolicy(allow_private_hosts=True, allow_http=True), expected_sha256=digest)
        == BODY
    )


def test_expected_sha256_that_differs_is_refused(serve: Serve) -> None:
    server = serve({"/f.wasm": respond(BODY)})
    wrong = hashlib.sha256(b"something else").hexdigest()
    message = refused(
        server.url("/f.wasm"), FetchPolicy(allow_private_hosts=True, allow_http=True), expected_sha256=wrong
    )
    assert wrong in message
    assert hashlib.sha256(BODY).hexdigest() in message


# URLs


@pytest.mark.parametrize("allow_http", [False, True])
@pytest.mark.parametrize(
    "url",
    [
        "https://user:secret@127.0.0.1/f.wasm",
        "https://user@127.0.0.1/f.wasm",
        "file:///etc/passwd",
        "javascript:alert(1)",
        "ftp://127.0.0.1/f.wasm",
        "data:application/wasm;base64,AGFzbQ==",
        "https:///f.wasm",
        "127.0.0.1/f.wasm",
        "",
        "https://[::1/f.wasm",
        "https://127.0.0.1:abc/f.wasm",
        "https://127.0.0.1:99999/f.wasm",
        "https://127.0.0.1/\x7f.wasm",
        "https://a..b/f.wasm",
    ],
)
def test_check_url_refuses(url: str, allow_http: bool) -> None:
    with pytest.raises(FetchError) as info:
        check_url(url, FetchPolicy(allow_private_hosts=True, allow_http=allow_http))
    assert str(info.value).startswith("expected ")


@pytest.mark.parametrize(
    ("url", "allow_http"),
    [
        ("https://example.org/f.wasm", False),
        ("HTTPS://example.org:8443/releases/1.0.0/f.wasm?x=1", False),
        ("https://[::1]/f.wasm", False),
        ("http://127.0.0.1:8080/f.wasm", True),
    ],
)
def test_check_url_accepts(url: str, allow_http: bool) -> None:
    check_url(url, FetchPolicy(allow_private_hosts=True, allow_http=allow_http))


@pytest.mark.parametrize("url", ["https://127.0.0.1:abc/f.wasm", "https://127.0.0.1/\x7f.wasm", "https://a..b/f.wasm"])
def test_malformed_url_is_a_fetch_error_before_any_connection(url: str) -> None:
    assert "expected a valid URL" in refused(url, FetchPolicy(allow_private_hosts=True, timeout=SHORT))


def test_ca_file_that_is_not_a_certificate_is_a_fetch_error(serve: Serve, tls: ssl.SSLContext, tmp_path: Path) -> None:
    server = serve({"/f.wasm": respond(BODY)}, tls=tls)
    not_pem = tmp_path / "ca.pem"
    not_pem.write_text("not a certificate", encoding="utf-8")
    for ca_file in (str(not_pem), str(tmp_path / "missing.pem")):
        assert ca_file in refused(server.url("/f.wasm"), FetchPolicy(allow_private_hosts=True, ca_file=ca_file))
    assert server.paths == []


def test_url_with_credentials_is_refused_before_any_request(serve: Serve, tls: ssl.SSLContext, ca_file: str) -> None:
    server = serve({"/f.wasm": respond(BODY)}, tls=tls)
    url = server.url("/f.wasm").replace("https://", "https://user:secret@")
    message = refused(url, FetchPolicy(allow_private_hosts=True, ca_file=ca_file))
    assert "credentials" in message
    assert "secret" not in message
    assert server.paths == []


# Progress


@pytest.mark.parametrize(
    ("route", "total"),
    [pytest.param(respond(BODY), len(BODY), id="announced"), pytest.param(chunked(BODY), None, id="chunked")],
)
def test_progress_counts_up_to_the_total(serve: Serve, route: Route, total: int | None) -> None:
    server = serve({"/f.wasm": route})
    calls: list[tuple[int, int | None]] = []
    data = download(
        server.url("/f.wasm"),
        FetchPolicy(allow_private_hosts=True, allow_http=True),
        progress=lambda n, t: calls.append((n, t)),
    )
    assert data == BODY
    counts = [count for count, _ in calls]
    assert len(counts) > 1
    assert counts == sorted(set(counts))
    assert counts[-1] == len(BODY)
    assert {t for _, t in calls} == {total}


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "10.1.2.3", "169.254.169.254", "[::1]", "192.168.0.1"])
def test_private_hosts_are_refused_by_default(host: str) -> None:
    with pytest.raises(FetchError, match="expected a public host"):
        check_url(f"https://{host}/f.wasm", FetchPolicy())


def test_private_hosts_are_refused_before_any_request(serve: Serve, tls: ssl.SSLContext, ca_file: str) -> None:
    server = serve({"/f.wasm": respond(BODY)}, tls=tls)
    message = refused(server.url("/f.wasm"), FetchPolicy(ca_file=ca_file))
    assert "expected a public host" in message
    assert server.paths == []


def test_the_tests_look_up_no_host_but_this_machine() -> None:
    """tests/conftest.py's no_network: a lookup of another host fails at once, as offline."""
    import socket

    with pytest.raises(socket.gaierror, match="no host but this machine"):
        socket.getaddrinfo("example.org", 443)
    assert socket.getaddrinfo("127.0.0.1", 443)
