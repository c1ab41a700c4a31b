"""The one reading of a URL a tenant gives masq (callbacks, play URLs): what is accepted and where it points.

The API checks each URL with `parse_url` when a session is opened or updated, and the callback worker parses
it again with the same function before each delivery (stored sessions may predate a rule), then connects to
the host this function found, never to one another parser might read. A URL is refused when two common
parsers could disagree about its host: backslashes (WHATWG reads `\\` as `/`, RFC 3986 parsers do not), user
information, control characters and spaces (some parsers drop them), text that is not ASCII outside the host,
and numeric hosts that are not a plain dotted quad (`2130706433`, `0177.0.0.1`, `0x7f.1`, `127.1` are
127.0.0.1 to `inet_aton` and browsers, a name to DNS).
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

import idna

MAX_LENGTH = 2048
DEFAULT_PORTS = {"http": 80, "https": 443}

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")  # C0, DEL and C1 controls
_LABEL = re.compile(r"[a-z0-9_-]{1,63}")  # `_` appears in real names; resolvers accept it
_NUMBER = re.compile(r"0x[0-9a-f]*|[0-9]+")  # a label WHATWG and inet_aton read as (part of) an IPv4 address
_PORT = re.compile(r"[0-9]{1,5}")


@dataclass(frozen=True)
class TenantURL:
    """A URL as given, split once: `host` is lower-case ASCII (IDNA A-labels) or an IP address without brackets."""

    text: str
    scheme: str
    host: str
    port: int
    address: ipaddress.IPv4Address | ipaddress.IPv6Address | None  # the host, when it is an IP address
    target: str  # the path and query to request, "/" when the URL has no path

    @property
    def authority(self) -> str:
        """Return the host and, when not the scheme's default, the port, as a `Host` header gives them."""
        host = f"[{self.host}]" if isinstance(self.address, ipaddress.IPv6Address) else self.host
        return host if self.port == DEFAULT_PORTS[self.scheme] else f"{host}:{self.port}"


def parse_url(text: str) -> TenantURL:
    """Return `text`, an absolute http(s) URL, split; raise ValueError saying what is wrong with it."""
    if len(text) > MAX_LENGTH:
        raise ValueError(f"must be at most {MAX_LENGTH} characters")
    if control := _CONTROL.search(text):
        raise ValueError(f"must not contain control characters (U+{ord(control.group()):04X})")
    if " " in text:
        raise ValueError("must not contain spaces (write them as %20)")
    if "\\" in text:
        raise ValueError("must not contain a backslash")
    try:
        parts = urlsplit(text)
    except ValueError as exc:  # e.g. an unbalanced `[` in the host: "Invalid IPv6 URL"
        raise ValueError("must be an http or https URL") from exc
    if parts.scheme not in DEFAULT_PORTS or not parts.netloc:
        raise ValueError("must be an http or https URL")
    if "@" in parts.netloc:
        raise ValueError("must not contain user information (user:password@)")
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    if not (target + parts.fragment).isascii():
        raise ValueError("must be ASCII after the host (percent-encode other characters)")
    given_host, port = _host_and_port(parts.netloc, DEFAULT_PORTS[parts.scheme])
    host, address = _host(given_host)
    return TenantURL(text, parts.scheme, host, port, address, target)


def _host_and_port(netloc: str, default_port: int) -> tuple[str, int]:
    if netloc.startswith("["):
        host, _, rest = netloc[1:].partition("]")
        host = "[" + host  # marks an IPv6 literal for `_address`
    else:
        host, colon, port = netloc.partition(":")
        rest = colon + port
    if not rest:
        return host, default_port
    if not rest.startswith(":") or not _PORT.fullmatch(rest[1:]) or not 0 < int(rest[1:]) < 65536:
        raise ValueError("must have a port from 1 to 65535, if any")
    return host, int(rest[1:])


def _host(host: str) -> tuple[str, ipaddress.IPv4Address | ipaddress.IPv6Address | None]:
    """Return the host in ASCII, lower case, and as an address when it is one (an address has one spelling)."""
    if host.startswith("["):
        if "%" in host:
            raise ValueError("must not give an IPv6 zone (%) in the host")
        try:
            v6 = ipaddress.IPv6Address(host[1:])
        except ValueError as exc:
            raise ValueError("must have a valid IPv6 address between [ and ]") from exc
        return str(v6), v6
    if not host:
        raise ValueError("must name a host")
    if not host.isascii():
        try:
            host = idna.encode(host, uts46=True).decode("ascii")
        except idna.IDNAError as exc:
            raise ValueError(f"must have a host that is a valid internationalised domain name ({exc})") from exc
    host = host.lower()
    if host.endswith("."):
        raise ValueError("must not have a host ending in a dot")
    labels = host.split(".")
    if len(host) > 253 or not all(_LABEL.fullmatch(label) for label in labels):
        raise ValueError("must have a host made of letters, digits, hyphens and dots")
    if any(label.startswith("xn--") for label in labels):  # an A-label must decode to a valid name
        try:
            idna.decode(host)
        except (idna.IDNAError, UnicodeError) as exc:
            raise ValueError(f"must have a host that is a valid internationalised domain name ({exc})") from exc
    if _NUMBER.fullmatch(labels[-1]):
        try:
            v4 = ipaddress.IPv4Address(host)  # refuses leading zeros, hex and short forms
        except ValueError as exc:
            raise ValueError("must write an IPv4 host as four decimal numbers (a.b.c.d)") from exc
        return host, v4
    return host, None
