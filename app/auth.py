"""Request authentication for the two REST dialects: the credential each sends, and the view decorators."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from typing import Any

from flask import current_app, g, request
from werkzeug.exceptions import HTTPException

from app.extensions import login_budget, store
from app.logs import AUTH_ID
from app.request_data import authorization
from routing import logins, tenants
from routing.errors import InvalidInput, NotFound, RoutingError, TooManyFailedLogins, Unauthenticated
from routing.tenants import Credential, Tenant


def bounds() -> tuple[int, float, str, logins.LoginBudget]:
    """Return what a credential of this request is checked with: MASQ_RATE_LIMIT requests per MASQ_RATE_WINDOW s,
    the client's address (the WSGI server's REMOTE_ADDR, `logins.client_address`) and its failed logins allowed."""
    config = current_app.config
    address = logins.client_address(request.remote_addr)
    return config["MASQ_RATE_LIMIT"], config["MASQ_RATE_WINDOW"], address, login_budget()


def basic_credential(auth_id: str) -> Credential:
    """Return the request's HTTP Basic credential; 401 when there is none or it names another account than `auth_id`."""
    given = authorization()
    if given is None or given.type != "basic":
        raise Unauthenticated("authentication required: HTTP Basic with your auth_id and auth_token")
    credential = tenants.basic_credential(given.username or "", given.password or "", *bounds())
    if credential.auth_id != auth_id:
        tenants.admit(store(), credential.uncounted(), store().now_us())  # wrong credentials are told so first
        raise Unauthenticated("the auth_id in the URL does not match the credentials")
    return credential


def api_key_credential() -> Credential:
    """Return the request's `X-API-Key` credential, refusing (401) a request without one."""
    key = request.headers.get("X-API-Key", "")
    if not key:
        raise Unauthenticated("authentication required: send your API key in X-API-Key")
    return tenants.api_key_credential(key, *bounds())


@contextmanager
def on_behalf_of(credential: Credential) -> Iterator[None]:
    """Run the block for `credential`'s tenant, which this request's logs name once the credential has checked out.

    A request that cannot be read or does not check out (400, 413) is authenticated and counted before it is
    told so: a wrong credential is a 401, and a tenant over its limit or a client held for its failed logins a 429,
    whatever the body.
    """
    try:
        try:
            yield
        except (InvalidInput, HTTPException):
            tenants.admit(store(), credential, store().now_us())
            raise
    except (Unauthenticated, NotFound, TooManyFailedLogins):  # no credential that checked out: nobody to name
        raise
    except (RoutingError, HTTPException):  # refused for what it asks, or over the limit: the credential was right
        _name_tenant(credential)
        raise
    _name_tenant(credential)


def _name_tenant(credential: Credential) -> None:
    """Make `credential`'s tenant the request's: `g.tenant` for the views, and the auth_id the logs name."""
    g.tenant = Tenant(credential.auth_id, name="")
    request.environ[AUTH_ID] = credential.auth_id


def admitted(credential: Credential) -> None:
    """Authenticate `credential` and count the request against its tenant's rate limit (401, 404, 429)."""
    with on_behalf_of(credential):
        tenants.admit(store(), credential, store().now_us())


def basic_auth(view: Callable[..., Any]) -> Callable[..., Any]:
    """Require HTTP Basic `auth_id:auth_token` matching the path's `auth_id`, within the rate limit; sets `g.tenant`."""

    @wraps(view)
    def wrapped(auth_id: str, **kwargs: Any) -> Any:
        admitted(basic_credential(auth_id))
        return view(**kwargs)

    return wrapped


def api_key_auth(view: Callable[..., Any]) -> Callable[..., Any]:
    """Require a valid `X-API-Key`, within the rate limit; sets `g.tenant`."""

    @wraps(view)
    def wrapped(**kwargs: Any) -> Any:
        admitted(api_key_credential())
        return view(**kwargs)

    return wrapped
