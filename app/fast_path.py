"""What masq's WSGI fast paths share: reading the body, answering, and handing a request back to Flask.

A fast path (app.inbound_fast_path, app.create_fast_path) sits in front of Flask and answers one request that
masq serves all the time, when it comes as its clients send it, without Flask's per-request machinery
(contexts, proxies, hooks, the Response object). Whatever it does not take goes to Flask untouched: its body
is put back, and the Flask view answers it as it always has.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable
from typing import Any

StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]
Environ = dict[str, Any]

REASONS = {200: "200 OK", 409: "409 CONFLICT", 503: "503 SERVICE UNAVAILABLE"}


def media_type(environ: Environ) -> str:
    """Return the request's media type without its parameters, lower case (`application/json`)."""
    return str(environ.get("CONTENT_TYPE", "")).partition(";")[0].strip().lower()


def read_body(environ: Environ, limit: int | None) -> bytes | None:
    """Return the whole body, or None when it has no length, is over `limit` or was cut short.

    What was read is put back as `wsgi.input`, so that Flask can still read it when the fast path declines.
    """
    length = str(environ.get("CONTENT_LENGTH", ""))
    if not length.isdigit() or (limit is not None and int(length) > limit):
        return None
    body = environ["wsgi.input"].read(int(length))
    environ["wsgi.input"] = io.BytesIO(body)
    return body if len(body) == int(length) else None


def answer(
    start_response: StartResponse, status: int, content_type: str, payload: bytes, request_id: str
) -> list[bytes]:
    """Start the response with the headers Flask would send (and the request's id), and return its body."""
    start_response(
        REASONS[status],
        [("Content-Type", content_type), ("Content-Length", str(len(payload))), ("X-Request-Id", request_id)],
    )
    return [payload]
