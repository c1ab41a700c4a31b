"""What every request gets, in front of the whole app: its id, its latency and its access line, once.

A WSGI middleware around Flask and the inbound webhook alike, so that neither writes them: a request's id is the
client's `X-Request-Id` when it is a plain token, else a new one, and is sent back on every answer; the carrier
steps' answer times go to the `masq_webhook_seconds` histogram; and one access line is written per request.
What the request named (tenant, call, session) is told by the app through the WSGI environ.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

import flask
from flask import Flask
from prometheus_client import Histogram

from app.errors import wsgi_error
from app.logs import AUTH_ID, REQUEST_ID, access_log, ids_of, request_id_from, write_access_line

Environ = dict[str, Any]
StartResponse = Callable[..., Any]
WsgiApp = Callable[[Environ, StartResponse], Iterable[bytes]]

# What a handler outside Flask tells the edge through the environ (the request id and tenant: see app.logs).
STEP = "masq.step"  # a carrier step answered outside Flask: its name in the latency metric (app.inbound_webhook)
IDS = "masq.ids"  # the ids such a request named, as log fields
REFUSED = "masq.refused"  # the HTTP error a request is answered with before the app sees it (app.asgi)
REQUEST = "masq.request"  # the Flask request made for the environ, if any (`Request`)
CARRIER_STEPS = "voice"  # the blueprint of the carrier's webhooks: their answer times are measured


class Request(flask.Request):
    """The app's request class: Flask's, kept in the environ, where the edge reads it once Flask is done."""

    def __init__(self, environ: Environ, *args: Any, **kwargs: Any) -> None:
        super().__init__(environ, *args, **kwargs)
        environ[REQUEST] = self  # a cycle, broken by the edge when the request is over


class Edge:
    """WSGI middleware: gives each request its id, then measures and logs it once the app has answered."""

    def __init__(self, app: Flask, inner: WsgiApp, latency: Histogram) -> None:
        self.app = app
        self.inner = inner
        self.latency = latency
        self.steps: dict[str, Any] = {}  # each step's child of the histogram, labelled once

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        started = time.perf_counter()
        request_id = environ[REQUEST_ID] = request_id_from(environ.get("HTTP_X_REQUEST_ID", ""))
        answered: list[str] = []

        def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            answered.append(status)
            headers.append(("X-Request-Id", request_id))
            return start_response(status, headers, exc_info)

        refused = environ.get(REFUSED)
        if refused is None:
            body = self.inner(environ, start)
        else:
            status, headers, content = wsgi_error(self.app, environ, refused)
            start(status, headers)
            body = [content]
        self.finish(environ, int(answered[-1][:3]) if answered else 500, started)
        return body

    def finish(self, environ: Environ, status: int, started: float) -> None:
        """Observe a carrier step's answer time and write the request's access line."""
        asked = environ.pop(REQUEST, None)
        step = environ.get(STEP)
        if step is None and asked is not None and asked.blueprint == CARRIER_STEPS:
            step = asked.endpoint
        if step is not None:
            timer = self.steps.get(step) or self.steps.setdefault(step, self.latency.labels(step))
            timer.observe(time.perf_counter() - started)
        if not access_log.isEnabledFor(logging.INFO):
            return
        ids = environ.get(IDS)
        if ids is None:
            ids = ids_of(asked, environ.get(AUTH_ID, "")) if asked is not None else {}
        method = environ.get("REQUEST_METHOD", "")
        path = asked.path if asked is not None else environ.get("PATH_INFO", "")
        write_access_line(method, path, status, started, {"request_id": environ[REQUEST_ID], **ids})


def init_app(app: Flask) -> None:
    """Put the edge in front of everything the app serves (the inbound webhook included: call it last)."""
    app.request_class = Request
    app.wsgi_app = Edge(app, app.wsgi_app, app.extensions["masq.webhook_latency"])  # type: ignore[method-assign]
