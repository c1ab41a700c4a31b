"""Tenants: who they are, their credentials, and checking them."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

from routing.errors import InvalidInput, NotFound, Unauthenticated
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
    store.redis.hset(store.keys.tenant(auth_id), mapping={
        "auth_token": auth_token, "api_key_sha256": _hash_key(api_key), "parent": parent or "", "created": now,
    })
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
    stored = name = parent = None
    if AUTH_ID.fullmatch(auth_id or ""):
        # One round trip for the token and the tenant it unlocks (this runs on every API request).
        stored, name, parent = store.redis.hmget(store.keys.tenant(auth_id), "auth_token", "name", "parent")
    expected = str(stored or secrets.token_hex(20)).encode()
    if not hmac.compare_digest(expected, (auth_token or "").encode()) or stored is None:
        raise Unauthenticated("authentication failed: wrong auth_id or auth_token")
    if name is None:
        raise NotFound(f"no account {auth_id!r}")
    return Tenant(auth_id, str(name), str(parent or ""))


def authenticate_api_key(store: Store, api_key: str) -> Tenant:
    """Return the tenant owning `api_key`; keys are stored only as SHA-256 digests."""
    parts = (api_key or "").split("_")
    auth_id = parts[1] if len(parts) >= 3 and parts[0] == "mk" else ""
    stored = None
    if AUTH_ID.fullmatch(auth_id):
        stored = store.redis.hget(store.keys.tenant(auth_id), "api_key_sha256")
    expected = str(stored or _hash_key(secrets.token_hex(20)))
    if not hmac.compare_digest(expected.encode(), _hash_key(api_key or "").encode()) or stored is None:
        raise Unauthenticated("authentication failed: missing or unknown X-API-Key")
    return get_tenant(store, auth_id)


def subaccount_of(store: Store, parent: Tenant, auth_id: str) -> Tenant:
    """Return `auth_id` if it is a subaccount of `parent`; anything else is not found."""
    try:
        sub = get_tenant(store, auth_id)
    except NotFound:
        sub = None
    if sub is None or sub.parent != parent.auth_id:
        raise InvalidInput("subaccount", f"{auth_id!r} is not a subaccount of this account")
    return sub
