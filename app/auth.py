"""Request authentication for the two REST dialects, as view decorators."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import Response, current_app, g, request

from app.errors import error_response
from app.extensions import store
from routing import rate_limit
from routing.clock import now_us
from routing.errors import Unauthenticated
from routing.tenants import authenticate_api_key, authenticate_basic


def over_rate_limit(auth_id: str) -> Response | None:
    """Return a 429 with `Retry-After` when the tenant is over MASQ_RATE_LIMIT per MASQ_RATE_WINDOW s."""
    limit, window = current_app.config["MASQ_RATE_LIMIT"], current_app.config["MASQ_RATE_WINDOW"]
    admission = rate_limit.admit(store(), auth_id, now_us(), limit, window)
    if admission.allowed:
        return None
    response = error_response(429, f"too many requests: at most {limit} every {window:g} s; "
                                   f"retry after {admission.retry_after} s")
    response.headers["Retry-After"] = str(admission.retry_after)
    return response


def basic_auth(view: Callable[..., Any]) -> Callable[..., Any]:
    """Require HTTP Basic `auth_id:auth_token` matching the path's `auth_id`, within the rate limit; sets `g.tenant`."""

    @wraps(view)
    def wrapped(auth_id: str, **kwargs: Any) -> Any:
        credentials = request.authorization
        if credentials is None or credentials.type != "basic":
            raise Unauthenticated("authentication required: HTTP Basic with your auth_id and auth_token")
        tenant = authenticate_basic(store(), credentials.username or "", credentials.password or "")
        if tenant.auth_id != auth_id:
            raise Unauthenticated("the auth_id in the URL does not match the credentials")
        g.tenant = tenant
        refused = over_rate_limit(tenant.auth_id)
        return refused if refused is not None else view(**kwargs)

    return wrapped


def api_key_auth(view: Callable[..., Any]) -> Callable[..., Any]:
    """Require a valid `X-API-Key`, within the rate limit; sets `g.tenant`."""

    @wraps(view)
    def wrapped(**kwargs: Any) -> Any:
        key = request.headers.get("X-API-Key", "")
        if not key:
            raise Unauthenticated("authentication required: send your API key in X-API-Key")
        g.tenant = authenticate_api_key(store(), key)
        refused = over_rate_limit(g.tenant.auth_id)
        return refused if refused is not None else view(**kwargs)

    return wrapped
