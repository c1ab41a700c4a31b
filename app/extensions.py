"""The clients the app uses, built once per app and kept in `app.extensions`."""

from __future__ import annotations

from flask import Flask, current_app

from routing import embedded
from routing.store import Store


def redis_url(config: dict) -> str:  # type: ignore[type-arg]
    """Return the configured Redis URL, starting the embedded Redis when none is configured."""
    if config.get("REDIS_URL"):
        return str(config["REDIS_URL"])
    return embedded.ensure_running(config["MASQ_DATA_DIR"], config["MASQ_EMBEDDED_REDIS_PORT"])


def init_app(app: Flask) -> None:
    """Connect the store (or take the one `STORE` gives, as tests do)."""
    store = app.config.get("STORE")
    if store is None:
        store = Store.connect(redis_url(app.config), app.config["MASQ_KEY_PREFIX"])
    app.extensions["masq.store"] = store


def store() -> Store:
    """Return the current app's store."""
    result: Store = current_app.extensions["masq.store"]
    return result
