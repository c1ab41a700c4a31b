import xml.etree.ElementTree as ET

import pytest

from routing.calls import twiml
from routing.calls.inbound import AskPin, Bridge, HangUp, PinFailed, PinLocked, Refuse, TurnAway
from routing.sessions.session import Session

LINKS = twiml.Links("https://masq.example.com", {step: f"/voice/{step}" for step in twiml.STEPS})
AUTH_ID = "MA" + "A" * 18
CALL_SID = "CA" + "0" * 32


def session(**fields: object) -> Session:
    base = {
        "session_uuid": "7a1c0b9e-0000-4000-8000-000000000001",
        "auth_id": AUTH_ID,
        "first_party": "+14155551234",
        "second_party": "+14155554321",
        "virtual_number": "+14155550100",
        "created": 0,
        "modified": 0,
        "expiry": 10**16,
    }
    return Session(**{**base, **fields})  # type: ignore[arg-type]


def parse(decision) -> ET.Element:
    root = ET.fromstring(twiml.render(twiml.answer(decision, LINKS)))
    assert root.tag == "Response"
    return root


def bridge(caller_party: str = "first", answered: bool = False, **fields: object) -> ET.Element:
    return parse(Bridge(AUTH_ID, CALL_SID, session(**fields), caller_party, answered))


def test_a_call_from_the_first_party_dials_the_second_from_the_virtual_number():
    dial = bridge("first").find("Dial")
    assert dial.get("callerId") == "+14155550100"
    assert dial.find("Number").text == "+14155554321"


def test_a_call_from_the_second_party_dials_the_first():
    assert bridge("second").find("Dial/Number").text == "+14155551234"


def test_the_dial_rings_for_the_sessions_ring_timeout_and_ends_the_interaction_at_masq():
    dial = bridge(ring_timeout=45).find("Dial")
    assert dial.get("timeout") == "45"
    assert dial.get("action") == f"https://masq.example.com/voice/dial-complete?t={AUTH_ID}&c={CALL_SID}#rc=3&rp=all"
    assert dial.get("method") == "POST"


@pytest.mark.parametrize(("limit", "expected"), [(60, "60"), (14400, "14400"), (86400, "14400")])
def test_the_time_limit_is_clamped_to_twilios_maximum(limit, expected):
    assert bridge(call_time_limit=limit).find("Dial").get("timeLimit") == expected


@pytest.mark.parametrize(
    ("answered", "play", "expected"),
    [
        (False, "", "true"),
        (False, "https://cdn.example.com/hello.mp3", None),
        (True, "", None),
    ],
)
def test_answer_on_bridge_is_set_only_when_the_dial_is_the_first_verb(answered, play, expected):
    root = bridge("first", answered, first_party_play_url=play)
    assert root.find("Dial").get("answerOnBridge") == expected
    assert (root[0].tag == "Dial") == (expected == "true" or answered)


def test_a_recorded_session_records_both_legs_from_answer_and_reports_every_recording_event():
    dial = bridge(record=True).find("Dial")
    assert dial.get("record") == "record-from-answer-dual"
    assert dial.get("recordingStatusCallback") == (
        f"https://masq.example.com/voice/recording-status?t={AUTH_ID}&c={CALL_SID}#rc=3&rp=all"
    )
    assert dial.get("recordingStatusCallbackEvent") == "in-progress completed absent"


def test_a_session_without_recording_asks_for_none():
    dial = bridge(record=False).find("Dial")
    assert dial.get("record") is None
    assert dial.get("recordingStatusCallback") is None


def test_the_dialled_number_reports_every_leg_event_as_one_space_separated_string():
    number = bridge().find("Dial/Number")
    assert number.get("statusCallbackEvent") == "initiated ringing answered completed"
    assert number.get("statusCallback") == (
        f"https://masq.example.com/voice/leg-status?t={AUTH_ID}&c={CALL_SID}#rc=3&rp=all"
    )
    assert number.get("statusCallbackMethod") == "POST"


def test_the_caller_hears_its_play_url_before_the_dial_and_the_callee_hears_its_own_on_answering():
    root = bridge(
        "second",
        first_party_play_url="https://cdn.example.com/first.mp3",
        second_party_play_url="https://cdn.example.com/second.mp3",
    )
    assert [verb.tag for verb in root] == ["Play", "Dial"]
    assert root.find("Play").text == "https://cdn.example.com/second.mp3"
    assert (
        root.find("Dial/Number").get("url")
        == f"https://masq.example.com/voice/whisper?t={AUTH_ID}&c={CALL_SID}#rc=3&rp=all"
    )


def test_a_callee_without_a_play_url_gets_no_whisper():
    assert (
        bridge("first", first_party_play_url="https://cdn.example.com/first.mp3").find("Dial/Number").get("url") is None
    )


@pytest.mark.parametrize(
    ("reason", "expected"),
    [
        ("busy", "busy"),
        ("no-session", "rejected"),
        ("suspended", "rejected"),
        ("single-party", "rejected"),
    ],
)
def test_a_refusal_rejects_without_answering(reason, expected):
    root = parse(Refuse(reason))
    assert [verb.tag for verb in root] == ["Reject"]
    assert root[0].get("reason") == expected


def test_an_unknown_caller_hears_the_sessions_message_and_is_hung_up():
    root = parse(TurnAway("https://cdn.example.com/unknown.mp3"))
    assert [(verb.tag, verb.text) for verb in root] == [
        ("Play", "https://cdn.example.com/unknown.mp3"),
        ("Hangup", None),
    ]


def test_an_unknown_caller_without_a_message_hears_a_short_spoken_one():
    assert [verb.tag for verb in parse(TurnAway(""))] == ["Say", "Hangup"]


def pin_session(**fields: object) -> Session:
    return session(
        is_pin_authentication_required=True,
        first_party_pin="1234",
        second_party_pin="5678",
        pin_prompt_play="https://cdn.example.com/pin.mp3",
        pin_retry_wait=7,
        incorrect_pin_play="https://cdn.example.com/wrong.mp3",
        **fields,
    )


def test_a_pin_prompt_gathers_the_pins_length_and_reaches_the_check_even_when_nothing_is_keyed():
    root = parse(AskPin(AUTH_ID, CALL_SID, pin_session()))
    assert [verb.tag for verb in root] == ["Gather"]
    gather = root[0]
    assert gather.get("numDigits") == "4"
    assert gather.get("timeout") == "7"
    assert gather.get("actionOnEmptyResult") == "true"
    assert gather.get("action") == f"https://masq.example.com/voice/pin-check?t={AUTH_ID}&c={CALL_SID}#rc=3&rp=all"
    assert gather.find("Play").text == "https://cdn.example.com/pin.mp3"


def test_pins_of_different_lengths_are_ended_with_the_hash_key():
    gather = parse(AskPin(AUTH_ID, CALL_SID, pin_session().evolve(second_party_pin="567890"))).find("Gather")
    assert gather.get("numDigits") is None
    assert gather.get("finishOnKey") == "#"


def test_a_wrong_pin_is_announced_before_the_caller_is_asked_again():
    root = parse(AskPin(AUTH_ID, CALL_SID, pin_session(), wrong=1))
    assert [verb.tag for verb in root] == ["Play", "Gather"]
    assert root[0].text == "https://cdn.example.com/wrong.mp3"


def test_the_last_wrong_pin_is_announced_and_the_call_hung_up():
    root = parse(PinFailed("https://cdn.example.com/wrong.mp3"))
    assert [verb.tag for verb in root] == ["Play", "Hangup"]


def test_a_locked_pin_entry_is_said_plainly_and_the_call_hung_up():
    root = parse(PinLocked())
    assert [verb.tag for verb in root] == ["Say", "Hangup"]
    assert "try again later" in root[0].text


def test_a_whisper_only_plays():
    assert [verb.tag for verb in ET.fromstring(str(twiml.whisper("https://cdn.example.com/w.mp3")))] == ["Play"]
    assert list(ET.fromstring(str(twiml.whisper("")))) == []


def test_the_apology_says_sorry_and_hangs_up():
    root = ET.fromstring(str(twiml.apology()))
    assert [verb.tag for verb in root] == ["Say", "Hangup"]
    assert "sorry" in root[0].text.lower()


def test_hang_up_ends_the_call():
    assert [verb.tag for verb in parse(HangUp())] == ["Hangup"]


@pytest.mark.parametrize("token", ["CA 1", "CA/../x", "CA%2F", "", "x" * 65])
def test_carrier_urls_carry_only_url_safe_tokens(token):
    with pytest.raises(ValueError):
        LINKS.step("pin-check", AUTH_ID, token)


@pytest.mark.parametrize(
    "response",
    [
        twiml.answer(
            Bridge(
                AUTH_ID,
                CALL_SID,
                session(record=True, first_party_play_url="https://a.example.com/1.mp3?x=1&y=<2>"),
                "first",
            ),
            LINKS,
        ),
        twiml.answer(AskPin(AUTH_ID, CALL_SID, pin_session(), wrong=1), LINKS),
        twiml.answer(TurnAway("https://cdn.example.com/unknown.mp3"), LINKS),
        twiml.answer(PinLocked(), LINKS),
        twiml.answer(Refuse("busy"), LINKS),
        twiml.apology(),
        twiml.whisper(""),
    ],
)
def test_rendering_writes_exactly_what_twilios_builder_writes(response):
    assert twiml.render(response) == str(response)
