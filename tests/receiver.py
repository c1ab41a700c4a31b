"""A local HTTP receiver for tenant callbacks: records each request that arrives whole, answers what it is told."""

from __future__ import annotations

import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit


class QuietServer(ThreadingHTTPServer):
    """A threading server that says nothing when a client hangs up mid-request (a killed worker does)."""

    def handle_error(self, request: object, client_address: object) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)  # type: ignore[arg-type]


class LineTracker:
    """A request's input stream that remembers the last line read, to tell a whole header block from a cut one."""

    def __init__(self, stream: Any) -> None:
        self.stream = stream
        self.last_line = b""

    def readline(self, *args: Any) -> bytes:
        self.last_line = self.stream.readline(*args)
        return self.last_line

    def __getattr__(self, name: str) -> Any:
        return getattr(self.stream, name)


@dataclass
class Received:
    """One request as the receiver saw it."""

    method: str
    path: str
    params: dict[str, str]
    headers: dict[str, str]
    status: int = 200
    at: float = 0.0  # when it arrived whole (time.time())


@dataclass
class Receiver:
    """A loopback HTTP server; set `status` to change what it answers and `delay` to answer slowly.

    With `gate` cleared, each request is held until the gate is set; `arrived` counts the requests that arrived whole
    (held ones too), `most_at_once` the most held or answered at the same time.
    """

    status: int = 200
    delay: float = 0.0
    requests: list[Received] = field(default_factory=list)
    gate: threading.Event = field(default_factory=threading.Event)
    arrived: int = 0
    most_at_once: int = 0
    _at_once: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None

    def __post_init__(self) -> None:
        self.gate.set()

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}/callbacks"

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                super().setup()
                self.rfile = LineTracker(self.rfile)  # type: ignore[assignment]

            def _handle(self) -> None:
                parts = urlsplit(self.path)
                # Headers end with an empty line; at end of input instead, the client stopped mid-headers.
                headers_whole = self.rfile.last_line in (b"\r\n", b"\n")  # type: ignore[attr-defined]
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length and headers_whole else b""
                if not headers_whole or len(raw) < length:
                    # The client died mid-request (a killed worker does): nothing was delivered, so nothing is
                    # recorded, and no one is left to answer.
                    self.close_connection = True
                    return
                body = raw.decode()
                params = dict(parse_qsl(parts.query if self.command == "GET" else body, keep_blank_values=True))
                status = receiver.status
                got = Received(self.command, parts.path, params, dict(self.headers.items()), status, time.time())
                with receiver._lock:
                    receiver.arrived += 1
                    receiver._at_once += 1
                    receiver.most_at_once = max(receiver.most_at_once, receiver._at_once)
                try:
                    receiver.gate.wait()
                    if receiver.delay:
                        time.sleep(receiver.delay)
                    receiver.requests.append(got)
                    self.send_response(status)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                finally:
                    with receiver._lock:
                        receiver._at_once -= 1

            do_GET = do_POST = _handle

            def log_message(self, *args: object) -> None:
                pass

        self._server = QuietServer(("127.0.0.1", 0), Handler)
        # A short poll interval: `stop` waits up to one interval for the serving loop to notice.
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
        return self

    def stop(self) -> None:
        self.gate.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
