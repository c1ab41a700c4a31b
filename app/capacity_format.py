"""A pool's capacity figures as JSON, the same for `GET /v1/did/pool` and `masq pool stats`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from routing.capacity import DEFAULT_DAYS, MAX_DAYS, PoolStats
from routing.clock import from_us
from routing.errors import InvalidInput
from routing.shared_capacity import SharedCountry


def days_of(params: Mapping[str, str]) -> int:
    """Return the window asked for with `days` (default 7): a whole number of days from 1 to 30."""
    text = params.get("days", str(DEFAULT_DAYS))
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= MAX_DAYS:
        raise InvalidInput("days", f"must be a whole number from 1 to {MAX_DAYS}")
    return int(text)


def hour_time(us: int) -> str:
    """Format the start of an hour as ISO 8601 with a `Z`: `2026-11-23T15:00:00Z`."""
    return from_us(us).strftime("%Y-%m-%dT%H:%M:%SZ")


def pool_stats_json(stats: PoolStats) -> dict[str, Any]:
    """Return the pool's figures as the API shows them."""
    average = stats.average_session_seconds
    return {
        "size": stats.size,
        "in_use": stats.in_use,
        "free": stats.free,
        "cooling": stats.cooling,
        "suspended": stats.suspended,
        "days": stats.days,
        "since": hour_time(stats.since),
        "peak_concurrent": [{"hour": hour_time(p.hour), "peak": p.peak} for p in stats.hourly_peaks],
        "overall_peak": stats.peak,
        "peak_in_use": [{"hour": hour_time(p.hour), "peak": p.peak} for p in stats.hourly_in_use],
        "overall_peak_in_use": stats.peak_in_use,
        "exhausted": stats.exhausted,
        "sessions_opened": stats.opened,
        "sessions_ended": stats.ended,
        "average_session_seconds": None if average is None else round(average, 1),
        "recommended_size": stats.recommended_size,
        "warning": stats.warning,
        "shared": [shared_country_json(country) for country in stats.shared],
    }


def shared_country_json(country: SharedCountry) -> dict[str, Any]:
    """Return one country's shared use as the API shows it."""
    return {
        "country": country.country,
        "numbers": country.numbers,
        "in_shared_use": country.in_shared_use,
        "with_open_sessions": country.with_open_sessions,
        "peak_in_shared_use": country.peak_in_shared_use,
        "largest_k": country.largest_k,
        "peak_k": country.peak_k,
        "numbers_required": country.numbers_required,
        "holdings": country.holdings,
        "peak_holdings": country.peak_holdings,
        "parties_per_number": country.parties_per_number,
        "numbers_recommended": country.numbers_recommended,
        "busiest": [{"number": busy.number, "parties": busy.parties} for busy in country.busiest],
    }
