"""The carrier's webhooks must carry a valid X-Twilio-Signature: one check, for the views' decorator and app.inbound."""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable, Mapping
from functools import wraps
from typing import Any

from flask import current_app, request
from twilio.request_validator import RequestValidator
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import Forbidden
from werkzeug.wrappers import Request

log = logging.getLogger("masq.voice")


def public_url(base: str, path: str, query: bytes) -> str:
    """Return the URL the carrier called: the configured public `base`, the `path` and the raw `query` string.

    Not werkzeug's `request.url`: behind a TLS proxy it says `http://`, and it decodes escapes, either of which
    changes the signed string.
    """
    url = base.rstrip("/") + path
    if query:
        url += "?" + query.decode("latin-1")
    return url


class _Fields(dict[str, list[str]]):
    """A form's fields with every value of each, read as twilio's validator reads them first (`getall`)."""

    getall = dict.__getitem__  # without it the validator tries `getall`, fails, then `getlist`, for every field


def valid_signature(url: str, form: MultiDict[str, str], signature: str, token: str) -> bool:
    """Return whether `signature` signs the POST of `form` (every value of each field) to `url` with `token`.

    The signature Twilio made for the URL exactly as configured is checked first (one HMAC); only when that
    fails does the library's full check run, which also tries the URL with and without its port.
    """
    validator, fields = RequestValidator(token), _Fields(form.lists())
    if hmac.compare_digest(validator.compute_signature(url, fields), signature):
        return True
    return bool(validator.validate(url, fields, signature))


def check_signature(config: Mapping[str, Any], carrier_request: Request) -> None:
    """Raise Forbidden (403) unless the request is signed with TWILIO_AUTH_TOKEN.

    Only the explicit development setting MASQ_SKIP_TWILIO_SIGNATURE turns the check off; an empty token
    refuses everything rather than accept signatures anyone can make. An unsigned request is refused before
    its body is read.
    """
    if config.get("MASQ_SKIP_TWILIO_SIGNATURE"):
        return
    token = config.get("TWILIO_AUTH_TOKEN") or ""
    signature = carrier_request.headers.get("X-Twilio-Signature", "")
    path = carrier_request.path
    if not token:
        log.error("TWILIO_AUTH_TOKEN is not set: refusing %s", path)
        raise Forbidden()
    url = public_url(str(config["MASQ_PUBLIC_URL"]), path, carrier_request.query_string)
    if not signature or not valid_signature(url, carrier_request.form, signature, token):
        log.warning("bad or missing X-Twilio-Signature on %s", path)
        raise Forbidden()


def twilio_signed(view: Callable[..., Any]) -> Callable[..., Any]:
    """Answer 403, changing nothing, unless the request is signed with TWILIO_AUTH_TOKEN (see `check_signature`)."""

    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        check_signature(current_app.config, request)
        return view(*args, **kwargs)

    return wrapped
