"""`masq did`: the DIDs an account holds, and their billing history."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime

import click

from app.cli.support import emit, open_store
from routing import pool, tenants
from routing.clock import iso_time
from routing.phone import to_e164


@click.group()
def did() -> None:
    """Manage an account's pool of DIDs."""


@did.command()
@click.argument("auth_id")
@click.argument("dids", nargs=-1, required=True, metavar="+E164...")
def add(auth_id: str, dids: tuple[str, ...]) -> None:
    """Put DIDs in the account's pool."""
    store = open_store()
    tenants.get_tenant(store, auth_id)
    wanted = list(dict.fromkeys(to_e164(raw, "number") for raw in dids))
    added = pool.add_numbers(store, auth_id, wanted, store.now_us())
    emit({"auth_id": auth_id, "added": added, "already_held": [n for n in wanted if n not in added]})


@did.command()
@click.argument("auth_id")
@click.argument("number", metavar="+E164")
def suspend(auth_id: str, number: str) -> None:
    """Suspend a DID: it stays in the pool but is never handed out."""
    _set_status(auth_id, number, suspended=True)


@did.command()
@click.argument("auth_id")
@click.argument("number", metavar="+E164")
def resume(auth_id: str, number: str) -> None:
    """Resume a suspended DID."""
    _set_status(auth_id, number, suspended=False)


@did.command()
@click.argument("auth_id")
@click.argument("number", metavar="+E164")
def release(auth_id: str, number: str) -> None:
    """Give a DID up; its assignment is closed and kept for billing."""
    store = open_store()
    tenants.get_tenant(store, auth_id)
    pool.release_number(store, auth_id, number, store.now_us())
    emit({"auth_id": auth_id, "number": to_e164(number, "number"), "status": "released"})


@did.command(name="list")
@click.argument("auth_id")
@click.option(
    "--status",
    type=click.Choice(pool.ASSIGNMENT_STATUSES),
    help="Only assignments in this state (default: active, or all with --on).",
)
@click.option(
    "--on",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    metavar="YYYY-MM-DD",
    help="Only assignments held at any time on this day (UTC).",
)
def list_(auth_id: str, status: str | None, on: datetime | None) -> None:
    """List the account's assignments of DIDs."""
    store = open_store()
    tenants.get_tenant(store, auth_id)
    found = pool.assignments(store, auth_id, status, on.date().isoformat() if on else None)
    emit(
        {
            "auth_id": auth_id,
            "assignments": [
                {**asdict(a), "assigned_at": iso_time(a.assigned_at), "released_at": iso_time(a.released_at)}
                for a in found
            ],
        }
    )


def _set_status(auth_id: str, number: str, suspended: bool) -> None:
    store = open_store()
    tenants.get_tenant(store, auth_id)
    pool.set_suspended(store, auth_id, number, suspended, store.now_us())
    emit({"auth_id": auth_id, "number": to_e164(number, "number"), "status": "suspended" if suspended else "active"})
