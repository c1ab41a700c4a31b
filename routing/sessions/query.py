"""The filters of a session listing, checked: parties, number, status, times, duration, page."""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from routing.clock import US, to_us
from routing.errors import InvalidInput
from routing.phone import to_e164
from routing.sessions.options import as_int
from routing.sessions.session import ACTIVE, EXPIRED, Session

DEFAULT_WINDOW = 7 * 86_400 * US
MAX_WINDOW = 30 * 86_400 * US
_OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    "": operator.eq,
    "__gt": operator.gt,
    "__gte": operator.ge,
    "__lt": operator.lt,
    "__lte": operator.le,
}
_TIME_FORMATS = ("%Y-%m-%d %H:%M:%S.%f", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d")
_PARTY_FIELDS = ("first_party", "second_party", "virtual_number")
STATUSES = (ACTIVE, EXPIRED, "all")


def parse_time(value: object, name: str) -> int:
    """Return a `YYYY-MM-DD[ HH:MM[:SS[.ffffff]]]` UTC time (Plivo's `+0000 UTC` suffix allowed) as µs."""
    text = str(value).strip().removesuffix(" UTC").removesuffix(" +0000").replace("T", " ")
    for fmt in _TIME_FORMATS:
        try:
            return to_us(datetime.strptime(text, fmt).replace(tzinfo=UTC))
        except ValueError:
            continue
    raise InvalidInput(name, "must be a UTC time like 2024-02-01 06:28:15")


@dataclass(frozen=True)
class SessionQuery:
    """A checked listing request."""

    limit: int = 20
    offset: int = 0
    status: str = "all"
    parties: dict[str, str] = field(default_factory=dict)
    subaccount: str = ""  # whose sessions to list (a subaccount of the tenant), not a filter on each
    created: list[tuple[str, int]] = field(default_factory=list)
    expiry: list[tuple[str, int]] = field(default_factory=list)
    duration: list[tuple[str, int]] = field(default_factory=list)

    def created_window(self, now: int) -> tuple[int, int]:
        """Return the [low, high] creation times to read from the index: 7 days by default, 30 at most."""
        low, high = 0, now + 1
        for op, value in self.created:
            if op in ("", "__gte"):
                low = max(low, value)
            if op in ("", "__lte"):
                high = min(high, value)
            if op == "__gt":
                low = max(low, value + 1)
            if op == "__lt":
                high = min(high, value - 1)
        if low == 0 and high > now:
            return now - DEFAULT_WINDOW, now
        if low == 0:
            low = high - DEFAULT_WINDOW
        if high - low > MAX_WINDOW:
            raise InvalidInput("created_time", "the search window may span at most 30 days")
        return low, high

    def needs_sessions(self) -> bool:
        """Return whether filtering needs each session's data, not just the creation index."""
        return bool(
            self.status != "all"
            or self.parties
            or self.expiry
            or self.duration
            or any(op == "" for op, _ in self.created)
        )

    def matches(self, session: Session, now: int) -> bool:
        """Return whether `session` passes every filter."""
        if self.status != "all" and session.status(now) != self.status:
            return False
        if any(getattr(session, name) != value for name, value in self.parties.items()):
            return False
        checks = [(session.created, self.created), (session.expiry, self.expiry), (session.duration, self.duration)]
        return all(_OPERATORS[op](actual, value) for actual, conditions in checks for op, value in conditions)


def check_query(raw: Mapping[str, Any]) -> SessionQuery:
    """Return a listing request checked from its query parameters; an unknown one is an error."""
    values: dict[str, Any] = {"parties": {}, "created": [], "expiry": [], "duration": []}
    for name, value in raw.items():
        base, sep, suffix = name.partition("__")
        op = sep + suffix
        if name == "limit":
            values["limit"] = as_int(value, name, 1, 20)
        elif name == "offset":
            values["offset"] = as_int(value, name, 0, 10**9)
        elif name == "status":
            if value not in STATUSES:
                raise InvalidInput(name, "must be one of " + ", ".join(STATUSES))
            values["status"] = value
        elif name in _PARTY_FIELDS:
            values["parties"][name] = to_e164(value, name)
        elif name == "subaccount":
            values["subaccount"] = str(value)
        elif base in ("created_time", "expiry_time") and op in _OPERATORS:
            key = "created" if base == "created_time" else "expiry"
            values[key].append((op, parse_time(value, name)))
        elif base == "duration" and op in _OPERATORS:
            values["duration"].append((op, as_int(value, name, 0, 10**9)))
        else:
            raise InvalidInput(name, "is not a filter of this listing")
    return SessionQuery(**values)
