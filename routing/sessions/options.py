"""Check what a tenant asks of a session, field by field, against Plivo's documented bounds.

Each checker is the one statement of what its field takes: app.openapi builds the API document's request schemas
from these (a `Bounded`'s bounds, a `Choice`'s words, and the spellings below), so the two cannot drift apart.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from routing.errors import InvalidInput
from routing.number_mode import MODES, SHARED
from routing.phone import to_e164
from routing.urls import parse_url

DEFAULT_SESSION_EXPIRY = 3600
SUBACCOUNT_ID = re.compile(r"SA[A-Z0-9]{18}")
# How a whole number may be written as text (a form field, a query parameter, or a loose JSON client); not
# str.isdigit(), for which "²" is a digit.
INTEGER_TEXT = r"-?[0-9]+"
# How a boolean may be written as text, in any case.
BOOLEAN_TEXTS = ("true", "false")
# How many digits a PIN has, at least and at most.
PIN_DIGITS = (4, 15)


def as_bool(value: object, field: str) -> bool:
    """Return a JSON boolean, or the strings `true`/`false` in any case, as a bool."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in BOOLEAN_TEXTS:
        return value.lower() == "true"
    raise InvalidInput(field, "must be true or false")


def as_int(value: object, field: str, low: int, high: int) -> int:
    """Return an integer (a JSON number with no fraction, or INTEGER_TEXT) within [low, high]."""
    if isinstance(value, bool):
        raise InvalidInput(field, "must be an integer")
    if isinstance(value, str) and re.fullmatch(INTEGER_TEXT, value):
        value = int(value)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int):
        raise InvalidInput(field, "must be an integer")
    if not low <= value <= high:
        raise InvalidInput(field, f"must be between {low} and {high}")
    return value


def as_url(value: object, field: str) -> str:
    """Return an absolute http(s) URL that passes `routing.urls.parse_url`, or `""` to clear it."""
    if value == "":
        return ""
    if not isinstance(value, str):
        raise InvalidInput(field, "must be an http or https URL")
    try:
        parse_url(value)
    except ValueError as exc:
        raise InvalidInput(field, str(exc)) from exc
    return value


@dataclass(frozen=True)
class Choice:
    """A checker that takes one of `choices` in any case, and returns it as `choices` writes it."""

    choices: tuple[str, ...]

    def __call__(self, value: object, field: str) -> str:
        for choice in self.choices:
            if isinstance(value, str) and value.lower() == choice.lower():
                return choice
        raise InvalidInput(field, "must be " + " or ".join(self.choices))


as_method = Choice(("GET", "POST"))


def as_pin(value: object, field: str) -> str:
    """Return a PIN of 4 to 15 digits (PIN_DIGITS), given as text or as a JSON number with no fraction."""
    low, high = PIN_DIGITS
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not (value.isascii() and value.isdigit()) or not low <= len(value) <= high:
        raise InvalidInput(field, f"must be {low} to {high} digits")
    return value


def as_party(value: object, field: str) -> str:
    """Return a party's phone number in E.164."""
    return to_e164(value, field)


def as_subaccount(value: object, field: str) -> str:
    """Return a subaccount auth_id (`SA` and 18 upper-case letters or digits)."""
    if not isinstance(value, str) or not SUBACCOUNT_ID.fullmatch(value):
        raise InvalidInput(field, "must be a subaccount auth_id (SA followed by 18 letters or digits)")
    return value


@dataclass(frozen=True)
class Bounded:
    """A checker for integers within [low, high] (`as_int`)."""

    low: int
    high: int

    def __call__(self, value: object, field: str) -> int:
        return as_int(value, field, self.low, self.high)


# Every create argument of Plivo's masking session API and how to check it.
CREATE_FIELDS: dict[str, Callable[[object, str], Any]] = {
    "first_party": as_party,
    "second_party": as_party,
    "session_expiry": Bounded(60, 86400),
    "call_time_limit": Bounded(60, 86400),
    "record": as_bool,
    "record_file_format": Choice(("mp3", "wav")),
    "recording_callback_url": as_url,
    "recording_callback_method": as_method,
    "initiate_call_to_first_party": as_bool,
    "callback_url": as_url,
    "callback_method": as_method,
    "ring_timeout": Bounded(15, 120),
    "first_party_play_url": as_url,
    "second_party_play_url": as_url,
    "is_pin_authentication_required": as_bool,
    "generate_pin": as_bool,
    "generate_pin_length": Bounded(4, 15),
    "first_party_pin": as_pin,
    "second_party_pin": as_pin,
    "pin_prompt_play": as_url,
    "pin_retry": Bounded(0, 5),
    "pin_retry_wait": Bounded(5, 10),
    "incorrect_pin_play": as_url,
    "unknown_caller_play": as_url,
    "force_pin_authentication": as_bool,
    "subaccount": as_subaccount,
    "geomatch": as_bool,
    "create_session_with_single_party": as_bool,
    "virtual_number_cooloff_period": Bounded(0, 3600),
    "number_mode": Choice(MODES),
}

# What an open session lets a tenant change (first/second party only while one is missing).
UPDATE_FIELDS = (
    "session_expiry",
    "call_time_limit",
    "record",
    "record_file_format",
    "recording_callback_url",
    "recording_callback_method",
    "callback_url",
    "callback_method",
    "ring_timeout",
    "first_party_play_url",
    "second_party_play_url",
    "first_party",
    "second_party",
)


@dataclass(frozen=True)
class SessionRequest:
    """A checked create request: session fields, plus what allocation needs."""

    fields: dict[str, Any]
    session_expiry: int
    wanted_number: str = ""


def check_fields(raw: Mapping[str, Any], allowed: Mapping[str, Callable[[object, str], Any]]) -> dict[str, Any]:
    """Return `raw` checked field by field; an unknown field is an error that names it."""
    checked: dict[str, Any] = {}
    for name, value in raw.items():
        if name not in allowed:
            raise InvalidInput(name, "is not a parameter of this request")
        if value is None:
            continue
        checked[name] = allowed[name](value, name)
    return checked


# Plivo's Go SDK (plivo-go, maskingsession.go: CreateMaskingSessionParams and UpdateMaskingSessionParams) names
# this field by its struct tag, with a capital P; masq reads it as the name Plivo documents.
GO_SDK_NAMES = {"create_session_with_single_Party": "create_session_with_single_party"}


def plivo_names(raw: Mapping[str, Any]) -> dict[str, Any]:
    """Return `raw` with each name Plivo's Go SDK sends read as Plivo's documented one (`GO_SDK_NAMES`); a field
    given under both names is an error naming it."""
    named = dict(raw)
    for sent, documented in GO_SDK_NAMES.items():
        if sent in named:
            if documented in named:
                raise InvalidInput(documented, f"is given twice, also as {sent}")
            named[documented] = named.pop(sent)
    return named


def check_create(raw: Mapping[str, Any]) -> SessionRequest:
    """Return a create request checked against every rule of Plivo's documentation.

    A `session_expiry` of the JSON number 0 is the default's: Plivo's Go SDK declares the field without
    `omitempty` in CreateMaskingSessionParams, so a Go client that leaves it unset sends 0.
    """
    raw = plivo_names(raw)
    if raw.get("session_expiry") == 0 and type(raw["session_expiry"]) is int:
        raw.pop("session_expiry")
    given = check_fields(raw, CREATE_FIELDS)
    single = given.get("create_session_with_single_party", False)
    if "first_party" not in given:
        raise InvalidInput("first_party", "is required")
    if "second_party" not in given and not single:
        raise InvalidInput("second_party", "is required unless create_session_with_single_party is true")
    if given.get("second_party") and given["second_party"] == given["first_party"]:
        raise InvalidInput("second_party", "must differ from first_party")
    if given.get("number_mode") == SHARED and "second_party" not in given:
        raise InvalidInput("number_mode", "shared needs both parties: a single-party session has a number of its own")
    check_pins(given)
    expiry = given.pop("session_expiry", DEFAULT_SESSION_EXPIRY)
    return SessionRequest(fields=given, session_expiry=expiry)


def check_pins(given: dict[str, Any]) -> None:
    """Apply the PIN rules: both PINs (or generate_pin) and a prompt when PINs are required; PINs differ."""
    pin_fields = (
        "generate_pin",
        "generate_pin_length",
        "first_party_pin",
        "second_party_pin",
        "pin_prompt_play",
        "incorrect_pin_play",
        "force_pin_authentication",
    )
    if not given.get("is_pin_authentication_required", False):
        for name in pin_fields:
            if given.get(name):
                raise InvalidInput(name, "applies only when is_pin_authentication_required is true")
        return
    if given.get("generate_pin"):
        for name in ("first_party_pin", "second_party_pin"):
            if name in given:
                raise InvalidInput(name, "must not be given when generate_pin is true")
        length = given.get("generate_pin_length", 4)
        first = random_pin(length)
        second = random_pin(length)
        while second == first:
            second = random_pin(length)
        given["first_party_pin"], given["second_party_pin"] = first, second
    else:
        if "generate_pin_length" in given:
            raise InvalidInput("generate_pin_length", "applies only when generate_pin is true")
        for name in ("first_party_pin", "second_party_pin"):
            if name not in given:
                raise InvalidInput(name, "is required when is_pin_authentication_required is true")
        if given["first_party_pin"] == given["second_party_pin"]:
            raise InvalidInput("second_party_pin", "must differ from first_party_pin")
    if not given.get("pin_prompt_play"):
        raise InvalidInput("pin_prompt_play", "is required when is_pin_authentication_required is true")


def random_pin(length: int) -> str:
    """Return `length` random digits from a cryptographic source."""
    return "".join(secrets.choice("0123456789") for _ in range(length))


def check_update(raw: Mapping[str, Any], single_party_open: bool) -> tuple[dict[str, Any], int | None]:
    """Return the checked changes and the new session_expiry, if any; other fields are errors."""
    raw = plivo_names(raw)
    allowed = {name: CREATE_FIELDS[name] for name in UPDATE_FIELDS}
    for name in raw:
        if name in CREATE_FIELDS and name not in allowed:
            raise InvalidInput(name, "cannot be updated on an existing session")
    changes = check_fields(raw, allowed)
    if not single_party_open:
        for name in ("first_party", "second_party"):
            if name in changes:
                raise InvalidInput(name, "can be updated only on a session created with a single party")
    if not changes:
        raise InvalidInput("session", "nothing to update: give at least one updatable field")
    return changes, changes.pop("session_expiry", None)
