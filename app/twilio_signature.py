"""The carrier's webhooks must carry a valid X-Twilio-Signature: one check, for the views and the inbound webhook."""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable, Mapping
from functools import wraps
from typing import Any

from flask import current_app, request
from twilio.request_validator import RequestValidator
from werkzeug.exceptions import Forbidden
from werkzeug.wrappers import Request

log = logging.getLogger("masq.voice")


def public_url(base: str, path: str, query: str) -> str:
    """Return the URL the carrier called: the configured public `base`, the `path` and the raw `query` string.

    Not werkzeug's `request.url`: behind a TLS proxy it says `http://`, and it decodes escapes, either of which
    changes the signed string.
    """
    url = base.rstrip("/") + path
    if query:
        url += "?" + query
    return url


class Fields(dict[str, list[str]]):
    """A form's fields with every value of each, as twilio's validator reads them first (`getall`)."""

    getall = dict.__getitem__  # without it the validator tries `getall`, fails, then `getlist`, for every field


def valid_signature(url: str, fields: Fields, signature: str, token: str) -> bool:
    """Return whether `signature` signs the POST of `fields` (every value of each) to `url` with `token`.

    The signature Twilio made for the URL exactly as configured is checked first (one HMAC); only when that
    fails does the library's full check run, which also tries the URL with and without its port.
    """
    validator = RequestValidator(token)
    if hmac.compare_digest(validator.compute_signature(url, fields), signature):
        return True
    return bool(validator.validate(url, fields, signature))


def check_signature(config: Mapping[str, Any], path: str, query: str, signature: str, fields: Fields) -> None:
    """Raise Forbidden (403) unless `signature` (the X-Twilio-Signature header) signs the carrier's request
    with TWILIO_AUTH_TOKEN: the POST of `fields` to `path` with the raw `query` string (WSGI's QUERY_STRING).

    Only the explicit development setting MASQ_SKIP_TWILIO_SIGNATURE turns the check off; an empty token
    refuses everything rather than accept signatures anyone can make.
    """
    if config.get("MASQ_SKIP_TWILIO_SIGNATURE"):
        return
    token = config.get("TWILIO_AUTH_TOKEN") or ""
    if not token:
        log.error("TWILIO_AUTH_TOKEN is not set: refusing %s", path)
        raise Forbidden()
    url = public_url(str(config["MASQ_PUBLIC_URL"]), path, query)
    if not signature or not valid_signature(url, fields, signature, token):
        log.warning("bad or missing X-Twilio-Signature on %s", path)
        raise Forbidden()


def check_request_signature(config: Mapping[str, Any], carrier_request: Request) -> None:
    """`check_signature` for a Flask request; an unsigned request is refused before its body is read."""
    signature = carrier_request.headers.get("X-Twilio-Signature", "")
    fields = Fields(carrier_request.form.lists()) if signature else Fields()
    query = carrier_request.query_string.decode("latin-1")
    check_signature(config, carrier_request.path, query, signature, fields)


def twilio_signed(view: Callable[..., Any]) -> Callable[..., Any]:
    """Answer 403, changing nothing, unless the request is signed with TWILIO_AUTH_TOKEN (see `check_signature`)."""

    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        check_request_signature(current_app.config, request)
        return view(*args, **kwargs)

    return wrapped
