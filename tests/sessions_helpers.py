"""Opening sessions through the domain in tests: the credential a test's tenant opens them with."""

from __future__ import annotations

from typing import Protocol

from routing.tenants import Credential, basic_credential


class HasCredentials(Protocol):
    """A tenant a test made: `tests.conftest.TenantFixture` or `routing.tenants.Credentials`."""

    @property
    def auth_id(self) -> str: ...

    @property
    def auth_token(self) -> str: ...


def credential(tenant: HasCredentials) -> Credential:
    """Return the tenant's HTTP Basic credential, counted against no rate limit."""
    return basic_credential(tenant.auth_id, tenant.auth_token)


# URLs a session must refuse (400 naming the field): two parsers read their host differently (a backslash,
# user information, numeric hosts that are not a dotted quad, a trailing dot), or they carry what a header
# line or TwiML must not (control characters, spaces, text that is not ASCII outside the host).
UNSAFE_URLS = [
    "http://127.0.0.1:9471\\@8.8.8.8/x",
    "https://user:secret@hooks.example.com/x",
    "https://hooks.example.com/x\r\nX-Injected: 1",
    "https://hooks.example.com/x\x00",
    "https://hooks.example.com/x\x01y",
    "https://hooks.example.com/x\x7f",
    "https://hooks.example.com/x\x85",
    "https://hooks.example.com/prompt\t.mp3",
    "https://hooks.example.com/a b.mp3",
    "https://hooks.example.com/caf\u00e9.mp3",
    "https://ex\u2024ample.com/x",
    "http://2130706433/x",
    "http://0177.0.0.1/x",
    "http://0x7f.1/x",
    "http://127.1/x",
    "http://localhost./x",
    "http://xn--zz.com/x",  # an A-label that decodes to no valid name
]
