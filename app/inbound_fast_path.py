"""The inbound-call webhook as a plain WSGI handler in front of Flask: the request a caller waits on.

Every new call to a virtual number starts here, and the caller hears ringing until masq answers, so this one
request skips Flask's per-request machinery (contexts, proxies, hooks, the Response object): on two cores
that machinery cost more than deciding the call. It takes only the request as Twilio sends it — a POST of a
form within the size limit, signed with X-Twilio-Signature for the URL as configured — and does what the
Flask view `app.voice.inbound` does, with the same log lines and metrics. Anything else (no token, a signature
made for another form of the URL, a bad one, another content type, a body too large or cut short) goes to that
view unchanged, which answers it as before: 403, 413 or 400.
"""

from __future__ import annotations

import hmac
import logging
import time
from collections.abc import Iterable
from urllib.parse import parse_qsl

from flask import Flask
from twilio.request_validator import RequestValidator

from app.fast_path import Environ, StartResponse, WsgiApp, answer, media_type, read_body
from app.logs import request_id_from, write_access_line
from routing.calls import inbound, twiml
from routing.clock import now_us

PATH = "/voice/inbound"
ENDPOINT = "voice.inbound"
FORM = "application/x-www-form-urlencoded"
CONTENT_TYPE = "text/xml; charset=utf-8"
log = logging.getLogger("masq.voice")


class Form(dict[str, list[str]]):
    """A form's fields with all their values, readable by twilio's `RequestValidator` (which calls `getall`)."""

    @classmethod
    def parse(cls, body: bytes) -> Form:
        """Parse a urlencoded body exactly as werkzeug parses `request.form` (UnicodeDecodeError if not UTF-8)."""
        form = cls()
        for name, value in parse_qsl(body.decode(), keep_blank_values=True, errors="werkzeug.url_quote"):
            form.setdefault(name, []).append(value)
        return form

    def getall(self, name: str) -> list[str]:
        """Return every value of field `name`."""
        return self[name]

    def first(self, name: str) -> str:
        """Return the first value of field `name`, or `""` (as `request.form.get(name, "")`)."""
        values = self.get(name)
        return values[0] if values else ""


class InboundFastPath:
    """WSGI middleware: answers well-formed, signed inbound-call webhooks itself, passes the rest to `inner`."""

    def __init__(self, app: Flask, inner: WsgiApp) -> None:
        self.app = app
        self.flask_wsgi = inner
        self.latency = app.extensions["masq.webhook_latency"].labels(ENDPOINT)

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != PATH or environ.get("REQUEST_METHOD") != "POST":
            return self.flask_wsgi(environ, start_response)
        started = time.perf_counter()
        try:
            form = self.signed_form(environ)
        except Exception:  # nothing was decided yet: the view decides what this request gets
            form = None
        if form is None:
            return self.flask_wsgi(environ, start_response)
        request_id = request_id_from(environ.get("HTTP_X_REQUEST_ID", ""))
        call_sid = form.first("CallSid")
        ids = {"call_sid": call_sid[:64]} if call_sid else {}
        body = answer(start_response, 200, CONTENT_TYPE, self.twiml(form, ids, request_id).encode(), request_id)
        self.latency.observe(time.perf_counter() - started)
        write_access_line("POST", PATH, 200, started, {"request_id": request_id, **ids})
        return body

    def signed_form(self, environ: Environ) -> Form | None:
        """Return the form when this request is one the fast path takes; else None, with the body put back."""
        config = self.app.config
        if media_type(environ) != FORM:
            return None
        body = read_body(environ, config.get("MAX_CONTENT_LENGTH"))
        if body is None:
            return None
        try:
            form = Form.parse(body)
        except UnicodeDecodeError:
            return None
        if config.get("MASQ_SKIP_TWILIO_SIGNATURE"):
            return form
        token = config.get("TWILIO_AUTH_TOKEN") or ""
        signature = environ.get("HTTP_X_TWILIO_SIGNATURE", "")
        if token and signature and self.signed(RequestValidator(token), environ, form, signature):
            return form
        return None

    def signed(self, validator: RequestValidator, environ: Environ, form: Form, signature: str) -> bool:
        """Return whether `signature` signs the form at the configured URL (one HMAC; see app.twilio_signature)."""
        url = str(self.app.config["MASQ_PUBLIC_URL"]).rstrip("/") + PATH
        if environ.get("QUERY_STRING"):
            url += "?" + environ["QUERY_STRING"]
        return hmac.compare_digest(validator.compute_signature(url, form), signature)

    def twiml(self, form: Form, ids: dict[str, str], request_id: str) -> str:
        """Return the TwiML for the call; when masq itself fails, log it and apologise (never silence)."""
        links = self.app.extensions["masq.links"]
        try:
            store = self.app.extensions["masq.store"]
            call = inbound.incoming_call(form.first("CallSid"), form.first("From"), form.first("To"))
            return str(twiml.answer(inbound.identify_caller(store, call, now_us()), links))
        except Exception:
            log.exception("voice step %s failed", PATH, extra={"request_id": request_id, **ids})
            return str(twiml.apology())


def init_app(app: Flask) -> None:
    """Put the fast path in front of the app's WSGI callable (after the metrics it records exist)."""
    app.wsgi_app = InboundFastPath(app, app.wsgi_app)  # type: ignore[method-assign]
