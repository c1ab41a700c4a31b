"""Where a tenant's callback may connect: the host's addresses, resolved once, each of them public.

An IPv6 address that carries an IPv4 one is judged by the IPv4 address: IPv4-mapped (`::ffff:127.0.0.1`),
IPv4-compatible (`::127.0.0.1`), IPv4-translated (`::ffff:0:7f00:1`, RFC 2765), NAT64's well-known prefix
(`64:ff9b::7f00:1`, RFC 6052) and 6to4 (`2002:7f00:1::1`, RFC 3056) all reach 127.0.0.1 through a translator
or a relay. Teredo (`2001::/32`, RFC 4380) and local-use NAT64 (`64:ff9b:1::/48`, RFC 8215) are refused whole:
what they reach depends on the network they are used in. Any other IPv6 address must be global unicast
(`2000::/3`, which leaves out site-local `fec0::/10` and SRv6's `5f00::/16`) and not documentation (`2001:db8::/32`,
`3fff::/20`, RFC 9637), whatever this Python's table of special addresses knows.
"""

from __future__ import annotations

import ipaddress
import socket

from routing.urls import TenantURL

Address = ipaddress.IPv4Address | ipaddress.IPv6Address

# A name may resolve to many addresses; each is tried in turn (3 s each) only until one accepts.
MAX_ADDRESSES = 3
REFUSED_WHOLE = tuple(
    ipaddress.IPv6Network(network) for network in ("2001::/32", "64:ff9b:1::/48", "2001:db8::/32", "3fff::/20")
)
GLOBAL_UNICAST = ipaddress.IPv6Network("2000::/3")
NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
COMPATIBLE = ipaddress.IPv6Network("::/96")
TRANSLATED = ipaddress.IPv6Network("::ffff:0:0:0/96")


class Refused(Exception):
    """The callback may not be sent; `retry` says whether a later try might succeed (DNS can change)."""

    def __init__(self, message: str, retry: bool) -> None:
        super().__init__(message)
        self.message = message
        self.retry = retry


def embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """Return the IPv4 address that an IPv4-mapped, -compatible, -translated, NAT64 or 6to4 address reaches."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in NAT64 or address in COMPATIBLE or address in TRANSLATED:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def is_public(address: Address) -> bool:
    """Return whether `address` reaches the public internet only (not loopback, private, link-local, …)."""
    if isinstance(address, ipaddress.IPv6Address):
        if any(address in network for network in REFUSED_WHOLE):
            return False
        inner = embedded_ipv4(address)
        if inner is not None:
            return is_public(inner)
        if address not in GLOBAL_UNICAST:
            return False
    return address.is_global and not address.is_multicast


def addresses(url: TenantURL, allow_private: bool) -> tuple[Address, ...]:
    """Return the addresses to connect to for `url`, in the resolver's order; raise Refused if any is private.

    The host is resolved here, once; the connection goes to these addresses and never resolves it again.
    """
    if url.address is not None:
        found: list[Address] = [url.address]
    else:
        try:
            infos = socket.getaddrinfo(url.host, url.port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError) as exc:
            raise Refused(f"cannot resolve {url.host}: {exc}", retry=True) from exc
        found = []
        for info in infos:
            address = ipaddress.ip_address(str(info[4][0]).split("%")[0])
            if address not in found:
                found.append(address)
        if not found:
            raise Refused(f"cannot resolve {url.host}: no address", retry=True)
    if not allow_private:
        for address in found:
            if not is_public(address):
                named = str(address) if url.address is not None else f"{url.host} resolves to {address}"
                raise Refused(f"{named}, which is not a public address", retry=True)
    return tuple(found[:MAX_ADDRESSES])
