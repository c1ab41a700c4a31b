"""Request authentication for the two REST dialects, as view decorators."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import g, request

from app.extensions import store
from routing.errors import Unauthenticated
from routing.tenants import authenticate_api_key, authenticate_basic


def basic_auth(view: Callable[..., Any]) -> Callable[..., Any]:
    """Require HTTP Basic `auth_id:auth_token` matching the `auth_id` in the path; sets `g.tenant`."""

    @wraps(view)
    def wrapped(auth_id: str, **kwargs: Any) -> Any:
        credentials = request.authorization
        if credentials is None or credentials.type != "basic":
            raise Unauthenticated("authentication required: HTTP Basic with your auth_id and auth_token")
        tenant = authenticate_basic(store(), credentials.username or "", credentials.password or "")
        if tenant.auth_id != auth_id:
            raise Unauthenticated("the auth_id in the URL does not match the credentials")
        g.tenant = tenant
        return view(**kwargs)

    return wrapped


def api_key_auth(view: Callable[..., Any]) -> Callable[..., Any]:
    """Require a valid `X-API-Key`; sets `g.tenant`."""

    @wraps(view)
    def wrapped(**kwargs: Any) -> Any:
        key = request.headers.get("X-API-Key", "")
        if not key:
            raise Unauthenticated("authentication required: send your API key in X-API-Key")
        g.tenant = authenticate_api_key(store(), key)
        return view(**kwargs)

    return wrapped
