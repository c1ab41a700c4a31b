"""Sessions in the exact shape Plivo's Masking Session API returns them."""

from __future__ import annotations

from typing import Any

from routing.clock import plivo_time
from routing.phone import without_plus
from routing.session import Session

_PIN_FIELDS = ("is_pin_authentication_required", "generate_pin", "generate_pin_length", "first_party_pin",
               "second_party_pin", "pin_prompt_play", "pin_retry", "pin_retry_wait", "incorrect_pin_play",
               "unknown_caller_play")


def resource_uri(session: Session) -> str:
    """Return the session's path under the Plivo dialect."""
    return f"/v1/Account/{session.auth_id}/Masking/Session/{session.session_uuid}/"


def session_object(session: Session, now: int, listing: bool = False) -> dict[str, Any]:
    """Return Plivo's Session object for `session` as seen at `now`."""
    body: dict[str, Any] = {
        "first_party": without_plus(session.first_party),
        "second_party": without_plus(session.second_party),
        "virtual_number": without_plus(session.virtual_number),
        "status": session.status(now),
        "initiate_call_to_first_party": session.initiate_call_to_first_party,
        "session_uuid": session.session_uuid,
        "callback_url": session.callback_url,
        "callback_method": session.callback_method,
        "created_time": plivo_time(session.created),
        "modified_time": plivo_time(session.modified),
        "expiry_time": plivo_time(session.expiry),
        "duration": session.duration,
        "amount": _amount(session.amount),
        "call_time_limit": session.call_time_limit,
        "ring_timeout": session.ring_timeout,
        "first_party_play_url": session.first_party_play_url,
        "second_party_play_url": session.second_party_play_url,
        "record": session.record,
        "record_file_format": session.record_file_format,
        "recording_callback_url": session.recording_callback_url,
        "recording_callback_method": session.recording_callback_method,
        "interaction": None,
        "total_call_amount": 0,
        "total_call_count": 0,
        "total_call_billed_duration": 0,
        "total_session_amount": 0,
        "last_interaction_time": "",
    }
    if session.subaccount:
        body["subaccount"] = session.subaccount
    if session.is_pin_authentication_required:
        body.update({name: getattr(session, name) for name in _PIN_FIELDS})
        body["force_pin_authentication"] = session.force_pin_authentication
    body["geomatch"] = session.geomatch
    body["create_session_with_single_party"] = session.create_session_with_single_party
    body["virtual_number_cooloff_period"] = session.virtual_number_cooloff_period
    if listing:
        body["resource_uri"] = resource_uri(session)
    return body


def _amount(value: str) -> int | str:
    """Return an amount as Plivo shows it: the integer 0 when nothing was charged, else a decimal string."""
    return 0 if value in ("0", "0.0", "") else value
