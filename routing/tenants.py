"""Tenants: who they are, their credentials, and checking them."""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass, replace

from routing import rate_limit
from routing.errors import InvalidInput, NotFound, RateLimited, Unauthenticated
from routing.lua import Reply
from routing.store import Store

_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
AUTH_ID = re.compile(r"(MA|SA)[A-Z0-9]{18}")
API_KEY_FIELD = "api_key_sha256"  # the tenant record keeps only a digest of its API key


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
            API_KEY_FIELD: _hash_key(api_key),
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

    def possible(self) -> bool:
        """Return whether the credential can be any tenant's at all (if not, nothing need be read to refuse it)."""
        return AUTH_ID.fullmatch(self.auth_id) is not None

    def uncounted(self) -> Credential:
        """Return the same credential checked without counting the request against a rate limit."""
        return replace(self, limit=0, window=0)

    def refusal(self) -> Unauthenticated:
        """Return the error that says this credential is not a tenant's."""
        if self.field == API_KEY_FIELD:
            return Unauthenticated("authentication failed: missing or unknown X-API-Key")
        return Unauthenticated("authentication failed: wrong auth_id or auth_token")

    def over_the_limit(self, retry_after: int) -> RateLimited:
        """Return the error for a request over this credential's rate limit, to retry after `retry_after` s."""
        return RateLimited(
            retry_after,
            f"too many requests: at most {self.limit} every {self.window:g} s; retry after {retry_after} s",
        )


def basic_credential(auth_id: str, auth_token: str, limit: int = 0, window: float = 0) -> Credential:
    """Return the HTTP Basic credential `auth_id:auth_token`, counted against `limit` requests per `window` s."""
    return Credential(auth_id or "", "auth_token", auth_token or "", limit, window)


def api_key_credential(api_key: str, limit: int = 0, window: float = 0) -> Credential:
    """Return the credential an API key is (`mk_{auth_id}_…`: it names its tenant), counted as `basic_credential`."""
    parts = (api_key or "").split("_")
    auth_id = parts[1] if len(parts) >= 3 and parts[0] == "mk" else ""
    return Credential(auth_id, API_KEY_FIELD, _hash_key(api_key or ""), limit, window)


def admit(store: Store, credential: Credential, now: int) -> Tenant:
    """Return the tenant `credential` is right for, counting the request against the credential's rate limit.

    One round trip; the request counts only once the credential is right, and a refused one counts nothing.
    Unauthenticated when the credential is wrong, NotFound when it has no tenant record, RateLimited over the limit.
    """
    if not credential.possible():
        raise credential.refusal()
    return checked(credential, store.run("check.lua", credential.auth_id, now, *credential.arguments()))


def checked(credential: Credential, reply: Reply) -> Tenant:
    """Return the tenant from the Lua `check`'s named `reply` (`verdict`, `name`, `parent`, `wait`), or raise why."""
    verdict = reply["verdict"]
    if verdict == "refused":
        raise credential.refusal()
    if verdict == "unknown":
        raise NotFound(f"no account {credential.auth_id!r}")
    admission = rate_limit.admission(int(reply["wait"]))
    if not admission.allowed:
        raise credential.over_the_limit(admission.retry_after)
    return Tenant(credential.auth_id, str(reply["name"]), str(reply["parent"]))


def subaccount_of(store: Store, parent: Tenant, auth_id: str) -> Tenant:
    """Return `auth_id` if it is a subaccount of `parent`; anything else is InvalidInput naming `subaccount`."""
    try:
        sub = get_tenant(store, auth_id)
    except NotFound:
        sub = None
    if sub is None or sub.parent != parent.auth_id:
        raise InvalidInput("subaccount", f"{auth_id!r} is not a subaccount of this account")
    return sub
