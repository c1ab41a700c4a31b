"""Phone numbers in E.164, parsed and checked with phonenumbers."""

from __future__ import annotations

import re
from functools import lru_cache

import phonenumbers

from routing.errors import InvalidInput

# Parsing with phonenumbers costs tens of µs, and the same numbers (a tenant's DIDs, frequent callers) come
# back on every call: remember what each text parsed to (a text that does not parse is not remembered, and
# raises every time). Each entry is a few hundred bytes at most.
_CACHED_NUMBERS = 16_384

# What a written phone number may hold: an optional leading `+`, at least one digit, and the usual separators
# (spaces around it too). Anything else (`,` and `w` pauses, `p`, `#`, `;ext=`, `x`, `ext`) makes it a dial string,
# which the carrier would dial as a number followed by keys pressed, so a masked call would quietly skip the
# extension. The API document states the same pattern (app.openapi), written in the syntax both read alike.
WRITTEN_NUMBER = r" *\+?[0-9 .()-]*[0-9][0-9 .()-]*"
_WRITTEN_NUMBER = re.compile(WRITTEN_NUMBER)


def to_e164(raw: object, field: str) -> str:
    """Return `raw` (WRITTEN_NUMBER, or an integer) as E.164 (`+15551234567`); a dial string is InvalidInput."""
    if not isinstance(raw, str | int) or isinstance(raw, bool) or str(raw).strip(" ") == "":
        raise InvalidInput(field, "must be a phone number in E.164 form, like +14155550100")
    text = str(raw).strip(" ")
    if not _WRITTEN_NUMBER.fullmatch(text):
        raise InvalidInput(
            field, f"{raw!r} is not a phone number: E.164 has digits only, no pauses, extensions or keys to press"
        )
    if not text.startswith("+"):
        text = "+" + text
    try:
        found = _valid_e164(text)
    except phonenumbers.NumberParseException as exc:
        raise InvalidInput(field, f"{raw!r} is not a phone number") from exc
    if found is None:
        raise InvalidInput(field, f"{raw!r} is not a valid phone number")
    return found


@lru_cache(maxsize=_CACHED_NUMBERS)
def _valid_e164(text: str) -> str | None:
    """Return `text` formatted in E.164, or None when it parses but is not a valid number (raises otherwise)."""
    parsed = phonenumbers.parse(text, None)
    if parsed.extension or not phonenumbers.is_valid_number(parsed):
        return None
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


@lru_cache(maxsize=_CACHED_NUMBERS)
def country_of(e164: str) -> str:
    """Return the ISO country code (`US`, `IN`) of an E.164 number, or `ZZ` when unknown."""
    try:
        parsed = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return "ZZ"
    return phonenumbers.region_code_for_number(parsed) or "ZZ"


def without_plus(e164: str) -> str:
    """Return the number as Plivo shows party numbers: digits only."""
    return e164.lstrip("+")


def mask(e164: str) -> str:
    """Return the number with its middle hidden, for logs (`+2348011****22`)."""
    if len(e164) < 8:
        return "****"
    return e164[:-6] + "****" + e164[-2:]
