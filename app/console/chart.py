"""The capacity chart's geometry: each hour's peak of DIDs in use as a bar (as many as open sessions while each has a
DID of its own; fewer once sessions share DIDs), against the pool's size and the recommended size as lines. Pure
arithmetic; the template draws it as SVG."""

from __future__ import annotations

import math
from dataclasses import dataclass

from routing.capacity import HOUR, PoolStats
from routing.clock import from_us

WIDTH, HEIGHT = 760, 240
LEFT, RIGHT, TOP, BOTTOM = 44, 12, 12, 28  # margins around the plot, in SVG units


@dataclass(frozen=True)
class Bar:
    """One hour's peak: its rectangle and what it says when pointed at."""

    x: float
    y: float
    width: float
    height: float
    label: str


@dataclass(frozen=True)
class Tick:
    """A mark on an axis: where, and its text."""

    at: float
    text: str


@dataclass(frozen=True)
class Chart:
    """What the template draws: the plot's box, the bars, the two lines' heights, and the axes' ticks."""

    width: int
    height: int
    left: int
    right: float
    top: int
    bottom: float
    bars: tuple[Bar, ...]
    pool_y: float
    recommended_y: float
    y_ticks: tuple[Tick, ...]
    x_ticks: tuple[Tick, ...]


def capacity_chart(stats: PoolStats) -> Chart:
    """Return the chart of `stats`' hourly peaks of DIDs in use over its `days`, against its size and recommended
    size; each bar says the sessions open at once that hour too."""
    hours = stats.days * 24
    right, bottom = WIDTH - RIGHT, HEIGHT - BOTTOM
    step = (right - LEFT) / hours
    top_value = _round_up(max(stats.peak_in_use, stats.size, stats.recommended_size, 1) * 1.1)
    sessions = {peak.hour: peak.peak for peak in stats.hourly_peaks}

    def y(value: int) -> float:
        return round(bottom - value / top_value * (bottom - TOP), 1)

    bars = tuple(
        Bar(
            round(LEFT + (peak.hour - stats.since) // HOUR * step, 1),
            y(peak.peak),
            round(max(step - 0.5, 0.5), 2),
            round(bottom - y(peak.peak), 1),
            f"{from_us(peak.hour):%Y-%m-%d %H:00} UTC: {peak.peak} DID{'' if peak.peak == 1 else 's'} in use, "
            f"{sessions.get(peak.hour, 0)} open at once",
        )
        for peak in stats.hourly_in_use
    )
    y_ticks = tuple(Tick(y(v), str(v)) for v in sorted({0, top_value // 2, top_value}))
    days = range(0, hours, 24 if stats.days <= 10 else 24 * math.ceil(stats.days / 10))
    x_ticks = tuple(Tick(round(LEFT + d * step, 1), f"{from_us(stats.since + d * HOUR):%m-%d}") for d in days)
    return Chart(
        WIDTH, HEIGHT, LEFT, right, TOP, bottom, bars, y(stats.size), y(stats.recommended_size), y_ticks, x_ticks
    )


def _round_up(value: float) -> int:
    """Return the first of 1, 2, 5, 10, 20, 50… times a power of ten that is at least `value`."""
    power = 10 ** max(0, math.floor(math.log10(max(value, 1))))
    return next(int(m * power) for m in (1, 2, 5, 10) if m * power >= value)
