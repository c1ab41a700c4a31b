"""Capacity planning for a tenant's pool: how full it is now, how full it got, and the size it should have.

Nothing here reads the pool or the sessions. The scripts keep one small hash per tenant and UTC day
(`Keys.capacity`) with figures by hour: sessions opened, the most open at once when one opened (all of them,
`peak`, and those with a DID of their own, `peak_exclusive`), opens refused by an exhausted pool, and sessions
ended with their total length; DIDs that came into use (`dids_in`: an exclusive session, or the first open session
on a shared DID) and went out of it (`dids_out`), and the most in use at once (`peak_dids`); and for shared DIDs,
the peaks `routing.shared_capacity` reads. Each day's hash expires `CAPACITY_MS` (routing/lua/capacity.lua) after
its last change. The number of sessions open at the start of an hour with no opening in it comes from those counts,
walking forward from the start of the window: open then = open now − opened since + ended since; and the same for
DIDs in use.

A pool whose sessions all have DIDs of their own should hold 1.5 × its peak, and runs hot when the peak reaches
`HOT_PERCENT` of it. Once sessions share DIDs, a session is no longer a DID: the recommendation is 1.5 × the peak of
exclusive sessions, plus what each country's shared sessions need (`SharedCountry.numbers_recommended`: 2k − 1, and
room for the cap), and the pool runs hot when the peak of DIDs in use reaches `HOT_PERCENT` of it.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass

from routing.clock import US
from routing.errors import InvalidInput
from routing.shared_capacity import SharedCountry, shared_countries
from routing.store import Store

DEFAULT_DAYS = 7
MAX_DAYS = 30
HOUR = 3600 * US
HOT_PERCENT = 80  # a peak at this share of the pool or above is a warning
HEADROOM = 1.5  # recommend this many DIDs per session open at the peak
_RECLAIM_LIMIT = 1000


@dataclass(frozen=True)
class HourPeak:
    """The most sessions open at once during one UTC hour starting at `hour` (µs)."""

    hour: int
    peak: int


@dataclass(frozen=True)
class PoolStats:
    """A tenant's pool now, and its use over the last `days` (by whole UTC hours from `since`, µs)."""

    size: int
    in_use: int
    free: int
    cooling: int
    suspended: int
    days: int
    since: int
    hourly_peaks: tuple[HourPeak, ...]  # sessions open at once
    peak: int
    exhausted: int
    opened: int
    ended: int
    average_session_seconds: float | None
    recommended_size: int
    warning: str | None
    shared: tuple[SharedCountry, ...] = ()  # the countries whose DIDs sessions share (routing.shared_capacity)
    hourly_in_use: tuple[HourPeak, ...] = ()  # DIDs in use at once: the sessions' peaks unless some share DIDs
    peak_in_use: int = 0


def pool_stats(store: Store, auth_id: str, now: int, days: int = DEFAULT_DAYS) -> PoolStats:
    """Return the size and use of the tenant's pool, its hourly peaks over `days`, and the size it should have.

    A suspended DID is counted in `suspended` whatever else it does: it may also carry an open session or
    cool off. `in_use` counts DIDs: one per open exclusive session, and each shared DID with an open session;
    `cooling` those cooling off after an exclusive session, and the shared DIDs whose sessions all ended.
    """
    if not 1 <= days <= MAX_DAYS:
        raise InvalidInput("days", f"must be a whole number from 1 to {MAX_DAYS}")
    # End what is due first (bounded, as every allocation does), so that TTL ends are counted and DIDs placed.
    store.run("reclaim.lua", auth_id, now, _RECLAIM_LIMIT)
    keys = store.keys
    last_hour = now // HOUR
    first_hour = last_hour - days * 24 + 1
    day_numbers = range(first_hour // 24, last_hour // 24 + 1)
    countries = sorted(str(c) for c in store.redis.smembers(keys.countries(auth_id)))
    with store.redis.pipeline() as pipe:
        pipe.scard(keys.numbers(auth_id))
        pipe.zcount(keys.open_by_expiry(auth_id), f"({now}", "+inf")
        pipe.zcard(keys.open_by_expiry(auth_id))
        pipe.zcard(keys.cooling(auth_id))
        pipe.scard(keys.suspended(auth_id))
        pipe.hget(keys.shared_figures(auth_id), "sessions")
        for country in countries:
            pipe.scard(keys.free(auth_id, country))
        for day in day_numbers:
            pipe.hgetall(keys.capacity(auth_id, day))
        size, open_now, unreleased, cooling, suspended, shared_open, *rest = pipe.execute()
    free = sum(rest[: len(countries)])
    hours = _by_hour(day_numbers, rest[len(countries) :], first_hour, last_hour)
    opened, ended = _total(hours, "opened"), _total(hours, "ended")
    peaks = _hourly_peaks(hours, unreleased - opened + ended, first_hour, last_hour)
    peak = max((p.peak for p in peaks), default=0)
    exhausted = _total(hours, "exhausted")
    shared = shared_countries(store, auth_id, countries, hours.values())
    exclusive_open = max(open_now - int(shared_open or 0), 0)
    in_use = exclusive_open + sum(country.with_open_sessions for country in shared)
    in_use_peaks = peaks
    if shared:
        exclusive_peak = max([exclusive_open, *(figures.get("peak_exclusive", 0) for figures in hours.values())])
        recommended = recommended_size(exclusive_peak, exhausted, shared)
        at_start = in_use - _total(hours, "dids_in") + _total(hours, "dids_out")
        in_use_peaks = _hourly_peaks(hours, at_start, first_hour, last_hour, ("peak_dids", "dids_in", "dids_out"))
    else:
        recommended = recommended_size(peak, exhausted)
    peak_in_use = max((p.peak for p in in_use_peaks), default=0)
    return PoolStats(
        size=size,
        in_use=in_use,
        free=free,
        cooling=cooling + sum(country.in_shared_use - country.with_open_sessions for country in shared),
        suspended=suspended,
        days=days,
        since=first_hour * HOUR,
        hourly_peaks=peaks,
        peak=peak,
        exhausted=exhausted,
        opened=opened,
        ended=ended,
        average_session_seconds=_total(hours, "ended_us") / ended / US if ended else None,
        recommended_size=recommended,
        warning=warning(size, peak_in_use, exhausted, days, recommended, shared),
        shared=shared,
        hourly_in_use=in_use_peaks,
        peak_in_use=peak_in_use,
    )


def recommended_size(peak: int, exhausted: int, shared: tuple[SharedCountry, ...] = ()) -> int:
    """Return 1.5 × the peak (of exclusive sessions, when some share DIDs), rounded up, plus what each country's
    shared sessions need; at least 1 when an open was refused for want of a DID."""
    needed = math.ceil(peak * HEADROOM) + sum(country.numbers_recommended for country in shared)
    return max(needed, 1 if exhausted else 0)


def warning(
    size: int, peak: int, exhausted: int, days: int, recommended: int, shared: tuple[SharedCountry, ...] = ()
) -> str | None:
    """Return why the pool runs hot, or None when it does not: refused opens, a `peak` of DIDs in use near the
    pool's size (of open sessions, each with a DID of its own, unless some `shared` sessions share DIDs), or a
    country with fewer DIDs than its shared sessions need."""
    reasons = []
    if exhausted:
        reasons.append(f"the pool was exhausted {_count(exhausted, 'time')} in the last {_count(days, 'day')}")
    if peak and peak * 100 >= size * HOT_PERCENT:
        share = f"{peak * 100 // size} % of the pool's {_count(size, 'DID')}" if size else "more than the pool holds"
        what = f"{_count(peak, 'DID')} in use" if shared else _count(peak, "open session")
        reasons.append(f"the peak of {what} is {share}")
    for country in shared:
        if country.short_by:
            reasons.append(
                f"{country.country} has {_count(country.numbers, 'DID')}, {country.short_by} fewer than its shared "
                f"sessions need (someone was in {_count(country.peak_k, 'session')} at once: 2k − 1 = "
                f"{country.numbers_required}, and {country.numbers_recommended - country.numbers_required} for the "
                f"DIDs full at {country.parties_when_full} parties under the cap of {country.parties_per_number})"
            )
    if not reasons:
        return None
    return " and ".join(reasons) + f"; recommended size {recommended}"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _by_hour(day_numbers: range, hashes: list[dict[str, str]], first: int, last: int) -> dict[int, dict[str, int]]:
    """Return the figures of the hours from `first` to `last` (hour numbers since 1970) by hour."""
    hours: dict[int, dict[str, int]] = defaultdict(dict)
    for day, figures in zip(day_numbers, hashes, strict=True):
        for field, value in figures.items():
            name, _, hour_of_day = field.partition(":")
            hour = day * 24 + int(hour_of_day)
            if first <= hour <= last:
                hours[hour][name] = int(value)
    return hours


def _total(hours: dict[int, dict[str, int]], name: str) -> int:
    return sum(figures.get(name, 0) for figures in hours.values())


def _hourly_peaks(
    hours: dict[int, dict[str, int]],
    at_start: int,
    first: int,
    last: int,
    names: tuple[str, str, str] = ("peak", "opened", "ended"),
) -> tuple[HourPeak, ...]:
    """Return each hour's peak: the sessions open when it began, or the most when one opened, if more. `names`
    are the figures of the peak, what raises the level and what lowers it (the default: of open sessions)."""
    peak_name, up, down = names
    peaks = []
    level = max(at_start, 0)
    for hour in range(first, last + 1):
        figures = hours.get(hour, {})
        peak = max(level, figures.get(peak_name, 0))
        if peak:
            peaks.append(HourPeak(hour * HOUR, peak))
        level = max(level + figures.get(up, 0) - figures.get(down, 0), 0)
    return tuple(peaks)
