"""One HTTP delivery of a tenant callback: address checks, signing, bounded time, a clear outcome."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

import requests

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


def refusal(url: str, allow_private: bool) -> str:
    """Return why `url` may not be called (scheme, unresolvable, private address), or `""` when it may."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "callback URLs must be http or https"
    if allow_private:
        return ""
    try:
        infos = socket.getaddrinfo(
            parts.hostname, parts.port or (443 if parts.scheme == "https" else 80), type=socket.SOCK_STREAM
        )
    except (socket.gaierror, UnicodeError) as exc:
        return f"cannot resolve {parts.hostname}: {exc}"
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%")[0])
        if not address.is_global or address.is_multicast:
            return f"{parts.hostname} resolves to {address}, which is not a public address"
    return ""


def send(http: requests.Session, delivery: Delivery, allow_private: bool = False) -> Outcome:
    """Send one signed callback and report the outcome; never raises for network trouble."""
    refused = refusal(delivery.url, allow_private)
    if refused:
        return Outcome(False, error=refused, retry=not refused.startswith("callback URLs"))
    headers = {
        **sign(delivery.auth_token, delivery.method, delivery.url, delivery.params),
        "Idempotency-Key": delivery.idempotency_key,
        "User-Agent": "masq-callbacks/1",
    }
    data = dict(delivery.params)
    try:
        if delivery.method == "GET":
            response = http.get(
                delivery.url,
                params=data,
                headers=headers,
                timeout=(CONNECT_TIMEOUT, READ_TIMEOUT),
                allow_redirects=False,
            )
        else:
            response = http.post(
                delivery.url, data=data, headers=headers, timeout=(CONNECT_TIMEOUT, READ_TIMEOUT), allow_redirects=False
            )
    except requests.RequestException as exc:
        return Outcome(False, error=f"{type(exc).__name__}: {exc}"[:300])
    response.close()
    if 200 <= response.status_code < 300:
        return Outcome(True, status=response.status_code)
    return Outcome(False, status=response.status_code, error=f"HTTP {response.status_code}")
