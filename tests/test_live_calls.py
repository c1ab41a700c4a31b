"""Calls in progress now, and every tenant at a glance, as the console reads them."""

from __future__ import annotations

from routing.activity import activity, tenant_ids
from routing.calls.live import live_calls
from routing.clock import now_us
from routing.sessions import lifecycle
from tests.conftest import make_tenant
from tests.sessions_helpers import credential
from tests.twilio_helpers import call, new_sid, post, xml

FIRST, SECOND = "+14155551234", "+14155554321"


def open_(store, tenant):
    parties = {"first_party": FIRST, "second_party": SECOND}
    return lifecycle.open_session(store, credential(tenant), parties, now_us())


def hang_up(client, sid: str, dial) -> None:
    params = {"CallSid": sid, "DialCallStatus": "completed", "DialCallSid": new_sid(), "DialCallDuration": "5"}
    post(client, dial.get("action"), {**params, "DialBridged": "true"})


def test_a_call_being_dialled_is_live_with_its_session_and_numbers(client, store, tenant):
    session = open_(store, tenant)
    sid = new_sid()
    xml(call(client, FIRST, session.virtual_number, sid))

    [live] = live_calls(store, tenant.auth_id)

    assert (live.session_uuid, live.virtual_number) == (session.session_uuid, session.virtual_number)
    assert (live.call.call_sid, live.call.caller, live.call.callee, live.call.state) == (sid, FIRST, SECOND, "dialling")


def test_a_call_that_ended_is_no_longer_live(client, store, tenant):
    session = open_(store, tenant)
    sid = new_sid()
    dial = xml(call(client, FIRST, session.virtual_number, sid)).find("Dial")

    hang_up(client, sid, dial)

    assert live_calls(store, tenant.auth_id) == []


def test_the_longest_running_call_comes_first(client, store, tenant):
    sids = []
    for _ in range(2):
        sids.append(new_sid())
        xml(call(client, FIRST, open_(store, tenant).virtual_number, sids[-1]))

    assert [live.call.call_sid for live in live_calls(store, tenant.auth_id)] == sids


def test_every_tenant_is_told_with_its_sessions_calls_dids_and_callbacks(client, store, tenant):
    quiet = make_tenant(store, dids=[], name="quiet")
    session = open_(store, tenant)
    xml(call(client, FIRST, session.virtual_number, new_sid()))
    lifecycle.end_session(store, tenant.auth_id, open_(store, tenant).session_uuid, now_us())

    busy, idle = activity(store, [tenant.auth_id, quiet.auth_id], now_us())

    assert sorted(tenant_ids(store)) == sorted([tenant.auth_id, quiet.auth_id])
    assert (busy.name, busy.open_sessions, busy.live_calls, busy.numbers, busy.owed) == ("acme", 1, 1, 3, 1)
    assert (idle.name, idle.open_sessions, idle.live_calls, idle.numbers, idle.owed, idle.dead) == (
        "quiet",
        0,
        0,
        0,
        0,
        0,
    )
