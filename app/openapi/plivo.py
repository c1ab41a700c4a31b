"""The Plivo dialect in the OpenAPI document: `/v1/Account/{auth_id}/Masking/Session/`, HTTP Basic.

The request fields and their bounds are read off the checkers of `routing.sessions.options` and
`routing.sessions.query` (`pieces.accepted`); the Session object is what `app.plivo_format` writes.
"""

from __future__ import annotations

from dataclasses import MISSING, fields
from typing import Any

from app.openapi.pieces import (
    COUNT,
    E164,
    FLAG,
    PHONE,
    SHOWN_E164,
    TEXT,
    UUID,
    Json,
    answer,
    body,
    described,
    errors,
    given,
    integer,
    obj,
    operation,
    path,
    query,
    ref,
    request_fields,
    words,
)
from routing.sessions.options import BOOLEAN_TEXTS, CREATE_FIELDS, DEFAULT_SESSION_EXPIRY, UPDATE_FIELDS
from routing.sessions.query import (
    COMPARISONS,
    DURATION,
    LIMIT,
    OFFSET,
    PARTY_FIELDS,
    STATUSES,
    TIME_TEXT,
    SessionQuery,
)
from routing.sessions.session import Session

PLIVO = "/v1/Account/{auth_id}/Masking/Session/"
PLIVO_SESSION = PLIVO + "{session_uuid}/"

METHOD = {"type": "string", "enum": ["GET", "POST"]}
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

# A session field's default is the Session record's (an empty text is no default), session_expiry's the create's;
# number_mode's is the account's setting, so it has none here.
DEFAULTS: dict[str, Any] = {
    **{
        f.name: f.default
        for f in fields(Session)
        if f.default is not MISSING and f.default != "" and f.name != "number_mode"
    },
    "session_expiry": DEFAULT_SESSION_EXPIRY,
}
# What the document says of a request field beyond what its checker takes: its meaning, and an example.
NOTES: dict[str, Json] = {
    "first_party": {"examples": ["+14155551234"]},
    "second_party": {"examples": ["+14155554321"], "description": "different from `first_party`"},
    "virtual_number": {"examples": ["+14155550100"]},
    "session_expiry": {"description": "seconds the session stays open; on update, counted from then"},
    "call_time_limit": {"description": "seconds a call may last (the carrier caps it at 14400)"},
    "ring_timeout": {"description": "seconds to ring the other party"},
    "is_pin_authentication_required": {"description": "with it: both PINs or `generate_pin`, and `pin_prompt_play`"},
    "generate_pin": {"description": "only with PIN authentication, and not with the PINs themselves"},
    "generate_pin_length": {"description": "only with `generate_pin`"},
    "first_party_pin": {"description": "only with PIN authentication"},
    "second_party_pin": {"description": "only with PIN authentication; different from `first_party_pin`"},
    "force_pin_authentication": {"description": "only with PIN authentication"},
    "subaccount": {"description": "a subaccount of the caller"},
    "geomatch": {"description": "the virtual number's country must be the first party's"},
    "virtual_number_cooloff_period": {"description": "seconds before the virtual number is handed out again"},
    "number_mode": {
        "description": "`exclusive`: the virtual number carries this session only; `shared`: it may carry other "
        "sessions of other parties, calls being told apart by who calls (both parties needed). Default: the "
        "account's setting (`exclusive` unless set)"
    },
}
NULL_IS_ABSENT = "`null` is the same as leaving a field out."
SINGLE_PARTY = {
    "required": ["create_session_with_single_party"],
    "properties": {
        "create_session_with_single_party": {"anyOf": [{"const": True}, {"type": "string", "pattern": words("true")}]}
    },
}
CREATE_BODY = {
    **obj(request_fields(CREATE_FIELDS, ["first_party"], DEFAULTS, NOTES), required=["first_party"]),
    "anyOf": [given("second_party"), SINGLE_PARTY],
    "description": f"Any other field is a 400 that names it; {NULL_IS_ABSENT} A boolean may also be written "
    f"{' or '.join(BOOLEAN_TEXTS)} in any case, a number as its digits; a form-encoded body is read as its JSON "
    "would be.",
}
ECHO = {"session_uuid": described(UUID, "the Plivo SDK echoes the path's uuid; it must match")}
UPDATE_BODY = {
    **obj(
        {**request_fields({name: CREATE_FIELDS[name] for name in UPDATE_FIELDS}, [], {}, NOTES), **ECHO},
        required=[],
    ),
    "anyOf": [given(name) for name in UPDATE_FIELDS],
    "description": "At least one field to change; the parties only on a single-party session. A create field "
    f"not listed here is a 400 that names it. {NULL_IS_ABSENT}",
}
EXPIRE_BODY = {**obj(ECHO, required=[]), "description": "Nothing but the echoed uuid: another field is a 400."}
# What each comparison of a time filter keeps, of the span its value names.
COMPARED = {
    "": "within the span written",
    "__gt": "after it",
    "__gte": "from its start on",
    "__lt": "before it",
    "__lte": "up to its end",
}
UNFILTERED = SessionQuery()  # a listing's defaults


def list_filters() -> list[Json]:
    """Return the filters of a session listing (routing.sessions.query), each time and duration filter with its
    comparisons."""
    time = {
        "type": "string",
        "pattern": f"^{TIME_TEXT}$",
        "examples": ["2024-02-01 06:28:15"],
        "description": "UTC `YYYY-MM-DD[ HH:MM[:ss[.uuuuuu]]]` (Plivo's ` +0000 UTC` suffix allowed), matched at the "
        "precision it is written in: a date is the whole day, `06:28` the whole minute, `06:28:15` the whole second",
    }
    phone = {**PHONE, "type": "string"}
    filters = [
        query("limit", integer(LIMIT.low, LIMIT.high, UNFILTERED.limit)),
        query("offset", integer(OFFSET.low, OFFSET.high, UNFILTERED.offset)),
        query("status", {"type": "string", "enum": list(STATUSES), "default": UNFILTERED.status}),
        *(query(name, {**phone, **NOTES.get(name, {})}) for name in PARTY_FIELDS),
        query("subaccount", TEXT),
    ]
    for suffix in COMPARISONS:
        meaning = COMPARED[suffix]
        filters += [
            query(
                "created_time" + suffix, time, f"{meaning}; without bounds the window is the last 7 days, at most 30"
            ),
            query("expiry_time" + suffix, time, meaning),
            query("duration" + suffix, integer(DURATION.low, DURATION.high), "seconds"),
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
