"""`masq pool`: how full an account's pool of DIDs is, how full it got, and the size it should have."""

from __future__ import annotations

import click

from app.capacity_format import pool_stats_json
from app.cli.support import emit, open_store
from routing import capacity, tenants


@click.group()
def pool() -> None:
    """Plan the capacity of an account's pool of DIDs."""


@pool.command()
@click.argument("auth_id")
@click.option(
    "--days",
    default=capacity.DEFAULT_DAYS,
    show_default=True,
    type=click.IntRange(1, capacity.MAX_DAYS),
    help="How many days back the peaks and averages cover.",
)
def stats(auth_id: str, days: int) -> None:
    """Show the pool's size and use, its hourly peaks, refused opens, and the size it should have."""
    store = open_store()
    tenants.get_tenant(store, auth_id)
    emit({"auth_id": auth_id, **pool_stats_json(capacity.pool_stats(store, auth_id, store.now_us(), days))})
