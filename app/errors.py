"""Domain errors and HTTP errors become JSON here, and only here; nothing answers a bare 500."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException

from app.logs import request_ids
from routing import errors
from routing.store import slot_moving

log = logging.getLogger("masq.http")
# What a request that failed inside masq is told: a 503, so that a client retries it.
UNEXPECTED = "masq could not finish this request; try again shortly"

STATUS = {
    errors.InvalidInput: 400,
    errors.Unauthenticated: 401,
    errors.NotFound: 404,
    errors.Conflict: 409,
    errors.RateLimited: 429,
}


def status_of(error: errors.RoutingError) -> int:
    """Return the HTTP status for a domain error."""
    for kind, status in STATUS.items():
        if isinstance(error, kind):
            return status
    return 400


def error_response(status: int, message: str, **extra: object) -> Response:
    """Return `{"api_id", "error"}` with `status` (Plivo's error shape; CloudTalk reads `error` too)."""
    response = jsonify({"api_id": str(uuid.uuid4()), "error": message, **extra})
    response.status_code = status
    if status == 401 and request.path.startswith("/v1/Account/"):
        response.headers["WWW-Authenticate"] = 'Basic realm="masq"'
    return response


def http_error(error: HTTPException) -> Response:
    """Return the answer to an HTTP error (403, 404, 405, 413…); a 405 says which methods the path takes."""
    response = error_response(error.code or 500, error.description or error.name)
    if "Allow" in (headers := dict(error.get_headers())):
        response.headers["Allow"] = headers["Allow"]
    return response


def wsgi_error(app: Flask, environ: dict[str, Any], error: HTTPException) -> tuple[str, list[tuple[str, str]], bytes]:
    """Return `http_error`'s answer, as a WSGI status line, headers and body, to a request no view saw (the
    inbound webhook's, or one refused by its head before the app), made in a request context as a view's is."""
    with app.request_context(environ):
        response = http_error(error)
    return response.status, response.headers.to_wsgi_list(), response.get_data()


def domain_error(error: errors.RoutingError) -> Response:
    """Return the answer to a domain error: its status, its message, the field it names (a 400's, or a PIN's 409),
    a 429's Retry-After."""
    extra = {"field": error.field} if isinstance(error, errors.InvalidInput | errors.PinUnavailable) else {}
    response = error_response(status_of(error), error.message, **extra)
    if isinstance(error, errors.RateLimited):  # the only place a 429 is made
        response.headers["Retry-After"] = str(error.retry_after)
    return response


def init_app(app: Flask) -> None:
    """Install the handlers."""
    app.errorhandler(errors.RoutingError)(domain_error)
    app.errorhandler(HTTPException)(http_error)

    @app.errorhandler(Exception)
    def unexpected(error: Exception) -> Response:
        if slot_moving(error):  # nothing was written; the same request succeeds in a second or two
            log.warning("store busy on %s %s: %s", request.method, request.path, error, extra=request_ids())
            response = error_response(503, UNEXPECTED)
            response.headers["Retry-After"] = "1"
            return response
        log.exception("unexpected error on %s %s", request.method, request.path, extra=request_ids())
        return error_response(503, UNEXPECTED)
