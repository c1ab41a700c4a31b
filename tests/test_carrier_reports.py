from decimal import Decimal

import pytest

from routing import lua
from routing.calls import inbound
from routing.calls.carrier_reports import (
    DialOutcome,
    LegStatus,
    RecordingStatus,
    finish_dial,
    record_leg_status,
    record_recording,
)
from routing.calls.history import read_calls
from routing.clock import US, now_us, plivo_time
from routing.outbox import wire_fields
from routing.sessions import lifecycle
from tests.conftest import outbox
from tests.sessions_helpers import credential
from tests.twilio_helpers import PUBLIC, new_sid

FIRST, SECOND = "+14155551234", "+14155554321"


@pytest.fixture
def live_call(store, tenant):
    """A session with a bridged call from its first party: (session, caller CallSid, dialled CallSid, start µs)."""
    session = lifecycle.open_session(
        store, credential(tenant), {"first_party": FIRST, "second_party": SECOND}, now_us()
    )
    sid, start = new_sid(), now_us()
    inbound.identify_caller(store, inbound.incoming_call(sid, FIRST, session.virtual_number), start)
    return session, sid, new_sid(), start


def snapshot(store, tenant, session, sid):
    return (
        store.redis.hgetall(store.keys.interaction(tenant.auth_id, sid)),
        store.redis.hgetall(store.keys.call_state(tenant.auth_id, session.session_uuid)),
        outbox(store, tenant.auth_id),
    )


def names(store, tenant):
    return [event["EventName"] for event in outbox(store, tenant.auth_id)]


DEFAULT_RATE = Decimal("0.0050")  # per minute, for a tenant without a rate of its own


def set_rate(store, tenant, rate):
    store.redis.hset(store.keys.tenant(tenant.auth_id), "call_rate_per_minute", rate)


def callee_hangup(store, tenant, live_call, duration):
    """Complete the dialled leg of `live_call` after `duration` s; return its SessionSecondPartyHangup event."""
    session, sid, leg, start = live_call
    record_leg_status(store, tenant.auth_id, LegStatus(sid, leg, "completed", duration), start + duration * US)
    return next(e for e in outbox(store, tenant.auth_id) if e["EventName"] == "SessionSecondPartyHangup")


@pytest.mark.parametrize(("duration", "billed"), [(0, 0), (1, 60), (59, 60), (60, 60), (61, 120), (3600, 3600)])
def test_a_leg_is_billed_for_every_started_minute_at_the_default_rate(store, tenant, live_call, duration, billed):
    event = callee_hangup(store, tenant, live_call, duration)

    assert (event["EventName"], event["BilledDuration"]) == ("SessionSecondPartyHangup", str(billed))
    assert Decimal(event["Amount"]) == DEFAULT_RATE * (billed // 60)


def money(store, expression, *args):
    """Return the Lua `expression` over money.lua's functions, given ARGV `args`."""
    return store.redis.register_script(lua.build(f"--! include money.lua\nreturn {expression}"))(keys=[], args=args)


@pytest.mark.parametrize(
    ("a", "b"), [("0", "0.0050"), ("0.0050", "0.0100"), ("9.9999", "0.0001"), ("123", "0.45"), ("0.1", "0.2")]
)
def test_redis_adds_amounts_exactly_as_decimal_does(store, a, b):
    assert Decimal(money(store, "dec_add(ARGV[1], ARGV[2])", a, b)) == Decimal(a) + Decimal(b)


@pytest.mark.parametrize(("rate", "minutes"), [("0.0050", 0), ("0.0050", 3), ("0.0123", 240), ("1.5", 7)])
def test_redis_multiplies_a_rate_by_minutes_exactly_as_decimal_does(store, rate, minutes):
    assert Decimal(money(store, "dec_mul(ARGV[1], tonumber(ARGV[2]))", rate, minutes)) == Decimal(rate) * minutes


def test_a_bridged_call_reports_each_leg_event_and_adds_up_the_charges(store, tenant, live_call):
    session, sid, leg, start = live_call
    set_rate(store, tenant, "0.0120")
    for status in ("initiated", "ringing", "in-progress"):
        record_leg_status(store, tenant.auth_id, LegStatus(sid, leg, status), start + US)
    record_leg_status(store, tenant.auth_id, LegStatus(sid, leg, "completed", 61), start + 62 * US)
    finish_dial(store, tenant.auth_id, DialOutcome(sid, "completed", leg, 61), start + 62 * US)
    assert names(store, tenant) == [
        "SessionSecondPartyInitiated",
        "SessionSecondPartyRing",
        "SessionFirstPartyAnswer",
        "SessionSecondPartyAnswer",
        "SessionSecondPartyHangup",
        "SessionFirstPartyHangup",
        "SessionPartiesHangup",
    ]
    events = outbox(store, tenant.auth_id)
    assert [e["SequenceNumber"] for e in events] == ["1", "2", "3", "4", "5", "6", "7"]
    callee_hangup, caller_hangup, parties = events[4], events[5], events[6]
    assert (callee_hangup["Duration"], callee_hangup["BilledDuration"], callee_hangup["Amount"]) == (
        "61",
        "120",
        "0.0240",
    )
    assert (caller_hangup["Duration"], caller_hangup["BilledDuration"]) == ("61", "120")
    assert (parties["BilledDuration"], Decimal(parties["Amount"])) == ("240", Decimal("0.0480"))
    assert callee_hangup["CallUUID"] == leg and caller_hangup["CallUUID"] == sid
    calls = read_calls(store, tenant.auth_id, session.session_uuid, now_us())
    assert (calls.count, calls.billed, calls.amount, calls.last) == (1, 240, Decimal("0.0480"), start + 62 * US)
    assert not calls.in_call(now_us())


def test_events_are_flat_dicts_of_plivos_callback_names(store, tenant, live_call):
    session, sid, leg, start = live_call
    record_leg_status(store, tenant.auth_id, LegStatus(sid, leg, "ringing"), start)
    event = outbox(store, tenant.auth_id)[0]
    assert event == {
        **event,
        "EventName": "SessionSecondPartyRing",
        "SessionUUID": session.session_uuid,
        "CallUUID": leg,
        "From": FIRST,
        "To": SECOND,
        "VirtualNumber": session.virtual_number,
        "PinAuthenticationStatus": "",
        "PinRetryCounter": "0",
        "SequenceNumber": "1",
    }
    assert event["EventTimestamp"] == str(start)
    assert wire_fields(event)["EventTimestamp"] == plivo_time(start)


@pytest.mark.parametrize("status", ["initiated", "ringing", "in-progress", "completed", "busy"])
def test_a_leg_status_replayed_changes_nothing(store, tenant, live_call, status):
    session, sid, leg, start = live_call
    record_leg_status(store, tenant.auth_id, LegStatus(sid, leg, status, 30), start)
    before = snapshot(store, tenant, session, sid)
    assert record_leg_status(store, tenant.auth_id, LegStatus(sid, leg, status, 30), start + US) == "duplicate"
    assert snapshot(store, tenant, session, sid) == before


def test_a_leg_status_arriving_after_a_later_one_changes_nothing(store, tenant, live_call):
    session, sid, leg, start = live_call
    record_leg_status(store, tenant.auth_id, LegStatus(sid, leg, "in-progress"), start)
    before = snapshot(store, tenant, session, sid)
    assert record_leg_status(store, tenant.auth_id, LegStatus(sid, leg, "ringing"), start + US) == "duplicate"
    assert snapshot(store, tenant, session, sid) == before


def test_a_retry_with_the_same_idempotency_token_changes_nothing(store, tenant, live_call):
    session, sid, leg, start = live_call
    record_leg_status(store, tenant.auth_id, LegStatus(sid, leg, "ringing", token="tok-1"), start)
    before = snapshot(store, tenant, session, sid)
    assert (
        record_leg_status(store, tenant.auth_id, LegStatus(sid, leg, "in-progress", token="tok-1"), start)
        == "duplicate"
    )
    assert snapshot(store, tenant, session, sid) == before


def test_the_dial_action_replayed_changes_nothing(store, tenant, live_call):
    session, sid, leg, start = live_call
    finish_dial(store, tenant.auth_id, DialOutcome(sid, "completed", leg, 30), start + 31 * US)
    before = snapshot(store, tenant, session, sid)
    assert finish_dial(store, tenant.auth_id, DialOutcome(sid, "completed", leg, 30), start + 40 * US) == "duplicate"
    assert snapshot(store, tenant, session, sid) == before


def test_a_dial_action_before_the_legs_completion_bills_the_leg_once(store, tenant, live_call):
    session, sid, leg, start = live_call
    record_leg_status(store, tenant.auth_id, LegStatus(sid, leg, "in-progress"), start)
    finish_dial(store, tenant.auth_id, DialOutcome(sid, "completed", leg, 90), start + 91 * US)
    before = snapshot(store, tenant, session, sid)
    assert record_leg_status(store, tenant.auth_id, LegStatus(sid, leg, "completed", 90), start) == "duplicate"
    assert snapshot(store, tenant, session, sid) == before
    assert names(store, tenant).count("SessionSecondPartyHangup") == 1
    assert read_calls(store, tenant.auth_id, session.session_uuid, now_us()).billed == 120 + 120


@pytest.mark.parametrize("status", ["busy", "no-answer"])
def test_an_unanswered_dial_bills_nothing_and_frees_the_session(store, tenant, live_call, status):
    session, sid, leg, start = live_call
    record_leg_status(store, tenant.auth_id, LegStatus(sid, leg, status), start + 5 * US)
    finish_dial(store, tenant.auth_id, DialOutcome(sid, status, leg, 0), start + 5 * US)
    calls = read_calls(store, tenant.auth_id, session.session_uuid, now_us())
    assert (calls.billed, calls.amount, calls.in_call(now_us())) == (0, Decimal("0"), False)
    hangup = next(e for e in outbox(store, tenant.auth_id) if e["EventName"] == "SessionSecondPartyHangup")
    assert wire_fields(hangup)["HangupCause"] == {"busy": "Busy Line", "no-answer": "No Answer"}[status]


def test_recording_events_follow_the_recording_once_each(store, tenant, live_call):
    session, sid, leg, start = live_call
    rec = new_sid("RE")
    for status in ("completed", "in-progress", "completed"):
        record_recording(
            store, tenant.auth_id, RecordingStatus(sid, rec, status, "https://rec.example/" + rec, 42), start, PUBLIC
        )
    assert names(store, tenant) == ["SessionRecordingCompleted"]
    event = outbox(store, tenant.auth_id)[0]
    assert (event["RecordingUUID"], event["RecordingDuration"]) == (rec, "42")
    assert read_calls(store, tenant.auth_id, session.session_uuid, now_us()).interactions[0].recording_sid == rec


@pytest.mark.parametrize(
    ("status", "event"),
    [
        ("in-progress", "SessionRecordingInitiated"),
        ("absent", "SessionRecordingFailed"),
        ("failed", "SessionRecordingFailed"),
    ],
)
def test_each_recording_status_becomes_its_event(store, tenant, live_call, status, event):
    session, sid, leg, start = live_call
    record_recording(store, tenant.auth_id, RecordingStatus(sid, new_sid("RE"), status), start, PUBLIC)
    assert names(store, tenant) == [event]


def test_callbacks_for_an_unknown_call_change_nothing(store, tenant):
    assert record_leg_status(store, tenant.auth_id, LegStatus(new_sid(), new_sid(), "ringing"), now_us()) == "unknown"
    assert finish_dial(store, tenant.auth_id, DialOutcome(new_sid(), "completed"), now_us()) == "unknown"
    assert outbox(store, tenant.auth_id) == []


@pytest.mark.parametrize("rate", ["1e-3", "-0.1", "free"])
def test_a_tenant_rate_that_is_not_a_plain_decimal_bills_at_the_default_rate(store, tenant, live_call, rate):
    set_rate(store, tenant, rate)

    assert Decimal(callee_hangup(store, tenant, live_call, 61)["Amount"]) == DEFAULT_RATE * 2
