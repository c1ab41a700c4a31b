"""The pool's Lua scripts on a real Redis: allocation, cool-off, reclaim and the billing history."""

import uuid

import pytest

from routing import pool
from routing.clock import US
from routing.errors import NumberUnavailable, PoolExhausted
from routing.pool import Assignment
from routing.sessions.lifecycle import end_session, get_session, open_session, reclaim_expired, update_session
from tests.conftest import make_tenant, timed_out
from tests.sessions_helpers import credential

T0 = 1_710_000_000_123_457
US_DIDS = ["+14155550100", "+14155550101", "+14155550102"]
GB_DID = "+442079460958"
US_CALLER = {"first_party": "+14155550123", "second_party": "+14155550124"}


def free(store, auth_id, country="US"):
    return store.redis.smembers(store.keys.free(auth_id, country))


def test_numbers_are_handed_out_once_each_until_the_pool_is_exhausted(real_store):
    tenant = make_tenant(real_store)
    opened = [open_session(real_store, credential(tenant), US_CALLER, T0 + i) for i in range(3)]
    assert sorted(s.virtual_number for s in opened) == sorted(US_DIDS)
    assert free(real_store, tenant.auth_id) == set()
    with pytest.raises(PoolExhausted, match="no free virtual number in US"):
        open_session(real_store, credential(tenant), US_CALLER, T0 + 3)
    for session in opened:
        assert get_session(real_store, tenant.auth_id, session.session_uuid).virtual_number == session.virtual_number
        assert real_store.redis.hget(real_store.keys.route(tenant.auth_id, session.virtual_number), "*") == (
            session.session_uuid
        )


def test_without_geomatch_the_script_falls_back_to_another_country(real_store):
    tenant = make_tenant(real_store, dids=[US_DIDS[0], GB_DID])
    assert open_session(real_store, credential(tenant), US_CALLER, T0).virtual_number == US_DIDS[0]
    with pytest.raises(PoolExhausted):
        open_session(real_store, credential(tenant), US_CALLER, T0 + 1)
    assert (
        open_session(real_store, credential(tenant), {**US_CALLER, "geomatch": False}, T0 + 2).virtual_number == GB_DID
    )


def test_an_exhausted_pool_says_what_its_numbers_are_doing_as_in_memory(real_store):
    tenant = make_tenant(real_store, dids=[*US_DIDS, GB_DID])
    cooled = open_session(real_store, credential(tenant), {**US_CALLER, "virtual_number_cooloff_period": 60}, T0)
    end_session(real_store, tenant.auth_id, cooled.session_uuid, T0 + 1)
    held = [open_session(real_store, credential(tenant), US_CALLER, T0 + 2 + i) for i in range(2)]
    pool.set_suspended(real_store, tenant.auth_id, held[0].virtual_number, True, T0 + 4)
    with pytest.raises(PoolExhausted) as caught:
        open_session(real_store, credential(tenant), US_CALLER, T0 + 5)
    assert caught.value.message == (
        "no free virtual number in US: the pool's 3 numbers in US are in use (1), cooling off (1) or suspended (1); "
        "set geomatch to false to take a free number from GB"
    )
    with pytest.raises(PoolExhausted, match="the pool has no number in DE, and geomatch"):
        open_session(real_store, credential(tenant), {**US_CALLER, "first_party": "+4915123456789"}, T0 + 6)


def test_a_wanted_number_is_refused_for_the_same_reasons_as_in_memory(real_store):
    tenant = make_tenant(real_store, dids=[*US_DIDS, GB_DID])
    cooled = open_session(
        real_store,
        credential(tenant),
        {**US_CALLER, "virtual_number_cooloff_period": 600},
        T0,
        wanted_number=US_DIDS[0],
    )
    end_session(real_store, tenant.auth_id, cooled.session_uuid, T0 + US)
    open_session(real_store, credential(tenant), US_CALLER, T0 + 2 * US, wanted_number=US_DIDS[1])
    pool.set_suspended(real_store, tenant.auth_id, US_DIDS[2], True, T0 + 3 * US)
    refusals = {
        US_DIDS[0]: "was released recently and is cooling off",
        US_DIDS[1]: "already carries an open session",
        US_DIDS[2]: "is suspended",
        "+14155559999": "is not in this account's pool",
        GB_DID: "is not in the first party's country (geomatch is on)",
    }
    for number, reason in refusals.items():
        with pytest.raises(NumberUnavailable) as caught:
            open_session(real_store, credential(tenant), US_CALLER, T0 + 4 * US, wanted_number=number)
        assert caught.value.message == f"{number} {reason}"
    assert free(real_store, tenant.auth_id, "GB") == {GB_DID}


def test_a_cooloff_ends_exactly_on_its_microsecond(real_store):
    tenant = make_tenant(real_store, dids=[US_DIDS[0]])
    session = open_session(real_store, credential(tenant), {**US_CALLER, "virtual_number_cooloff_period": 300}, T0)
    ended_at = T0 + 7 * US + 1
    end_session(real_store, tenant.auth_id, session.session_uuid, ended_at)
    assert real_store.redis.zscore(real_store.keys.cooling(tenant.auth_id), US_DIDS[0]) == ended_at + 300 * US
    with pytest.raises(PoolExhausted):
        open_session(real_store, credential(tenant), US_CALLER, ended_at + 300 * US - 1)
    assert open_session(real_store, credential(tenant), US_CALLER, ended_at + 300 * US).virtual_number == US_DIDS[0]


def test_a_suspended_number_stays_out_through_its_cooloff_until_resumed(real_store):
    tenant = make_tenant(real_store, dids=[US_DIDS[0]])
    session = open_session(real_store, credential(tenant), {**US_CALLER, "virtual_number_cooloff_period": 60}, T0)
    pool.set_suspended(real_store, tenant.auth_id, US_DIDS[0], True, T0 + US)
    end_session(real_store, tenant.auth_id, session.session_uuid, T0 + 2 * US)
    with pytest.raises(PoolExhausted):
        open_session(real_store, credential(tenant), US_CALLER, T0 + 3600 * US)
    pool.set_suspended(real_store, tenant.auth_id, US_DIDS[0], False, T0 + 3601 * US)
    assert open_session(real_store, credential(tenant), US_CALLER, T0 + 3602 * US).virtual_number == US_DIDS[0]


def test_an_expired_session_is_reclaimed_by_the_next_allocation_and_announced(real_store):
    tenant = make_tenant(real_store, dids=[US_DIDS[0]])
    expired = open_session(real_store, credential(tenant), {**US_CALLER, "session_expiry": 60}, T0)
    with pytest.raises(PoolExhausted):
        open_session(real_store, credential(tenant), US_CALLER, T0 + 60 * US - 1)
    fresh = open_session(real_store, credential(tenant), US_CALLER, T0 + 60 * US)
    assert fresh.virtual_number == US_DIDS[0]
    assert timed_out(real_store, tenant.auth_id) == [expired.session_uuid]
    assert get_session(real_store, tenant.auth_id, expired.session_uuid).status(T0 + 60 * US) == "expired"


def test_the_sweep_reclaims_expired_sessions_and_starts_their_cooloff_at_expiry(real_store):
    tenant = make_tenant(real_store)
    short = open_session(
        real_store, credential(tenant), {**US_CALLER, "session_expiry": 60, "virtual_number_cooloff_period": 30}, T0
    )
    long = open_session(real_store, credential(tenant), {**US_CALLER, "session_expiry": 3600}, T0)
    assert reclaim_expired(real_store, tenant.auth_id, T0 + 59 * US) == 0
    assert reclaim_expired(real_store, tenant.auth_id, T0 + 80 * US) == 1
    assert real_store.redis.zscore(real_store.keys.cooling(tenant.auth_id), short.virtual_number) == T0 + 90 * US
    reclaim_expired(real_store, tenant.auth_id, T0 + 90 * US)
    assert short.virtual_number in free(real_store, tenant.auth_id)
    assert long.virtual_number not in free(real_store, tenant.auth_id)
    assert timed_out(real_store, tenant.auth_id) == [short.session_uuid]


def test_an_update_moves_the_expiry_the_sweep_goes_by(real_store):
    tenant = make_tenant(real_store, dids=[US_DIDS[0]])
    session = open_session(real_store, credential(tenant), {**US_CALLER, "session_expiry": 60}, T0)
    updated = update_session(real_store, tenant.auth_id, session.session_uuid, {"session_expiry": 600}, T0 + 50 * US)
    assert updated.expiry == T0 + 650 * US
    assert reclaim_expired(real_store, tenant.auth_id, T0 + 649 * US) == 0
    assert reclaim_expired(real_store, tenant.auth_id, T0 + 650 * US) == 1


def test_the_billing_history_keeps_every_microsecond(real_store):
    tenant = make_tenant(real_store, dids=[])
    pool.add_numbers(real_store, tenant.auth_id, [US_DIDS[0]], T0)
    pool.set_suspended(real_store, tenant.auth_id, US_DIDS[0], True, T0 + 1)
    pool.release_number(real_store, tenant.auth_id, US_DIDS[0], T0 + 2)
    assert pool.assignments(real_store, tenant.auth_id, "all") == [
        Assignment(1, US_DIDS[0], "US", T0, T0 + 2, "released")
    ]
    [record] = pool.assignments(real_store, tenant.auth_id, "all")
    assert type(record.assigned_at) is int and type(record.released_at) is int


def _allocation_commands(store, tenant):
    """Return the commands the allocation script runs inside Redis on this test's keys, as MONITOR sees them."""
    done = f"done-{uuid.uuid4()}"
    with store.redis.monitor() as monitor:
        open_session(store, credential(tenant), US_CALLER, T0)
        store.redis.echo(done)
        seen = []
        while done not in (command := monitor.next_command())["command"]:
            # MONITOR shows every client of the server, other test runs' scripts too: keep those on our keys.
            if command["client_type"] == "lua" and store.keys.prefix in command["command"]:
                seen.append(command["command"].split()[0].upper())
    return seen


def test_allocating_from_a_thousand_numbers_takes_the_same_steps_as_from_three(real_store):
    small = make_tenant(real_store)
    big = make_tenant(real_store, dids=[f"+1415556{i:04d}" for i in range(1000)], name="big")
    free_key = real_store.keys.free(big.auth_id, "US")
    assert real_store.redis.scard(free_key) == 1000
    steps = _allocation_commands(real_store, big)
    assert steps == _allocation_commands(real_store, small)
    # One random free DID looked at (SRANDMEMBER is O(1)), then taken out of the set: no scan of the set.
    assert steps.count("SRANDMEMBER") == 1 and steps.count("SREM") == 1
    assert not {"SMEMBERS", "SSCAN", "SCAN", "KEYS", "SPOP", "SINTER", "SDIFF"} & set(steps)
    assert real_store.redis.scard(free_key) == 999
