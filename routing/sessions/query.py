"""The filters of a session listing, checked: parties, number, status, times, duration, page."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from routing.clock import US, to_us
from routing.errors import InvalidInput
from routing.phone import to_e164
from routing.sessions.options import Bounded
from routing.sessions.session import ACTIVE, EXPIRED, Session

DEFAULT_WINDOW = 7 * 86_400 * US
MAX_WINDOW = 30 * 86_400 * US
# A time as Plivo documents it (`YYYY-MM-DD HH:MM[:ss[.uuuuuu]]`) or a bare date, UTC: a `T` may stand for the
# space, Plivo's own ` +0000 UTC` may follow, spaces may surround it. The API document states the same pattern
# (app.openapi), written in the syntax both read alike.
TIME_TEXT = (
    r" *([0-9]{4})-([0-9]{2})-([0-9]{2})"
    r"(?:[ T]([0-9]{2}):([0-9]{2})(?::([0-9]{2})(?:\.([0-9]{1,6}))?)?)?(?: \+0000)?(?: UTC)? *"
)
_TIME = re.compile(TIME_TEXT)
# The µs a time written to the minute, the second or the day is precise to.
_MINUTE, _SECOND, _DAY = 60 * US, US, 86_400 * US
PARTY_FIELDS = ("first_party", "second_party", "virtual_number")
STATUSES = (ACTIVE, EXPIRED, "all")
# The page, and `duration` in whole seconds (each also with a comparison).
LIMIT, OFFSET, DURATION = Bounded(1, 20), Bounded(0, 10**9), Bounded(0, 10**9)
# The fields a time filter takes, and the comparisons every time and duration filter may add to its name.
TIME_FIELDS = ("created_time", "expiry_time")


@dataclass(frozen=True)
class Span:
    """A value as written, as the half-open range [start, end) of what it names: a time at the precision it is
    written in (µs), or a whole number of seconds."""

    start: int
    end: int


def parse_time(value: object, name: str) -> Span:
    """Return a TIME_TEXT UTC time as the span of µs it names: `2024-02-01` is the whole day, `2024-02-01 06:28`
    the whole minute, `06:28:15` the whole second, `06:28:15.5` a tenth of one; InvalidInput naming `name`."""
    found = _TIME.fullmatch(value) if isinstance(value, str) else None
    if found is None:
        raise InvalidInput(name, "must be a UTC time like 2024-02-01 06:28:15")
    year, month, day, hour, minute, second, fraction = found.groups()
    try:
        start = to_us(
            datetime(int(year), int(month), int(day), int(hour or 0), int(minute or 0), int(second or 0), tzinfo=UTC)
        )
    except ValueError as exc:
        raise InvalidInput(name, f"must be a UTC time like 2024-02-01 06:28:15 ({exc})") from exc
    if fraction is not None:  # as precise as its last digit
        precision = 10 ** (6 - len(fraction))
        return Span(start + int(fraction) * precision, start + (int(fraction) + 1) * precision)
    precision = _DAY if hour is None else _MINUTE if second is None else _SECOND
    return Span(start, start + precision)


# What each comparison with a written value keeps: the half-open range [low, high) of values that pass, from the
# span [start, end) the value names (None: no bound). `x__lte=v` is `x__lt=v` or `x=v`; `x__gt=v` is not `x__lte=v`.
COMPARISONS: dict[str, Callable[[Span], tuple[int | None, int | None]]] = {
    "": lambda span: (span.start, span.end),
    "__gt": lambda span: (span.end, None),
    "__gte": lambda span: (span.start, None),
    "__lt": lambda span: (None, span.start),
    "__lte": lambda span: (None, span.end),
}


@dataclass(frozen=True)
class Bounds:
    """The values a field may take to pass every comparison on it: `low <= value < high` (None: unbounded)."""

    low: int | None = None
    high: int | None = None

    def narrowed(self, op: str, span: Span) -> Bounds:
        """Return these bounds with the comparison `op` (`""`, `__gt`, `__gte`, `__lt`, `__lte`) to `span` added."""
        low, high = COMPARISONS[op](span)
        return Bounds(
            self.low if low is None else low if self.low is None else max(self.low, low),
            self.high if high is None else high if self.high is None else min(self.high, high),
        )

    def holds(self, value: int) -> bool:
        """Return whether `value` is within the bounds."""
        return (self.low is None or self.low <= value) and (self.high is None or value < self.high)

    @property
    def bounded(self) -> bool:
        """Return whether any comparison was made."""
        return self.low is not None or self.high is not None


@dataclass(frozen=True)
class SessionQuery:
    """A checked listing request."""

    limit: int = 20
    offset: int = 0
    status: str = "all"
    parties: dict[str, str] = field(default_factory=dict)
    subaccount: str = ""  # whose sessions to list (a subaccount of the tenant), not a filter on each
    created: Bounds = Bounds()
    expiry: Bounds = Bounds()
    duration: Bounds = Bounds()

    def created_window(self, now: int) -> tuple[int, int]:
        """Return the [low, high] creation times (µs, both included) to read from the index: 7 days by default,
        30 at most."""
        low = self.created.low
        high = now + 1 if self.created.high is None else self.created.high - 1
        if low is None and high > now:
            return now - DEFAULT_WINDOW, now
        if low is None:
            low = high - DEFAULT_WINDOW
        if high - low > MAX_WINDOW:
            raise InvalidInput("created_time", "the search window may span at most 30 days")
        return low, high

    def needs_sessions(self) -> bool:
        """Return whether filtering needs each session's data, not just the creation index (which the creation
        time filters are, exactly)."""
        return self.status != "all" or bool(self.parties) or self.expiry.bounded or self.duration.bounded

    def matches(self, session: Session, now: int) -> bool:
        """Return whether `session` passes every filter."""
        if self.status != "all" and session.status(now) != self.status:
            return False
        if any(getattr(session, name) != value for name, value in self.parties.items()):
            return False
        return (
            self.created.holds(session.created)
            and self.expiry.holds(session.expiry)
            and self.duration.holds(session.duration)
        )


def check_query(raw: Mapping[str, Any]) -> SessionQuery:
    """Return a listing request checked from its query parameters; an unknown one is an error."""
    values: dict[str, Any] = {"parties": {}, "created": Bounds(), "expiry": Bounds(), "duration": Bounds()}
    for name, value in raw.items():
        base, sep, suffix = name.partition("__")
        op = sep + suffix
        if name == "limit":
            values["limit"] = LIMIT(value, name)
        elif name == "offset":
            values["offset"] = OFFSET(value, name)
        elif name == "status":
            if value not in STATUSES:
                raise InvalidInput(name, "must be one of " + ", ".join(STATUSES))
            values["status"] = value
        elif name in PARTY_FIELDS:
            values["parties"][name] = to_e164(value, name)
        elif name == "subaccount":
            values["subaccount"] = str(value)
        elif base in TIME_FIELDS and op in COMPARISONS:
            key = "created" if base == "created_time" else "expiry"
            values[key] = values[key].narrowed(op, parse_time(value, name))
        elif base == "duration" and op in COMPARISONS:
            seconds = DURATION(value, name)
            values["duration"] = values["duration"].narrowed(op, Span(seconds, seconds + 1))
        else:
            raise InvalidInput(name, "is not a filter of this listing")
    return SessionQuery(**values)
