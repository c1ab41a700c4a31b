"""The Plivo dialect's JSON types: every session field, in every state a session can be in, is of the type Plivo's
Go SDK declares for it, and amounts are JSON numbers that read back as the Decimal masq keeps."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.plivo_format import amount_number
from routing.clock import US, now_us
from routing.store import Store
from tests.conftest import TenantFixture
from tests.twilio_helpers import call, new_sid, post, xml

FIRST, SECOND = "+14155551234", "+14155554321"
RATE = "0.00375"  # per minute: a 61 s call bills each leg 2 minutes, 0.0150 in all, kept as that Decimal string

# The JSON each Go type takes in `encoding/json`'s Unmarshal: a number without fraction or exponent for an int or
# int64 (`0.0` fails), any number for a float64, only a string for a string, only true or false for a bool.
STRING, BOOL, INT, FLOAT64 = "string", "bool", "int", "float64"
INTERACTIONS, META, SESSION, SESSIONS = "[]VoiceInteractionResponse", "Meta", "MaskingSession", "[]MaskingSession"

# Plivo's Go SDK, github.com/plivo/plivo-go, `maskingsession.go` (commit 273a836), struct MaskingSession: each
# field's json tag and Go type (int64 and int both read as INT). `create_session_with_single_Party` is the SDK's
# spelling: Go matches a key to a tag ignoring case, so masq's `create_session_with_single_party` lands there.
GO_SESSION = {
    "first_party": STRING,
    "second_party": STRING,
    "virtual_number": STRING,
    "status": STRING,
    "initiate_call_to_first_party": BOOL,
    "session_uuid": STRING,
    "callback_url": STRING,
    "callback_method": STRING,
    "created_time": STRING,
    "modified_time": STRING,
    "expiry_time": STRING,
    "duration": INT,
    "amount": INT,
    "call_time_limit": INT,
    "ring_timeout": INT,
    "first_party_play_url": STRING,
    "second_party_play_url": STRING,
    "record": BOOL,
    "record_file_format": STRING,
    "recording_callback_url": STRING,
    "recording_callback_method": STRING,
    "interaction": INTERACTIONS,
    "total_call_amount": FLOAT64,
    "total_call_count": INT,
    "total_call_billed_duration": INT,
    "total_session_amount": FLOAT64,
    "last_interaction_time": STRING,
    "is_pin_authentication_required": BOOL,
    "generate_pin": BOOL,
    "generate_pin_length": INT,
    "first_party_pin": STRING,
    "second_party_pin": STRING,
    "pin_prompt_play": STRING,
    "pin_retry": INT,
    "pin_retry_wait": INT,
    "incorrect_pin_play": STRING,
    "unknown_caller_play": STRING,
    "virtual_number_cooloff_period": INT,
    "force_pin_authentication": BOOL,
    "create_session_with_single_Party": BOOL,
}
# The same file, struct VoiceInteractionResponse.
GO_INTERACTION = {
    "start_time": STRING,
    "end_time": STRING,
    "first_party_resource_url": STRING,
    "second_party_resource_url": STRING,
    "first_party_status": STRING,
    "second_party_status": STRING,
    "type": STRING,
    "total_call_amount": FLOAT64,
    "call_billed_duration": INT,
    "recording_resource_url": STRING,
    "auth_id": STRING,
    "total_call_count": INT,
    "duration": FLOAT64,
}
# The same file's answers (Create/Get/Update/ListMaskingSessionResponse, ListSessionResponse), and `common.go`'s
# Meta, whose `previous` and `next` are *string (a string or null).
GO_ANSWERS = {
    "create": {
        "api_id": STRING,
        "session_uuid": STRING,
        "virtual_number": STRING,
        "message": STRING,
        "session": SESSION,
    },
    "get": {"api_id": STRING, "response": SESSION},
    "update": {"api_id": STRING, "message": STRING, "session": SESSION},
    "list": {"api_id": STRING, "response": {"meta": META, "objects": SESSIONS}},
}
GO_META = {"previous": "*string", "next": "*string", "total_count": INT, "offset": INT, "limit": INT}
# Fields masq adds that the Go SDK does not declare (Go skips them): their types are masq's own.
MASQ_SESSION = {"geomatch": BOOL, "subaccount": STRING, "resource_uri": STRING}

# The keys every answer carries: all the SDK declares but the PIN fields, which masq shows only on a session with
# PIN authentication (as Plivo's Python SDK fixtures leave them out of a session without).
ALWAYS = set(GO_SESSION) - {
    "is_pin_authentication_required",
    "generate_pin",
    "generate_pin_length",
    "first_party_pin",
    "second_party_pin",
    "pin_prompt_play",
    "pin_retry",
    "pin_retry_wait",
    "incorrect_pin_play",
    "unknown_caller_play",
    "force_pin_authentication",
}


def takes(go_type: str, value: object) -> bool:
    """Return whether Go's json.Unmarshal takes the JSON `value` (as Python's json reads it) into `go_type`."""
    if go_type == STRING:
        return isinstance(value, str)
    if go_type == BOOL:
        return isinstance(value, bool)
    if go_type == INT:
        return isinstance(value, int) and not isinstance(value, bool)
    if go_type == FLOAT64:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if go_type == "*string":
        return value is None or isinstance(value, str)
    raise AssertionError(f"no rule for {go_type}")


def go_type_of(name: str) -> str:
    """Return the Go type of the session field `name`, found as Go finds it (an exact tag, else one ignoring case)."""
    if name in GO_SESSION:
        return GO_SESSION[name]
    folded = [tag for tag in GO_SESSION if tag.casefold() == name.casefold()]
    if folded:
        return GO_SESSION[folded[0]]
    assert name in MASQ_SESSION, f"{name} is in neither the Go SDK's MaskingSession nor masq's own fields"
    return MASQ_SESSION[name]


def wrong_types(session: dict[str, Any], where: str) -> list[str]:
    """Return each field of a Session object (and of its interactions) whose JSON type its Go type refuses."""
    present = {name.casefold() for name in session}
    wrong = [f"{where}: {name} is missing" for name in sorted(ALWAYS) if name.casefold() not in present]
    for name, value in session.items():
        kind = go_type_of(name)
        if kind == INTERACTIONS:
            if value is None:
                continue
            if not isinstance(value, list) or not value:
                wrong.append(f"{where}: interaction {value!r} is neither null nor a list of interactions")
                continue
            for n, interaction in enumerate(value):
                wrong += [
                    f"{where}.interaction[{n}]: {key} is missing" for key in set(GO_INTERACTION) - set(interaction)
                ]
                for key, item in interaction.items():
                    if key not in GO_INTERACTION:
                        wrong.append(f"{where}.interaction[{n}]: {key} is not in the Go SDK's interaction")
                    elif not takes(GO_INTERACTION[key], item):
                        wrong.append(f"{where}.interaction[{n}]: {key} {item!r} is no Go {GO_INTERACTION[key]}")
        elif not takes(kind, value):
            wrong.append(f"{where}: {name} {value!r} is no Go {kind}")
    return wrong


def answer_types(answer: dict[str, Any], shape: dict[str, Any], where: str) -> tuple[list[str], list[dict[str, Any]]]:
    """Return the envelope fields of `answer` that `shape` refuses, and the Session objects it holds."""
    wrong: list[str] = []
    sessions: list[dict[str, Any]] = []
    for name, kind in shape.items():
        value = answer.get(name)
        if isinstance(kind, dict):
            more, held = answer_types(value or {}, kind, f"{where}.{name}")
            wrong, sessions = wrong + more, sessions + held
        elif kind == SESSION:
            sessions.append(value)
        elif kind == SESSIONS:
            sessions += value
        elif kind == META:
            wrong += [f"{where}.meta: {k} {value.get(k)!r}" for k, t in GO_META.items() if not takes(t, value.get(k))]
        elif not takes(kind, value):
            wrong.append(f"{where}: {name} {value!r} is no Go {kind}")
    return wrong, sessions


def json_kind(value: object) -> str:
    """Return the JSON type of `value` as Python's json reads it."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    return {str: "string", list: "array", dict: "object"}[type(value)]


# -- the rule for amounts ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kept", "written"),
    [
        ("0", "0"),
        ("0.0000", "0"),
        ("2.00", "2"),
        ("0.0150", "0.015"),
        ("0.0100", "0.01"),
        ("0.3", "0.3"),
        ("0.0001", "0.0001"),
        ("123.4567", "123.4567"),
    ],
)
def test_an_amount_is_written_as_a_json_number_with_the_fewest_digits(kept, written):
    assert json.dumps(amount_number(Decimal(kept))) == written


def test_every_amount_of_four_decimals_up_to_10_reads_back_as_the_decimal_kept():
    for n in range(100_001):
        kept = Decimal(n).scaleb(-4)
        assert Decimal(json.dumps(amount_number(kept))) == kept, kept


@given(st.decimals(min_value=0, max_value=10**9, places=6))
def test_an_amount_of_up_to_15_significant_digits_reads_back_as_the_decimal_kept(kept):
    written = json.dumps(amount_number(kept))
    assert Decimal(written) == kept
    assert ("." in written or "e" in written) == (kept != kept.to_integral_value())


# -- every field, in every state ---------------------------------------------------------------------------
@dataclass
class Phone:
    """Places calls on sessions through masq's signed carrier webhooks, as Twilio would."""

    client: Any
    tenant: TenantFixture

    def create(self, **fields: Any) -> dict[str, Any]:
        response = self.client.post(
            self.tenant.plivo_base,
            json={"first_party": FIRST, "second_party": SECOND, **fields},
            auth=self.tenant.basic,
        )
        assert response.status_code == 200, response.get_json()
        return dict(response.get_json())

    def dial(self, virtual_number: str) -> tuple[str, ET.Element]:
        """Call `virtual_number` from the first party; return the CallSid and the `<Dial>` masq answered."""
        sid = new_sid()
        dial = xml(call(self.client, FIRST, virtual_number, sid)).find("Dial")
        assert dial is not None
        return sid, dial

    @staticmethod
    def report(client: Any, url: str | None, fields: dict[str, str]) -> None:
        assert url, "masq gave the carrier no URL for this report"
        response = post(client, url, fields)
        assert response.status_code in (200, 204), response.get_data(as_text=True)

    def leg(self, dial: ET.Element, sid: str, leg: str, status: str, duration: int = 0) -> None:
        fields = {"CallSid": leg, "ParentCallSid": sid, "CallStatus": status}
        if duration:
            fields["CallDuration"] = str(duration)
        number = dial.find("Number")
        assert number is not None
        self.report(self.client, number.get("statusCallback"), fields)

    def dial_done(self, dial: ET.Element, sid: str, leg: str, status: str, duration: int = 0) -> None:
        fields = {"CallSid": sid, "DialCallStatus": status, "DialCallSid": leg, "DialCallDuration": str(duration)}
        if status == "completed":
            fields["DialBridged"] = "true"
        self.report(self.client, dial.get("action"), fields)

    def recording(self, dial: ET.Element, sid: str, status: str, duration: int = 0) -> None:
        rec = new_sid("RE")
        fields = {"CallSid": sid, "RecordingSid": rec, "RecordingStatus": status, "RecordingChannels": "2"}
        if status == "completed":
            fields.update(RecordingUrl=f"https://api.twilio.com/R/{rec}", RecordingDuration=str(duration))
        self.report(self.client, dial.get("recordingStatusCallback"), fields)

    def busy_call(self, virtual_number: str) -> None:
        """The other party's line is busy."""
        sid, dial = self.dial(virtual_number)
        leg = new_sid()
        for status in ("initiated", "ringing", "busy"):
            self.leg(dial, sid, leg, status)
        self.dial_done(dial, sid, leg, "busy")

    def live_call(self, virtual_number: str) -> None:
        """The other party answered and is still talking."""
        sid, dial = self.dial(virtual_number)
        leg = new_sid()
        for status in ("initiated", "ringing", "in-progress"):
            self.leg(dial, sid, leg, status)

    def answered_call(self, virtual_number: str, talk: int = 61) -> None:
        """The other party answered, the two talked for `talk` s and the call was recorded."""
        sid, dial = self.dial(virtual_number)
        leg = new_sid()
        for status in ("initiated", "ringing", "in-progress"):
            self.leg(dial, sid, leg, status)
        self.recording(dial, sid, "in-progress")
        self.leg(dial, sid, leg, "completed", talk)
        self.dial_done(dial, sid, leg, "completed", talk)
        self.recording(dial, sid, "completed", talk)


@pytest.fixture
def phone(client, store, tenant) -> Phone:
    store.redis.hset(store.keys.tenant(tenant.auth_id), "call_rate_per_minute", RATE)
    return Phone(client, tenant)


@pytest.fixture
def travel(monkeypatch) -> Callable[[int], None]:
    """Move the API's clock `seconds` ahead of now."""

    def to(seconds: int) -> None:
        later = now_us() + seconds * US
        monkeypatch.setattr(Store, "now_us", lambda self: later)

    return to


PINS = {
    "is_pin_authentication_required": True,
    "first_party_pin": "1234",
    "second_party_pin": "1235",
    "pin_prompt_play": "https://hooks.example.com/pin.xml",
}

# Each state a session can be shown in: what brings a fresh session there, whether it can still be updated, and
# what its retrieval then shows (status, total_call_count, total_call_amount), so that the state was reached.
STATES: dict[str, tuple[Callable[[Phone, str, Callable[[int], None]], object], bool, tuple[str, int, float]]] = {
    "no call": (lambda phone, number, travel: None, True, ("active", 0, 0)),
    "a busy call": (lambda phone, number, travel: phone.busy_call(number), True, ("active", 1, 0)),
    "a call in progress": (lambda phone, number, travel: phone.live_call(number), True, ("in-progress", 1, 0)),
    "an answered and recorded call": (
        lambda phone, number, travel: phone.answered_call(number),
        True,
        ("active", 1, 0.015),
    ),
    "expired after a busy and an answered call": (
        lambda phone, number, travel: (phone.busy_call(number), phone.answered_call(number), travel(601)),
        False,
        ("expired", 2, 0.015),
    ),
    "expired without a call": (lambda phone, number, travel: travel(601), False, ("expired", 0, 0)),
}


def answers_in(phone: Phone, state: str, travel: Callable[[int], None], **fields: Any) -> dict[str, Any]:
    """Open a session, bring it to `state`; return every answer that shows it, by operation, as JSON bodies."""
    created = phone.create(session_expiry=600, record=True, **fields)
    action, updatable, _ = STATES[state]
    action(phone, created["virtual_number"], travel)
    url = phone.tenant.plivo_base + created["session_uuid"] + "/"
    answers = {
        "create": created,
        "get": phone.client.get(url, auth=phone.tenant.basic).get_json(),
        "list": phone.client.get(phone.tenant.plivo_base, auth=phone.tenant.basic, query_string={"status": "all"}),
    }
    answers["list"] = answers["list"].get_json()
    if updatable:
        updated = phone.client.post(url, json={"ring_timeout": 60}, auth=phone.tenant.basic)
        assert updated.status_code == 200, updated.get_json()
        answers["update"] = updated.get_json()
    return answers


@pytest.mark.parametrize("pins", [{}, PINS], ids=["plain", "with-pins"])
@pytest.mark.parametrize("state", list(STATES))
def test_every_field_of_every_answer_has_the_go_sdks_type(phone, travel, state, pins):
    answers = answers_in(phone, state, travel, **pins)

    wrong: list[str] = []
    seen: dict[str, set[str]] = {}
    for operation, body in answers.items():
        more, sessions = answer_types(body, GO_ANSWERS[operation], operation)
        wrong += more
        assert sessions, f"{operation} showed no session"
        for session in sessions:
            wrong += wrong_types(session, operation)
            for name, value in session.items():
                seen.setdefault(name, set()).add(json_kind(value))
    assert not wrong, "\n".join(wrong)
    # One JSON type per field whatever the answer (an amount may be `0` or `0.015`: both are numbers).
    assert {
        name: kinds for name, kinds in seen.items() if len(kinds - {"null"} if name == "interaction" else kinds) > 1
    } == {}
    shown = answers["get"]["response"]
    assert (shown["status"], shown["total_call_count"], shown["total_call_amount"]) == STATES[state][2]


def test_a_charged_session_shows_its_amounts_as_numbers_that_read_back_exactly(phone):
    created = phone.create(record=True)
    phone.busy_call(created["virtual_number"])
    phone.answered_call(created["virtual_number"])

    raw = phone.client.get(phone.tenant.plivo_base + created["session_uuid"] + "/", auth=phone.tenant.basic)

    session = json.loads(raw.get_data(as_text=True), parse_float=Decimal)["response"]
    # Each leg of the answered call is billed 2 minutes at 0.00375; the busy call costs nothing.
    assert (session["total_call_amount"], session["total_session_amount"], session["amount"]) == (
        Decimal("0.0150"),
        Decimal("0.0150"),
        0,
    )
    busy, answered = session["interaction"]
    assert (busy["second_party_status"], answered["second_party_status"]) == ("busy", "completed")
    assert (busy["total_call_amount"], answered["total_call_amount"]) == (0, Decimal("0.0150"))
    assert answered["call_billed_duration"] == 240
