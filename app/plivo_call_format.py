"""Call legs and recordings in the shapes of Plivo's Call and Recording resources (its Voice API), pure.

The fields, their order and their JSON types are those of Plivo's "The Call object" and "The Recording object"
pages and of its SDKs' fixtures (`callGetResponse.json`, `recordingGetResponse.json`); the Go SDK's `Call` and
`Recording` structs declare the types (durations int, amounts of a call strings, of a recording's storage float).
Times are UTC, printed as Plivo prints them in an account set to UTC; a time that has not happened is null.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from routing.calls.resources import CallLeg, Recording, call_path, recording_path
from routing.clock import US, voice_time
from routing.phone import without_plus

# Plivo prints a call's amount and rate with five decimal places (`"0.00850"`), a recording's times in ms with five.
PLACES = Decimal("0.00001")
DAY = 86400 * US


def call_object(auth_id: str, leg: CallLeg) -> dict[str, Any]:
    """Return Plivo's Call object for one leg of a call on tenant `auth_id`'s session.

    `bill_duration` and `call_duration` are the leg's talk time in seconds, `billed_duration` that time in whole
    started minutes (masq bills each leg so); both are 0 until the leg ends. A leg that never answered has a
    null `answer_time`; the caller's leg has a null `parent_call_uuid`, the dialled leg names the caller's.
    """
    return {
        "answer_time": voice_time(leg.answered),
        "bill_duration": leg.duration,
        "billed_duration": leg.billed,
        "call_direction": leg.direction,
        "call_duration": leg.duration,
        "call_uuid": leg.call_uuid,
        "end_time": voice_time(leg.ended),
        "from_number": without_plus(leg.from_number),
        "hangup_cause_code": leg.hangup_cause_code,
        "hangup_cause_name": leg.hangup_cause or None,
        "initiation_time": voice_time(leg.initiated),
        "parent_call_uuid": leg.parent_call_uuid,
        "resource_uri": call_path(auth_id, leg.call_uuid),
        "to_number": without_plus(leg.to_number),
        "total_amount": money(leg.amount),
        "total_rate": money(leg.rate),
    }


def recording_object(auth_id: str, recording: Recording, now: int) -> dict[str, Any]:
    """Return Plivo's Recording object for the recording of a call on tenant `auth_id`'s session, as seen at `now`.

    The carrier keeps the file and masq charges nothing for it: the storage rate and amount are 0. The
    recording is added when it ends (when it starts, until then); `recording_storage_duration` counts the days
    since, from 1. `rounded_recording_duration` is its length in started minutes, in seconds.
    """
    added = recording.ended or recording.started or now
    return {
        "add_time": voice_time(added, micros=True),
        "call_uuid": recording.call_uuid,
        "conference_name": "",
        "from_number": without_plus(recording.from_number),
        "monthly_recording_storage_amount": 0,
        "recording_duration_ms": milliseconds(recording.duration * US),
        "recording_end_ms": milliseconds(recording.ended),
        "recording_format": recording.file_format,
        "recording_id": recording.recording_id,
        "recording_start_ms": milliseconds(recording.started),
        "recording_storage_duration": max(now - added, 0) // DAY + 1,
        "recording_storage_rate": 0,
        "recording_type": "call",
        "recording_url": recording.url,
        "resource_uri": recording_path(auth_id, recording.recording_id),
        "rounded_recording_duration": -(-recording.duration // 60) * 60,
        "to_number": without_plus(recording.to_number),
    }


def money(amount: Decimal) -> str:
    """Return an amount as Plivo's Voice API prints one: a decimal string with (at least) five places, `"0.00850"`."""
    exponent = amount.as_tuple().exponent
    return str(amount.quantize(PLACES)) if isinstance(exponent, int) and exponent >= -5 else str(amount)


def milliseconds(us: int | None) -> str | None:
    """Return µs as Plivo prints milliseconds: a decimal string with five places, `"1407235509007.00000"`."""
    return None if us is None else str((Decimal(us) / 1000).quantize(PLACES))
