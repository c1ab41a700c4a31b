"""Call decisions as TwiML, built with twilio's VoiceResponse. Pure functions: no I/O, no Flask."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass

from twilio.twiml.voice_response import VoiceResponse

from routing.calls.inbound import TOKEN, AskPin, Bridge, Decision, HangUp, PinFailed, PinLocked, Refuse, TurnAway

MAX_TIME_LIMIT = 14400
RING_RANGE = (5, 600)
LEG_EVENTS = "initiated ringing answered completed"
RECORDING_EVENTS = "in-progress completed absent"
# A connection override on every URL masq hands the carrier: Twilio retries a failed request up to three times
# (a refused or timed-out connection, or an error answer). The fragment is not sent, so it is not signed.
RETRY = "#rc=3&rp=all"
UNKNOWN_CALLER = "Sorry, this number cannot take your call."
ENTER_PIN = "Please enter your PIN."
WRONG_PIN = "That PIN is not correct."
PIN_LOCKED = (
    "Too many wrong PINs were entered for this number, so it takes no PIN for now. Please try again later. Goodbye."
)
APOLOGY = "Sorry, we cannot connect your call right now. Please try again later. Goodbye."


# The call steps the carrier is sent to; the app, which owns the routes, gives each one's path in `Links`.
PIN_CHECK = "pin-check"
WHISPER = "whisper"
DIAL_COMPLETE = "dial-complete"
LEG_STATUS = "leg-status"
RECORDING_STATUS = "recording-status"
OUTBOUND_ANSWER = "outbound-answer"
OUTBOUND_STATUS = "outbound-status"
STEPS = (PIN_CHECK, WHISPER, DIAL_COMPLETE, LEG_STATUS, RECORDING_STATUS, OUTBOUND_ANSWER, OUTBOUND_STATUS)


@dataclass(frozen=True)
class Links:
    """The public URLs of masq's call steps: the public base URL, and each step's path (from `STEPS`)."""

    base: str
    paths: Mapping[str, str]

    def step(self, name: str, auth_id: str, call_sid: str) -> str:
        """Return the absolute URL of step `name` for one call, asking for retries; raise ValueError on unsafe ids."""
        return carrier_url(self.base + self.paths[name], t=auth_id, c=call_sid) + RETRY

    def outbound_answer(self, auth_id: str, session_uuid: str) -> str:
        """Return the URL the carrier requests when the first party answers masq's call for the session."""
        return carrier_url(self.base + self.paths[OUTBOUND_ANSWER], t=auth_id, s=session_uuid) + RETRY

    def outbound_status(self, auth_id: str, session_uuid: str) -> str:
        """Return the status callback URL of masq's call to the session's first party, asking for retries."""
        return carrier_url(self.base + self.paths[OUTBOUND_STATUS], t=auth_id, s=session_uuid) + RETRY


def carrier_url(url: str, **tokens: str) -> str:
    """Return `url` with `tokens` as its query; raise ValueError unless each is a `[A-Za-z0-9_-]` token.

    Such tokens need no escaping, so the query is joined as it is (urlencode would cost more than the check).
    """
    if not all(TOKEN.fullmatch(value) for value in tokens.values()):
        raise ValueError("only [A-Za-z0-9_-] tokens go into carrier URLs")
    return url + "?" + "&".join(f"{name}={value}" for name, value in tokens.items())


XML_DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>'


def render(response: VoiceResponse) -> str:
    """Return the TwiML document `response` builds, exactly as `str(response)` writes it.

    twilio's `str()` serialises the builder's XML tree to UTF-8 bytes and decodes them back; serialising the same
    tree straight to text writes the same characters for a third of a webhook's TwiML cost.
    """
    return XML_DECLARATION + ET.tostring(response.xml(), encoding="unicode")


def answer(decision: Decision, links: Links) -> VoiceResponse:
    """Return the TwiML that carries out `decision`."""
    if isinstance(decision, Refuse):
        return refuse(decision)
    if isinstance(decision, TurnAway):
        return turn_away(decision)
    if isinstance(decision, AskPin):
        return ask_pin(decision, links)
    if isinstance(decision, PinFailed):
        return pin_failed(decision)
    if isinstance(decision, PinLocked):
        return pin_locked()
    if isinstance(decision, Bridge):
        return bridge(decision, links)
    assert isinstance(decision, HangUp)
    return hang_up()


def refuse(decision: Refuse) -> VoiceResponse:
    """Reject without answering (nothing is billed): busy when another call is live, else rejected."""
    response = VoiceResponse()
    response.reject(reason="busy" if decision.reason == "busy" else "rejected")
    return response


def turn_away(decision: TurnAway) -> VoiceResponse:
    """Tell an unknown caller the number cannot take the call, then hang up."""
    response = _play_or_say(VoiceResponse(), decision.play_url, UNKNOWN_CALLER)
    response.hangup()
    return response


def ask_pin(decision: AskPin, links: Links) -> VoiceResponse:
    """Ask for a PIN (after saying the last one was wrong); an empty entry still reaches the PIN check."""
    session = decision.session
    response = VoiceResponse()
    if decision.wrong:
        _play_or_say(response, session.incorrect_pin_play, WRONG_PIN)
    lengths = {len(session.first_party_pin), len(session.second_party_pin)}
    # A stranger's PIN on a shared DID may be any of its sessions', of any length: `#` or the timeout ends it.
    digits = lengths.pop() if len(lengths) == 1 and not decision.any_length else None
    gather = response.gather(
        input="dtmf",
        action=links.step(PIN_CHECK, decision.auth_id, decision.call_sid),
        method="POST",
        timeout=session.pin_retry_wait,
        finish_on_key="#",
        action_on_empty_result=True,
        num_digits=digits,
    )
    _play_or_say(gather, session.pin_prompt_play, ENTER_PIN)
    return response


def pin_failed(decision: PinFailed) -> VoiceResponse:
    """Say the PIN was wrong one last time and hang up."""
    response = _play_or_say(VoiceResponse(), decision.incorrect_pin_play, WRONG_PIN)
    response.hangup()
    return response


def pin_locked() -> VoiceResponse:
    """Say the session takes no PIN for now and hang up (the call is answered: a rejection would say nothing)."""
    response = VoiceResponse()
    response.say(PIN_LOCKED)
    response.hangup()
    return response


def bridge(decision: Bridge, links: Links) -> VoiceResponse:
    """Dial the other party from the virtual number, with masq's callbacks on every leg and recording."""
    session = decision.session
    response = VoiceResponse()
    if decision.caller_play_url:
        response.play(decision.caller_play_url)
    recording = {}
    if session.record:
        recording = {
            "record": "record-from-answer-dual",
            "recording_status_callback": links.step(RECORDING_STATUS, decision.auth_id, decision.call_sid),
            "recording_status_callback_method": "POST",
            "recording_status_callback_event": RECORDING_EVENTS,
        }
    dial = response.dial(
        caller_id=session.virtual_number,
        timeout=min(max(session.ring_timeout, RING_RANGE[0]), RING_RANGE[1]),
        time_limit=min(max(session.call_time_limit, 1), MAX_TIME_LIMIT),
        answer_on_bridge=True if not decision.answered and not decision.caller_play_url else None,
        action=links.step(DIAL_COMPLETE, decision.auth_id, decision.call_sid),
        method="POST",
        **recording,
    )
    whisper = links.step(WHISPER, decision.auth_id, decision.call_sid) if decision.callee_play_url else None
    dial.number(
        decision.callee,
        url=whisper,
        method="POST" if whisper else None,
        status_callback=links.step(LEG_STATUS, decision.auth_id, decision.call_sid),
        status_callback_method="POST",
        status_callback_event=LEG_EVENTS,
    )
    return response


def whisper(play_url: str) -> VoiceResponse:
    """Return what the dialled party hears on answering: its play URL, or nothing."""
    response = VoiceResponse()
    if play_url:
        response.play(play_url)
    return response


def hang_up() -> VoiceResponse:
    """End the call."""
    response = VoiceResponse()
    response.hangup()
    return response


def apology() -> VoiceResponse:
    """Apologise and hang up: what the caller hears when masq itself fails."""
    response = VoiceResponse()
    response.say(APOLOGY)
    response.hangup()
    return response


def _play_or_say(verb: VoiceResponse, url: str, text: str) -> VoiceResponse:
    """Play `url` on `verb` (a response or a gather), or say `text` when the session gave no URL."""
    if url:
        verb.play(url)
    else:
        verb.say(text)
    return verb
