"""A ride-hailing tenant's day, opened by the real allocation script in each number mode: the DIDs each one needs.

20,000 trips over one day (2,000 in a quick run) at a city's rhythm: quiet at night, peaks about 8:00 and 18:00. A
trip is a session between a rider and a driver that lasts its ride, 10 to 40 minutes, and ends by its TTL; a rider
is in at most 2 open sessions and a driver in at most 3 (the next pick-up is booked before the ride ends). The
sessions open through `fixtures.open_at` on the bench's Redis in time order, each at its own time, so that every
allocation first ends what is due, as in production. Exclusive needs a DID per session open at once: the peak of
open sessions. Shared needs the most DIDs its sessions held at once (`SharedCountry.peak_in_shared_use`), which
2k − 1 and the cap of parties a DID bound from above (`routing.shared_capacity`).
"""

from __future__ import annotations

import heapq
import math
import random
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime

from bench import fixtures
from bench.common import PREFIX
from routing import capacity, number_mode, tenants
from routing.clock import US, to_us
from routing.sessions.options import check_create
from routing.store import Store

TRIPS = {False: 20_000, True: 2_000}
RIDERS_PER_TRIP = 0.75  # riders in the city for each trip of the day: most ride once, some twice or more
DRIVERS_PER_TRIP = 0.03  # 600 drivers for 20,000 trips
MOST_OPEN = {"rider": 2, "driver": 3}
RIDE_MINUTES = (10, 40)
DAY = datetime(2030, 6, 3, tzinfo=UTC)  # a Monday; the simulation's clock, far from the real one
SEED = 16


@dataclass(frozen=True)
class Trip:
    """One ride: its start (µs), its length (s), its rider and its driver."""

    start: int
    seconds: int
    rider: str
    driver: str


def demand(hour: float) -> float:
    """Return the relative rate of trips at `hour` (0–24): a floor at night, a morning and an evening peak."""
    return 0.15 + math.exp(-(((hour - 8.0) / 1.5) ** 2)) + 1.2 * math.exp(-(((hour - 18.0) / 2.0) ** 2))


def trips(count: int, seed: int = SEED) -> list[Trip]:
    """Return `count` trips in start order, no rider in more than 2 at once nor driver in more than 3."""
    draw = random.Random(seed)
    riders = fixtures.phone_numbers(max(2, round(count * RIDERS_PER_TRIP)), "646")
    drivers = fixtures.phone_numbers(max(3, round(count * DRIVERS_PER_TRIP)), "718")
    peak = max(demand(h / 10) for h in range(240))
    starts: list[float] = []
    while len(starts) < count:  # the day's rhythm by rejection
        hour = draw.uniform(0, 24)
        if draw.uniform(0, peak) < demand(hour):
            starts.append(hour)
    open_now: Counter[str] = Counter()
    ending: list[tuple[int, str]] = []
    found = []
    for hour in sorted(starts):
        start = to_us(DAY) + round(hour * 3600 * US)
        while ending and ending[0][0] <= start:
            open_now[heapq.heappop(ending)[1]] -= 1
        rider = draw.choice(riders)
        while open_now[rider] >= MOST_OPEN["rider"]:
            rider = draw.choice(riders)
        free = [d for d in drivers if open_now[d] < MOST_OPEN["driver"]]
        driver = min(draw.sample(free, min(4, len(free))), key=lambda d: open_now[d])  # a nearby, least busy one
        seconds = draw.randint(*RIDE_MINUTES) * 60
        for party in (rider, driver):
            open_now[party] += 1
            heapq.heappush(ending, (start + seconds * US, party))
        found.append(Trip(start, seconds, rider, driver))
    return found


def most_at_once(day: list[Trip]) -> dict[str, int]:
    """Return the most sessions one rider, and one driver, was in at once over the day."""
    events = sorted(
        [(t.start, 1, who, party) for t in day for who, party in (("rider", t.rider), ("driver", t.driver))]
        + [
            (t.start + t.seconds * US, -1, who, party)
            for t in day
            for who, party in (("rider", t.rider), ("driver", t.driver))
        ]
    )
    level: Counter[str] = Counter()
    most = {"rider": 0, "driver": 0}
    for _, step, who, party in events:  # an end sorts before a start at the same µs
        level[party] += step
        most[who] = max(most[who], level[party])
    return most


def needed(redis_url: str, day: list[Trip], mode: str, first_did: int) -> capacity.PoolStats:
    """Open the day's trips for a new tenant in `mode` with a pool large enough for either mode (DIDs from the
    `first_did`-th of `fixtures.did_numbers`); return its figures."""
    store = Store.connect(redis_url, PREFIX)
    auth_id = tenants.create_tenant(store, f"bench-rides-{mode}", to_us(DAY)).auth_id
    number_mode.set_number_settings(store, auth_id, mode)
    fixtures.add_numbers(store, auth_id, fixtures.did_numbers(pool_size(day), start=first_did), to_us(DAY))
    timed = [
        (check_create({"first_party": t.rider, "second_party": t.driver, "session_expiry": t.seconds}), t.start)
        for t in day
    ]
    fixtures.open_at(store, auth_id, timed)
    stats = capacity.pool_stats(store, auth_id, to_us(DAY) + 25 * 3600 * US, days=2)
    store.redis.close()
    return stats


def pool_size(day: list[Trip]) -> int:
    """Return a pool larger than either mode needs for `day`: a tenth of its trips, and some."""
    return len(day) // 10 + 100


@dataclass(frozen=True)
class DayNeeds:
    """What a day of trips needed: DIDs in each mode, and the figures behind the shared one."""

    trips: int
    riders: int
    drivers: int
    most_sessions_at_once: dict[str, int]
    exclusive_dids: int  # the most sessions open at once: a DID each
    shared_dids: int  # the most DIDs in shared use at once
    shared_peak_k: int
    shared_2k_minus_1: int
    shared_peak_holdings: int
    shared_recommended: int  # 2k − 1, and a DID per parties_per_number holdings
    parties_per_number: int


def run(redis_url: str, quick: bool, first_did: int) -> DayNeeds:
    """Return what a day of trips needs in each mode. The two tenants' pools are `fixtures.did_numbers` from
    `first_did` on."""
    day = trips(TRIPS[quick])
    exclusive = needed(redis_url, day, number_mode.EXCLUSIVE, first_did)
    shared = needed(redis_url, day, number_mode.SHARED, first_did + pool_size(day))
    [country] = shared.shared
    return DayNeeds(
        trips=len(day),
        riders=len({t.rider for t in day}),
        drivers=len({t.driver for t in day}),
        most_sessions_at_once=most_at_once(day),
        exclusive_dids=exclusive.peak,
        shared_dids=country.peak_in_shared_use,
        shared_peak_k=country.peak_k,
        shared_2k_minus_1=country.numbers_required,
        shared_peak_holdings=country.peak_holdings,
        shared_recommended=country.numbers_recommended,
        parties_per_number=country.parties_per_number,
    )
