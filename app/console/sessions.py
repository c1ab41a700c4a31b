"""The console's sessions: the listing, one session with its calls and events, and sending an event again."""

from __future__ import annotations

from dataclasses import replace

from flask import flash, g, redirect, render_template, url_for
from flask.typing import ResponseReturnValue

from app.console import bp
from app.console.access import tenant_page
from app.extensions import store
from app.request_data import query
from routing import event_log, outbox
from routing.calls.billing import as_amount
from routing.calls.history import read_calls, read_calls_many
from routing.clock import US
from routing.errors import InvalidInput
from routing.sessions import lifecycle
from routing.sessions.options import as_int
from routing.sessions.query import Bounds, check_query
from routing.sessions.session import ACTIVE, IN_PROGRESS, Session

PAGE = 20  # sessions a page (the most a listing gives at once)
DAY = 86_400 * US
WINDOWS = ("1", "7", "30")  # the days back a listing may reach (the API's listing reaches 30 at most)
ROLES = {"first_party": "first party", "second_party": "second party", "virtual_number": "virtual number"}
FILTERS = ("status", "party", "as", "days", "page")


@bp.get("/<auth_id>/sessions")
@tenant_page
def sessions() -> ResponseReturnValue:
    """List the tenant's sessions, newest first, by status and by a party's number, PAGE at a time."""
    now, asked = store().now_us(), query()
    for name in asked:
        if name not in FILTERS:
            raise InvalidInput(name, "is not a filter of this listing")
    days, role, party = asked.get("days", "7"), asked.get("as", "first_party"), asked.get("party", "").strip()
    if days not in WINDOWS:
        raise InvalidInput("days", "must be one of " + ", ".join(WINDOWS))
    if role not in ROLES:
        raise InvalidInput("as", "must be one of " + ", ".join(ROLES))
    page = as_int(asked.get("page", "1"), "page", 1, 10**6)
    raw = {"status": asked.get("status") or "all", "limit": PAGE, "offset": (page - 1) * PAGE}
    filters = check_query({**raw, **({role: party} if party else {})})
    filters = replace(filters, created=Bounds(low=now - int(days) * DAY + US))
    listing = lifecycle.list_sessions(store(), g.tenant.auth_id, filters, now)
    calls = read_calls_many(store(), listing.auth_id, [s.session_uuid for s in listing.sessions], now)
    rows = [
        (s, IN_PROGRESS if s.status(now) == ACTIVE and c.in_call(now) else s.status(now), c)
        for s, c in zip(listing.sessions, calls, strict=True)
    ]
    return render_template(
        "console/sessions.html",
        rows=rows,
        total=listing.total_count,
        page=page,
        pages=max(1, -(-listing.total_count // PAGE)),
        chosen={"status": raw["status"], "party": party, "as": role, "days": days},
        roles=ROLES,
        windows=WINDOWS,
    )


@bp.get("/<auth_id>/sessions/<session_uuid>")
@tenant_page
def session(session_uuid: str) -> ResponseReturnValue:
    """Show one session: its parties, DID, times and totals, its calls, and its events with their delivery."""
    now = store().now_us()
    found = lifecycle.get_session(store(), g.tenant.auth_id, session_uuid)
    calls = read_calls(store(), found.auth_id, found.session_uuid, now)
    status = IN_PROGRESS if found.status(now) == ACTIVE and calls.in_call(now) else found.status(now)
    events = event_log.session_events(store(), found.auth_id, found.session_uuid)
    return render_template(
        "console/session.html",
        session=found,
        status=status,
        calls=calls,
        total_amount=as_amount(found.amount) + calls.amount,
        events=events,
        # Settled without a request: the session asks for no callback of the event's kind.
        unsent={
            e.entry_id for e in events if e.state == event_log.DELIVERED and not outbox.callback_of(e.fields, found)[0]
        },
        now=now,
    )


@bp.post("/<auth_id>/sessions/<session_uuid>/events/<entry_id>/replay")
@tenant_page
def replay(session_uuid: str, entry_id: str) -> ResponseReturnValue:
    """Send a dead event of the session again: back in the outbox as a new entry (as `masq callbacks replay`)."""
    found = _session_with(session_uuid, entry_id, event_log.DEAD)
    if found is not None and outbox.replay(store(), found.auth_id, [entry_id]):
        flash(f"Event {entry_id} is back in the outbox.")
    return _back_to(session_uuid)


@bp.post("/<auth_id>/sessions/<session_uuid>/events/<entry_id>/retry")
@tenant_page
def retry(session_uuid: str, entry_id: str) -> ResponseReturnValue:
    """Make a failed event of the session, waiting for its next try, due now."""
    found = _session_with(session_uuid, entry_id, event_log.RETRYING)
    if found is not None and outbox.retry_now(store(), found.auth_id, entry_id, store().now_us()):
        flash(f"Event {entry_id} is due now.")
    return _back_to(session_uuid)


def _session_with(session_uuid: str, entry_id: str, state: str) -> Session | None:
    """Return the tenant's session `session_uuid` (NotFound when it has none) if its event `entry_id` is in `state`;
    else say that it is not (any more: the form was sent twice, or the worker got there first) and return None."""
    found = lifecycle.get_session(store(), g.tenant.auth_id, session_uuid)
    events = event_log.session_events(store(), found.auth_id, found.session_uuid)
    if any(e.entry_id == entry_id and e.state == state for e in events):
        return found
    flash(f"Event {entry_id} is not {state} (any more): nothing was done.")
    return None


def _back_to(session_uuid: str) -> ResponseReturnValue:
    return redirect(url_for(".session", auth_id=g.tenant.auth_id, session_uuid=session_uuid, _anchor="events"))
