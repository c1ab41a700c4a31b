"""`masq tenant`: accounts and subaccounts, and how their sessions take numbers."""

from __future__ import annotations

from dataclasses import asdict

import click

from app.cli.support import emit, open_store
from routing import tenants
from routing.number_mode import DEFAULT_PARTIES_PER_NUMBER, MODES, PARTIES_PER_NUMBER, set_number_settings

NUMBER_MODE = click.option(
    "--number-mode",
    type=click.Choice(MODES),
    help="exclusive: a number per session (the default); shared: sessions share numbers, calls told apart by who "
    "calls, and someone in k sessions at once needs 2k − 1 numbers. A create may still ask for either.",
)
PARTIES = click.option(
    "--parties-per-number",
    type=click.IntRange(*PARTIES_PER_NUMBER),
    help=f"The most parties on one shared number, open or cooling off (default {DEFAULT_PARTIES_PER_NUMBER}).",
)


@click.group()
def tenant() -> None:
    """Manage accounts."""


@tenant.command()
@click.option("--name", required=True, help="The account's name.")
@click.option("--parent", metavar="AUTH_ID", help="Make a subaccount (SA…) of this account.")
@NUMBER_MODE
@PARTIES
def create(name: str, parent: str | None, number_mode: str | None, parties_per_number: int | None) -> None:
    """Create an account and print its credentials (shown only this once) and its number settings."""
    store = open_store()
    creds = tenants.create_tenant(store, name, store.now_us(), parent=parent)
    settings = set_number_settings(store, creds.auth_id, number_mode, parties_per_number)
    emit({"auth_id": creds.auth_id, "auth_token": creds.auth_token, "api_key": creds.api_key, **asdict(settings)})


@tenant.command()
@click.argument("auth_id")
@NUMBER_MODE
@PARTIES
def update(auth_id: str, number_mode: str | None, parties_per_number: int | None) -> None:
    """Change how an account's new sessions take numbers (open sessions keep theirs); print its settings."""
    store = open_store()
    tenants.get_tenant(store, auth_id)
    emit({"auth_id": auth_id, **asdict(set_number_settings(store, auth_id, number_mode, parties_per_number))})
