"""The console: a tenant's sessions, calls, callbacks and DIDs as web pages, and every tenant for an operator.

Pages are rendered on the server from the templates in app/templates/console/ and need no JavaScript. A tenant
logs in with its own credentials (auth_id and auth token, or its API key), checked as the REST APIs check them;
an operator with MASQ_OPERATOR_TOKEN. Who is logged in is kept in a signed cookie (Flask's session) that only
`/console/` is sent and only the console reads; every form carries a CSRF token (Flask-WTF's CSRFProtect).
"""

from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, Flask, Request
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
from flask_wtf.csrf import CSRFProtect

from app.console import secret
from routing import settings

PREFIX = "/console"
# A login lasts this long after the last page seen (the cookie is signed again with each page).
LIFETIME = timedelta(hours=12)

bp = Blueprint("console", __name__, url_prefix=PREFIX)
csrf = CSRFProtect()


class ConsoleSessions(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, opened for the console's requests only: nothing else masq serves reads a
    cookie or pays for one. The signing key is read (or made) on the console's first request (`secret`)."""

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        if not request.path.startswith(PREFIX + "/"):
            return None  # Flask gives the request a null session, which nothing writes
        if not app.secret_key:
            app.secret_key = secret.signing_key(app.config)
        return super().open_session(app, request)


def init_app(app: Flask) -> None:
    """Serve the console under /console/ (checking its settings now, so a bad one stops the start)."""
    settings.operator_token(app.config)
    settings.secret_key(app.config)
    app.session_interface = ConsoleSessions()
    app.permanent_session_lifetime = LIFETIME
    app.config.update(
        SESSION_COOKIE_NAME="masq_console",
        SESSION_COOKIE_PATH=PREFIX,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=str(app.config.get("MASQ_PUBLIC_URL", "")).startswith("https:"),
        # Checked by the console's own views only (`csrf.protect()`), never by the APIs or the carrier's webhooks.
        WTF_CSRF_CHECK_DEFAULT=False,
        WTF_CSRF_TIME_LIMIT=int(LIFETIME.total_seconds()),
    )
    csrf.init_app(app)
    from app.console import errors, formats, headers, live, login, numbers, sessions, tenants  # noqa: F401  (routes)

    app.register_blueprint(bp)
