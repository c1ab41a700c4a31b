"""The console's numbers: the pool by state and country, the holdings of a day, and the capacity report."""

from __future__ import annotations

from collections import Counter

from flask import g, render_template
from flask.typing import ResponseReturnValue

from app.capacity_format import days_of
from app.console import bp
from app.console.access import tenant_page
from app.console.chart import capacity_chart
from app.extensions import store
from app.request_data import query
from routing import capacity, pool
from routing.errors import InvalidInput

STATES = (pool.FREE, pool.IN_USE, pool.COOLING, pool.SUSPENDED)
SHOWN = 200  # the DIDs listed one by one (the counts cover them all)


@bp.get("/<auth_id>/numbers")
@tenant_page
def numbers() -> ResponseReturnValue:
    """Show the pool by state and country, the assignments held on the day `on` (else the active ones), and the
    capacity report over the last `days` with its chart."""
    asked = query()
    for name in asked:
        if name not in ("on", "days"):
            raise InvalidInput(name, "is not a parameter of this page")
    auth_id = g.tenant.auth_id
    stats = capacity.pool_stats(store(), auth_id, store().now_us(), days_of(asked))
    held = pool.pool_numbers(store(), auth_id)
    by_country: dict[str, Counter[str]] = {}
    for number in held:
        by_country.setdefault(number.country, Counter())[number.state] += 1
    on = asked.get("on", "").strip()
    return render_template(
        "console/numbers.html",
        stats=stats,
        chart=capacity_chart(stats),
        states=STATES,
        by_country=sorted(by_country.items()),
        held=held[:SHOWN],
        held_count=len(held),
        assignments=pool.assignments(store(), auth_id, None, on or None),
        on=on,
    )
