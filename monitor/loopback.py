"""A small HTTP server on 127.0.0.1 for the demo, the tests and the benchmarks.

Routes map a path (with or without query string) to a static :class:`Reply` or to a function of
the request. Static replies get an ETag and answer ``If-None-Match`` with 304, like real feeds.
"""

from __future__ import annotations

import hashlib
import socket
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

__all__ = ["LoopbackServer", "Reply", "Request"]


@dataclass(frozen=True, slots=True)
class Reply:
    status: int = 200
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds to wait before answering (slow-server tests)
    etag: bool = True


@dataclass(frozen=True, slots=True)
class Request:
    method: str
    path: str
    query: Mapping[str, list[str]]
    headers: Mapping[str, str]
    body: bytes


Handler = Callable[[Request], Reply]


class LoopbackServer:
    """``with LoopbackServer({"/feed.xml": Reply(body=...)}) as server: server.url("/feed.xml")``.

    A route ``"*"`` answers every path that has no route of its own.
    """

    def __init__(
        self, routes: Mapping[str, Reply | Handler] | None = None, *, host: str = "127.0.0.1"
    ):
        if not host.startswith("127.") and host not in ("localhost", "::1"):
            raise ValueError(f"LoopbackServer only binds loopback addresses, not {host!r}")
        self.routes: dict[str, Reply | Handler] = dict(routes or {})
        self.requests: list[Request] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        server = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # quiet
                return

            def setup(self) -> None:
                super().setup()
                # Headers and body are separate writes: without this, Nagle's algorithm and
                # delayed ACKs add ~40 ms to every small response.
                self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def _handle(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                parts = urlsplit(self.path)
                request = Request(
                    self.command,
                    parts.path,
                    parse_qs(parts.query),
                    {k.lower(): v for k, v in self.headers.items()},
                    body,
                )
                with server._lock:
                    server.requests.append(request)
                    route = (
                        server.routes.get(self.path)
                        or server.routes.get(parts.path)
                        or server.routes.get("*")
                    )
                reply = (
                    Reply(404, b"not found")
                    if route is None
                    else (route if isinstance(route, Reply) else route(request))
                )
                if reply.delay and server._stop.wait(reply.delay):
                    return
                headers = dict(reply.headers)
                status, payload = reply.status, reply.body
                if reply.etag and status == 200:
                    tag = '"' + hashlib.sha1(payload).hexdigest()[:16] + '"'
                    headers.setdefault("ETag", tag)
                    if self.headers.get("if-none-match") == tag:
                        status, payload = 304, b""
                try:
                    self.send_response(status)
                    for key, value in headers.items():
                        self.send_header(key, value)
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    if self.command != "HEAD":
                        self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    return

            do_GET = do_POST = do_HEAD = do_PUT = do_DELETE = _handle

        class _Server(ThreadingHTTPServer):
            def handle_error(self, request: Any, client_address: Any) -> None:
                return  # a client that hung up mid-reply is normal in fault tests

        self._server = _Server((host, 0), _Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name="loopback-http", daemon=True
        )

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def start(self) -> LoopbackServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> LoopbackServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
