"""What every `masq` command shares: the store, connected the way the app connects it, and JSON output."""

from __future__ import annotations

import json
from typing import Any

import click

from app import config as settings
from app import extensions
from routing.store import Store


def open_store() -> Store:
    """Connect to the configured Redis (starting the embedded one when none is), closed when the command ends."""
    config = settings.from_environment()
    store = Store.connect(extensions.redis_url(config), config["MASQ_KEY_PREFIX"])
    click.get_current_context().call_on_close(store.redis.close)
    return store


def emit(payload: Any) -> None:
    """Print `payload` as JSON on stdout."""
    click.echo(json.dumps(payload, indent=2))


def fail(message: str, code: int = 1) -> None:
    """Print `{"error": message}` on stderr and exit with `code`."""
    click.echo(json.dumps({"error": message}), err=True)
    raise click.exceptions.Exit(code)
