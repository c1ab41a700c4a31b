"""Every way a call ends reaches the tenant as Plivo's hangup cause and code, beside masq's own HangupCause.

Each outcome goes in through the carrier's webhooks, signed as Twilio signs them, and is read back as the tenant
receives it (`wire_fields`, which deliveries send). The causes and codes are Plivo's published ones
(https://www.plivo.com/docs/voice/troubleshooting/hangup-causes).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from routing.calls.hangup_causes import CAUSES, on_the_wire
from routing.clock import US, now_us
from routing.outbox import Event, wire_fields
from routing.sessions import lifecycle
from routing.store import Store
from tests.conftest import outbox
from tests.sessions_helpers import credential
from tests.twilio_helpers import PUBLIC, call, new_sid, post, xml
from workers.deliveries import delivery_for

FIRST, SECOND, STRANGER = "+14155551234", "+14155554321", "+12025550123"
PINS = {
    "is_pin_authentication_required": True,
    "first_party_pin": "1234",
    "second_party_pin": "9876",
    "pin_prompt_play": "https://cdn.example.com/pin.mp3",
    "pin_retry": 0,
}
NORMAL = ("Normal Hangup", "Normal Hangup", "4000")
SCHEDULED = ("Normal Hangup", "Scheduled Hangup", "6000")
PIN_FAILED = ("PIN Authentication Failed", "Confirm Key Challenge Failed", "9110")


def open_session(store, tenant, **fields):
    return lifecycle.open_session(
        store, credential(tenant), {"first_party": FIRST, "second_party": SECOND, **fields}, now_us()
    )


def steps(tenant, sid):
    return f"?t={tenant.auth_id}&c={sid}"


def bridged(client, store, tenant, **fields):
    """A session and a call from its first party that masq bridged: (session, caller CallSid, dialled CallSid)."""
    session = open_session(store, tenant, **fields)
    sid = new_sid()
    assert [v.tag for v in xml(call(client, FIRST, session.virtual_number, sid))] == ["Dial"]
    return session, sid, new_sid()


def leg(client, tenant, sid, leg_sid, status, duration=None, sip_code=None):
    fields = {"CallSid": leg_sid, "ParentCallSid": sid, "CallStatus": status}
    if duration is not None:
        fields["CallDuration"] = str(duration)
    if sip_code is not None:
        fields["SipResponseCode"] = sip_code
    return post(client, "/voice/leg-status" + steps(tenant, sid), fields)


def dial_done(client, tenant, sid, leg_sid, status, duration):
    fields = {"CallSid": sid, "DialCallStatus": status, "DialCallSid": leg_sid, "DialCallDuration": str(duration)}
    return post(client, "/voice/dial-complete" + steps(tenant, sid), fields)


def hangups(store, tenant):
    """The tenant's events that tell a call's or a leg's end, by name, as the tenant receives them."""
    return {e["EventName"]: wire_fields(e) for e in outbox(store, tenant.auth_id) if "HangupCause" in e}


def told(event):
    return (event["HangupCause"], event["PlivoHangupCause"], event["PlivoHangupCauseCode"])


# -- the dialled leg's end: Twilio's final statuses, refined by its SIP response -------------------------------------
LEG_ENDS = [
    ("busy", None, ("Busy Line", "Busy Line", "3010")),
    ("no-answer", None, ("No Answer", "Ring Timeout Reached", "6010")),
    ("failed", None, ("Call Failed", "Routing Error", "5020")),
    ("canceled", None, ("Cancelled", "Canceled", "1000")),
    ("busy", "486", ("Busy Line", "Busy Line", "3010")),
    ("busy", "600", ("Busy Line", "Busy everywhere", "3100")),
    ("busy", "603", ("Busy Line", "Declined", "3110")),
    ("no-answer", "480", ("No Answer", "No Answer", "3000")),
    ("no-answer", "408", ("No Answer", "Request timeout", "3070")),
    ("no-answer", "487", ("No Answer", "Ring Timeout Reached", "6010")),  # 487 ends a ring timeout and a cancel
    ("failed", "403", ("Call Failed", "Forbidden", "3040")),
    ("failed", "404", ("Call Failed", "Unallocated number", "3050")),
    ("failed", "484", ("Call Failed", "Invalid Destination Address", "2000")),
    ("failed", "500", ("Call Failed", "Internal server error from carrier", "3080")),
    ("failed", "503", ("Call Failed", "Network congestion from carrier", "3090")),
    ("failed", "604", ("Call Failed", "User does not exist anywhere", "3120")),
    ("failed", "488", ("Call Failed", "Routing Error", "5020")),  # a SIP response without a row: the status's
    ("canceled", "487", ("Cancelled", "Canceled", "1000")),
]


def test_every_sip_response_in_the_table_is_tried_below():
    assert {f"sip {code}" for _, code, _ in LEG_ENDS if code} >= {k for k in CAUSES if k.startswith("sip ")}


@pytest.mark.parametrize(("status", "sip_code", "expected"), LEG_ENDS)
def test_a_dialled_leg_that_is_not_answered_is_told_with_plivos_cause_and_code(
    client, store, tenant, status, sip_code, expected
):
    session, sid, leg_sid = bridged(client, store, tenant)
    for reported in ("initiated", "ringing"):
        leg(client, tenant, sid, leg_sid, reported)
    assert leg(client, tenant, sid, leg_sid, status, 0, sip_code).status_code == 204

    events = hangups(store, tenant)
    assert told(events["SessionSecondPartyHangup"]) == expected
    assert told(events["SessionPartiesHangup"]) == expected
    assert told(events["SessionFirstPartyHangup"]) == NORMAL  # the caller's leg was ended by masq, normally


def test_an_answered_leg_that_hangs_up_is_a_normal_hangup_everywhere(client, store, tenant):
    session, sid, leg_sid = bridged(client, store, tenant)
    leg(client, tenant, sid, leg_sid, "in-progress")
    leg(client, tenant, sid, leg_sid, "completed", 42, "200")
    dial_done(client, tenant, sid, leg_sid, "completed", 42)

    assert {name: told(event) for name, event in hangups(store, tenant).items()} == {
        "SessionSecondPartyHangup": NORMAL,
        "SessionFirstPartyHangup": NORMAL,
        "SessionPartiesHangup": NORMAL,
    }


@pytest.mark.parametrize(("status", "expected"), [(s, e) for s, code, e in LEG_ENDS if code is None])
def test_a_dial_whose_leg_callbacks_were_lost_tells_the_same_cause(client, store, tenant, status, expected):
    session, sid, leg_sid = bridged(client, store, tenant)
    assert dial_done(client, tenant, sid, leg_sid, status, 0).status_code == 200

    events = hangups(store, tenant)
    assert (told(events["SessionSecondPartyHangup"]), told(events["SessionPartiesHangup"])) == (expected, expected)


def test_a_sip_response_that_is_not_a_sip_code_is_a_400_naming_it_and_changes_nothing(client, store, tenant):
    session, sid, leg_sid = bridged(client, store, tenant)
    before = outbox(store, tenant.auth_id)
    response = leg(client, tenant, sid, leg_sid, "busy", 0, "9999")
    assert (response.status_code, response.get_json()["field"]) == (400, "SipResponseCode")
    assert outbox(store, tenant.auth_id) == before


# -- masq's own ends: the time limit, the session's expiry, the PIN --------------------------------------------------
@pytest.mark.parametrize(("call_time_limit", "talked"), [(60, 60), (600, 601), (86400, 14400)])
def test_a_call_cut_at_its_time_limit_is_a_scheduled_hangup_on_every_hangup_event(
    client, store, tenant, call_time_limit, talked
):
    session, sid, leg_sid = bridged(client, store, tenant, call_time_limit=call_time_limit)
    leg(client, tenant, sid, leg_sid, "in-progress")
    leg(client, tenant, sid, leg_sid, "completed", talked)
    dial_done(client, tenant, sid, leg_sid, "completed", talked)

    events = hangups(store, tenant)
    assert [told(events[name]) for name in sorted(events)] == [SCHEDULED] * 3


def test_a_dial_action_alone_tells_the_time_limit_too(client, store, tenant):
    session, sid, leg_sid = bridged(client, store, tenant, call_time_limit=120)
    leg(client, tenant, sid, leg_sid, "in-progress")
    dial_done(client, tenant, sid, leg_sid, "completed", 120)

    events = hangups(store, tenant)
    assert [told(events[name]) for name in sorted(events)] == [SCHEDULED] * 3


def test_a_call_that_ends_a_second_before_its_time_limit_is_a_normal_hangup(client, store, tenant):
    session, sid, leg_sid = bridged(client, store, tenant, call_time_limit=60)
    leg(client, tenant, sid, leg_sid, "in-progress")
    leg(client, tenant, sid, leg_sid, "completed", 59)

    events = hangups(store, tenant)
    assert [told(events[name]) for name in sorted(events)] == [NORMAL] * 3


def pin_call(client, store, tenant, **fields):
    """A stranger's call to a PIN session, at its PIN prompt: (session, CallSid)."""
    session = open_session(store, tenant, **{**PINS, **fields})
    sid = new_sid()
    assert xml(call(client, STRANGER, session.virtual_number, sid)).find("Gather") is not None
    return session, sid


def key_pin(client, tenant, sid, digits):
    return xml(
        post(client, "/voice/pin-check" + steps(tenant, sid), {"CallSid": sid, "From": STRANGER, "Digits": digits})
    )


def test_a_caller_out_of_pin_tries_is_told_as_a_failed_key_challenge(client, store, tenant):
    session, sid = pin_call(client, store, tenant)
    assert [v.tag for v in key_pin(client, tenant, sid, "5555")] == ["Say", "Hangup"]

    assert {name: told(event) for name, event in hangups(store, tenant).items()} == {
        "SessionFirstPartyHangup": PIN_FAILED
    }


def test_a_caller_whose_wrong_pin_locks_the_session_is_told_as_a_failed_key_challenge(make_app, store, tenant):
    client = make_app(MASQ_PIN_GUESSES=1).test_client()
    session, sid = pin_call(client, store, tenant, pin_retry=3)
    key_pin(client, tenant, sid, "5555")

    assert any(e.get("PinAuthenticationStatus") == "locked" for e in outbox(store, tenant.auth_id))
    assert {name: told(event) for name, event in hangups(store, tenant).items()} == {
        "SessionFirstPartyHangup": PIN_FAILED
    }


def test_a_session_that_expires_while_its_caller_keys_a_pin_is_a_scheduled_hangup(client, store, tenant, monkeypatch):
    session, sid = pin_call(client, store, tenant, session_expiry=60)
    later = session.expiry + US
    monkeypatch.setattr(Store, "now_us", lambda self: later)
    key_pin(client, tenant, sid, PINS["first_party_pin"])

    assert {name: told(event) for name, event in hangups(store, tenant).items()} == {
        "SessionFirstPartyHangup": ("Session Expired", "Scheduled Hangup", "6000")
    }


# -- masq's call to the first party -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("status", "sip_code", "expected"),
    [
        ("busy", "", ("Busy Line", "Busy Line", "3010")),
        ("no-answer", "", ("No Answer", "Ring Timeout Reached", "6010")),
        ("no-answer", "480", ("No Answer", "No Answer", "3000")),
        ("failed", "404", ("Call Failed", "Unallocated number", "3050")),
        ("canceled", "", ("Cancelled", "Canceled", "1000")),
    ],
)
def test_a_first_party_who_does_not_answer_masqs_call_is_told_with_plivos_cause(
    client, store, tenant, status, sip_code, expected
):
    session = open_session(store, tenant, initiate_call_to_first_party=True)
    sid = new_sid()
    url = f"{PUBLIC}/voice/outbound-status?t={tenant.auth_id}&s={session.session_uuid}"
    for each in ("initiated", "ringing", status):
        fields = {"CallSid": sid, "CallStatus": each, "CallDuration": "0"}
        if each == status and sip_code:
            fields["SipResponseCode"] = sip_code
        assert post(client, url, fields).status_code == 204

    assert {name: told(event) for name, event in hangups(store, tenant).items()} == {
        "SessionFirstPartyFailed": expected
    }


# -- on the wire -----------------------------------------------------------------------------------------------------
def test_a_delivery_carries_the_cause_in_plivos_fields(client, store, tenant):
    session, sid, leg_sid = bridged(client, store, tenant, callback_url="https://tenant.example.com/events")
    leg(client, tenant, sid, leg_sid, "busy", 0, "486")
    [event] = [e for e in outbox(store, tenant.auth_id) if e["EventName"] == "SessionSecondPartyHangup"]

    params = delivery_for(Event("1-0", event), session, tenant.auth_token).params
    assert (params["HangupCause"], params["PlivoHangupCause"], params["PlivoHangupCauseCode"]) == (
        "Busy Line",
        "Busy Line",
        "3010",
    )


def test_an_event_written_before_masq_knew_plivos_causes_passes_as_it_was():
    assert on_the_wire("Busy Line") == {"HangupCause": "Busy Line"}
    assert wire_fields({"EventName": "SessionPartiesHangup", "HangupCause": "Cancelled"})["HangupCause"] == "Cancelled"


def test_the_causes_are_written_in_one_table():
    """No other module or script spells a cause: they name outcomes, and `CAUSES` words them."""
    root = Path(__file__).resolve().parent.parent
    words = {c.plivo for c in CAUSES.values()} | {c.hangup_cause for c in CAUSES.values() if c.hangup_cause}
    table = root / "routing" / "calls" / "hangup_causes.py"
    sources = [p for d in ("app", "routing", "workers") for p in (root / d).rglob("*") if p.suffix in (".py", ".lua")]
    spelled = {
        (p.name, w)
        for p in sources
        if p != table
        for w in words
        if f"'{w}'" in p.read_text() or f'"{w}"' in p.read_text()
    }
    assert spelled == set()
