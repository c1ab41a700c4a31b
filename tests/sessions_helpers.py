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
