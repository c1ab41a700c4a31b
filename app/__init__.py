"""The HTTP edge of masq: one Flask application factory, one blueprint per area."""

from __future__ import annotations

from typing import Any

from flask import Flask

from routing import settings


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Build the application; `config` overrides the environment (tests pass `STORE` directly)."""
    # No app-wide `/static` route: the console serves its own assets, with its headers (app/console/headers.py).
    app = Flask(__name__, static_folder=None)
    app.config.update(settings.from_environment())
    app.config.update(config or {})
    # An OPTIONS request is a 405 with `Allow`, as masq's JSON error, like any method a path does not take (Flask
    # would answer it itself with an empty HTML 200); masq's clients are servers, which never ask.
    app.config["PROVIDE_AUTOMATIC_OPTIONS"] = False
    app.json.sort_keys = False  # type: ignore[attr-defined]

    from app import console, edge, errors, extensions, inbound_webhook, logs, metrics, voice
    from app.api_plivo import bp as plivo_bp

    logs.init_app(app)
    extensions.init_app(app)
    errors.init_app(app)
    metrics.init_app(app)
    app.register_blueprint(plivo_bp)
    _register_blueprints(app)
    console.init_app(app)
    voice.init_links(app)
    inbound_webhook.init_app(app)
    edge.init_app(app)
    return app


def _register_blueprints(app: Flask) -> None:
    """Register the other areas' blueprints: the Plivo dialect's calls and recordings, the CloudTalk dialect, the
    carrier's webhooks, operations."""
    from app import api_cloudtalk, api_plivo_calls, ops, voice

    for module in (api_plivo_calls, api_cloudtalk, voice, ops):
        app.register_blueprint(module.bp)
