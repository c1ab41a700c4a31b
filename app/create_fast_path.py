"""The Plivo session create as a plain WSGI handler in front of Flask: the API request tenants make most.

A create is a few checks and one Redis round trip (`routing.sessions.lifecycle.open_session_checked`: the credential,
the rate limit and the DID in one script); Flask's per-request machinery around it cost more than the create
itself. This takes only the create as Plivo's SDKs send it — HTTP Basic for the account in the path, a JSON
object that checks out, no subaccount — and answers it as the Flask view `app.api_plivo.create` does, with the
same access line. Anything else goes to that view, which answers it in steps: a wrong credential (401), an
unknown account (404), a body that does not check out (400) or is too large (413), a subaccount. A tenant over
its limit is sent there too: a refused request costs nothing, so the view refuses it again, with its 429.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import re
import time
import uuid
from collections.abc import Iterable
from typing import Any

from flask import Flask

from app.errors import UNEXPECTED, status_of
from app.extensions import call_first_party
from app.fast_path import Environ, StartResponse, WsgiApp, answer, media_type, read_body
from app.logs import request_id_from, write_access_line
from app.plivo_format import session_created
from routing.clock import now_us
from routing.errors import Conflict, RoutingError
from routing.sessions import lifecycle
from routing.tenants import Credential, basic_credential

PATH = re.compile(r"/v1/Account/([A-Za-z0-9]{1,64})/Masking/Session/?")
JSON = "application/json"
log = logging.getLogger("masq.http")


class CreateFastPath:
    """WSGI middleware: opens sessions for well-formed Plivo creates itself, passes the rest to `inner`."""

    def __init__(self, app: Flask, inner: WsgiApp) -> None:
        self.app = app
        self.flask_wsgi = inner
        self._encoder: tuple[tuple[bool, bool, bool], json.JSONEncoder] | None = None

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        match = PATH.fullmatch(path) if environ.get("REQUEST_METHOD") == "POST" else None
        started = time.perf_counter()
        try:
            taken = self.checked_request(environ, match.group(1)) if match else None
        except Exception:  # nothing was read from Redis: the view decides what this request gets
            taken = None
        if taken is None:
            return self.flask_wsgi(environ, start_response)
        opening, credential = taken
        try:
            outcome = lifecycle.open_session_checked(self.app.extensions["masq.store"], opening, credential)
        except RoutingError:  # a credential without an account record: the view says so (nothing was counted)
            outcome = None
        except Exception:
            return self.failed(environ, start_response, started)
        if outcome is None or not outcome[1].allowed:
            return self.flask_wsgi(environ, start_response)
        tenant, _, placed = outcome
        try:
            return self.opened(environ, start_response, started, opening, placed, tenant.auth_id)
        except Exception:
            return self.failed(environ, start_response, started)

    def opened(
        self,
        environ: Environ,
        start_response: StartResponse,
        started: float,
        opening: lifecycle.Opening,
        placed: dict[str, Any],
        auth_id: str,
    ) -> list[bytes]:
        """Answer a create the script admitted: the new session, or the pool's 409 (the request was counted)."""
        path = environ.get("PATH_INFO", "")
        request_id = request_id_from(environ.get("HTTP_X_REQUEST_ID", ""))
        ids = {"request_id": request_id, "auth_id": auth_id}
        try:
            session = opening.opened(placed)
        except Conflict as refused:
            body = self.answer_json(start_response, status_of(refused), {"error": refused.message}, request_id)
            write_access_line("POST", path, status_of(refused), started, ids)
            return body
        if session.initiate_call_to_first_party:
            with self.app.app_context():
                call_first_party(session)
        body = self.answer_json(start_response, 200, session_created(session), request_id)
        write_access_line("POST", path, 200, started, ids)
        return body

    def checked_request(self, environ: Environ, auth_id: str) -> tuple[lifecycle.Opening, Credential] | None:
        """Return the session asked for and the credential to open it with, or None if the view must answer.

        The credential is read as werkzeug reads HTTP Basic; the body is checked by the domain, reading nothing.
        """
        config = self.app.config
        if media_type(environ) != JSON:
            return None
        scheme, _, data = str(environ.get("HTTP_AUTHORIZATION", "")).partition(" ")
        if scheme.lower() != "basic":
            return None
        try:
            username, _, password = base64.b64decode(data.strip()).decode().partition(":")
        except (binascii.Error, UnicodeError):
            return None
        credential = basic_credential(username, password, config["MASQ_RATE_LIMIT"], config["MASQ_RATE_WINDOW"])
        body = read_body(environ, config.get("MAX_CONTENT_LENGTH"))
        if username != auth_id or credential is None or body is None:
            return None
        try:
            raw = json.loads(body)
            opening = lifecycle.prepare_session(auth_id, raw, now_us()) if isinstance(raw, dict) else None
        except (ValueError, RecursionError, RoutingError):
            return None
        if opening is None or opening.session.subaccount:
            return None
        return opening, credential

    def answer_json(
        self, start_response: StartResponse, status: int, payload: dict[str, Any], request_id: str
    ) -> list[bytes]:
        """Answer `payload` after a fresh `api_id`, encoded exactly as the view's `jsonify` encodes it."""
        text = self.encoder().encode({"api_id": str(uuid.uuid4()), **payload}) + "\n"
        return answer(start_response, status, JSON, text.encode(), request_id)

    def encoder(self) -> json.JSONEncoder:
        """Return an encoder with the app's JSON settings (`jsonify`'s), built once for as long as they hold."""
        provider: Any = self.app.json
        settings = (self.app.debug, provider.ensure_ascii, provider.sort_keys)
        if self._encoder is None or self._encoder[0] != settings:
            layout: dict[str, Any] = {"indent": 2} if self.app.debug else {"separators": (",", ":")}
            self._encoder = (
                settings,
                json.JSONEncoder(
                    default=provider.default, ensure_ascii=provider.ensure_ascii, sort_keys=provider.sort_keys, **layout
                ),
            )
        return self._encoder[1]

    def failed(self, environ: Environ, start_response: StartResponse, started: float) -> list[bytes]:
        """Log a failure inside masq and answer 503, as the app's handler of unexpected errors does."""
        path = environ.get("PATH_INFO", "")
        request_id = request_id_from(environ.get("HTTP_X_REQUEST_ID", ""))
        log.exception("unexpected error on POST %s", path, extra={"request_id": request_id})
        body = self.answer_json(start_response, 503, {"error": UNEXPECTED}, request_id)
        write_access_line("POST", path, 503, started, {"request_id": request_id})
        return body


def init_app(app: Flask) -> None:
    """Put the fast path in front of the app's WSGI callable."""
    app.wsgi_app = CreateFastPath(app, app.wsgi_app)  # type: ignore[method-assign]
