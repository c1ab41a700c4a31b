"""The inbound-call webhook, `/voice/inbound`: the request a caller waits on, as a plain WSGI handler in front of Flask.

Every new call to a virtual number starts here, and the caller hears ringing until masq answers; on two cores
Flask's per-request machinery (contexts, proxies, hooks, the Response object) cost more than deciding the
call. So this handler is the endpoint's only implementation, and it shares every edge concern with the Flask
views rather than copying it: the request is Flask's own request class (the same form parsing and body limits),
the signature check is `app.twilio_signature.check_signature`, the request id and the access line are
`app.logs`', an HTTP error (403, 405, 413) is answered by `app.errors.http_error`, and a failure inside masq
by `app.voice.apology`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

from flask import Flask, Request
from werkzeug.exceptions import HTTPException, MethodNotAllowed

from app.errors import http_error
from app.logs import ids_of, request_id_from, write_access_line
from app.twilio_signature import check_signature
from app.voice import apology
from routing.calls import inbound, twiml
from routing.clock import now_us
from routing.errors import InvalidInput

PATH = "/voice/inbound"
ENDPOINT = "voice.inbound"  # its step in the webhook latency metric, named as the Flask views' steps are
TWIML = "text/xml; charset=utf-8"

Environ = dict[str, Any]
StartResponse = Callable[..., Any]
WsgiApp = Callable[[Environ, StartResponse], Iterable[bytes]]
Answer = tuple[str, list[tuple[str, str]], bytes]  # status line, headers, body
log = logging.getLogger("masq.voice")


class InboundWebhook:
    """WSGI middleware: answers every request to PATH itself and passes the others to `inner` (Flask)."""

    def __init__(self, app: Flask, inner: WsgiApp) -> None:
        self.app = app
        self.inner = inner
        self.latency = app.extensions["masq.webhook_latency"].labels(ENDPOINT)

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != PATH:
            return self.inner(environ, start_response)
        started = time.perf_counter()
        asked = self.request(environ)
        request_id = request_id_from(asked.headers.get("X-Request-Id", ""))
        try:
            status, headers, body = self.respond(asked, request_id)
        except HTTPException as error:
            status, headers, body = self.refused(environ, error)
        start_response(status, [*headers, ("X-Request-Id", request_id)])
        self.latency.observe(time.perf_counter() - started)
        ids = {"request_id": request_id, **ids_of(asked, None)}
        write_access_line(asked.method, PATH, int(status[:3]), started, ids)
        return [body]

    def respond(self, asked: Request, request_id: str) -> Answer:
        """Return the TwiML answer to a call; raise the HTTP error (403, 405, 413) of a request that is not one.

        A failure inside masq is logged and the caller apologised to: never silence, never a 500.
        """
        try:
            if asked.method != "POST":
                raise MethodNotAllowed(["POST"])
            check_signature(self.app.config, asked)
            text = self.answer(asked)
        except HTTPException:
            raise
        except InvalidInput as bad:  # not a call the carrier could have made: refused, not answered, not billed
            log.warning("refused a call: %s %s", bad.field, bad.message, extra={"request_id": request_id})
            text = twiml.render(twiml.refuse(inbound.Refuse("invalid")))
        except Exception:
            text = twiml.render(apology(PATH, {"request_id": request_id, **ids_of(asked, None)}))
        body = text.encode()
        return "200 OK", [("Content-Type", TWIML), ("Content-Length", str(len(body)))], body

    def request(self, environ: Environ) -> Request:
        """Return Flask's request object for `environ`, held to the app's body limits (Flask's views read them
        from the app context, which this handler does without)."""
        asked = self.app.request_class(environ)
        config = self.app.config
        asked.max_content_length = config["MAX_CONTENT_LENGTH"]
        asked.max_form_memory_size = config["MAX_FORM_MEMORY_SIZE"]
        asked.max_form_parts = config["MAX_FORM_PARTS"]
        return asked

    def answer(self, asked: Request) -> str:
        """Return the TwiML for the call the carrier announces: bridge it, ask for a PIN, or refuse it."""
        form = asked.form
        call = inbound.incoming_call(form.get("CallSid", ""), form.get("From", ""), form.get("To", ""))
        decision = inbound.identify_caller(self.app.extensions["masq.store"], call, now_us())
        return twiml.render(twiml.answer(decision, self.app.extensions["masq.links"]))

    def refused(self, environ: Environ, error: HTTPException) -> Answer:
        """Return the app's answer to an HTTP error, made in a request context as every view's is."""
        with self.app.request_context(environ):
            response = http_error(error)
        return response.status, response.headers.to_wsgi_list(), response.get_data()


def init_app(app: Flask) -> None:
    """Put the handler in front of the app's WSGI callable (after the metrics it records exist)."""
    app.wsgi_app = InboundWebhook(app, app.wsgi_app)  # type: ignore[method-assign]
