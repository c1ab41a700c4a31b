"""One HTTP delivery of a tenant callback: address checks, signing, bounded time, a clear outcome.

The URL is parsed once (`routing.urls.parse_url`) and its host resolved once (`callback_addresses`); the
request then goes to the checked address itself, with the URL's host in `Host` and, for https, as the TLS
server name (SNI) that the certificate is verified against. Nothing resolves the name again in between, so a
name that answers differently the second time (DNS rebinding) cannot move the connection.

A send has `DEADLINE` s in all, for connecting, sending and reading the answer's head and body
(workers/send_deadline.py shuts its socket when they are up: an endpoint that answers a byte at a time cannot hold a
thread longer), and reads at most `BODY_MOST` bytes of the body, which is never used: only the status counts. A
body longer than that closes the connection. An overrun is a failed attempt, retried with the back-off.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http.cookiejar import DefaultCookiePolicy
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import HTTPError, NewConnectionError

from routing.urls import TenantURL, parse_url
from workers.callback_addresses import Address, Refused, addresses
from workers.send_deadline import WATCHED_POOLS, watch
from workers.signature import sign

CONNECT_TIMEOUT = 3.05
READ_TIMEOUT = 10.0
DEADLINE = 15.0
BODY_MOST = 64 * 1024


@dataclass(frozen=True)
class Delivery:
    """What to send: the tenant's URL and method, the event's parameters and the signing token."""

    url: str
    method: str
    params: Mapping[str, str]
    auth_token: str
    idempotency_key: str


@dataclass(frozen=True)
class Outcome:
    """How a delivery went: delivered on any 2xx; otherwise the status or error, and whether to retry."""

    delivered: bool
    status: int | None = None
    error: str = ""
    retry: bool = True


class PinnedAdapter(HTTPAdapter):
    """Connect to the address written in the URL; for https, ask for and verify the certificate of `Host`'s name.

    urllib3's `server_hostname` sets the name sent in SNI and, with the standard library's hostname check on,
    the name the certificate must match; it is part of urllib3's pool key, so no connection is shared between
    names.
    """

    def build_connection_pool_key_attributes(
        self, request: requests.PreparedRequest, verify: Any, cert: Any = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        host_params, pool_kwargs = super().build_connection_pool_key_attributes(request, verify, cert)
        host = request.headers.get("Host")
        if host_params["scheme"] == "https" and isinstance(host, str) and host and not host.startswith("["):
            pool_kwargs["server_hostname"] = host.rpartition(":")[0] or host
        return host_params, pool_kwargs


def callback_session(pool_size: int = 16) -> requests.Session:
    """Return an HTTP session for `send`: pinned and watched connections (`send`'s deadline), no retries, and no
    cookies kept between tenants."""
    http = requests.Session()
    adapter = PinnedAdapter(pool_connections=pool_size, pool_maxsize=pool_size, max_retries=0)
    adapter.poolmanager.pool_classes_by_scheme = WATCHED_POOLS
    http.mount("http://", adapter)
    http.mount("https://", adapter)
    http.cookies.set_policy(DefaultCookiePolicy(allowed_domains=[]))
    return http


def destination(url: str, allow_private: bool) -> tuple[TenantURL, tuple[Address, ...]]:
    """Return the parsed URL and the checked addresses to connect to; raise Refused when it may not be called."""
    try:
        parsed = parse_url(url)
    except ValueError as exc:
        raise Refused(f"callback URL refused: it {exc}", retry=False) from exc
    return parsed, addresses(parsed, allow_private)


def url_at(url: TenantURL, address: Address) -> str:
    """Return `url` with its host replaced by `address`: where the request connects."""
    host = f"[{address}]" if isinstance(address, ipaddress.IPv6Address) else str(address)
    return f"{url.scheme}://{host}:{url.port}{url.target}"


def send(
    http: requests.Session, delivery: Delivery, allow_private: bool = False, deadline: float = DEADLINE
) -> Outcome:
    """Send one signed callback over `http` (from `callback_session`) within `deadline` s in all, and report the
    outcome; never raises.

    The addresses are tried in order only while a connection cannot be opened (nothing was sent yet).
    """
    with watch(deadline) as watched:
        try:
            url, checked = destination(delivery.url, allow_private)
        except Refused as refused:
            return Outcome(False, error=refused.message, retry=refused.retry)
        outcome = _send_to(http, delivery, url, checked, watched.left)
        if watched.overran:  # what was read may look whole (a cut header block still parses): it is not
            return Outcome(False, status=outcome.status, error=f"no whole answer within {deadline:g} s")
        return outcome


def _send_to(
    http: requests.Session,
    delivery: Delivery,
    url: TenantURL,
    checked: tuple[Address, ...],
    left: Callable[[], float],
) -> Outcome:
    headers = {
        **sign(delivery.auth_token, delivery.method, delivery.url, delivery.params),
        "Idempotency-Key": delivery.idempotency_key,
        "User-Agent": "masq-callbacks/1",
        "Host": url.authority,
    }
    data = dict(delivery.params)
    error = "no address to connect to"
    for address in checked:
        seconds = left()
        if seconds <= 0:
            break
        try:
            response = http.request(
                delivery.method,
                url_at(url, address),
                params=data if delivery.method == "GET" else None,
                data=data if delivery.method != "GET" else None,
                headers=headers,
                timeout=(min(CONNECT_TIMEOUT, seconds), min(READ_TIMEOUT, seconds)),
                allow_redirects=False,
                stream=True,
            )
        except requests.RequestException as exc:
            error = f"{type(exc).__name__}: {exc}"[:300]
            if never_connected(exc):
                continue
            break
        try:
            skip_body(response)
        except (HTTPError, OSError) as exc:
            return Outcome(False, status=response.status_code, error=f"{type(exc).__name__}: {exc}"[:300])
        finally:
            response.close()
        if 200 <= response.status_code < 300:
            return Outcome(True, status=response.status_code)
        return Outcome(False, status=response.status_code, error=f"HTTP {response.status_code}")
    return Outcome(False, error=error)


def skip_body(response: requests.Response) -> None:
    """Read the answer's body, as sent (no decoding), up to BODY_MOST bytes: a body read to its end leaves the
    connection for the next send; a longer one is left unread, and closing the response closes its connection."""
    taken = 0
    for chunk in response.raw.stream(16 * 1024, decode_content=False):
        taken += len(chunk)
        if taken > BODY_MOST:
            return


def never_connected(error: requests.RequestException) -> bool:
    """Return whether the request failed before a connection was open, so that nothing was sent."""
    reason = getattr(error.args[0], "reason", None) if error.args else None
    return isinstance(error, requests.ConnectTimeout) or isinstance(reason, NewConnectionError)
