"""Tenants: who they are, their credentials, and checking them."""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass, replace

from routing import logins, rate_limit
from routing.errors import InvalidInput, NotFound, RateLimited, Unauthenticated
from routing.logins import NO_BOUND, LoginBudget
from routing.lua import Reply
from routing.store import Store

_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
AUTH_ID = re.compile(r"(MA|SA)[A-Z0-9]{18}")
API_KEY_FIELD = "api_key_sha256"  # the tenant record keeps only a digest of its API key
# The auth token itself signs the tenant's callbacks; credentials are checked against its digest, so that the
# token is never a script's argument (which SLOWLOG and MONITOR show).
AUTH_TOKEN_FIELD = "auth_token"
TOKEN_DIGEST_FIELD = "auth_token_sha256"
# The auth tokens masq issues: 40 letters and digits, as Plivo's.
AUTH_TOKEN_LENGTH = 40
# The random bytes of an API key, and the longest key masq issues: `mk_`, the auth_id, `_`, those bytes in
# URL-safe base64 without padding.
API_KEY_BYTES = 24
API_KEY_LENGTH = len("mk_") + 20 + len("_") + -(-API_KEY_BYTES * 4 // 3)


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


def _digest(secret: str) -> str:
    """Return the SHA-256 of `secret`, in hex: how a credential is compared, and an API key kept."""
    return hashlib.sha256(secret.encode()).hexdigest()


def create_tenant(store: Store, name: str, now: int, parent: str | None = None) -> Credentials:
    """Create a tenant (or, with `parent`, a subaccount of it) and return its new credentials."""
    if not name or len(name) > 200:
        raise InvalidInput("name", "must be 1 to 200 characters")
    if parent is not None and get_tenant(store, parent).parent:
        raise InvalidInput("parent", "a subaccount cannot have subaccounts")
    kind = "SA" if parent else "MA"
    while True:
        auth_id = kind + "".join(secrets.choice(_ALPHABET) for _ in range(18))
        auth_token = "".join(secrets.choice(_ALPHABET + _ALPHABET.lower()) for _ in range(AUTH_TOKEN_LENGTH))
        api_key = f"mk_{auth_id}_{secrets.token_urlsafe(API_KEY_BYTES)}"
        created = store.redis.hsetnx(store.keys.tenant(auth_id), "name", name)
        if created:
            break
    store.redis.hset(
        store.keys.tenant(auth_id),
        mapping={
            AUTH_TOKEN_FIELD: auth_token,
            TOKEN_DIGEST_FIELD: _digest(auth_token),
            API_KEY_FIELD: _digest(api_key),
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
    token = store.redis.hget(store.keys.tenant(auth_id), AUTH_TOKEN_FIELD)
    if token is None:
        raise NotFound(f"no account {auth_id!r}")
    return str(token)


@dataclass(frozen=True)
class Credential:
    """A credential presented for a tenant from a client address, the rate limit a request that passes counts
    against, and the failed logins its client is allowed (`routing.logins`)."""

    auth_id: str
    field: str  # the tenant record's field holding the digest it must match
    given: str  # the SHA-256 of the secret presented, never the secret itself
    limit: int = 0
    window: float = 0
    address: str = logins.NO_ADDRESS  # as `logins.client_address` names it
    failures: LoginBudget = NO_BOUND
    issued: bool = True  # False: the secret is longer than any masq issues, so it is refused without Redis

    def arguments(self) -> list[object]:
        """Return the arguments of the Lua `check` (`credential` in routing/lua/credentials.lua)."""
        interval, tolerance = rate_limit.spacing(self.limit, self.window) or (0, 0)
        plain = AUTH_TOKEN_FIELD if self.field == TOKEN_DIGEST_FIELD else ""
        return [self.field, plain, self.given, interval, tolerance, self.address, *self.failures.script_args()]

    def possible(self) -> bool:
        """Return whether the credential can be any tenant's at all (if not, nothing need be read to refuse it)."""
        return self.issued and AUTH_ID.fullmatch(self.auth_id) is not None

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


def basic_credential(
    auth_id: str,
    auth_token: str,
    limit: int = 0,
    window: float = 0,
    address: str = logins.NO_ADDRESS,
    failures: LoginBudget = NO_BOUND,
) -> Credential:
    """Return the HTTP Basic credential `auth_id:auth_token` from client `address` (`logins.client_address`),
    counted against `limit` requests per `window` s, its client allowed the failed logins of `failures`."""
    token = auth_token or ""
    issued = len(token) <= AUTH_TOKEN_LENGTH
    given = _digest(token) if issued else ""
    return Credential(auth_id or "", TOKEN_DIGEST_FIELD, given, limit, window, address, failures, issued)


def api_key_credential(
    api_key: str,
    limit: int = 0,
    window: float = 0,
    address: str = logins.NO_ADDRESS,
    failures: LoginBudget = NO_BOUND,
) -> Credential:
    """Return the credential an API key is (`mk_{auth_id}_…`: it names its tenant), as `basic_credential`."""
    key = api_key or ""
    issued = len(key) <= API_KEY_LENGTH
    parts = key.split("_") if issued else []
    auth_id = parts[1] if len(parts) >= 3 and parts[0] == "mk" else ""
    given = _digest(key) if issued else ""
    return Credential(auth_id, API_KEY_FIELD, given, limit, window, address, failures, issued)


def admit(store: Store, credential: Credential, now: int) -> Tenant:
    """Return the tenant `credential` is right for, counting the request against the credential's rate limit.

    One round trip (see `run_checked`); the request counts only once the credential is right, and a refused one
    counts nothing but a failed login. Unauthenticated when the credential is wrong, NotFound when it has no
    tenant record, TooManyFailedLogins when its client may not try now, RateLimited over the limit.
    """
    return checked(credential, run_checked(store, credential, now, "check.lua"))


def run_checked(store: Store, credential: Credential, now: int, script: str, *args: object) -> Reply:
    """Run the tenant script `script`, which checks `credential` with credentials.lua's `check`, with `args` then
    the credential's arguments; return its reply for `checked` to read.

    A credential that cannot be any tenant's is refused (Unauthenticated) without Redis. Otherwise one round trip,
    and one more before it from a client address this process has seen fail lately (TooManyFailedLogins while that
    address has spent its failed logins) and one more after a wrong credential (to count it for its address over
    every account): see `routing.logins`. A tenant record written before masq kept its token's digest is given
    one first (`digest_token`) and checked again.
    """
    if not credential.possible():
        raise credential.refusal()
    logins.hold_if_failing(store, credential.address, credential.failures, now)
    reply = store.run(script, credential.auth_id, now, *args, *credential.arguments())
    if reply["verdict"] == "undigested":
        digest_token(store, credential.auth_id)
        reply = store.run(script, credential.auth_id, now, *args, *credential.arguments())
    if reply["verdict"] == "refused":
        logins.count_failure(store, credential.address, credential.failures, now)
    return reply


def digest_token(store: Store, auth_id: str) -> None:
    """Keep the digest of the tenant's auth token beside it, for a record written before masq kept one."""
    token = store.redis.hget(store.keys.tenant(auth_id), AUTH_TOKEN_FIELD)
    if token:
        store.redis.hset(store.keys.tenant(auth_id), TOKEN_DIGEST_FIELD, _digest(str(token)))


def checked(credential: Credential, reply: Reply) -> Tenant:
    """Return the tenant from the Lua `check`'s named `reply` (`verdict`, `name`, `parent`, `wait`, `by`), or raise
    why not (Unauthenticated, NotFound, TooManyFailedLogins, RateLimited)."""
    verdict = reply["verdict"]
    if verdict == "held":
        raise logins.too_many(str(reply["by"]), int(reply["wait"]))
    if verdict in ("refused", "undigested"):  # undigested still: the record changed under the check
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
