"""What shared sessions need of a pool (routing/shared_capacity.py), and how the pool report warns of it."""

from __future__ import annotations

import pytest

from routing import capacity
from routing.clock import now_us
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
