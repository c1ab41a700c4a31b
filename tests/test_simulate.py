from decimal import Decimal

import pytest
import requests
from click.testing import CliRunner

from app.cli.simulate import simulate
from app.cli.simulator import CallPlan, Carrier
from routing.calls.history import read_calls
from routing.clock import US, now_us
from routing.outbox import wire_fields
from routing.sessions import lifecycle
from tests.conftest import make_tenant, outbox
from tests.sessions_helpers import credential
from tests.twilio_helpers import TOKEN, inbound_fields, sign

FIRST, SECOND, STRANGER = "+14155551234", "+14155554321", "+14155559999"
PINS = {
    "is_pin_authentication_required": True,
    "first_party_pin": "1234",
    "second_party_pin": "5678",
    "pin_prompt_play": "https://cdn.example.com/pin.mp3",
    "incorrect_pin_play": "https://cdn.example.com/no.mp3",
}


@pytest.fixture(autouse=True)
def twilio_token(monkeypatch):
    """The live server signs with the same token the simulated carrier uses."""
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", TOKEN)
    monkeypatch.delenv("MASQ_SKIP_TWILIO_SIGNATURE", raising=False)


@pytest.fixture
def tenant(real_store):
    return make_tenant(real_store)


@pytest.fixture
def carrier(live_server):
    return Carrier(live_server, TOKEN)


def open_session(real_store, tenant, now=None, **fields):
    return lifecycle.open_session(
        real_store, credential(tenant), {"first_party": FIRST, "second_party": SECOND, **fields}, now or now_us()
    )


def event_names(real_store, tenant):
    return [event["EventName"] for event in outbox(real_store, tenant.auth_id)]


def test_an_answered_call_is_bridged_recorded_and_billed(real_store, tenant, carrier, live_server):
    session = open_session(
        real_store,
        tenant,
        record=True,
        first_party_play_url="https://cdn.example.com/1.mp3",
        second_party_play_url="https://cdn.example.com/2.mp3",
    )
    result = carrier.call(CallPlan(SECOND, session.virtual_number, talk_seconds=75, replay_callbacks=True))
    assert (result.ending, result.dialled, result.dial_status) == ("bridged", FIRST, "completed")
    assert result.heard == ["https://cdn.example.com/2.mp3"] and result.whisper == ["https://cdn.example.com/1.mp3"]
    assert event_names(real_store, tenant) == [
        "SessionFirstPartyAnswer",
        "SessionSecondPartyInitiated",
        "SessionSecondPartyRing",
        "SessionSecondPartyAnswer",
        "SessionRecordingInitiated",
        "SessionSecondPartyHangup",
        "SessionFirstPartyHangup",
        "SessionPartiesHangup",
        "SessionRecordingCompleted",
    ]
    calls = read_calls(real_store, tenant.auth_id, session.session_uuid, now_us())
    assert (calls.count, calls.in_call(now_us())) == (1, False)
    # Both legs were up for the 75 s of talk: each is billed two started minutes.
    assert calls.billed == 120 + 120 and calls.amount == Decimal("0.0200")
    shown = requests.get(
        f"{live_server}{tenant.plivo_base}{session.session_uuid}", auth=tenant.basic, timeout=5
    ).json()["response"]
    assert (shown["status"], shown["total_call_count"], shown["total_call_amount"]) == ("active", 1, 0.02)
    recording = f"{live_server}/v1/Account/{tenant.auth_id}/Recording/RE"
    assert shown["interaction"][0]["recording_resource_url"].startswith(recording)


@pytest.mark.parametrize(("outcome", "cause"), [("busy", "Busy Line"), ("no-answer", "No Answer")])
def test_a_call_the_other_party_does_not_take_ends_without_charge_for_them(real_store, tenant, carrier, outcome, cause):
    session = open_session(real_store, tenant)
    result = carrier.call(CallPlan(FIRST, session.virtual_number, outcome=outcome))
    assert (result.ending, result.dial_status) == (outcome, outcome)
    hangup = next(e for e in outbox(real_store, tenant.auth_id) if e["EventName"] == "SessionSecondPartyHangup")
    assert (wire_fields(hangup)["HangupCause"], hangup["BilledDuration"]) == (cause, "0")
    calls = read_calls(real_store, tenant.auth_id, session.session_uuid, now_us())
    assert (calls.billed, calls.in_call(now_us())) == (0, False)


def test_the_right_pin_connects_an_unknown_caller_as_that_party(real_store, tenant, carrier):
    session = open_session(real_store, tenant, **PINS)
    result = carrier.call(CallPlan(STRANGER, session.virtual_number, digits=("1234",)))
    assert (result.ending, result.dialled) == ("bridged", SECOND)
    assert result.heard == ["https://cdn.example.com/pin.mp3"]
    pins = [
        e["PinAuthenticationStatus"]
        for e in outbox(real_store, tenant.auth_id)
        if e["EventName"] == "SessionPinAuthenticationStatus"
    ]
    assert pins == ["success"]


def test_a_wrong_pin_then_the_right_one_connects_the_caller(real_store, tenant, carrier):
    session = open_session(real_store, tenant, **PINS)
    result = carrier.call(CallPlan(STRANGER, session.virtual_number, digits=("0000", "5678")))
    assert (result.ending, result.dialled) == ("bridged", FIRST)
    assert result.heard == [
        "https://cdn.example.com/pin.mp3",
        "https://cdn.example.com/no.mp3",
        "https://cdn.example.com/pin.mp3",
    ]


def test_running_out_of_pin_attempts_hangs_up_and_frees_the_session(real_store, tenant, carrier):
    session = open_session(real_store, tenant, pin_retry=1, **PINS)
    result = carrier.call(CallPlan(STRANGER, session.virtual_number, digits=("0000", "1111")))
    assert (result.ending, result.dialled) == ("hung up", "")
    assert result.heard[-1] == "https://cdn.example.com/no.mp3"
    failed = [
        e["PinRetryCounter"]
        for e in outbox(real_store, tenant.auth_id)
        if e["EventName"] == "SessionPinAuthenticationStatus"
    ]
    assert failed == ["1", "2"]
    assert carrier.call(CallPlan(FIRST, session.virtual_number, digits=("1234",))).ending == "bridged"


def test_an_unknown_caller_hears_the_message_and_is_hung_up(real_store, tenant, carrier):
    session = open_session(real_store, tenant, unknown_caller_play="https://cdn.example.com/who.mp3")
    result = carrier.call(CallPlan(STRANGER, session.virtual_number))
    assert (result.ending, result.heard, result.dialled) == ("hung up", ["https://cdn.example.com/who.mp3"], "")


def test_a_call_to_an_expired_session_is_rejected_unanswered(real_store, tenant, carrier):
    session = open_session(real_store, tenant, now=now_us() - 120 * US, session_expiry=60)
    result = carrier.call(CallPlan(FIRST, session.virtual_number))
    assert (result.ending, result.heard) == ("rejected:rejected", [])


def test_a_call_while_another_is_live_is_rejected_as_busy(real_store, tenant, carrier, live_server):
    session = open_session(real_store, tenant)
    fields = inbound_fields(FIRST, session.virtual_number)
    url = live_server + "/voice/inbound"
    live = requests.post(url, data=fields, headers={"X-Twilio-Signature": sign(url, fields)}, timeout=5)
    assert "<Dial" in live.text
    assert carrier.call(CallPlan(SECOND, session.virtual_number)).ending == "rejected:busy"


def test_the_simulate_command_prints_the_call_as_it_goes(real_store, tenant, live_server):
    session = open_session(real_store, tenant)
    result = CliRunner().invoke(
        simulate, ["call", "--from", FIRST, "--to", session.virtual_number, "--busy", "--url", live_server]
    )
    assert result.exit_code == 0, result.output
    assert f"masq dials {SECOND}" in result.output
    assert result.output.strip().endswith("ending: busy")


def test_the_simulate_command_reports_a_refused_signature(real_store, tenant, live_server):
    session = open_session(real_store, tenant)
    result = CliRunner().invoke(
        simulate,
        ["call", "--from", FIRST, "--to", session.virtual_number, "--url", live_server, "--auth-token", "wrong"],
    )
    assert result.exit_code == 1
    assert "403" in result.output


def test_the_talk_time_adds_up_on_every_hangup_event(real_store, tenant, carrier):
    session = open_session(real_store, tenant)
    carrier.call(CallPlan(FIRST, session.virtual_number, talk_seconds=65))

    events = {e["EventName"]: e for e in outbox(real_store, tenant.auth_id)}
    assert events["SessionSecondPartyHangup"]["Duration"] == "65"
    assert int(events["SessionFirstPartyHangup"]["Duration"]) >= 65
    assert events["SessionFirstPartyHangup"]["BilledDuration"] == "120"
    assert int(events["SessionPartiesHangup"]["Duration"]) >= 65
