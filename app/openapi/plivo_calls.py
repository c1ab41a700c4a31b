"""The Plivo dialect's Call and Recording resources in the OpenAPI document, as `app.plivo_call_format` writes them."""

from __future__ import annotations

from typing import Any

from app.openapi.pieces import COUNT, TEXT, UUID, Json, answer, described, errors, obj, operation, path

PLIVO_CALL = "/v1/Account/{auth_id}/Call/{call_uuid}/"
PLIVO_RECORDING = "/v1/Account/{auth_id}/Recording/{recording_id}/"

SID = {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$"}
_VOICE_TIME = r"[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}"
VOICE_TIME = {
    "type": ["string", "null"],
    "pattern": rf"^{_VOICE_TIME}\+00:00$",
    "examples": ["2022-06-28 19:39:05+00:00"],
    "description": "UTC; null until it happens",
}
DIGITS = {"type": "string", "pattern": "^([1-9][0-9]{6,14})?$", "description": "E.164 without the `+`"}
MONEY = {"type": "string", "pattern": r"^[0-9]+\.[0-9]{5,}$", "examples": ["0.00850"]}
MILLISECONDS = {"type": "string", "pattern": r"^[0-9]+\.[0-9]{5}$", "examples": ["1407235509007.00000"]}


def call() -> Json:
    """Return Plivo's Call object: one leg of a call on a session."""
    return obj(
        {
            "api_id": UUID,
            "answer_time": VOICE_TIME,
            "bill_duration": described(COUNT, "seconds the leg talked; 0 until it ends"),
            "billed_duration": described(COUNT, "bill_duration in started minutes, in seconds"),
            "call_direction": {"type": "string", "enum": ["inbound", "outbound"]},
            "call_duration": described(COUNT, "as bill_duration"),
            "call_uuid": SID,
            "end_time": VOICE_TIME,
            "from_number": described(DIGITS, "empty for a withheld caller"),
            "hangup_cause_code": {
                "type": ["integer", "null"],
                "description": "Plivo's code of the cause; null until the leg ends",
            },
            "hangup_cause_name": {"type": ["string", "null"], "description": "null until the leg ends"},
            "initiation_time": VOICE_TIME,
            "parent_call_uuid": {**SID, "type": ["string", "null"], "description": "the caller's leg; null for it"},
            "resource_uri": TEXT,
            "to_number": DIGITS,
            "total_amount": MONEY,
            "total_rate": described(MONEY, "per minute"),
        }
    )


def recording() -> Json:
    """Return Plivo's Recording object: the recording of a call on a session."""
    zero = {"type": "number", "const": 0, "description": "masq charges nothing for storage: the carrier keeps it"}
    return obj(
        {
            "api_id": UUID,
            "add_time": {
                "type": "string",
                "pattern": rf"^{_VOICE_TIME}\.[0-9]{{6}}\+00:00$",
                "examples": ["2022-06-28 19:39:05.852059+00:00"],
                "description": "UTC: when the recording ended (started, until it ends)",
            },
            "call_uuid": described(SID, "the caller's leg"),
            "conference_name": {"const": ""},
            "from_number": DIGITS,
            "monthly_recording_storage_amount": zero,
            "recording_duration_ms": MILLISECONDS,
            "recording_end_ms": {**MILLISECONDS, "type": ["string", "null"], "description": "null until it ends"},
            "recording_format": {"type": "string", "enum": ["mp3", "wav"]},
            "recording_id": SID,
            "recording_start_ms": {**MILLISECONDS, "type": ["string", "null"]},
            "recording_storage_duration": {"type": "integer", "minimum": 1, "description": "days since add_time"},
            "recording_storage_rate": zero,
            "recording_type": {"const": "call"},
            "recording_url": described(TEXT, "the carrier's media URL; empty until the recording completes"),
            "resource_uri": TEXT,
            "rounded_recording_duration": described(COUNT, "seconds, in started minutes"),
            "to_number": DIGITS,
        }
    )


def paths() -> Json:
    """Return the Call and Recording paths: each a GET behind HTTP Basic."""
    auth_id = path(
        "auth_id", {"type": "string", "pattern": "^(MA|SA)[A-Z0-9]{18}$"}, "the authenticated account's auth_id"
    )
    failing = errors(401, 404, unauthorized="PlivoUnauthorized")
    basic: dict[str, Any] = {"security": [{"basic": []}]}
    return {
        PLIVO_CALL: {
            "parameters": [auth_id, path("call_uuid", SID, "either leg's CallSid, from an interaction")],
            "get": operation(
                "plivoGetCall",
                "Read one leg of a call on a session",
                "plivo",
                {"200": answer("The call leg", call()), **failing},
                **basic,
            ),
        },
        PLIVO_RECORDING: {
            "parameters": [auth_id, path("recording_id", SID, "from an interaction or a recording event")],
            "get": operation(
                "plivoGetRecording",
                "Read the recording of a call on a session",
                "plivo",
                {"200": answer("The recording", recording()), **failing},
                **basic,
            ),
        },
    }
