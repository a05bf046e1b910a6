"""The upstream echo server behind the test Envoy: it answers with what it received.

Every response is JSON `{"method", "path", "headers", "body"}` with status 200, so a behaviour
case can check which headers the filter let through, added or removed on the way upstream. It
binds 127.0.0.1 on a port the kernel picks, and records each request it saw.
"""

from __future__ import annotations

import http.server
import json
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field


@dataclass
class EchoUpstream:
    port: int
    seen: list[dict[str, object]] = field(default_factory=list)


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Small responses on a kept-alive connection: without this, Nagle's algorithm and delayed ACKs
    # hold each one for ~40 ms.
    disable_nagle_algorithm = True
    server: _Server

    def _echo(self) -> None:
        body = self._body()
        record: dict[str, object] = {
            "method": self.command,
            "path": self.path,
            "headers": [[k.lower(), v] for k, v in self.headers.items()],
            "body": body.decode("utf-8", "replace"),
        }
        self.server.upstream.seen.append(record)
        payload = json.dumps(record).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":  # a HEAD response has headers only, or the connection breaks
            self.wfile.write(payload)

    def _body(self) -> bytes:
        """The request body, whether sized by content-length or sent chunked (a filter that
        changes the body makes Envoy send it chunked)."""
        if "chunked" in (self.headers.get("transfer-encoding") or "").lower():
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("content-length") or 0)
        return self.rfile.read(length) if length else b""

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _echo

    def log_message(self, format: str, *args: object) -> None:
        pass


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    upstream: EchoUpstream


@dataclass
class StandIn:
    """A local stand-in for a service a filter calls out to: every request gets the same answer."""

    port: int
    status: int
    headers: dict[str, str]
    body: bytes
    delay: float
    seen: list[str] = field(default_factory=list)  # "METHOD path" of each request


class _StandInHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: _StandInServer

    def _answer(self) -> None:
        stand_in = self.server.stand_in
        length = int(self.headers.get("content-length") or 0)
        if length:
            self.rfile.read(length)
        stand_in.seen.append(f"{self.command} {self.path}")
        if stand_in.delay:
            time.sleep(stand_in.delay)  # the service's declared latency
        self.send_response(stand_in.status)
        for name, value in stand_in.headers.items():
            self.send_header(name, value)
        self.send_header("content-length", str(len(stand_in.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(stand_in.body)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _answer

    def log_message(self, format: str, *args: object) -> None:
        pass


class _StandInServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    stand_in: StandIn


@contextmanager
def stand_ins(answers: Mapping[str, tuple[int, dict[str, str], bytes, float]]) -> Iterator[dict[str, StandIn]]:
    """A stand-in on 127.0.0.1 for each service (name -> status, headers, body, delay in seconds), for
    the duration of the block; they are always stopped."""
    with ExitStack() as stack:
        running = {}
        for name, (status, headers, body, delay) in answers.items():
            server = _StandInServer(("127.0.0.1", 0), _StandInHandler)
            server.stand_in = StandIn(server.server_address[1], status, dict(headers), body, delay)
            thread = threading.Thread(target=server.serve_forever, args=(0.05,), name=f"stand-in-{name}", daemon=True)
            thread.start()
            stack.callback(thread.join, 5)
            stack.callback(server.server_close)
            stack.callback(server.shutdown)
            running[name] = server.stand_in
        yield running


@contextmanager
def echo_upstream() -> Iterator[EchoUpstream]:
    """Run the echo server for the duration of the block; it is always stopped."""
    server = _Server(("127.0.0.1", 0), _Handler)
    server.upstream = EchoUpstream(port=server.server_address[1])
    # A short poll interval: shutdown() waits for it, once per behaviour case.
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), name="echo-upstream", daemon=True)
    thread.start()
    try:
        yield server.upstream
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
