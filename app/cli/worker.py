"""`masq worker` and `masq callbacks`: running the worker, and the tenant callbacks that failed."""

from __future__ import annotations

import os

import click

from app.cli.embedded import store_url
from app.cli.support import emit, open_store
from routing import outbox, settings
from routing.clock import iso_time


@click.command()
@click.option(
    "--threads",
    default=32,
    show_default=True,
    type=click.IntRange(1, 256),
    help="Callback deliveries in flight at once.",
)
@click.option("--burst", is_flag=True, help="Stop once the queue is empty (for scripts and tests).")
def worker(threads: int, burst: bool) -> None:
    """Run jobs, expire sessions on time and deliver tenant callbacks (the Procfile's worker)."""
    from app.logs import configure_logging
    from workers import runner

    config = settings.from_environment()
    try:
        settings.check_store(config)  # told here once, not as a traceback
        settings.check_queue(config)
    except ValueError as bad:
        raise click.ClickException(str(bad)) from bad
    configure_logging(config["MASQ_LOG_LEVEL"])
    config["REDIS_URL"] = store_url(config)
    # Jobs read their settings from this process's environment: they must see the store the worker uses.
    os.environ["REDIS_URL"] = config["REDIS_URL"]
    runner.run(config, threads=threads, burst=burst)


@click.group()
def callbacks() -> None:
    """Tenant callbacks that could not be delivered."""


@callbacks.command("failed")
@click.argument("auth_id")
def failed(auth_id: str) -> None:
    """List the tenant's dead letters: events given up on after every retry."""
    store = open_store()
    emit(
        {
            "auth_id": auth_id,
            "failed": [
                {
                    "id": d.entry_id,
                    "event": outbox.wire_fields(d.fields),
                    "attempts": d.attempts,
                    "error": d.error,
                    "failed_at": iso_time(d.failed_at),
                }
                for d in outbox.dead_letters(store, auth_id)
            ],
        }
    )


@callbacks.command("replay")
@click.argument("auth_id")
@click.argument("ids", nargs=-1)
def replay(auth_id: str, ids: tuple[str, ...]) -> None:
    """Send the tenant's dead letters again (all of them, or the given ids)."""
    store = open_store()
    emit({"auth_id": auth_id, "replayed": outbox.replay(store, auth_id, list(ids) or None)})
