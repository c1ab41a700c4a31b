"""The inbound-call webhook, `/voice/inbound`: the request a caller waits on, as a plain WSGI handler in front of Flask.

Every new call to a virtual number starts here, and the caller hears ringing until masq answers; on two cores
Flask's per-request machinery (contexts, proxies, hooks, the Request and Response objects) cost more than
deciding the call. So this handler is the endpoint's only implementation, reading the WSGI environ itself, and
it shares every edge concern with the Flask views rather than copying it: the form is read by werkzeug's form
parser with the app's limits, the signature check is
`app.twilio_signature.check_signature`, the request id, the latency metric and the access line are `app.edge`'s, an
HTTP error (403, 405, 413) is answered by `app.errors.wsgi_error`, and a failure inside masq by
`app.voice.apology`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from flask import Flask
from werkzeug.exceptions import HTTPException, MethodNotAllowed
from werkzeug.formparser import parse_form_data

from app.edge import IDS, STEP
from app.errors import wsgi_error
from app.logs import REQUEST_ID, ids_from
from app.twilio_signature import Fields, check_signature
from app.voice import apology
from routing.calls import inbound, twiml
from routing.errors import InvalidInput

PATH = "/voice/inbound"
ENDPOINT = "voice.inbound"  # its step in the webhook latency metric, named as the Flask views' steps are
TWIML = "text/xml; charset=utf-8"

Environ = dict[str, Any]
StartResponse = Callable[..., Any]
WsgiApp = Callable[[Environ, StartResponse], Iterable[bytes]]
Answer = tuple[str, list[tuple[str, str]], bytes]  # status line, headers, body
log = logging.getLogger("masq.voice")


def read_form(environ: Environ, config: Mapping[str, Any]) -> Fields:
    """Return the fields of the form POSTed in `environ`, every value of each, read by werkzeug's form parser
    with the app's limits, as the Flask views read a form.

    Raises RequestEntityTooLarge (413) past MAX_CONTENT_LENGTH bytes, MAX_FORM_MEMORY_SIZE bytes of a multipart
    field or MAX_FORM_PARTS parts. A body that is not a form has no fields: such a request is not signed by the
    carrier, and the signature check refuses it.
    """
    form = parse_form_data(
        environ,
        max_content_length=config["MAX_CONTENT_LENGTH"],
        max_form_memory_size=config["MAX_FORM_MEMORY_SIZE"],
        max_form_parts=config["MAX_FORM_PARTS"],
    )[1]
    return Fields(form.lists())


def first(fields: Fields, name: str) -> str:
    """Return the first value of field `name`, or `""`."""
    values = fields.get(name)
    return values[0] if values else ""


class InboundWebhook:
    """WSGI middleware: answers every request to PATH itself and passes the others to `inner` (Flask)."""

    def __init__(self, app: Flask, inner: WsgiApp) -> None:
        self.app = app
        self.inner = inner

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != PATH:
            return self.inner(environ, start_response)
        environ[STEP] = ENDPOINT
        try:
            status, headers, body = self.respond(environ)
        except HTTPException as error:
            status, headers, body = wsgi_error(self.app, environ, error)
        start_response(status, headers)
        return [body]

    def respond(self, environ: Environ) -> Answer:
        """Return the TwiML answer to a call; raise the HTTP error (403, 405, 413) of a request that is not one.

        The call's ids go to the edge's access line once the form is read. A failure inside masq is logged and
        the caller apologised to: never silence, never a 500.
        """
        ids = environ[IDS] = {"request_id": environ[REQUEST_ID]}
        try:
            if environ.get("REQUEST_METHOD") != "POST":
                raise MethodNotAllowed(["POST"])
            config = self.app.config
            fields = read_form(environ, config)
            ids.update(ids_from({}, {}, {"CallSid": first(fields, "CallSid")}, ""))
            signature = environ.get("HTTP_X_TWILIO_SIGNATURE", "")
            check_signature(config, PATH, environ.get("QUERY_STRING", ""), signature, fields)
            text = self.answer(fields)
        except HTTPException:
            raise
        except InvalidInput as bad:  # not a call the carrier could have made: refused, not answered, not billed
            log.warning("refused a call: %s %s", bad.field, bad.message, extra={"request_id": ids["request_id"]})
            text = twiml.render(twiml.refuse(inbound.Refuse("invalid")))
        except Exception:
            text = twiml.render(apology(PATH, ids))
        body = text.encode()
        return "200 OK", [("Content-Type", TWIML), ("Content-Length", str(len(body)))], body

    def answer(self, fields: Fields) -> str:
        """Return the TwiML for the call the carrier announces: bridge it, ask for a PIN, or refuse it."""
        call = inbound.incoming_call(first(fields, "CallSid"), first(fields, "From"), first(fields, "To"))
        store = self.app.extensions["masq.store"]
        decision = inbound.identify_caller(store, call, store.now_us())
        return twiml.render(twiml.answer(decision, self.app.extensions["masq.links"]))


def init_app(app: Flask) -> None:
    """Put the handler in front of the app's WSGI callable (after the metrics it records exist)."""
    app.wsgi_app = InboundWebhook(app, app.wsgi_app)  # type: ignore[method-assign]
