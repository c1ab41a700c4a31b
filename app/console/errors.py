"""The console's errors as pages: what went wrong in words, with the status it is answered with.

Only the console's own requests get these; everything else masq serves keeps its JSON errors (app/errors.py).
"""

from __future__ import annotations

import logging

from flask import render_template, request
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import HTTPException

from app.console import bp
from app.console.access import NO_PAGE
from app.errors import UNEXPECTED, status_of
from app.logs import request_ids
from routing.errors import RateLimited, RoutingError

log = logging.getLogger("masq.http")


def error_page(status: int, message: str, headers: dict[str, str] | None = None) -> ResponseReturnValue:
    """Return the error page saying `message`, answered with `status`."""
    return render_template("console/error.html", status=status, message=message), status, headers or {}


@bp.errorhandler(RoutingError)
def domain_error(error: RoutingError) -> ResponseReturnValue:
    """Show a domain error (a bad filter, a session that is not there) with its status."""
    retry = {"Retry-After": str(error.retry_after)} if isinstance(error, RateLimited) else {}
    return error_page(status_of(error), error.message, retry)


@bp.errorhandler(HTTPException)
def http_error(error: HTTPException) -> ResponseReturnValue:
    """Show an HTTP error (404, 405, a form without its CSRF token's 400)."""
    return error_page(error.code or 500, error.description or error.name)


@bp.errorhandler(Exception)
def unexpected(error: Exception) -> ResponseReturnValue:
    """Log what failed and say so with a 503, as the APIs do."""
    log.exception("unexpected error on %s %s", request.method, request.path, extra=request_ids())
    return error_page(503, UNEXPECTED)


@bp.route("/<path:anything>", methods=["GET", "POST"])
def not_found(anything: str) -> ResponseReturnValue:
    """Answer a console path that is no page with the console's 404."""
    return error_page(404, NO_PAGE)
