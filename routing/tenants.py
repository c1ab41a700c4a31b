"""Tenants: who they are, their credentials, and checking them."""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass

from routing import rate_limit
from routing.errors import InvalidInput, NotFound, Unauthenticated
from routing.lua import Reply
from routing.rate_limit import Admission
from routing.store import Store

_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
AUTH_ID = re.compile(r"(MA|SA)[A-Z0-9]{18}")


@dataclass(frozen=True)
class Tenant:
    """A tenant as the domain sees it; secrets stay in the store."""

    auth_id: str
    name: str
    parent: str = ""


@dataclass(frozen=True)
class Credentials:
    """What a new tenant is told once: its auth_id, auth token and API key."""

    auth_id: str
    auth_token: str
    api_key: str


def _hash_key(api_key: str) -> str:
    return hashlib.sha256(api_key.encode()).hexdigest()


def create_tenant(store: Store, name: str, now: int, parent: str | None = None) -> Credentials:
    """Create a tenant (or, with `parent`, a subaccount of it) and return its new credentials."""
    if not name or len(name) > 200:
        raise InvalidInput("name", "must be 1 to 200 characters")
    if parent is not None and get_tenant(store, parent).parent:
        raise InvalidInput("parent", "a subaccount cannot have subaccounts")
    kind = "SA" if parent else "MA"
    while True:
        auth_id = kind + "".join(secrets.choice(_ALPHABET) for _ in range(18))
        auth_token = "".join(secrets.choice(_ALPHABET + _ALPHABET.lower()) for _ in range(40))
        api_key = f"mk_{auth_id}_{secrets.token_urlsafe(24)}"
        created = store.redis.hsetnx(store.keys.tenant(auth_id), "name", name)
        if created:
            break
    store.redis.hset(
        store.keys.tenant(auth_id),
        mapping={
            "auth_token": auth_token,
            "api_key_sha256": _hash_key(api_key),
            "parent": parent or "",
            "created": now,
        },
    )
    store.redis.sadd(store.keys.tenants(), auth_id)
    return Credentials(auth_id, auth_token, api_key)


def get_tenant(store: Store, auth_id: str) -> Tenant:
    """Return the tenant `auth_id`."""
    if not AUTH_ID.fullmatch(auth_id or ""):
        raise NotFound(f"no account {auth_id!r}")
    name, parent = store.redis.hmget(store.keys.tenant(auth_id), "name", "parent")
    if name is None:
        raise NotFound(f"no account {auth_id!r}")
    return Tenant(auth_id, str(name), str(parent or ""))


def auth_token_of(store: Store, auth_id: str) -> str:
    """Return the tenant's auth token (callbacks are signed with it, as Plivo signs them)."""
    token = store.redis.hget(store.keys.tenant(auth_id), "auth_token")
    if token is None:
        raise NotFound(f"no account {auth_id!r}")
    return str(token)


def authenticate_basic(store: Store, auth_id: str, auth_token: str) -> Tenant:
    """Return the tenant whose auth_id and auth token these are, comparing in constant time."""
    return admit_basic(store, auth_id, auth_token, 0, 0, 0)[0]


def admit_basic(
    store: Store, auth_id: str, auth_token: str, now: int, limit: int, window: float
) -> tuple[Tenant, Admission]:
    """Return the tenant whose auth_id and auth token these are, and whether its rate limit admits the request.

    The request counts against `limit` per `window` seconds (see `routing.rate_limit`) only once the token
    is right; `limit` 0 counts nothing.
    """
    result = run_check(store, basic_credential(auth_id, auth_token, limit, window), now)
    if result is None:
        raise basic_refusal()
    return result


def basic_refusal() -> Unauthenticated:
    """Return the error for HTTP Basic credentials that are not a tenant's."""
    return Unauthenticated("authentication failed: wrong auth_id or auth_token")


def authenticate_api_key(store: Store, api_key: str) -> Tenant:
    """Return the tenant owning `api_key`; keys are stored only as SHA-256 digests."""
    return admit_api_key(store, api_key, 0, 0, 0)[0]


def admit_api_key(store: Store, api_key: str, now: int, limit: int, window: float) -> tuple[Tenant, Admission]:
    """Return the tenant owning `api_key`, and whether its rate limit admits the request (as `admit_basic`)."""
    parts = (api_key or "").split("_")
    auth_id = parts[1] if len(parts) >= 3 and parts[0] == "mk" else ""
    credential = None
    if AUTH_ID.fullmatch(auth_id):
        credential = Credential(auth_id, "api_key_sha256", _hash_key(api_key), limit, window)
    result = run_check(store, credential, now)
    if result is None:
        raise Unauthenticated("authentication failed: missing or unknown X-API-Key")
    return result


@dataclass(frozen=True)
class Credential:
    """A credential presented for a tenant, and the rate limit a request that passes counts against."""

    auth_id: str
    field: str  # the tenant record's field it must match
    given: str
    limit: int = 0
    window: float = 0

    def arguments(self) -> list[object]:
        """Return the arguments of the Lua `check` (`credential` in routing/lua/credentials.lua)."""
        interval, tolerance = rate_limit.spacing(self.limit, self.window) or (0, 0)
        return [self.field, self.given, interval, tolerance]


def basic_credential(auth_id: str, auth_token: str, limit: int = 0, window: float = 0) -> Credential | None:
    """Return the HTTP Basic credential to check, or None when `auth_id` cannot be any tenant's."""
    if not AUTH_ID.fullmatch(auth_id or ""):
        return None
    return Credential(auth_id, "auth_token", auth_token or "", limit, window)


def run_check(store: Store, credential: Credential | None, now: int) -> tuple[Tenant, Admission] | None:
    """Run check.lua for `credential` (see `checked`); None when there is none to check."""
    if credential is None:
        return None
    return checked(credential, store.run("check.lua", credential.auth_id, now, *credential.arguments()))


def checked(credential: Credential, reply: Reply) -> tuple[Tenant, Admission] | None:
    """Return the tenant and its admission from the Lua `check`'s `reply`; None when the credential is wrong."""
    verdict = reply["verdict"]
    if verdict == "refused":
        return None
    if verdict == "unknown":
        raise NotFound(f"no account {credential.auth_id!r}")
    return Tenant(credential.auth_id, str(reply["name"]), str(reply["parent"])), rate_limit.admission(
        int(reply["wait"])
    )


def subaccount_of(store: Store, parent: Tenant, auth_id: str) -> Tenant:
    """Return `auth_id` if it is a subaccount of `parent`; anything else is not found."""
    try:
        sub = get_tenant(store, auth_id)
    except NotFound:
        sub = None
    if sub is None or sub.parent != parent.auth_id:
        raise InvalidInput("subaccount", f"{auth_id!r} is not a subaccount of this account")
    return sub
