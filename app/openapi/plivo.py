"""The Plivo dialect in the OpenAPI document: `/v1/Account/{auth_id}/Masking/Session/`, HTTP Basic.

The request fields and bounds are those of `routing.sessions.options` and `routing.sessions.query`; the
Session object is what `app.plivo_format` writes.
"""

from __future__ import annotations

from typing import Any

from app.openapi.pieces import (
    COUNT,
    E164,
    FLAG,
    OTHER_PHONE,
    PHONE,
    POOL_PHONE,
    SHOWN_E164,
    TEXT,
    URL,
    UUID,
    Json,
    answer,
    body,
    boolean,
    described,
    errors,
    integer,
    obj,
    operation,
    path,
    query,
    ref,
)

PLIVO = "/v1/Account/{auth_id}/Masking/Session/"
PLIVO_SESSION = PLIVO + "{session_uuid}/"

METHOD = {"type": "string", "enum": ["GET", "POST"], "default": "POST"}
PIN = {"type": "string", "pattern": "^[0-9]{4,15}$"}
SUBACCOUNT = {"type": "string", "pattern": "^SA[A-Z0-9]{18}$"}
_PLIVO_TIME = r"[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6} \+0000 UTC"
PLIVO_TIME = {"type": "string", "pattern": f"^{_PLIVO_TIME}$", "examples": ["2024-02-01 06:28:15.772699 +0000 UTC"]}
PLIVO_TIME_OR_EMPTY = {"type": "string", "pattern": f"^({_PLIVO_TIME})?$", "description": "empty until it happens"}
AMOUNT = {
    "type": "number",
    "minimum": 0,
    "description": "a JSON number in every state (Go SDK: float64): an integer when whole (`0`), else the fewest "
    "digits that read back as the amount (`0.015`)",
}

SETTINGS = {
    "session_expiry": integer(60, 86400, 3600, "seconds the session stays open; on update, counted from then"),
    "call_time_limit": integer(60, 86400, 14400, "seconds a call may last (the carrier caps it at 14400)"),
    "ring_timeout": integer(15, 120, 120, "seconds to ring the other party"),
    "record": boolean(False),
    "record_file_format": {"type": "string", "enum": ["mp3", "wav"], "default": "mp3"},
    "recording_callback_url": URL,
    "recording_callback_method": METHOD,
    "callback_url": URL,
    "callback_method": METHOD,
    "first_party_play_url": URL,
    "second_party_play_url": URL,
}
CREATE_ONLY = {
    "initiate_call_to_first_party": boolean(False),
    "is_pin_authentication_required": boolean(False, "with it: both PINs or `generate_pin`, and `pin_prompt_play`"),
    "generate_pin": boolean(False, "only with PIN authentication, and not with the PINs themselves"),
    "generate_pin_length": integer(4, 15, 4, "only with `generate_pin`"),
    "first_party_pin": described(PIN, "only with PIN authentication"),
    "second_party_pin": described(PIN, "only with PIN authentication; different from `first_party_pin`"),
    "pin_prompt_play": URL,
    "pin_retry": integer(0, 5, 1),
    "pin_retry_wait": integer(5, 10, 5),
    "incorrect_pin_play": URL,
    "unknown_caller_play": URL,
    "force_pin_authentication": boolean(False, "only with PIN authentication"),
    "subaccount": described(SUBACCOUNT, "a subaccount of the caller"),
    "geomatch": boolean(True, "the virtual number's country must be the first party's"),
    "create_session_with_single_party": boolean(False),
    "virtual_number_cooloff_period": integer(0, 3600, 0, "seconds before the virtual number is handed out again"),
}
PARTIES = {"first_party": PHONE, "second_party": described(OTHER_PHONE, "different from `first_party`")}
SINGLE_PARTY = {
    "required": ["create_session_with_single_party"],
    "properties": {"create_session_with_single_party": {"const": True}},
}
CREATE_BODY = {
    **obj({**PARTIES, **SETTINGS, **CREATE_ONLY}, required=["first_party"]),
    "anyOf": [{"required": ["second_party"]}, SINGLE_PARTY],
    "description": "Any other field is a 400 that names it; `null` is the same as leaving a field out.",
}
ECHO = {"session_uuid": described(UUID, "the Plivo SDK echoes the path's uuid; it must match")}
UPDATE_BODY = {
    **obj({**SETTINGS, **PARTIES, **ECHO}, required=[]),
    "description": "At least one field to change; the parties only on a single-party session. A create field "
    "not listed here is a 400 that names it.",
}
EXPIRE_BODY = {**obj(ECHO, required=[], closed=False), "description": "Other fields are ignored."}


def list_filters() -> list[Json]:
    """Return the filters of a session listing, each time and duration filter with its comparisons."""
    time = {
        "type": "string",
        "examples": ["2024-02-01 06:28:15"],
        "description": "UTC `YYYY-MM-DD[ HH:MM[:SS[.ffffff]]]`; Plivo's ` +0000 UTC` suffix is allowed",
    }
    filters = [
        query("limit", integer(1, 20, 20)),
        query("offset", integer(0, 10**9, 0)),
        query("status", {"type": "string", "enum": ["active", "expired", "all"], "default": "all"}),
        query("first_party", PHONE),
        query("second_party", OTHER_PHONE),
        query("virtual_number", POOL_PHONE),
        query("subaccount", TEXT),
    ]
    for suffix in ("", "__gt", "__gte", "__lt", "__lte"):
        filters += [
            query("created_time" + suffix, time, "without bounds the window is the last 7 days; at most 30 days"),
            query("expiry_time" + suffix, time),
            query("duration" + suffix, integer(0, 10**9), "seconds"),
        ]
    return filters


def session() -> Json:
    """Return Plivo's Session object as app.plivo_format.session_object writes it."""
    digits = {"type": "string", "pattern": f"^({E164})?$", "description": "E.164 without the `+`"}
    always = {
        "first_party": digits,
        "second_party": described(digits, "empty on a single-party session"),
        "virtual_number": digits,
        "status": {"type": "string", "enum": ["active", "in-progress", "expired"]},
        "initiate_call_to_first_party": FLAG,
        "session_uuid": UUID,
        "callback_url": TEXT,
        "callback_method": METHOD,
        "created_time": PLIVO_TIME,
        "modified_time": PLIVO_TIME,
        "expiry_time": PLIVO_TIME,
        "duration": described(COUNT, "seconds from created_time to expiry_time"),
        "amount": described(COUNT, "what opening the session cost (Go SDK: int64); masq charges nothing for it"),
        "call_time_limit": COUNT,
        "ring_timeout": COUNT,
        "first_party_play_url": TEXT,
        "second_party_play_url": TEXT,
        "record": FLAG,
        "record_file_format": {"type": "string", "enum": ["mp3", "wav"]},
        "recording_callback_url": TEXT,
        "recording_callback_method": METHOD,
        "interaction": {
            "type": ["array", "null"],
            "items": ref("PlivoInteraction"),
            "description": "the session's latest 100 calls; null before the first",
        },
        "total_call_amount": AMOUNT,
        "total_call_count": COUNT,
        "total_call_billed_duration": described(COUNT, "seconds, each leg rounded up to whole minutes"),
        "total_session_amount": AMOUNT,
        "last_interaction_time": PLIVO_TIME_OR_EMPTY,
        "geomatch": FLAG,
        "create_session_with_single_party": FLAG,
        "virtual_number_cooloff_period": COUNT,
    }
    pins = {
        "is_pin_authentication_required": FLAG,
        "generate_pin": FLAG,
        "generate_pin_length": COUNT,
        "first_party_pin": PIN,
        "second_party_pin": PIN,
        "pin_prompt_play": TEXT,
        "pin_retry": COUNT,
        "pin_retry_wait": COUNT,
        "incorrect_pin_play": TEXT,
        "unknown_caller_play": TEXT,
        "force_pin_authentication": FLAG,
    }
    optional = {"subaccount": SUBACCOUNT, **pins, "resource_uri": described(TEXT, "in listings only")}
    return {
        **obj({**always, **optional}, required=list(always)),
        "dependentRequired": {"is_pin_authentication_required": list(pins)},
        "description": "`subaccount` shows on a subaccount's session, the PIN fields on a session with PIN "
        "authentication.",
    }


def interaction() -> Json:
    """Return Plivo's Interaction object: one call on a session."""
    return obj(
        {
            "start_time": PLIVO_TIME,
            "end_time": PLIVO_TIME_OR_EMPTY,
            "first_party_resource_url": described(TEXT, "the caller's leg: its Call resource's absolute URL"),
            "second_party_resource_url": described(
                TEXT, "the leg masq dialled: its Call resource's absolute URL; empty until it is dialled"
            ),
            "first_party_status": {"type": "string", "enum": ["ringing", "in-progress", "completed"]},
            "second_party_status": described(
                TEXT, "the carrier's status of the dialled leg; empty until it is dialled"
            ),
            "type": {"const": "call"},
            "total_call_amount": AMOUNT,
            "call_billed_duration": COUNT,
            "recording_resource_url": described(TEXT, "its Recording resource's absolute URL; empty until recorded"),
            "auth_id": TEXT,
            "total_call_count": {"const": 1},
            "duration": COUNT,
        }
    )


def reply(**fields: Json) -> Json:
    return obj({"api_id": UUID, **fields})


def paths() -> Json:
    auth_id = path(
        "auth_id", {"type": "string", "pattern": "^(MA|SA)[A-Z0-9]{18}$"}, "the authenticated account's auth_id"
    )
    basic: dict[str, Any] = {"security": [{"basic": []}]}
    page = obj(
        {
            "meta": obj(
                {
                    "limit": COUNT,
                    "next": {"type": ["string", "null"]},
                    "offset": COUNT,
                    "previous": {"type": ["string", "null"]},
                    "total_count": COUNT,
                }
            ),
            "objects": {
                "type": "array",
                "maxItems": 20,
                "items": {"allOf": [ref("PlivoSession")], "required": ["resource_uri"]},
            },
        }
    )

    def failing(*statuses: int) -> Json:
        return errors(*statuses, unauthorized="PlivoUnauthorized")

    return {
        PLIVO: {
            "parameters": [auth_id],
            "post": operation(
                "plivoCreateSession",
                "Open a session on a free virtual number",
                "plivo",
                {
                    "200": answer(
                        "Session created",
                        reply(
                            session_uuid=UUID,
                            virtual_number=described(SHOWN_E164, "with the `+`"),
                            message={"const": "Session created"},
                            session=ref("PlivoSession"),
                        ),
                    ),
                    **failing(400, 401, 409, 413),
                },
                requestBody=body(
                    CREATE_BODY,
                    True,
                    {"first_party": "+14155551234", "second_party": "+14155554321", "session_expiry": 1800},
                ),
                **basic,
            ),
            "get": operation(
                "plivoListSessions",
                "List sessions, newest first",
                "plivo",
                {
                    "200": answer("A page of sessions", reply(response=page)),
                    **failing(400, 401),
                },
                parameters=list_filters(),
                **basic,
            ),
        },
        PLIVO_SESSION: {
            "parameters": [auth_id, path("session_uuid", UUID)],
            "get": operation(
                "plivoGetSession",
                "Read a session",
                "plivo",
                {
                    "200": answer("The session", reply(response=ref("PlivoSession"))),
                    **failing(401, 404),
                },
                **basic,
            ),
            "post": operation(
                "plivoUpdateSession",
                "Change an open session",
                "plivo",
                {
                    "200": answer(
                        "Session updated", reply(message={"const": "Session updated"}, session=ref("PlivoSession"))
                    ),
                    **failing(400, 401, 404, 409, 413),
                },
                requestBody=body(UPDATE_BODY, True, {"session_expiry": 600, "record": True}),
                **basic,
            ),
            "delete": operation(
                "plivoExpireSession",
                "Expire an open session now",
                "plivo",
                {
                    "200": answer("Session Deleted", reply(message={"const": "Session Deleted"})),
                    **failing(400, 401, 404, 409, 413),
                },
                requestBody=body(EXPIRE_BODY, False),
                **basic,
            ),
        },
    }
