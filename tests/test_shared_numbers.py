"""Shared virtual numbers: how sessions take, share, give back and are refused DIDs (routing/lua/shared.lua)."""

from __future__ import annotations

import random
import re

import pytest

from routing import capacity, metrics, number_mode, pool
from routing.clock import US, now_us
from routing.errors import Conflict, InvalidInput, NumberUnavailable, PinUnavailable, PoolExhausted
from routing.sessions import lifecycle
from routing.sessions.session import Session
from tests.conftest import make_tenant
from tests.sessions_helpers import credential
from tests.shared_helpers import check_shared_state, dids, people, shared_tenant

A, B, C, D, E = people(5)
NOW = now_us()
PINS = {"is_pin_authentication_required": True, "pin_prompt_play": "https://cdn.example.com/pin.mp3"}


def open_pair(store, tenant, first, second, now=NOW, **fields) -> Session:
    request = {"first_party": first, "second_party": second, **fields}
    return lifecycle.open_session(store, credential(tenant), request, now)


def open_on(store, tenant, number, first, second, now=NOW, **fields) -> Session:
    request = {"first_party": first, "second_party": second, **fields}
    return lifecycle.open_session(store, credential(tenant), request, now, wanted_number=number)


def end(store, tenant, session, now=NOW):
    return lifecycle.end_session(store, tenant.auth_id, session.session_uuid, now)


# -- the mode ---------------------------------------------------------------------------------------------
def test_sessions_are_exclusive_unless_the_tenant_or_the_request_says_shared(store, tenant):
    first = open_pair(store, tenant, A, B)
    second = open_pair(store, tenant, C, D)
    asked = open_pair(store, tenant, A, C, number_mode="shared")

    assert (first.number_mode, second.number_mode, asked.number_mode) == ("exclusive", "exclusive", "shared")
    assert first.virtual_number != second.virtual_number
    assert asked.virtual_number not in (first.virtual_number, second.virtual_number)


def test_a_shared_tenants_sessions_of_different_people_share_one_did(store):
    tenant = shared_tenant(store, dids(3))

    sessions = [open_pair(store, tenant, *pair) for pair in [(A, B), (C, D), (E, people(1, 9)[0])]]

    assert {s.virtual_number for s in sessions} == {sessions[0].virtual_number}
    assert all(s.number_mode == "shared" for s in sessions)
    check_shared_state(store, tenant.auth_id, NOW)


def test_a_request_may_ask_a_shared_tenant_for_an_exclusive_number(store):
    tenant = shared_tenant(store, dids(3))
    shared = open_pair(store, tenant, A, B)

    exclusive = open_pair(store, tenant, C, D, number_mode="exclusive")

    assert exclusive.number_mode == "exclusive" and exclusive.virtual_number != shared.virtual_number
    assert open_pair(store, tenant, E, people(1, 9)[0]).virtual_number == shared.virtual_number
    check_shared_state(store, tenant.auth_id, NOW)


def test_a_single_party_session_of_a_shared_tenant_has_a_number_of_its_own(store):
    tenant = shared_tenant(store, dids(2))
    shared = open_pair(store, tenant, A, B)

    single = lifecycle.open_session(
        store, credential(tenant), {"first_party": C, "create_session_with_single_party": True}, NOW
    )

    assert single.number_mode == "exclusive" and single.virtual_number != shared.virtual_number


def test_shared_asked_for_a_single_party_session_is_refused_naming_the_field(store, tenant):
    with pytest.raises(InvalidInput) as caught:
        lifecycle.open_session(
            store,
            credential(tenant),
            {"first_party": A, "create_session_with_single_party": True, "number_mode": "shared"},
            NOW,
        )
    assert caught.value.field == "number_mode"


@pytest.mark.parametrize("mode", ["dedicated", "both", "", 1])
def test_a_number_mode_that_is_not_exclusive_or_shared_names_the_field(store, tenant, mode):
    with pytest.raises(InvalidInput) as caught:
        open_pair(store, tenant, A, B, number_mode=mode)
    assert caught.value.field == "number_mode"


def test_the_tenants_settings_are_checked_and_kept(store, tenant):
    assert number_mode.number_settings(store, tenant.auth_id) == number_mode.NumberSettings("exclusive", 100)
    with pytest.raises(InvalidInput) as caught:
        number_mode.set_number_settings(store, tenant.auth_id, "dedicated")
    assert caught.value.field == "number_mode"
    with pytest.raises(InvalidInput) as caught:
        number_mode.set_number_settings(store, tenant.auth_id, parties_per_number=1)
    assert caught.value.field == "parties_per_number"

    settings = number_mode.set_number_settings(store, tenant.auth_id, "shared", 10)

    assert settings == number_mode.NumberSettings("shared", 10) == number_mode.number_settings(store, tenant.auth_id)


# -- choosing the DID ---------------------------------------------------------------------------------------
def test_one_person_never_holds_one_did_twice(store):
    tenant = shared_tenant(store, dids(4))

    sessions = [open_pair(store, tenant, A, other) for other in (B, C, D, E)]

    assert len({s.virtual_number for s in sessions}) == 4
    check_shared_state(store, tenant.auth_id, NOW)


def test_the_fullest_did_with_room_is_taken_so_that_free_dids_stay_free(store):
    tenant = shared_tenant(store, dids(3))
    open_pair(store, tenant, A, B)
    open_pair(store, tenant, A, C)  # A holds the first: a second DID comes into use, the third stays free
    fuller = open_pair(store, tenant, *people(2, 20))

    fresh = open_pair(store, tenant, D, E)

    assert fresh.virtual_number == fuller.virtual_number
    assert store.redis.zscore(store.keys.shared(tenant.auth_id, "US"), fresh.virtual_number) == 6
    assert store.redis.scard(store.keys.free(tenant.auth_id, "US")) == 1


def test_the_cap_of_parties_per_did_spreads_the_load(store):
    tenant = shared_tenant(store, dids(3), parties_per_number=4)
    many = people(12, 30)

    sessions = [open_pair(store, tenant, many[i], many[i + 1]) for i in range(0, 12, 2)]

    used = [s.virtual_number for s in sessions]
    assert sorted(used.count(number) for number in set(used)) == [2, 2, 2]
    check_shared_state(store, tenant.auth_id, NOW)


def test_a_pair_gets_its_previous_did_again_when_both_may_take_it(store):
    old, fuller, _ = numbers = dids(3)
    tenant = shared_tenant(store, numbers)
    end(store, tenant, open_on(store, tenant, old, A, B), NOW + 1)  # the DID is free again
    open_on(store, tenant, fuller, C, D, NOW + 2)
    open_on(store, tenant, fuller, E, people(1, 9)[0], NOW + 3)

    again = open_pair(store, tenant, B, A, NOW + 4)
    other = open_pair(store, tenant, *people(2, 40), NOW + 5)

    assert again.virtual_number == old  # not the fullest, which a pair with no past would take
    assert other.virtual_number == fuller
    check_shared_state(store, tenant.auth_id, NOW + 5)


def ended_with_cooloff(store, tenant, seconds) -> Session:
    """Open a session of A and B with a cool-off of `seconds`, end it at NOW + 1, and return it."""
    session = open_pair(store, tenant, A, B, virtual_number_cooloff_period=seconds)
    end(store, tenant, session, NOW + 1)
    return session


def test_a_pair_takes_its_own_cooling_did_again_at_once(store):
    tenant = shared_tenant(store, dids(3))
    first = ended_with_cooloff(store, tenant, 600)

    again = open_pair(store, tenant, A, B, NOW + 2)

    assert again.virtual_number == first.virtual_number
    route = store.redis.hgetall(store.keys.route(tenant.auth_id, again.virtual_number))
    assert (route[A], route[B]) == (again.session_uuid, again.session_uuid)
    check_shared_state(store, tenant.auth_id, NOW + 2)


def test_a_cooling_holding_keeps_the_person_off_the_did_until_the_cool_off_ends(store):
    tenant = shared_tenant(store, dids(2))
    first = ended_with_cooloff(store, tenant, 60)

    during = open_pair(store, tenant, A, C, NOW + 2)
    with pytest.raises(NumberUnavailable, match="already first_party's"):
        open_on(store, tenant, first.virtual_number, B, D, NOW + 3)
    check_shared_state(store, tenant.auth_id, NOW + 3)
    after = open_on(store, tenant, first.virtual_number, B, D, NOW + 1 + 60 * US)

    assert during.virtual_number != first.virtual_number
    assert after.virtual_number == first.virtual_number
    check_shared_state(store, tenant.auth_id, NOW + 1 + 60 * US)


def test_a_did_no_one_holds_any_more_goes_back_to_the_pool_for_either_mode(store):
    tenant = shared_tenant(store, dids(1))
    shared = open_pair(store, tenant, A, B, virtual_number_cooloff_period=30)
    end(store, tenant, shared, NOW + 1)
    with pytest.raises(PoolExhausted):
        open_pair(store, tenant, C, D, NOW + 2, number_mode="exclusive")

    lifecycle.reclaim_expired(store, tenant.auth_id, NOW + 31 * US)
    exclusive = open_pair(store, tenant, C, D, NOW + 31 * US, number_mode="exclusive")

    assert exclusive.virtual_number == shared.virtual_number
    assert store.redis.exists(store.keys.shared(tenant.auth_id, "US"), store.keys.held(tenant.auth_id, A)) == 0
    check_shared_state(store, tenant.auth_id, NOW + 31 * US)


def test_an_exclusive_did_is_never_shared_while_it_carries_its_session(store):
    tenant = shared_tenant(store, dids(2))
    exclusive = open_pair(store, tenant, A, B, number_mode="exclusive")

    shared = open_pair(store, tenant, C, D)

    assert shared.virtual_number != exclusive.virtual_number
    with pytest.raises(PoolExhausted):
        open_pair(store, tenant, C, E)


def test_a_session_that_expires_gives_its_holdings_back(store):
    tenant = shared_tenant(store, dids(2))
    session = open_pair(store, tenant, A, B, session_expiry=60)

    assert lifecycle.reclaim_expired(store, tenant.auth_id, NOW + 61 * US) == 1

    assert store.redis.hgetall(store.keys.route(tenant.auth_id, session.virtual_number)) == {}
    assert store.redis.sismember(store.keys.free(tenant.auth_id, "US"), session.virtual_number)
    check_shared_state(store, tenant.auth_id, NOW + 61 * US)


# -- asking for a DID by number -------------------------------------------------------------------------------
def test_a_did_asked_for_is_refused_only_when_a_party_holds_it(store):
    tenant = shared_tenant(store, dids(2))
    held = open_pair(store, tenant, A, B)

    joined = lifecycle.open_session(
        store, credential(tenant), {"first_party": C, "second_party": D}, NOW, wanted_number=held.virtual_number
    )
    with pytest.raises(NumberUnavailable, match="already second_party's in another session"):
        lifecycle.open_session(
            store, credential(tenant), {"first_party": E, "second_party": B}, NOW, wanted_number=held.virtual_number
        )

    assert joined.virtual_number == held.virtual_number


def test_a_shared_did_asked_for_by_an_exclusive_session_is_taken(store):
    tenant = shared_tenant(store, dids(2))
    held = open_pair(store, tenant, A, B)

    with pytest.raises(NumberUnavailable, match="already carries an open session"):
        lifecycle.open_session(
            store,
            credential(tenant),
            {"first_party": C, "second_party": D, "number_mode": "exclusive"},
            NOW,
            wanted_number=held.virtual_number,
        )


def test_an_exclusive_session_asking_for_a_did_that_only_cools_off_after_shared_sessions_is_told_so(store):
    tenant = shared_tenant(store, dids(2))
    session = open_pair(store, tenant, A, B, virtual_number_cooloff_period=600)
    end(store, tenant, session, NOW + 1)

    with pytest.raises(NumberUnavailable) as refused:
        open_on(store, tenant, session.virtual_number, C, D, NOW + 2, number_mode="exclusive")

    assert refused.value.message == (
        f"{session.virtual_number} is cooling off: parties of shared sessions that ended on it recently still hold it"
    )
    assert open_on(store, tenant, session.virtual_number, C, D, NOW + 3).virtual_number == session.virtual_number
    check_shared_state(store, tenant.auth_id, NOW + 3)


# -- running out -------------------------------------------------------------------------------------------------
SIZING = (
    "a party holds a number while a session of theirs on it is open or cooling off, so someone in k sessions at once "
    "needs 2k − 1 numbers to share"
)


def refusal(store, tenant, first, second, now=NOW, **fields) -> str:
    with pytest.raises(PoolExhausted) as caught:
        open_pair(store, tenant, first, second, now, **fields)
    return caught.value.message


@pytest.mark.parametrize(
    ("pairs", "asked", "head", "states"),
    [
        # A holds both DIDs: no DID is left for A, whichever party A is.
        ([(A, B), (A, C)], (A, D), "left for first_party", "already first_party's (2)"),
        ([(A, B), (A, C)], (D, A), "left for second_party", "already second_party's (2)"),
        # B holds one DID, C the other: each could take the other's, but no DID is free of both.
        (
            [(A, B), (A, C)],
            (B, C),
            "that both parties can take",
            "already first_party's (1) or already second_party's (1)",
        ),
        # A, B, C and D all hold the first DID, A and D the other: the first counts once, as both parties'.
        (
            [(A, C), (B, D), (A, D)],
            (A, B),
            "left for first_party",
            "already first_party's (1) or already both parties' (1)",
        ),
    ],
)
def test_exhaustion_by_the_parties_own_holdings_names_the_party_left_without_a_did(store, pairs, asked, head, states):
    tenant = shared_tenant(store, dids(2))
    for first, second in pairs:
        open_pair(store, tenant, first, second)

    assert refusal(store, tenant, *asked) == (
        f"no virtual number in US {head}: the pool's 2 numbers in US are {states}; {SIZING}; add numbers"
    )


def test_full_dids_are_counted_when_the_pool_runs_out(store):
    tenant = shared_tenant(store, dids(1), parties_per_number=2)
    open_pair(store, tenant, A, B)

    assert refusal(store, tenant, C, D) == (
        "no free virtual number in US: the pool's 1 number in US is full (1); a full number has no room for two more "
        "parties under the cap of 2; add numbers"
    )


def test_an_odd_cap_is_not_said_to_be_the_parties_of_a_full_did(store):
    tenant = shared_tenant(store, dids(3), parties_per_number=3)
    for first, second in [(A, B), (C, D), (E, people(1, 9)[0])]:
        open_pair(store, tenant, first, second)

    assert refusal(store, tenant, *people(2, 20)) == (
        "no free virtual number in US: the pool's 3 numbers in US are full (3); a full number has no room for two more "
        "parties under the cap of 3; add numbers"
    )


def test_dids_taken_by_exclusive_sessions_are_in_use_not_the_parties_fault(store):
    tenant = shared_tenant(store, dids(2))
    for first, second in [(A, B), (C, D)]:
        open_pair(store, tenant, first, second, number_mode="exclusive")

    assert (
        refusal(store, tenant, E, people(1, 9)[0])
        == "no free virtual number in US: the pool's 2 numbers in US are in use (2)"
    )


def test_a_pool_whose_only_did_is_suspended_says_so_in_either_mode(store):
    tenant = shared_tenant(store, dids(1))
    pool.set_suspended(store, tenant.auth_id, dids(1)[0], True, NOW)

    said = "no free virtual number in US: the pool's 1 number in US is suspended (1)"
    assert refusal(store, tenant, A, B) == said
    assert refusal(store, tenant, A, B, number_mode="exclusive") == said


def test_a_first_party_in_a_country_without_dids_is_offered_geomatch_off_as_in_exclusive_mode(store):
    tenant = shared_tenant(store, dids(1))
    london = "+442071838751"

    assert refusal(store, tenant, london, B) == (
        "no virtual number in GB: the pool has no number in GB, and geomatch asks for one in first_party's country; "
        "add one, or set geomatch to false to take a number from US"
    )
    assert open_pair(store, tenant, london, B, geomatch=False).virtual_number == dids(1)[0]


def test_a_country_whose_dids_the_pair_cannot_take_offers_another_where_they_can(store):
    tenant = shared_tenant(store, [*dids(1), "+442071838000"])
    open_pair(store, tenant, A, B)

    assert refusal(store, tenant, A, C) == (
        "no virtual number in US left for first_party: the pool's 1 number in US is already first_party's (1); "
        f"{SIZING}; add numbers, or set geomatch to false to take a number from GB"
    )


def test_every_did_is_counted_once_whatever_the_pool_went_through(store):
    tenant = shared_tenant(store, dids(4), parties_per_number=6)
    pool.set_suspended(store, tenant.auth_id, dids(4)[3], True, NOW)
    rnd = random.Random(5)
    crowd = people(12)
    said = []
    for i in range(300):
        fields = {"virtual_number_cooloff_period": rnd.choice([0, 600]), "geomatch": rnd.random() < 0.8}
        if rnd.random() < 0.15:
            fields["number_mode"] = "exclusive"
        try:
            session = open_pair(store, tenant, *rnd.sample(crowd, 2), NOW + i, **fields)
        except PoolExhausted as refused:
            said.append(refused.message)
            continue
        if rnd.random() < 0.4:
            end(store, tenant, session, NOW + i)

    assert len(said) > 100
    for message in said:
        held, states = re.search(r"the pool's (\d+) numbers? (?:in US )?(?:is|are) ([^;]*)", message).groups()
        assert sum(int(n) for n in re.findall(r"\((\d+)\)", states)) == int(held), message
        assert "suspended (1)" in states, message
        names_a_party = "left for" in message or "both parties can take" in message
        assert names_a_party == bool(re.search(r"already (first_party|second_party|both)", states)), message


# -- PINs ---------------------------------------------------------------------------------------------------------
def test_generated_pins_never_repeat_on_one_did(store):
    tenant = shared_tenant(store, dids(1))
    many = people(40, 50)

    sessions = [
        open_pair(store, tenant, many[i], many[i + 1], generate_pin=True, generate_pin_length=4, **PINS)
        for i in range(0, 40, 2)
    ]

    pins = [p for s in sessions for p in (s.first_party_pin, s.second_party_pin)]
    assert len(set(pins)) == 40
    for session in sessions:
        stored = lifecycle.get_session(store, tenant.auth_id, session.session_uuid)
        assert stored == session  # the PINs answered are the PINs kept
    check_shared_state(store, tenant.auth_id, NOW)


def test_a_generated_pin_that_is_taken_moves_to_a_free_one(store, monkeypatch):
    tenant = shared_tenant(store, dids(1))
    drawn = iter(["1234", "1235", "1235", "1234"])  # the second session draws the first one's PINs
    monkeypatch.setattr("routing.sessions.options.random_pin", lambda length: next(drawn))
    first = open_pair(store, tenant, A, B, generate_pin=True, **PINS)

    second = open_pair(store, tenant, C, D, generate_pin=True, **PINS)

    assert (first.first_party_pin, first.second_party_pin) == ("1234", "1235")
    assert (second.first_party_pin, second.second_party_pin) == ("1236", "1237")


def test_a_given_pin_that_a_session_on_the_did_has_is_a_conflict_naming_the_field(store):
    tenant = shared_tenant(store, dids(1))
    open_pair(store, tenant, A, B, first_party_pin="1111", second_party_pin="2222", **PINS)

    with pytest.raises(PinUnavailable) as caught:
        open_pair(store, tenant, C, D, first_party_pin="3333", second_party_pin="1111", **PINS)

    assert caught.value.field == "second_party_pin"


def test_a_given_pin_steers_the_session_to_a_did_where_it_is_free(store):
    tenant = shared_tenant(store, dids(2))
    taken = open_pair(store, tenant, A, B, first_party_pin="1111", second_party_pin="2222", **PINS)

    other = open_pair(store, tenant, C, D, first_party_pin="1111", second_party_pin="3333", **PINS)

    assert other.virtual_number != taken.virtual_number
    check_shared_state(store, tenant.auth_id, NOW)


def test_the_pin_of_a_cooling_session_stays_taken(store):
    tenant = shared_tenant(store, dids(1))
    old = open_pair(
        store, tenant, A, B, first_party_pin="1111", second_party_pin="2222", virtual_number_cooloff_period=60, **PINS
    )
    end(store, tenant, old, NOW + 1)

    with pytest.raises(PinUnavailable):
        open_pair(store, tenant, C, D, NOW + 2, first_party_pin="2222", second_party_pin="3333", **PINS)


# -- the pool ------------------------------------------------------------------------------------------------------
def test_a_shared_did_is_in_use_while_any_party_holds_it(store):
    tenant = shared_tenant(store, dids(2))
    session = open_pair(store, tenant, A, B)

    states = {n.number: (n.state, n.parties) for n in pool.pool_numbers(store, tenant.auth_id)}

    assert states[session.virtual_number] == (pool.IN_USE, 2)


@pytest.mark.parametrize(
    ("another_open", "state", "in_use", "cooling"), [(False, pool.COOLING, 0, 1), (True, pool.IN_USE, 1, 0)]
)
def test_a_shared_did_is_in_use_while_a_session_is_open_on_it_and_cools_off_after_in_every_count(
    store, another_open, state, in_use, cooling
):
    tenant = shared_tenant(store, dids(2))
    ended = open_pair(store, tenant, A, B, virtual_number_cooloff_period=600)
    if another_open:
        open_pair(store, tenant, C, D, NOW + 1)
    end(store, tenant, ended, NOW + 2)

    states = {n.number: n.state for n in pool.pool_numbers(store, tenant.auth_id)}
    stats = capacity.pool_stats(store, tenant.auth_id, NOW + 3)

    assert states[ended.virtual_number] == state
    assert (stats.in_use, stats.cooling, stats.free) == (in_use, cooling, 1)
    assert metrics.gather(store, NOW + 3).pool == {"free": 1, "in_use": in_use, "cooling": cooling, "suspended": 0}
    check_shared_state(store, tenant.auth_id, NOW + 3)


def test_a_suspended_shared_did_counts_as_suspended_only_until_it_is_resumed(store):
    tenant = shared_tenant(store, dids(2))
    session = open_pair(store, tenant, A, B)
    pool.set_suspended(store, tenant.auth_id, session.virtual_number, True, NOW + 1)
    during = capacity.pool_stats(store, tenant.auth_id, NOW + 2)
    check_shared_state(store, tenant.auth_id, NOW + 2)
    pool.set_suspended(store, tenant.auth_id, session.virtual_number, False, NOW + 3)
    after = capacity.pool_stats(store, tenant.auth_id, NOW + 4)

    assert (during.in_use, during.cooling, during.suspended) == (0, 0, 1)
    assert (after.in_use, after.cooling, after.suspended) == (1, 0, 0)
    check_shared_state(store, tenant.auth_id, NOW + 4)


def test_a_shared_did_with_an_open_session_cannot_be_released(store):
    tenant = shared_tenant(store, dids(2))
    session = open_pair(store, tenant, A, B)

    with pytest.raises(Conflict, match="carries open shared sessions; complete them first"):
        pool.release_number(store, tenant.auth_id, session.virtual_number, NOW)


def test_releasing_a_cooling_shared_did_ends_its_holdings_and_closes_its_assignment(store):
    tenant = shared_tenant(store, dids(2))
    session = open_pair(store, tenant, A, B, virtual_number_cooloff_period=600)
    end(store, tenant, session, NOW + 1)

    pool.release_number(store, tenant.auth_id, session.virtual_number, NOW + 2)

    assert store.redis.exists(store.keys.held(tenant.auth_id, A), store.keys.held(tenant.auth_id, B)) == 0
    released = pool.assignments(store, tenant.auth_id, "released")
    assert [(a.number, a.released_at) for a in released] == [(session.virtual_number, NOW + 2)]
    again = open_pair(store, tenant, A, B, NOW + 3)
    assert again.virtual_number != session.virtual_number
    check_shared_state(store, tenant.auth_id, NOW + 3)


def test_a_suspended_shared_did_takes_no_new_session_and_is_back_when_resumed(store):
    tenant = shared_tenant(store, dids(2))
    first = open_pair(store, tenant, A, B)
    pool.set_suspended(store, tenant.auth_id, first.virtual_number, True, NOW)

    during = open_pair(store, tenant, C, D)
    pool.set_suspended(store, tenant.auth_id, first.virtual_number, False, NOW)
    after = open_pair(store, tenant, E, people(1, 9)[0])

    assert during.virtual_number != first.virtual_number
    assert after.virtual_number in (first.virtual_number, during.virtual_number)
    check_shared_state(store, tenant.auth_id, NOW)


def test_holdings_are_kept_for_billing_as_the_did_is_held_whatever_its_sessions(store):
    tenant = shared_tenant(store, dids(1))
    open_pair(store, tenant, A, B)
    open_pair(store, tenant, C, D)

    [held] = pool.assignments(store, tenant.auth_id)

    assert (held.number, held.status, held.released_at) == (dids(1)[0], "active", None)


def test_an_exclusive_tenant_is_untouched_by_shared_bookkeeping(store):
    tenant = make_tenant(store)
    open_pair(store, tenant, A, B)

    assert not list(store.redis.scan_iter(f"{store.keys.tenant_base(tenant.auth_id)}:held:*"))
    assert store.redis.exists(store.keys.shared_figures(tenant.auth_id)) == 0
