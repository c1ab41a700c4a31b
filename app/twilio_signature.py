"""The carrier's webhooks must carry a valid X-Twilio-Signature; a view decorator checks it."""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import abort, current_app, request
from twilio.request_validator import RequestValidator

log = logging.getLogger("masq.voice")


def public_url() -> str:
    """Return the URL the carrier called: the configured public base, the path and the raw query string.

    Not `request.url`: behind a TLS proxy it says `http://`, and it decodes escapes, either of which
    changes the signed string.
    """
    url = str(current_app.config["MASQ_PUBLIC_URL"]).rstrip("/") + request.path
    if request.query_string:
        url += "?" + request.query_string.decode("latin-1")
    return url


def valid(validator: RequestValidator, url: str, signature: str) -> bool:
    """Return whether `signature` signs this request at `url`.

    The signature Twilio made for the URL exactly as configured is checked first (one HMAC); only when that
    fails does the library's full check run, which also tries the URL with and without its port.
    """
    expected = validator.compute_signature(url, request.form)
    if hmac.compare_digest(expected, signature):
        return True
    return bool(validator.validate(url, request.form, signature))


def twilio_signed(view: Callable[..., Any]) -> Callable[..., Any]:
    """Answer 403, changing nothing, unless the request is signed with TWILIO_AUTH_TOKEN.

    Only the explicit development setting MASQ_SKIP_TWILIO_SIGNATURE turns the check off; an empty
    token refuses everything rather than accept signatures anyone can make.
    """

    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        config = current_app.config
        if not config.get("MASQ_SKIP_TWILIO_SIGNATURE"):
            token = config.get("TWILIO_AUTH_TOKEN") or ""
            signature = request.headers.get("X-Twilio-Signature", "")
            if not token:
                log.error("TWILIO_AUTH_TOKEN is not set: refusing %s", request.path)
                abort(403)
            if not signature or not valid(RequestValidator(token), public_url(), signature):
                log.warning("bad or missing X-Twilio-Signature on %s", request.path)
                abort(403)
        return view(*args, **kwargs)

    return wrapped
