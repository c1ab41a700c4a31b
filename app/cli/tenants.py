"""`masq tenant`: accounts and subaccounts."""

from __future__ import annotations

import click

from app.cli.support import emit, open_store
from routing import tenants


@click.group()
def tenant() -> None:
    """Manage accounts."""


@tenant.command()
@click.option("--name", required=True, help="The account's name.")
@click.option("--parent", metavar="AUTH_ID", help="Make a subaccount (SA…) of this account.")
def create(name: str, parent: str | None) -> None:
    """Create an account and print its credentials (shown only this once)."""
    store = open_store()
    creds = tenants.create_tenant(store, name, store.now_us(), parent=parent)
    emit({"auth_id": creds.auth_id, "auth_token": creds.auth_token, "api_key": creds.api_key})
