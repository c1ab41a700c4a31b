"""Every live call has a bounded, self-healing state: lost or absurd carrier reports never hold a session."""

import pytest

from routing.calls import inbound, twiml
from routing.calls.history import read_calls
from routing.clock import US, now_us
from routing.outbox import wire_fields
from routing.sessions import lifecycle
from tests.conftest import outbox
from tests.sessions_helpers import credential
from tests.twilio_helpers import call, new_sid, post, xml

FIRST, SECOND = "+14155551234", "+14155554321"
HANGUPS = ("SessionSecondPartyHangup", "SessionFirstPartyHangup", "SessionPartiesHangup")


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


def leg(client, tenant, sid, leg_sid, status, duration=None, token=None):
    fields = {"CallSid": leg_sid, "CallStatus": status}
    if duration is not None:
        fields["CallDuration"] = str(duration)
    headers = {"I-Twilio-Idempotency-Token": token} if token else None
    return post(client, "/voice/leg-status" + steps(tenant, sid), fields, headers=headers)


def dial_done(client, tenant, sid, leg_sid, status, duration=None):
    fields = {"CallSid": sid, "DialCallStatus": status, "DialCallSid": leg_sid}
    if duration is not None:
        fields["DialCallDuration"] = str(duration)
    return post(client, "/voice/dial-complete" + steps(tenant, sid), fields)


def names(store, tenant):
    return [event["EventName"] for event in outbox(store, tenant.auth_id)]


def snapshot(store, tenant, session, sid):
    return (
        store.redis.hgetall(store.keys.interaction(tenant.auth_id, sid)),
        store.redis.hgetall(store.keys.call_state(tenant.auth_id, session.session_uuid)),
        store.redis.zrange(store.keys.live_calls(tenant.auth_id), 0, -1, withscores=True),
        outbox(store, tenant.auth_id),
    )


# -- the dialled leg's final status ends the bridge ------------------------------------------------------
@pytest.mark.parametrize(
    ("status", "cause"),
    [("no-answer", "No Answer"), ("busy", "Busy Line"), ("failed", "Call Failed"), ("canceled", "Cancelled")],
)
def test_a_lost_dial_action_does_not_hold_the_session(client, store, tenant, status, cause):
    session, sid, leg_sid = bridged(client, store, tenant)
    for reported in ("initiated", "ringing", status):
        assert leg(client, tenant, sid, leg_sid, reported).status_code == 204

    events = {e["EventName"]: e for e in outbox(store, tenant.auth_id)}
    assert [wire_fields(events[name])["HangupCause"] for name in HANGUPS] == [cause, "Normal Hangup", cause]
    assert read_calls(store, tenant.auth_id, session.session_uuid, now_us()).live == ""
    assert store.redis.zcard(store.keys.live_calls(tenant.auth_id)) == 0
    # The session takes the next call at once.
    assert [v.tag for v in xml(call(client, SECOND, session.virtual_number))] == ["Dial"]


def test_a_dial_action_after_the_legs_end_changes_nothing_and_still_hangs_up(client, store, tenant):
    session, sid, leg_sid = bridged(client, store, tenant)
    leg(client, tenant, sid, leg_sid, "in-progress")
    leg(client, tenant, sid, leg_sid, "completed", 65)
    before = snapshot(store, tenant, session, sid)

    assert [v.tag for v in xml(dial_done(client, tenant, sid, leg_sid, "completed", 65))] == ["Hangup"]
    assert snapshot(store, tenant, session, sid) == before


@pytest.mark.parametrize(
    "order",
    [
        ["leg", "dial"],
        ["dial", "leg"],
        ["leg", "leg", "dial", "dial"],
        ["dial", "dial", "leg", "leg"],
        ["leg", "dial", "leg", "dial"],
    ],
)
def test_each_hangup_event_is_sent_once_whatever_the_order_and_repeats_of_reports(client, store, tenant, order):
    session, sid, leg_sid = bridged(client, store, tenant)
    leg(client, tenant, sid, leg_sid, "in-progress")
    for report in order:
        if report == "leg":
            assert leg(client, tenant, sid, leg_sid, "completed", 30).status_code == 204
        else:
            assert [v.tag for v in xml(dial_done(client, tenant, sid, leg_sid, "completed", 30))] == ["Hangup"]

    hangups = [name for name in names(store, tenant) if name.endswith("Hangup")]
    assert sorted(hangups) == sorted(HANGUPS)
    assert read_calls(store, tenant.auth_id, session.session_uuid, now_us()).live == ""


# -- the bound of a call's hold --------------------------------------------------------------------------
def test_an_unanswered_dial_holds_its_session_for_the_ring_timeout_and_a_minute_at_most(client, store, tenant):
    session, sid, leg_sid = bridged(client, store, tenant, ring_timeout=30, call_time_limit=600)
    start = now_us()
    state = read_calls(store, tenant.auth_id, session.session_uuid, start)
    assert state.live == sid and state.live_until <= start + (30 + 60) * US

    leg(client, tenant, sid, leg_sid, "in-progress")
    answered = read_calls(store, tenant.auth_id, session.session_uuid, now_us())
    assert start + 600 * US < answered.live_until <= now_us() + (600 + 60) * US


# -- retries -------------------------------------------------------------------------------------------
def test_every_url_masq_hands_the_carrier_asks_for_retries(client, store, tenant):
    session = open_session(store, tenant, record=True, second_party_play_url="https://cdn.example.com/w.mp3")
    root = xml(call(client, FIRST, session.virtual_number))
    urls = [
        value
        for element in root.iter()
        for name, value in element.attrib.items()
        if value.startswith("https://masq.example.com/voice/")
    ]
    assert len(urls) == 4  # dial action, whisper, leg status, recording status
    assert all(url.endswith(twiml.RETRY) for url in urls)


def test_a_pin_prompt_asks_for_retries(client, store, tenant):
    session = open_session(
        store,
        tenant,
        is_pin_authentication_required=True,
        generate_pin=True,
        pin_prompt_play="https://cdn.example.com/pin.mp3",
        force_pin_authentication=True,
    )
    root = xml(call(client, FIRST, session.virtual_number))
    assert root.find("Gather").get("action").endswith(twiml.RETRY)


# -- absurd numbers ------------------------------------------------------------------------------------
HUGE = "99999999999999999999"


@pytest.mark.parametrize(
    "fields",
    [
        {"CallStatus": "completed", "CallDuration": HUGE},
        {"CallStatus": "completed", "CallDuration": "-5"},
        {"CallStatus": "completed", "CallDuration": "1e+20"},
        {"CallStatus": "completed", "CallDuration": "86401"},
        {"CallStatus": "exploded", "CallDuration": "5"},
        {"CallStatus": "completed", "CallDuration": "5", "CallSid": "CA1"},
    ],
)
def test_an_absurd_leg_report_is_a_400_that_changes_nothing_and_a_sane_retry_then_works(client, store, tenant, fields):
    session, sid, leg_sid = bridged(client, store, tenant)
    before = snapshot(store, tenant, session, sid)

    response = post(client, "/voice/leg-status" + steps(tenant, sid), {"CallSid": leg_sid, **fields})
    assert response.status_code == 400
    assert response.get_json()["field"] in fields  # the answer names what was wrong
    assert snapshot(store, tenant, session, sid) == before

    assert leg(client, tenant, sid, leg_sid, "completed", 12).status_code == 204
    [hangup] = [e for e in outbox(store, tenant.auth_id) if e["EventName"] == "SessionSecondPartyHangup"]
    assert hangup["Duration"] == "12"


@pytest.mark.parametrize(
    "fields",
    [
        {"DialCallStatus": "completed", "DialCallDuration": HUGE},
        {"DialCallStatus": "completed", "DialCallDuration": "1.5"},
        {"DialCallStatus": "sideways", "DialCallDuration": "5"},
        {"DialCallStatus": "completed", "DialCallSid": "not a sid"},
    ],
)
def test_an_absurd_dial_action_apologises_changes_nothing_and_a_sane_retry_then_works(client, store, tenant, fields):
    session, sid, leg_sid = bridged(client, store, tenant)
    before = snapshot(store, tenant, session, sid)

    root = xml(
        post(client, "/voice/dial-complete" + steps(tenant, sid), {"CallSid": sid, "DialCallSid": leg_sid, **fields})
    )
    assert [v.tag for v in root] == ["Say", "Hangup"]
    assert snapshot(store, tenant, session, sid) == before

    xml(dial_done(client, tenant, sid, leg_sid, "completed", 12))
    assert sorted(n for n in names(store, tenant) if n.endswith("Hangup")) == sorted(HANGUPS)


@pytest.mark.parametrize("digits", ["1" * 33, "12a4", "12 4"])
def test_absurd_digits_apologise_and_change_nothing(client, store, tenant, digits):
    session = open_session(
        store,
        tenant,
        is_pin_authentication_required=True,
        generate_pin=True,
        pin_prompt_play="https://cdn.example.com/pin.mp3",
        force_pin_authentication=True,
    )
    sid = new_sid()
    xml(call(client, FIRST, session.virtual_number, sid))
    before = snapshot(store, tenant, session, sid)
    root = xml(post(client, "/voice/pin-check" + steps(tenant, sid), {"CallSid": sid, "Digits": digits}))
    assert [v.tag for v in root] == ["Say", "Hangup"]
    assert snapshot(store, tenant, session, sid) == before


@pytest.mark.parametrize(
    ("script", "args"),
    [
        ("leg_status.lua", ["completed", 10**20]),
        ("leg_status.lua", ["completed", -1]),
        ("leg_status.lua", ["exploded", 5]),
        ("dial_done.lua", ["completed", 10**20]),
        ("dial_done.lua", ["sideways", 5]),
    ],
)
def test_a_call_script_refuses_out_of_bounds_arguments_before_its_first_write(client, store, tenant, script, args):
    session, sid, leg_sid = bridged(client, store, tenant)
    before = snapshot(store, tenant, session, sid)
    status, duration = args
    ordered = [sid, leg_sid, status] if script == "leg_status.lua" else [sid, status, leg_sid]
    with pytest.raises(Exception, match="ARGV"):
        store.run(script, tenant.auth_id, now_us(), *ordered, duration, "Normal Hangup", "")
    assert snapshot(store, tenant, session, sid) == before


@pytest.mark.parametrize("value", ["1e+20", "abc", "", "9" * 400])
def test_a_stored_number_that_does_not_parse_never_breaks_reading_a_session(client, store, tenant, value):
    session, sid, leg_sid = bridged(client, store, tenant)
    store.redis.hset(store.keys.interaction(tenant.auth_id, sid), mapping={"billed": value, "started": value})
    store.redis.hset(
        store.keys.call_state(tenant.auth_id, session.session_uuid),
        mapping={"billed": value, "count": value, "amount": value, "live_until": value},
    )
    one = client.get(tenant.plivo_base + session.session_uuid + "/", auth=tenant.basic)
    listing = client.get(tenant.plivo_base, auth=tenant.basic)
    assert (one.status_code, listing.status_code) == (200, 200)
    # The leg's end still applies on top of the odd values.
    assert leg(client, tenant, sid, leg_sid, "completed", 5).status_code == 204
    assert "SessionPartiesHangup" in names(store, tenant)


def test_inbound_decisions_ignore_an_unparsable_hold(store, tenant):
    session = open_session(store, tenant)
    store.redis.hset(
        store.keys.call_state(tenant.auth_id, session.session_uuid), mapping={"live": "CAx", "live_until": "1e+999"}
    )
    decision = inbound.identify_caller(store, inbound.incoming_call(new_sid(), FIRST, session.virtual_number), now_us())
    assert isinstance(decision, inbound.Bridge)
