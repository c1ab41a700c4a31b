"""The console's live page: the tenant's calls in progress now."""

from __future__ import annotations

from flask import g, render_template
from flask.typing import ResponseReturnValue

from app.console import bp
from app.console.access import tenant_page
from app.extensions import store
from routing.calls.live import MOST, live_calls

REFRESH = 10  # seconds between the page's own reloads


@bp.get("/<auth_id>/live")
@tenant_page
def live() -> ResponseReturnValue:
    """Show the calls in progress now, the longest-running first; the page reloads itself every REFRESH s."""
    return render_template(
        "console/live.html",
        calls=live_calls(store(), g.tenant.auth_id),
        most=MOST,
        now=store().now_us(),
        refresh=REFRESH,
    )
