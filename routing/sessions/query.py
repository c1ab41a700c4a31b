"""The filters of a session listing, checked: parties, number, status, times, duration, page."""

from __future__ import annotations

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
# Each layout Plivo documents (`YYYY-MM-DD HH:MM[:ss[.uuuuuu]]`, and a bare date), with the µs it is precise to.
_TIME_LAYOUTS = (("%Y-%m-%d %H:%M:%S", US), ("%Y-%m-%d %H:%M", 60 * US), ("%Y-%m-%d", 86_400 * US))
_PARTY_FIELDS = ("first_party", "second_party", "virtual_number")
STATUSES = (ACTIVE, EXPIRED, "all")


@dataclass(frozen=True)
class Span:
    """A value as written, as the half-open range [start, end) of what it names: a time at the precision it is
    written in (µs), or a whole number of seconds."""

    start: int
    end: int


def parse_time(value: object, name: str) -> Span:
    """Return a `YYYY-MM-DD[ HH:MM[:SS[.ffffff]]]` UTC time (Plivo's `+0000 UTC` suffix allowed) as the span of µs
    it names: `2024-02-01 06:28` is the whole minute, `06:28:15` the whole second, `06:28:15.5` a tenth of one."""
    text = str(value).strip().removesuffix(" UTC").removesuffix(" +0000").replace("T", " ")
    whole, dot, digits = text.partition(".")
    if dot and not (digits.isascii() and digits.isdigit() and len(digits) <= 6):
        raise InvalidInput(name, "must be a UTC time like 2024-02-01 06:28:15")
    for layout, precision in _TIME_LAYOUTS[:1] if dot else _TIME_LAYOUTS:
        try:
            start = to_us(datetime.strptime(whole, layout).replace(tzinfo=UTC))
        except ValueError:
            continue
        if dot:  # a fraction of a second is as precise as its last digit
            precision = 10 ** (6 - len(digits))
            start += int(digits) * precision
        return Span(start, start + precision)
    raise InvalidInput(name, "must be a UTC time like 2024-02-01 06:28:15")


# What each comparison with a written value keeps: the half-open range [low, high) of values that pass, from the
# span [start, end) the value names (None: no bound). `x__lte=v` is `x__lt=v` or `x=v`; `x__gt=v` is not `x__lte=v`.
_COMPARISONS: dict[str, Callable[[Span], tuple[int | None, int | None]]] = {
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
        low, high = _COMPARISONS[op](span)
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
        elif base in ("created_time", "expiry_time") and op in _COMPARISONS:
            key = "created" if base == "created_time" else "expiry"
            values[key] = values[key].narrowed(op, parse_time(value, name))
        elif base == "duration" and op in _COMPARISONS:
            seconds = as_int(value, name, 0, 10**9)
            values["duration"] = values["duration"].narrowed(op, Span(seconds, seconds + 1))
        else:
            raise InvalidInput(name, "is not a filter of this listing")
    return SessionQuery(**values)
