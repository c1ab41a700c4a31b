"""Sessions in the exact shape Plivo's Masking Session API returns them."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from routing.calls.billing import as_amount
from routing.calls.history import CallState, Interaction
from routing.calls.resources import call_url, recording_url
from routing.clock import plivo_time
from routing.phone import without_plus
from routing.sessions.session import ACTIVE, IN_PROGRESS, Session

_PIN_FIELDS = (
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
)


def resource_uri(session: Session) -> str:
    """Return the session's path under the Plivo dialect."""
    return f"/v1/Account/{session.auth_id}/Masking/Session/{session.session_uuid}/"


def session_object(session: Session, now: int, calls: CallState, base: str, listing: bool = False) -> dict[str, Any]:
    """Return Plivo's Session object for `session` as seen at `now`, with `calls`, its call state; `base` is
    MASQ_PUBLIC_URL, which its calls' resource URLs are on."""
    status = session.status(now)
    created = plivo_time(session.created)  # a session not changed since it opened shows the same time twice
    body: dict[str, Any] = {
        "first_party": without_plus(session.first_party),
        "second_party": without_plus(session.second_party),
        "virtual_number": without_plus(session.virtual_number),
        "status": IN_PROGRESS if status == ACTIVE and calls.in_call(now) else status,
        "initiate_call_to_first_party": session.initiate_call_to_first_party,
        "session_uuid": session.session_uuid,
        "callback_url": session.callback_url,
        "callback_method": session.callback_method,
        "created_time": created,
        "modified_time": created if session.modified == session.created else plivo_time(session.modified),
        "expiry_time": plivo_time(session.expiry),
        "duration": session.duration,
        "amount": amount_number(as_amount(session.amount)),
        "call_time_limit": session.call_time_limit,
        "ring_timeout": session.ring_timeout,
        "first_party_play_url": session.first_party_play_url,
        "second_party_play_url": session.second_party_play_url,
        "record": session.record,
        "record_file_format": session.record_file_format,
        "recording_callback_url": session.recording_callback_url,
        "recording_callback_method": session.recording_callback_method,
        "interaction": [interaction_object(session.auth_id, i, base) for i in calls.interactions] or None,
        "total_call_amount": amount_number(calls.amount),
        "total_call_count": calls.count,
        "total_call_billed_duration": calls.billed,
        "total_session_amount": amount_number(as_amount(session.amount) + calls.amount),
        "last_interaction_time": plivo_time(calls.last),
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


def session_created(session: Session) -> dict[str, Any]:
    """Return the answer to a create, after its `api_id`: the new session, which has had no call yet."""
    return {
        "session_uuid": session.session_uuid,
        "virtual_number": session.virtual_number,
        "message": "Session created",
        "session": session_object(session, session.created, CallState(), ""),  # no call yet: no resource URL
    }


def interaction_object(auth_id: str, call: Interaction, base: str) -> dict[str, Any]:
    """Return Plivo's Interaction object: one call, its legs' and its recording's resources, its charge.

    The first party is the caller's leg, the second the leg masq dialled (see routing.calls.carrier_reports). The
    resources are absolute URLs on `base` (MASQ_PUBLIC_URL), as Plivo gives them (routing.calls.resources).
    """
    return {
        "start_time": plivo_time(call.started),
        "end_time": plivo_time(call.ended),
        "first_party_resource_url": call_url(base, auth_id, call.call_sid),
        "second_party_resource_url": call_url(base, auth_id, call.b_sid) if call.b_sid else "",
        "first_party_status": call.a_status,
        "second_party_status": call.b_status,
        "type": "call",
        "total_call_amount": amount_number(call.amount),
        "call_billed_duration": call.billed,
        "recording_resource_url": recording_url(base, auth_id, call.recording_sid) if call.recording_sid else "",
        "auth_id": auth_id,
        "total_call_count": 1,
        "duration": call.duration,
    }


def amount_number(amount: Decimal) -> int | float:
    """Return an amount as the JSON number Plivo writes: `0`, `2`, `0.015`, the same rule in every field and state.

    Plivo's Go SDK (plivo-go `maskingsession.go`) declares `amount` int64 and the other amounts float64, and
    its fixtures show `0` before any charge. So a whole amount is an integer (a Go int64 refuses `0.0`); any
    other is the float nearest the Decimal, which `json` writes with the fewest digits that read back as that
    float: the Decimal itself, as long as it has at most 15 significant digits (`0.0150` is written `0.015`).
    """
    return int(amount) if amount == amount.to_integral_value() else float(amount)
