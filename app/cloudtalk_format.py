"""The CloudTalk dialect's shapes: its create request in the domain's words, and sessions and DIDs as JSON."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from routing.clock import US, iso_time
from routing.errors import Conflict, InvalidInput, NumberUnavailable, PoolExhausted, SessionEnded
from routing.number_mode import EXCLUSIVE, SHARED
from routing.pool import Assignment
from routing.sessions.options import Bounded, Choice, as_bool, as_party, as_url, check_fields
from routing.sessions.session import ACTIVE, Session

COMPLETED = "completed"
EXPIRED = "expired"
MINUTE = 60

# Every create field of this dialect and how to check it; the domain checks again under its own names.
CREATE_FIELDS: dict[str, Callable[[object, str], Any]] = {
    "driver_phone": as_party,
    "customer_phone": as_party,
    "ttl_minutes": Bounded(1, 1440),
    "masked_e164": as_party,
    "callback_url": as_url,
    "record": as_bool,
    "geomatch": as_bool,
    # Opt-in only: CloudTalk promises a number is exclusive to its pairing, so `dedicated` is the domain's `exclusive`.
    "number_mode": Choice(("dedicated", "shared")),
}
REQUIRED = ("driver_phone", "customer_phone")
# This dialect's number modes in the domain's words (routing.number_mode).
NUMBER_MODES = {"dedicated": EXCLUSIVE, "shared": SHARED}
DEFAULT_TTL_MINUTES = 60

# The domain's (Plivo's) names for what this dialect calls otherwise.
_DIALECT_NAMES = {
    "first_party": "driver_phone",
    "second_party": "customer_phone",
    "virtual_number": "masked_e164",
    "session_expiry": "ttl_minutes",
}
_DOMAIN_NAME = re.compile(r"\b(" + "|".join(_DIALECT_NAMES) + r")\b")


def create_request(data: Mapping[str, Any]) -> tuple[dict[str, Any], str | None]:
    """Return the Plivo-style create fields and the wanted number for a CloudTalk create body."""
    given = check_fields(data, CREATE_FIELDS)
    for name in REQUIRED:
        if name not in given:
            raise InvalidInput(name, "is required")
    raw: dict[str, Any] = {
        "first_party": given["driver_phone"],
        "second_party": given["customer_phone"],
        "session_expiry": given.get("ttl_minutes", DEFAULT_TTL_MINUTES) * MINUTE,
    }
    raw.update({name: given[name] for name in ("callback_url", "record", "geomatch") if name in given})
    if "number_mode" in given:
        raw["number_mode"] = NUMBER_MODES[given["number_mode"]]
    return raw, given.get("masked_e164")


@contextmanager
def dialect_words() -> Iterator[None]:
    """Re-raise the domain's errors in this dialect's words: its field names for the domain's, and a session's end
    as this dialect's status says it (`completed` when a request ended it, else `expired`)."""
    try:
        yield
    except InvalidInput as error:
        detail = _in_dialect(error.message.removeprefix(f"{error.field}: "))
        raise InvalidInput(_DIALECT_NAMES.get(error.field, error.field), detail) from error
    except SessionEnded as error:
        status = COMPLETED if error.by_request else EXPIRED
        raise Conflict(f"session {error.session_uuid} is already {status}") from error
    except PoolExhausted as error:
        raise PoolExhausted(_in_dialect(error.message)) from error
    except NumberUnavailable as error:
        raise NumberUnavailable(_in_dialect(error.message)) from error


def _in_dialect(message: str) -> str:
    """Return `message` with the domain's field names replaced by this dialect's."""
    return _DOMAIN_NAME.sub(lambda m: _DIALECT_NAMES[m.group(1)], message)


def session_status(session: Session, now: int) -> str:
    """Return `active`, `completed` (ended on request) or `expired` (its TTL ran out)."""
    if session.status(now) == ACTIVE:
        return ACTIVE
    return COMPLETED if session.ended_by else EXPIRED


def session_json(session: Session, now: int) -> dict[str, Any]:
    """Return the session as this dialect shows it at `now`."""
    return {
        "id": session.session_uuid,
        "status": session_status(session, now),
        "driver_phone": session.first_party,
        "customer_phone": session.second_party or None,
        "masked_e164": session.virtual_number,
        "created_at": iso_time(session.created),
        "expires_at": iso_time(session.expiry),
        "ttl_minutes": (session.expiry - session.created) // (MINUTE * US),
        "callback_url": session.callback_url or None,
        "record": session.record,
        "geomatch": session.geomatch,
    }


def assignment_json(assignment: Assignment) -> dict[str, Any]:
    """Return one holding of a DID as this dialect shows it."""
    return {
        "id": assignment.id,
        "e164": assignment.number,
        "country": assignment.country,
        "status": assignment.status,
        "assigned_at": iso_time(assignment.assigned_at),
        "released_at": iso_time(assignment.released_at),
    }
