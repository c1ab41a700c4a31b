"""What shared sessions need of a pool (routing/shared_capacity.py), and how the pool report warns of it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from routing import capacity, pool
from routing.clock import from_us, now_us, to_us
from routing.errors import PoolExhausted
from routing.sessions import lifecycle
from routing.shared_capacity import SharedCountry
from tests.sessions_helpers import credential
from tests.shared_helpers import dids, people, shared_tenant

NOW = now_us()


def country(parties_per_number: int, peak_holdings: int, peak_k: int = 1) -> SharedCountry:
    return SharedCountry(
        country="US",
        numbers=0,
        in_shared_use=0,
        peak_in_shared_use=0,
        largest_k=peak_k,
        peak_k=peak_k,
        holdings=peak_holdings,
        peak_holdings=peak_holdings,
        busiest=(),
        parties_per_number=parties_per_number,
    )


@pytest.mark.parametrize(
    ("cap", "holdings", "full_at", "recommended"),
    [(2, 6, 2, 1 + 3), (3, 6, 2, 1 + 3), (4, 8, 4, 1 + 2), (5, 8, 4, 1 + 2), (5, 7, 4, 1 + 1), (101, 200, 100, 1 + 2)],
)
def test_a_full_did_holds_the_largest_even_number_of_parties_under_the_cap(cap, holdings, full_at, recommended):
    shared = country(cap, holdings)
    assert shared.parties_when_full == full_at
    assert shared.numbers_recommended == recommended


def fill(store, tenant, count: int) -> int:
    """Open sessions of distinct pairs until the pool refuses one; return how many opened."""
    people_ = people(2 * count + 2)
    for i in range(count + 1):
        request = {"first_party": people_[2 * i], "second_party": people_[2 * i + 1]}
        try:
            lifecycle.open_session(store, credential(tenant), request, NOW + i)
        except PoolExhausted:
            return i
    raise AssertionError(f"the pool took {count + 1} sessions")


@pytest.mark.parametrize(("cap", "numbers"), [(2, 3), (3, 3), (4, 2), (5, 2), (7, 2)])
def test_a_pool_that_ran_out_is_always_recommended_more_numbers_than_it_has(store, cap, numbers):
    tenant = shared_tenant(store, dids(numbers), parties_per_number=cap)

    opened = fill(store, tenant, numbers * cap // 2)
    stats = capacity.pool_stats(store, tenant.auth_id, NOW + 100)

    [us] = stats.shared
    assert opened == numbers * (cap // 2)
    assert us.numbers_recommended == numbers + 1
    assert us.short_by == 1
    assert stats.recommended_size >= numbers + 1
    assert f"US has {numbers} DIDs, 1 fewer than its shared sessions need" in (stats.warning or "")


def test_a_cap_of_three_holds_one_pair_a_did_and_the_report_says_so(store):
    tenant = shared_tenant(store, dids(3), parties_per_number=3)

    assert fill(store, tenant, 3) == 3
    stats = capacity.pool_stats(store, tenant.auth_id, NOW + 100)

    [us] = stats.shared
    assert (us.peak_k, us.numbers_required, us.peak_holdings, us.numbers_recommended) == (1, 1, 6, 4)
    assert stats.recommended_size == 4
    assert "3 for the DIDs full at 2 parties under the cap of 3" in (stats.warning or "")


# -- the warning and the DIDs in use ----------------------------------------------------------------------------------
DAY = datetime(2026, 11, 23, tzinfo=UTC)


def at(hour: int, minute: int = 0) -> int:
    """Return a moment of 2026-11-23 in µs."""
    return to_us(DAY + timedelta(hours=hour, minutes=minute)) + 123_457


def hourly(peaks) -> list[tuple[int, int]]:
    """Return hourly peaks as (hour of the day, peak)."""
    return [(from_us(p.hour).hour, p.peak) for p in peaks]


def open_pair(store, tenant, first, second, now, **fields):
    request = {"first_party": first, "second_party": second, "session_expiry": 86_400, **fields}
    return lifecycle.open_session(store, credential(tenant), request, now)


def test_a_pool_whose_dids_are_all_in_use_warns_whether_or_not_sessions_share_them(store):
    tenant = shared_tenant(store, dids(4))
    crowd = people(10)
    for i in range(3):
        open_pair(store, tenant, crowd[2 * i], crowd[2 * i + 1], NOW + i, number_mode="exclusive")
    open_pair(store, tenant, crowd[6], crowd[7], NOW + 5)

    stats = capacity.pool_stats(store, tenant.auth_id, NOW + 10)

    assert (stats.size, stats.in_use, stats.free, stats.peak_in_use, stats.recommended_size) == (4, 4, 0, 4, 6)
    assert stats.warning == "the peak of 4 DIDs in use is 100 % of the pool's 4 DIDs; recommended size 6"
    with pytest.raises(PoolExhausted):
        open_pair(store, tenant, crowd[8], crowd[9], NOW + 11, number_mode="exclusive")


def test_many_sessions_sharing_few_dids_are_not_a_hot_pool(store):
    tenant = shared_tenant(store, dids(10))
    crowd = people(20)
    for i in range(10):
        open_pair(store, tenant, crowd[2 * i], crowd[2 * i + 1], NOW + i)

    stats = capacity.pool_stats(store, tenant.auth_id, NOW + 20)

    assert (stats.peak, stats.in_use, stats.peak_in_use) == (10, 1, 1)
    assert stats.warning is None


def test_the_hourly_dids_in_use_follow_dids_not_sessions(store):
    tenant = shared_tenant(store, dids(4))
    crowd = people(8)
    shared = [open_pair(store, tenant, crowd[2 * i], crowd[2 * i + 1], at(10, i)) for i in range(3)]
    exclusive = open_pair(store, tenant, crowd[6], crowd[7], at(10, 5), number_mode="exclusive")
    for session in shared:
        lifecycle.end_session(store, tenant.auth_id, session.session_uuid, at(11))
    lifecycle.end_session(store, tenant.auth_id, exclusive.session_uuid, at(13))

    stats = capacity.pool_stats(store, tenant.auth_id, at(14), days=1)

    # Hour 13 counts the exclusive session that ended in it.
    assert hourly(stats.hourly_in_use) == [(10, 2), (11, 2), (12, 1), (13, 1)]
    assert hourly(stats.hourly_peaks) == [(10, 4), (11, 4), (12, 1), (13, 1)]
    assert (stats.peak_in_use, stats.peak, stats.in_use) == (2, 4, 0)


def test_a_suspended_shared_did_leaves_the_dids_in_use_and_comes_back_when_resumed(store):
    tenant = shared_tenant(store, dids(2))
    crowd = people(4)
    session = open_pair(store, tenant, crowd[0], crowd[1], at(10))
    pool.set_suspended(store, tenant.auth_id, session.virtual_number, True, at(11))
    pool.set_suspended(store, tenant.auth_id, session.virtual_number, False, at(13))

    stats = capacity.pool_stats(store, tenant.auth_id, at(14, 30), days=1)

    # Suspended from 11:00 to 13:00: out of use for the whole of hour 12.
    assert hourly(stats.hourly_in_use) == [(10, 1), (11, 1), (13, 1), (14, 1)]
