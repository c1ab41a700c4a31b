"""Logging in to the console and out of it: a tenant's credentials as the REST APIs check them, or the operator's
token; either way a failed login counts against the client as a failed API login does (`routing.logins`)."""

from __future__ import annotations

import hmac

from flask import current_app, g, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue

from app.console import bp, csrf
from app.console.access import Viewer, log_in, logged_in
from app.extensions import login_budget, store
from routing import logins, settings, tenants
from routing.errors import NotFound, TooManyFailedLogins, Unauthenticated

WRONG = "Wrong account, auth token or API key."


@bp.before_request
def check_csrf() -> None:
    """Refuse a form posted to the console without this login's CSRF token (a 400)."""
    csrf.protect()


@bp.get("/")
@logged_in
def home() -> ResponseReturnValue:
    """Send an operator to the tenants, and a tenant to its sessions."""
    if g.viewer.operator:
        return redirect(url_for(".tenants"))
    return redirect(url_for(".sessions", auth_id=g.viewer.auth_id))


@bp.get("/login")
def login() -> ResponseReturnValue:
    """Show the login forms."""
    return render_template("console/login.html", next=_next_page(), operator=_operator_token() != "")


@bp.post("/login")
def tenant_login() -> ResponseReturnValue:
    """Log a tenant in with its auth_id and auth token, or with its API key (which names its auth_id)."""
    secret = request.form.get("secret", "")
    address = logins.client_address(request.remote_addr)
    if secret.startswith("mk_"):
        credential = tenants.api_key_credential(secret, address=address, failures=login_budget())
    else:
        auth_id = request.form.get("auth_id", "").strip()
        credential = tenants.basic_credential(auth_id, secret, address=address, failures=login_budget())
    try:
        tenant = tenants.admit(store(), credential, store().now_us())
    except TooManyFailedLogins as held:
        return _refused(held.message, 429, held.retry_after)
    except (Unauthenticated, NotFound):
        return _refused(WRONG, 401)
    log_in(Viewer(auth_id=tenant.auth_id))
    return redirect(_next_page() or url_for(".sessions", auth_id=tenant.auth_id))


@bp.post("/login/operator")
def operator_login() -> ResponseReturnValue:
    """Log an operator in with MASQ_OPERATOR_TOKEN; with none set, nobody can."""
    expected = _operator_token()
    if not expected:
        return _refused("No operator token is set (MASQ_OPERATOR_TOKEN): there is no operator login.", 403)
    address, budget, now = logins.client_address(request.remote_addr), login_budget(), store().now_us()
    try:
        logins.hold_if_failing(store(), address, budget, now)
    except TooManyFailedLogins as held:
        return _refused(held.message, 429, held.retry_after)
    if not hmac.compare_digest(request.form.get("token", "").encode(), expected.encode()):
        logins.count_failure(store(), address, budget, now)
        return _refused("Wrong operator token.", 401)
    log_in(Viewer(operator=True))
    return redirect(_next_page() or url_for(".tenants"))


@bp.post("/logout")
def logout() -> ResponseReturnValue:
    """End the console login."""
    session.clear()
    return redirect(url_for(".login"))


def _operator_token() -> str:
    return settings.operator_token(current_app.config)


def _next_page() -> str:
    """Return the console page the login was asked for on the way to (`next`), or "" for none or another site's."""
    page = request.values.get("next", "")
    ok = page.startswith(bp.url_prefix + "/") and "//" not in page and "\\" not in page  # type: ignore[operator]
    return page if ok and not page.startswith(url_for(".login")) else ""


def _refused(message: str, status: int, retry_after: int | None = None) -> ResponseReturnValue:
    """Show the login forms again with `message`, answered with `status` (and `Retry-After` when given)."""
    page = render_template("console/login.html", next=_next_page(), operator=_operator_token() != "", error=message)
    return page, status, {"Retry-After": str(retry_after)} if retry_after is not None else {}
