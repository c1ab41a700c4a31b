"""Reading request bodies and queries the way both REST dialects' clients send them."""

from __future__ import annotations

from typing import Any

from flask import request
from werkzeug.datastructures import Authorization

from routing.errors import InvalidInput

FORMS = ("application/x-www-form-urlencoded", "multipart/form-data")


def body() -> dict[str, Any]:
    """Return the request's JSON object (or form fields); an unreadable body is a 400 that says so."""
    if request.mimetype in FORMS:
        return request.form.to_dict()
    if not request.get_data(cache=True):
        return {}
    try:
        data = request.get_json(silent=True)
    except RecursionError:  # `silent` covers only ValueError; deeply nested JSON raises this instead
        data = None
    if data is None and request.get_data(cache=True).strip() != b"null":
        # not JSON, or JSON Python will not read (nested too deep, a number of over 4,300 digits)
        raise InvalidInput("body", "must be a JSON object: this body is not JSON that masq can read")
    if not isinstance(data, dict):
        raise InvalidInput("body", "must be a JSON object")
    return data


def query() -> dict[str, str]:
    """Return the query string as a dict; a repeated parameter is an error, not a silent pick."""
    result: dict[str, str] = {}
    for name, values in request.args.lists():
        if len(values) > 1:
            raise InvalidInput(name, "must be given once")
        result[name] = values[0]
    return result


def authorization() -> Authorization | None:
    """Return the request's `Authorization` header as werkzeug reads it, or None when there is none or it cannot
    be read (werkzeug raises on a Basic credential that is not ASCII): either way, no credential was given."""
    try:
        return request.authorization
    except (UnicodeError, ValueError):
        return None
