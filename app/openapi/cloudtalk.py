"""The CloudTalk-style dialect in the OpenAPI document: `/v1/sessions` and `/v1/did/…`, `X-API-Key`.

The request fields and their bounds are read off the checkers of `app.cloudtalk_format` (`pieces.accepted`), the
pool's figures and holdings off `routing.capacity` and `routing.pool`.
"""

from __future__ import annotations

from typing import Any

from app.cloudtalk_format import CREATE_FIELDS, DEFAULT_TTL_MINUTES, REQUIRED
from app.openapi.pieces import (
    COUNT,
    FLAG,
    ISO_TIME,
    SHOWN_E164,
    TEXT,
    UUID,
    Json,
    answer,
    body,
    described,
    errors,
    integer,
    obj,
    operation,
    path,
    query,
    ref,
    request_fields,
)
from app.openapi.plivo import DEFAULTS, NULL_IS_ABSENT
from routing.capacity import DEFAULT_DAYS, HOT_PERCENT, MAX_DAYS
from routing.number_mode import PARTIES_PER_NUMBER
from routing.pool import ASSIGNMENT_STATUSES

NOTES: dict[str, Json] = {
    "driver_phone": {"examples": ["+14155551234"]},
    "customer_phone": {"examples": ["+14155554321"], "description": "different from `driver_phone`"},
    "masked_e164": {
        "examples": ["+14155550100"],
        "description": "a number of the pool to use; with number_mode shared, one neither party holds already",
    },
    "number_mode": {
        "description": "`dedicated`: the number carries this pairing only; `shared`: it may carry other pairings "
        "of other people, calls being told apart by who calls. Default: the account's setting (dedicated unless set)"
    },
}


def session() -> Json:
    """Return the session as app.cloudtalk_format.session_json writes it."""
    return obj(
        {
            "id": UUID,
            "status": {
                "type": "string",
                "enum": ["active", "completed", "expired"],
                "description": "`completed` when ended on request, `expired` when its TTL ran out",
            },
            "driver_phone": SHOWN_E164,
            "customer_phone": {**SHOWN_E164, "type": ["string", "null"]},
            "masked_e164": SHOWN_E164,
            "created_at": ISO_TIME,
            "expires_at": ISO_TIME,
            "ttl_minutes": described(COUNT, "whole minutes from created_at to expires_at"),
            "callback_url": {"type": ["string", "null"]},
            "record": FLAG,
            "geomatch": FLAG,
        }
    )


def paths() -> Json:
    """Return the dialect's paths: sessions, their completion, and the numbers held."""
    session_id = path("session_id", UUID)
    api_key: dict[str, Any] = {"security": [{"api_key": []}]}
    one = answer("The session", ref("CloudTalkSession"))
    create = {
        **obj(
            request_fields(CREATE_FIELDS, REQUIRED, {**DEFAULTS, "ttl_minutes": DEFAULT_TTL_MINUTES}, NOTES),
            required=list(REQUIRED),
        ),
        "description": f"Any other field is a 400 that names it; {NULL_IS_ABSENT}",
    }
    assignment = obj(
        {
            "id": {"type": "integer"},
            "e164": SHOWN_E164,
            "country": {"type": "string", "pattern": "^[A-Z]{2}$"},
            "status": {"type": "string", "enum": ["active", "suspended", "released"]},
            "assigned_at": ISO_TIME,
            "released_at": {**ISO_TIME, "type": ["string", "null"]},
        }
    )
    held = obj({"assignments": {"type": "array", "items": assignment}})
    hour = {"type": "string", "pattern": r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:00:00Z$"}
    shared_country = obj(
        {
            "country": {"type": "string", "pattern": "^[A-Z]{2}$"},
            "numbers": described(COUNT, "numbers held in the country"),
            "in_shared_use": described(COUNT, "numbers that parties of shared sessions hold (open or cooling off)"),
            "with_open_sessions": described(
                COUNT, "of in_shared_use, the numbers carrying an open session (in use; the others cool off)"
            ),
            "peak_in_shared_use": described(COUNT, "the most numbers in shared use at once over the window"),
            "largest_k": described(COUNT, "the most shared sessions one real number is in now, k"),
            "peak_k": described(COUNT, "the largest k over the window"),
            "numbers_required": described(COUNT, "2k − 1 for the peak k: no pair runs out of a number both can take"),
            "holdings": described(COUNT, "(number, party) holdings now"),
            "peak_holdings": described(COUNT, "the most holdings over the window"),
            "parties_per_number": integer(*PARTIES_PER_NUMBER, description="the cap of parties on one number"),
            "numbers_recommended": described(
                COUNT,
                "numbers_required, plus one number per parties_per_number holdings at the peak (that cap rounded "
                "down to an even number: a number takes parties in pairs)",
            ),
            "busiest": {
                "type": "array",
                "items": obj({"number": SHOWN_E164, "parties": COUNT}),
                "description": "the numbers most parties hold, most first",
            },
        }
    )
    pool = obj(
        {
            "size": COUNT,
            "in_use": described(COUNT, "numbers carrying an open session, exclusive or shared"),
            "free": COUNT,
            "cooling": described(COUNT, "numbers cooling off after sessions that ended, exclusive or shared"),
            "suspended": COUNT,
            "days": integer(1, MAX_DAYS),
            "since": described(hour, "the first hour counted"),
            "peak_concurrent": {
                "type": "array",
                "items": obj({"hour": hour, "peak": COUNT}),
                "description": "the most sessions open at once, hour by hour",
            },
            "overall_peak": COUNT,
            "peak_in_use": {
                "type": "array",
                "items": obj({"hour": hour, "peak": COUNT}),
                "description": "the most numbers in use at once (carrying open sessions), hour by hour: the sessions' "
                "peaks unless sessions share numbers",
            },
            "overall_peak_in_use": COUNT,
            "exhausted": described(COUNT, "opens refused for want of a free number"),
            "sessions_opened": COUNT,
            "sessions_ended": COUNT,
            "average_session_seconds": {"type": ["number", "null"], "minimum": 0},
            "recommended_size": described(
                COUNT, "1.5 × the peak of sessions with numbers of their own, plus `numbers_recommended` of `shared`"
            ),
            "warning": {
                "type": ["string", "null"],
                "description": f"why the pool runs hot: refused opens, a peak of numbers in use at {HOT_PERCENT} % of "
                "the pool or more, or a country with fewer numbers than its shared sessions need",
            },
            "shared": {
                "type": "array",
                "items": shared_country,
                "description": "each country whose numbers sessions share (number_mode shared), now or in the window",
            },
        }
    )
    return {
        "/v1/sessions": {
            "post": operation(
                "cloudTalkOpenSession",
                "Open a session",
                "cloudtalk",
                {
                    "201": answer(
                        "Opened",
                        ref("CloudTalkSession"),
                        {"Location": {"required": True, "schema": TEXT, "description": "the session's URL"}},
                    ),
                    **errors(400, 401, 409, 413),
                },
                requestBody=body(
                    create, True, {"driver_phone": "+14155551234", "customer_phone": "+14155554321", "ttl_minutes": 30}
                ),
                **api_key,
            )
        },
        "/v1/sessions/{session_id}": {
            "parameters": [session_id],
            "get": operation(
                "cloudTalkGetSession", "Read a session", "cloudtalk", {"200": one, **errors(401, 404)}, **api_key
            ),
        },
        "/v1/sessions/{session_id}/complete": {
            "parameters": [session_id],
            "post": operation(
                "cloudTalkCompleteSession",
                "End an open session now",
                "cloudtalk",
                {"200": one, **errors(400, 401, 404, 409, 413)},
                requestBody=body({**obj({}), "description": "no fields"}, False),
                **api_key,
            ),
        },
        "/v1/did/assignments": {
            "get": operation(
                "cloudTalkAssignments",
                "List the numbers held, oldest first",
                "cloudtalk",
                {"200": answer("The holdings", held), **errors(400, 401)},
                parameters=[
                    query(
                        "status",
                        {"type": "string", "enum": list(ASSIGNMENT_STATUSES)},
                        "default `active`, or `all` with `on`",
                    ),
                    query("on", {"type": "string", "format": "date"}, "only the numbers held at any time that UTC day"),
                ],
                **api_key,
            )
        },
        "/v1/did/pool": {
            "get": operation(
                "cloudTalkPool",
                "The pool's size and use, and the size it should have",
                "cloudtalk",
                {"200": answer("The pool's figures", pool), **errors(400, 401)},
                parameters=[
                    query("days", integer(1, MAX_DAYS, DEFAULT_DAYS), "the hours counted: the last `days` days")
                ],
                **api_key,
            )
        },
    }
