"""The app as the web server calls it: a request reaches Flask only once all of it has arrived.

granian reads each request line and its headers in Rust, and closes a connection whose headers are not all in
within MASQ_HEADER_TIMEOUT seconds (an idle kept-alive connection too). Its WSGI interface would then hand the
request to a Python thread at once, and that thread would wait for the body as long as the client took to send
it: a few clients declaring a body they never finish would hold every thread. So masq is served through
granian's ASGI interface, and this module waits for the body on the event loop, which holds no thread, for at
most MASQ_BODY_TIMEOUT seconds and MAX_CONTENT_LENGTH bytes. Only then does the Flask app run the request, on
one of WEB_THREADS threads.

A request whose head is too large is refused here, before any view (414 past TARGET_BYTES of path and query,
431 past HEADER_BYTES of headers), with masq's JSON error, a request id and an access line like any other
(`app.edge`). A body the app cannot have (too large, late, malformed) reaches the app as the error it
raises when read: see `WholeRequests.read_body`.
"""

from __future__ import annotations

import asyncio
import io
import sys
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import unquote_to_bytes

from flask import Flask
from werkzeug.exceptions import (
    BadRequest,
    HTTPException,
    RequestHeaderFieldsTooLarge,
    RequestTimeout,
    RequestURITooLarge,
)

from app import create_app
from app.edge import REFUSED

# The longest request target (path and query) and the most header bytes (names and values) masq reads; a
# carrier's webhooks and both REST dialects use well under 2 KB of each.
TARGET_BYTES = 8 * 1024
HEADER_BYTES = 16 * 1024
UNREADABLE = "the request body could not be read: it was malformed or cut short"
LATE = "the request body did not arrive within"

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Environ = dict[str, Any]
Answer = tuple[int, list[tuple[bytes, bytes]], bytes]  # status, headers, body


class WholeRequests:
    """ASGI application: reads each HTTP request whole on the event loop, then runs the Flask app on it in a thread."""

    def __init__(self, app: Flask, threads: int, body_timeout: float) -> None:
        self.app = app
        self.body_limit = int(app.config["MAX_CONTENT_LENGTH"])
        self.body_timeout = body_timeout
        self.threads = ThreadPoolExecutor(threads, thread_name_prefix="masq-web")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":  # granian is told to take no websockets; nothing else is an HTTP request
            return
        environ = wsgi_environ(scope)
        refusal = oversized(scope)
        if refusal is not None:
            environ[REFUSED] = refusal  # answered by the app's edge, which the app's views never see
        else:
            await self.read_body(environ, receive)
        status, headers, content = await asyncio.get_running_loop().run_in_executor(self.threads, self.respond, environ)
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": content})

    async def read_body(self, environ: Environ, receive: Receive) -> None:
        """Wait for the request's body and put it in `environ`, or what the app is to make of a body it cannot have.

        Past MAX_CONTENT_LENGTH bytes the rest is not waited for: the app is told the size (as declared, or as
        much as arrived) and refuses it, 413, as it does any body too large. A body late (408), or malformed or
        cut short (400), becomes a stream that raises that error when read. Either way the app answers where it
        reads the body: after it has authenticated and counted the request, as for any body it cannot use.
        """
        declared = environ.get("CONTENT_LENGTH", "")
        if declared == "0" or (not declared and "HTTP_TRANSFER_ENCODING" not in environ):
            return  # no body to wait for
        if declared.isdigit() and int(declared) > self.body_limit:
            return  # refused by its declared size, unread
        chunks: list[bytes] = []
        size = 0
        try:
            async with asyncio.timeout(self.body_timeout):
                while size <= self.body_limit:
                    message = await receive()
                    if message["type"] != "http.request":  # granian's word for a body cut short or malformed too
                        environ["wsgi.input"] = Unreadable(BadRequest(UNREADABLE))
                        return
                    chunks.append(message.get("body", b""))
                    size += len(chunks[-1])
                    if not message.get("more_body", False):
                        break
        except TimeoutError:
            environ["wsgi.input"] = Unreadable(RequestTimeout(f"{LATE} {self.body_timeout:g} seconds"))
            return
        environ.pop("HTTP_TRANSFER_ENCODING", None)  # the app gets the body de-chunked, of a known length
        environ["CONTENT_LENGTH"] = str(size)
        if size <= self.body_limit:
            environ["wsgi.input"] = io.BytesIO(b"".join(chunks))

    def respond(self, environ: Environ) -> Answer:
        """Run the Flask app on a whole request (in a thread of the pool); return its answer."""
        started: list[Any] = []
        written: list[bytes] = []

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            started[:] = [status, headers]
            return written.append

        chunks = self.app(environ, start_response)
        try:
            written.extend(chunks)
        finally:
            if hasattr(chunks, "close"):
                chunks.close()
        status, headers = started
        return (
            int(status[:3]),
            [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers],
            b"".join(written),
        )


class Unreadable(io.RawIOBase):
    """The body of a request that cannot have one: reading it raises the HTTP error that says why."""

    def __init__(self, error: HTTPException) -> None:
        super().__init__()
        self.error = error

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        raise self.error


def wsgi_environ(scope: Scope) -> Environ:
    """Return the WSGI environ (PEP 3333) of an ASGI HTTP scope, with an empty body for now.

    PATH_INFO is the percent-decoded path as bytes read as latin-1, as PEP 3333 and granian's WSGI interface
    give it. A header whose name has `_` is dropped: it would be indistinguishable from one with `-`.
    """
    server = scope.get("server") or ("", 0)
    client = scope.get("client") or ("", 0)
    environ: Environ = {
        "REQUEST_METHOD": scope["method"],
        "SCRIPT_NAME": "",
        "PATH_INFO": unquote_to_bytes(scope.get("raw_path") or scope["path"].encode()).decode("latin-1"),
        "QUERY_STRING": scope.get("query_string", b"").decode("latin-1"),
        "SERVER_NAME": server[0],
        "SERVER_PORT": str(server[1]),
        "REMOTE_ADDR": client[0],
        "REMOTE_PORT": str(client[1]),
        "SERVER_PROTOCOL": f"HTTP/{scope.get('http_version', '1.1')}",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": scope.get("scheme", "http"),
        "wsgi.input": io.BytesIO(),
        "wsgi.input_terminated": True,
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }
    for raw_name, raw_value in scope["headers"]:
        name = raw_name.decode("latin-1")
        if "_" in name:
            continue
        key = name.upper().replace("-", "_")
        if key not in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            key = "HTTP_" + key
        value = raw_value.decode("latin-1")
        environ[key] = f"{environ[key]},{value}" if key in environ else value
    return environ


def oversized(scope: Scope) -> HTTPException | None:
    """Return the 414 of a request target longer than TARGET_BYTES or the 431 of headers over HEADER_BYTES."""
    target = len(scope.get("raw_path") or scope["path"].encode()) + len(scope.get("query_string", b""))
    if target > TARGET_BYTES:
        return RequestURITooLarge(f"the request target (path and query) is longer than {TARGET_BYTES} bytes")
    if sum(len(name) + len(value) for name, value in scope["headers"]) > HEADER_BYTES:
        return RequestHeaderFieldsTooLarge(f"the request headers add up to more than {HEADER_BYTES} bytes")
    return None


def create_asgi() -> WholeRequests:
    """Build the app from the environment, as `masq web` serves it (granian calls this in each worker process)."""
    app = create_app()
    return WholeRequests(app, int(app.config["WEB_THREADS"]), float(app.config["MASQ_BODY_TIMEOUT"]))
