"""The operator's page: every tenant at a glance, each linking to its own pages."""

from __future__ import annotations

from flask import render_template
from flask.typing import ResponseReturnValue

from app.console import bp
from app.console.access import operator_page
from app.extensions import store
from app.request_data import query
from routing.activity import activity, tenant_ids
from routing.sessions.options import as_int

PAGE = 50  # tenants a page


@bp.get("/tenants")
@operator_page
def tenants() -> ResponseReturnValue:
    """List every tenant, PAGE at a time by auth_id, with its open sessions, live calls, DIDs and callbacks."""
    page = as_int(query().get("page", "1"), "page", 1, 10**6)
    every = tenant_ids(store())
    shown = every[(page - 1) * PAGE : page * PAGE]
    return render_template(
        "console/tenants.html",
        rows=activity(store(), shown, store().now_us()),
        total=len(every),
        page=page,
        pages=max(1, -(-len(every) // PAGE)),
    )
