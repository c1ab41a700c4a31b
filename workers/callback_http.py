"""One HTTP delivery of a tenant callback: address checks, signing, bounded time, a clear outcome.

The URL is parsed once (`routing.urls.parse_url`) and its host resolved once (`callback_addresses`); the
request then goes to the checked address itself, with the URL's host in `Host` and, for https, as the TLS
server name (SNI) that the certificate is verified against. Nothing resolves the name again in between, so a
name that answers differently the second time (DNS rebinding) cannot move the connection.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from http.cookiejar import DefaultCookiePolicy
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import NewConnectionError

from routing.urls import TenantURL, parse_url
from workers.callback_addresses import Address, Refused, addresses
from workers.signature import sign

CONNECT_TIMEOUT = 3.05
READ_TIMEOUT = 10.0


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
    """Return an HTTP session for `send`: pinned connections, no retries, and no cookies kept between tenants."""
    http = requests.Session()
    adapter = PinnedAdapter(pool_connections=pool_size, pool_maxsize=pool_size, max_retries=0)
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


def send(http: requests.Session, delivery: Delivery, allow_private: bool = False) -> Outcome:
    """Send one signed callback over `http` (from `callback_session`) and report the outcome; never raises.

    The addresses are tried in order only while a connection cannot be opened (nothing was sent yet).
    """
    try:
        url, checked = destination(delivery.url, allow_private)
    except Refused as refused:
        return Outcome(False, error=refused.message, retry=refused.retry)
    headers = {
        **sign(delivery.auth_token, delivery.method, delivery.url, delivery.params),
        "Idempotency-Key": delivery.idempotency_key,
        "User-Agent": "masq-callbacks/1",
        "Host": url.authority,
    }
    data = dict(delivery.params)
    error = "no address to connect to"
    for address in checked:
        try:
            response = http.request(
                delivery.method,
                url_at(url, address),
                params=data if delivery.method == "GET" else None,
                data=data if delivery.method != "GET" else None,
                headers=headers,
                timeout=(CONNECT_TIMEOUT, READ_TIMEOUT),
                allow_redirects=False,
            )
        except requests.RequestException as exc:
            error = f"{type(exc).__name__}: {exc}"[:300]
            if never_connected(exc):
                continue
            break
        response.close()
        if 200 <= response.status_code < 300:
            return Outcome(True, status=response.status_code)
        return Outcome(False, status=response.status_code, error=f"HTTP {response.status_code}")
    return Outcome(False, error=error)


def never_connected(error: requests.RequestException) -> bool:
    """Return whether the request failed before a connection was open, so that nothing was sent."""
    reason = getattr(error.args[0], "reason", None) if error.args else None
    return isinstance(error, requests.ConnectTimeout) or isinstance(reason, NewConnectionError)
