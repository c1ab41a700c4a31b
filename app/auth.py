"""Request authentication for the two REST dialects, as view decorators."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import Response, current_app, g, request

from app.errors import error_response
from app.extensions import store
from routing.clock import now_us
from routing.errors import Unauthenticated
from routing.rate_limit import Admission
from routing.tenants import Tenant, admit_api_key, admit_basic, authenticate_basic


def rate_limit() -> tuple[int, float]:
    """Return MASQ_RATE_LIMIT and MASQ_RATE_WINDOW: requests a tenant may make per window of seconds."""
    config = current_app.config
    return config["MASQ_RATE_LIMIT"], config["MASQ_RATE_WINDOW"]


def too_many_requests(admission: Admission) -> Response:
    """Return the 429, with `Retry-After`, for a tenant over MASQ_RATE_LIMIT per MASQ_RATE_WINDOW s."""
    limit, window = rate_limit()
    response = error_response(
        429, f"too many requests: at most {limit} every {window:g} s; retry after {admission.retry_after} s"
    )
    response.headers["Retry-After"] = str(admission.retry_after)
    return response


def basic_credentials(auth_id: str) -> tuple[str, str]:
    """Return the request's HTTP Basic auth_id and auth token, refusing any that do not name `auth_id`."""
    credentials = request.authorization
    if credentials is None or credentials.type != "basic":
        raise Unauthenticated("authentication required: HTTP Basic with your auth_id and auth_token")
    username, password = credentials.username or "", credentials.password or ""
    if username != auth_id:
        authenticate_basic(store(), username, password)  # wrong credentials are told so first, as for any request
        raise Unauthenticated("the auth_id in the URL does not match the credentials")
    return username, password


def admitted(tenant: Tenant, admission: Admission, view: Callable[..., Any], kwargs: dict[str, Any]) -> Any:
    """Run `view` for the authenticated `tenant` (set as `g.tenant`) if its rate limit admits the request."""
    g.tenant = tenant
    return view(**kwargs) if admission.allowed else too_many_requests(admission)


def basic_auth(view: Callable[..., Any]) -> Callable[..., Any]:
    """Require HTTP Basic `auth_id:auth_token` matching the path's `auth_id`, within the rate limit; sets `g.tenant`."""

    @wraps(view)
    def wrapped(auth_id: str, **kwargs: Any) -> Any:
        username, password = basic_credentials(auth_id)
        tenant, admission = admit_basic(store(), username, password, now_us(), *rate_limit())
        return admitted(tenant, admission, view, kwargs)

    return wrapped


def api_key_auth(view: Callable[..., Any]) -> Callable[..., Any]:
    """Require a valid `X-API-Key`, within the rate limit; sets `g.tenant`."""

    @wraps(view)
    def wrapped(**kwargs: Any) -> Any:
        key = request.headers.get("X-API-Key", "")
        if not key:
            raise Unauthenticated("authentication required: send your API key in X-API-Key")
        tenant, admission = admit_api_key(store(), key, now_us(), *rate_limit())
        return admitted(tenant, admission, view, kwargs)

    return wrapped
