"""What every `masq` command shares: the store, connected the way the app connects it, and JSON output."""

from __future__ import annotations

import json
import os
import secrets
from typing import Any, NoReturn

import click

from app.cli.embedded import store_url
from routing import settings
from routing.store import Store


def open_store() -> Store:
    """Connect to the configured Redis (starting the embedded one when none is), closed when the command ends."""
    config = settings.from_environment()
    try:
        store = settings.connect_store({**config, "REDIS_URL": store_url(config)})
    except ValueError as bad:  # a REDIS_URL that cannot be read
        fail(str(bad))
    click.get_current_context().call_on_close(store.redis.close)
    return store


def dev_twilio_token(config: dict[str, Any], create: bool) -> str:
    """Return TWILIO_AUTH_TOKEN, or for development the token kept in MASQ_DATA_DIR (made on first use).

    `masq serve` and `masq simulate call` share it, so a simulated call is signed and checked with no set-up.
    """
    if config.get("TWILIO_AUTH_TOKEN"):
        return str(config["TWILIO_AUTH_TOKEN"])
    path = os.path.join(config["MASQ_DATA_DIR"], "dev-twilio-auth-token")
    if not os.path.exists(path) and create:
        os.makedirs(config["MASQ_DATA_DIR"], exist_ok=True)
        with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as file:
            file.write(secrets.token_hex(20))
    if not os.path.exists(path):
        return ""
    with open(path) as file:
        return file.read().strip()


def emit(payload: Any) -> None:
    """Print `payload` as JSON on stdout."""
    click.echo(json.dumps(payload, indent=2))


def fail(message: str, code: int = 1) -> NoReturn:
    """Print `{"error": message}` on stderr and exit with `code`."""
    click.echo(json.dumps({"error": message}), err=True)
    raise click.exceptions.Exit(code)
