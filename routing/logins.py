"""How many failed logins a client may make before masq stops checking its credentials for a while.

A wrong credential on the REST APIs is a failed login. Each is counted in Redis, so every web process agrees, in
three budgets, each GCRA (as `routing.rate_limit`'s): `failures` at once, then one more every
`window / failures` seconds.

- **An address at one account**: the failures from one client address at one tenant, counted and checked in the
  same script call that checks the credential (routing/lua/credentials.lua), so a create stays one round trip.
- **An account from every address**: `account_failures` per `window`. When it is spent, an address with a failure
  of its own on record at the account is held too, but an address without one never is: a tenant's servers that
  send the right credential keep working while others guess at the account from elsewhere.
- **An address at every account**: the same budget as an address's at one account, for a client that tries many
  accounts. Its key is global (in a cluster slot of its own, apart from any tenant's), so it cannot be read by the
  tenant's script: it is counted in a round trip after a wrong credential, and read in a round trip before the
  credential is checked only from an address that this web process has seen fail lately (`Store.failing_addresses`).
  A client on that bound may thus have one more try answered on each web process that has not yet seen it fail.

A client over a budget is answered `TooManyFailedLogins` (a 429 with `Retry-After`: the whole seconds until the
budget takes another failure, or until the address's own record is gone) and its credential is not looked at.
A right credential counts nothing and clears nothing. A credential longer than any masq issues is refused
before Redis and is not counted: it cannot be right and it costs Redis nothing.

Addresses are the WSGI server's REMOTE_ADDR (`client_address`): an IPv6 client is counted by its /64, what one
subscriber is usually given. Behind a proxy that does not pass the client's address as REMOTE_ADDR, every client
shares the proxy's address and so its budgets.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from functools import cache

from routing import rate_limit
from routing.errors import TooManyFailedLogins
from routing.rate_limit import admission
from routing.store import Store

# The defaults of MASQ_LOGIN_FAILURES, MASQ_LOGIN_WINDOW and MASQ_ACCOUNT_LOGIN_FAILURES (see `routing.settings`):
# a client that mistypes gets ten tries at once and one more a minute; an account takes a hundred failures from
# everywhere, then one more every 6 s, before the addresses that failed there wait.
FAILURES = 10
WINDOW = 600.0
ACCOUNT_FAILURES = 100
# The most addresses a web process remembers as having failed lately: bounded, however many addresses fail.
KEPT = 10_000
# What a client without an IP address (a Unix socket's) is counted as.
NO_ADDRESS = "unknown"
_IPV4_MAPPED = bytes(10) + b"\xff\xff"  # the first 12 bytes of `::ffff:a.b.c.d`


@dataclass(frozen=True)
class LoginBudget:
    """Failed logins allowed: `failures` per `window` s from one address (0 for either: no bound at all), and
    `account_failures` per `window` s at one account from every address (0: no account bound)."""

    failures: int = FAILURES
    window: float = WINDOW
    account_failures: int = ACCOUNT_FAILURES

    def bounded(self) -> bool:
        """Return whether failed logins are bounded at all (MASQ_LOGIN_FAILURES and MASQ_LOGIN_WINDOW above 0)."""
        return self.script_args()[0] > 0

    def address_spacing(self) -> tuple[int, int]:
        """Return GCRA's interval and tolerance in µs for one address's failures; (0, 0) when unbounded."""
        return self.script_args()[:2]

    def script_args(self) -> tuple[int, int, int, int]:
        """Return the address's and the account's GCRA interval and tolerance, in µs, as credentials.lua takes them."""
        return _spacings(self.failures, self.window, self.account_failures)


@cache  # a request asks for them every time, and a process has one budget
def _spacings(failures: int, window: float, account_failures: int) -> tuple[int, int, int, int]:
    address = rate_limit.spacing(failures, window)
    if address is None:
        return (0, 0, 0, 0)
    return (*address, *(rate_limit.spacing(account_failures, window) or (0, 0)))


NO_BOUND = LoginBudget(0, 0, 0)


def client_address(remote_addr: str | None) -> str:
    """Return the name failed logins from `remote_addr` are counted under: an IPv4 address, an IPv6 /64 (as
    `2001:db8:1:2::/64`; an IPv4-mapped one as its IPv4), or NO_ADDRESS for anything that is not an IP address.

    (`socket`'s parsers, not `ipaddress`: this runs on every request, and they take a few per cent of its time.)
    """
    text = remote_addr or ""
    try:
        socket.inet_pton(socket.AF_INET, text)
        return text
    except OSError:
        pass
    try:
        packed = socket.inet_pton(socket.AF_INET6, text)
    except OSError:
        return NO_ADDRESS
    if packed[:12] == _IPV4_MAPPED:
        return socket.inet_ntop(socket.AF_INET, packed[12:])
    return socket.inet_ntop(socket.AF_INET6, packed[:8] + bytes(8)) + "/64"


def hold_if_failing(store: Store, address: str, budget: LoginBudget, now: int) -> None:
    """Raise TooManyFailedLogins when `address` has spent its failed logins over every account.

    Redis is asked (one round trip) only when this process has seen the address fail lately.
    """
    until = store.failing_addresses.get(address)
    if until is None or not budget.bounded():
        return
    if until <= now:
        store.failing_addresses.pop(address, None)
        return
    wait = _failed_logins_by(store, address, budget, now, count=False)
    if wait > 0:
        raise too_many("address", wait)


def count_failure(store: Store, address: str, budget: LoginBudget, now: int) -> None:
    """Count a failed login from `address` against its budget over every account (one round trip)."""
    if budget.bounded():
        _failed_logins_by(store, address, budget, now, count=True)


def too_many(by: str, wait_us: int) -> TooManyFailedLogins:
    """Return the error for a client held `wait_us` µs for the failed logins from its `address` or at the `account`."""
    retry_after = admission(wait_us).retry_after
    where = "from this address" if by == "address" else "at this account"
    return TooManyFailedLogins(retry_after, f"too many failed logins {where}; retry after {retry_after} s")


def _failed_logins_by(store: Store, address: str, budget: LoginBudget, now: int, count: bool) -> int:
    """Run failed_logins_by.lua for `address` (counting a failure first when `count`); remember until when the
    address has failures on record; return the µs until it may fail again."""
    reply = store.run_global(
        "failed_logins_by.lua", store.keys.failed_logins_by(address), now, *budget.address_spacing(), int(count)
    )
    clear = int(reply["clear"])
    if clear <= 0:
        store.failing_addresses.pop(address, None)
    else:
        if len(store.failing_addresses) >= KEPT:
            store.failing_addresses.clear()
        store.failing_addresses[address] = now + clear
    return int(reply["wait"])
