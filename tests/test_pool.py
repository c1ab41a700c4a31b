import pytest

from routing import pool
from routing.clock import US
from routing.errors import InvalidInput, NumberUnavailable, PoolExhausted
from routing.sessions.lifecycle import end_session, get_session, open_session, reclaim_expired
from tests.conftest import make_tenant, timed_out
from tests.sessions_helpers import credential

T0 = 1_710_000_000_000_000
US_DIDS = ["+14155550100", "+14155550101", "+14155550102"]
GB_DID = "+442079460958"
US_CALLER = {"first_party": "+14155550123", "second_party": "+14155550124"}
GB_CALLER = {"first_party": "+442079460001", "second_party": "+442079460002"}
DE_CALLER = {"first_party": "+4915123456789", "second_party": "+14155550124"}


def free(store, auth_id, country="US"):
    return store.redis.smembers(store.keys.free(auth_id, country))


def cooling(store, auth_id):
    return store.redis.zrange(store.keys.cooling(auth_id), 0, -1, withscores=True)


@pytest.fixture
def one(store):
    """A tenant with a single US number."""
    return make_tenant(store, dids=[US_DIDS[0]])


@pytest.fixture
def mixed(store):
    """A tenant with one US and one GB number."""
    return make_tenant(store, dids=[US_DIDS[0], GB_DID])


# -- handing numbers out ----------------------------------------------------------------------------------
def test_a_session_gets_a_free_number_which_then_routes_to_it(store, tenant):
    session = open_session(store, credential(tenant), US_CALLER, T0)
    number = session.virtual_number
    assert number in tenant.numbers
    assert number not in free(store, tenant.auth_id)
    assert free(store, tenant.auth_id) == set(tenant.numbers) - {number}
    assert store.redis.hget(store.keys.number(tenant.auth_id, number), "session") == session.session_uuid
    assert store.redis.hget(store.keys.route(tenant.auth_id, number), "*") == session.session_uuid
    assert get_session(store, tenant.auth_id, session.session_uuid) == session


def test_no_number_is_handed_to_two_open_sessions(store, tenant):
    opened = [open_session(store, credential(tenant), US_CALLER, T0 + i) for i in range(3)]
    assert sorted(s.virtual_number for s in opened) == sorted(tenant.numbers)
    with pytest.raises(PoolExhausted):
        open_session(store, credential(tenant), US_CALLER, T0 + 3)
    assert free(store, tenant.auth_id) == set()


def test_an_exhausted_pool_changes_nothing(store, one):
    first = open_session(store, credential(one), US_CALLER, T0)
    with pytest.raises(PoolExhausted):
        open_session(store, credential(one), US_CALLER, T0 + 1)
    assert store.redis.zcard(store.keys.sessions_by_created(one.auth_id)) == 1
    assert store.redis.hget(store.keys.route(one.auth_id, US_DIDS[0]), "*") == first.session_uuid


# -- geomatch ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("caller", "expected"), [(US_CALLER, US_DIDS[0]), (GB_CALLER, GB_DID)])
def test_geomatch_takes_a_number_in_the_first_partys_country(store, mixed, caller, expected):
    assert open_session(store, credential(mixed), caller, T0).virtual_number == expected


def test_geomatch_is_on_by_default_and_fails_when_that_country_has_no_free_number(store, mixed):
    open_session(store, credential(mixed), US_CALLER, T0)
    with pytest.raises(PoolExhausted) as caught:
        open_session(store, credential(mixed), US_CALLER, T0 + 1)
    assert caught.value.message == (
        "no free virtual number in US: the pool's 1 number in US is in use (1); "
        "set geomatch to false to take a free number from GB"
    )
    assert free(store, mixed.auth_id, "GB") == {GB_DID}


def test_geomatch_in_a_country_the_pool_has_no_number_in_says_so_and_where_numbers_are_free(store, mixed):
    with pytest.raises(PoolExhausted) as caught:
        open_session(store, credential(mixed), DE_CALLER, T0)
    assert caught.value.message == (
        "no virtual number in DE: the pool has no number in DE, and geomatch asks for one in first_party's country; "
        "add one, or set geomatch to false to take a free number from GB or US"
    )
    assert "in use" not in caught.value.message


def test_with_no_free_number_anywhere_turning_geomatch_off_is_not_offered(store, one):
    open_session(store, credential(one), US_CALLER, T0)
    with pytest.raises(PoolExhausted) as caught:
        open_session(store, credential(one), DE_CALLER, T0 + 1)
    assert caught.value.message.endswith("; add one (no other country has a free number either)")
    with pytest.raises(PoolExhausted) as caught:
        open_session(store, credential(one), US_CALLER, T0 + 2)
    assert caught.value.message == "no free virtual number in US: the pool's 1 number in US is in use (1)"


def test_a_country_whose_numbers_were_all_released_has_no_number(store, mixed):
    pool.release_number(store, mixed.auth_id, GB_DID, T0)
    with pytest.raises(PoolExhausted, match="the pool has no number in GB, and geomatch"):
        open_session(store, credential(mixed), GB_CALLER, T0 + 1)
    assert store.redis.smembers(store.keys.countries(mixed.auth_id)) == {"US"}
    pool.add_numbers(store, mixed.auth_id, [GB_DID], T0 + 2)
    assert open_session(store, credential(mixed), GB_CALLER, T0 + 3).virtual_number == GB_DID


def test_adding_a_number_again_files_it_under_its_country_as_a_pool_filled_before_that_lacks(store, mixed):
    store.redis.delete(store.keys.numbers_in(mixed.auth_id, "GB"))
    pool.add_numbers(store, mixed.auth_id, [GB_DID], T0)
    open_session(store, credential(mixed), GB_CALLER, T0 + 1)
    with pytest.raises(PoolExhausted, match=r"the pool's 1 number in GB is in use \(1\)"):
        open_session(store, credential(mixed), GB_CALLER, T0 + 2)


@pytest.mark.parametrize(
    ("states", "said"),
    [
        (["in use", "in use", "in use"], "in use (3)"),
        (["cooling off", "cooling off", "cooling off"], "cooling off (3)"),
        (["suspended", "suspended", "suspended"], "suspended (3)"),
        (["in use", "cooling off", "suspended"], "in use (1), cooling off (1) or suspended (1)"),
        (["suspended in use", "suspended cooling off", "cooling off"], "cooling off (1) or suspended (2)"),
    ],
)
def test_an_exhausted_country_says_what_each_of_its_numbers_is_doing(store, tenant, states, said):
    for state in states:
        cooloff = 600 if "cooling" in state else 0
        session = open_session(store, credential(tenant), {**US_CALLER, "virtual_number_cooloff_period": cooloff}, T0)
        if "cooling" in state:
            end_session(store, tenant.auth_id, session.session_uuid, T0 + 1)
        if "suspended" in state:
            pool.set_suspended(store, tenant.auth_id, session.virtual_number, True, T0 + 2)
    with pytest.raises(PoolExhausted) as caught:
        open_session(store, credential(tenant), US_CALLER, T0 + 3)
    assert caught.value.message == f"no free virtual number in US: the pool's 3 numbers in US are {said}"


@pytest.mark.parametrize("geomatch", [False, "false"])
def test_without_geomatch_another_countrys_number_is_taken(store, mixed, geomatch):
    open_session(store, credential(mixed), US_CALLER, T0)
    session = open_session(store, credential(mixed), {**US_CALLER, "geomatch": geomatch}, T0 + 1)
    assert session.virtual_number == GB_DID
    assert session.geomatch is False


def test_without_geomatch_the_first_partys_country_is_still_preferred(store, mixed):
    for i in range(5):
        session = open_session(store, credential(mixed), {**GB_CALLER, "geomatch": False}, T0 + 2 * i)
        assert session.virtual_number == GB_DID
        end_session(store, mixed.auth_id, session.session_uuid, T0 + 2 * i + 1)


def test_without_geomatch_an_exhausted_pool_says_so_without_a_country(store, mixed):
    open_session(store, credential(mixed), US_CALLER, T0)
    open_session(store, credential(mixed), {**US_CALLER, "geomatch": False}, T0 + 1)
    with pytest.raises(PoolExhausted) as caught:
        open_session(store, credential(mixed), {**DE_CALLER, "geomatch": False}, T0 + 2)
    assert caught.value.message == "no free virtual number: the pool's 2 numbers are in use (2)"


def test_without_geomatch_a_pool_without_numbers_says_it_has_none(store):
    empty = make_tenant(store, dids=[])
    with pytest.raises(PoolExhausted) as caught:
        open_session(store, credential(empty), {**US_CALLER, "geomatch": False}, T0)
    assert caught.value.message == "no virtual number: the pool has no numbers"


# -- a specific number --------------------------------------------------------------------------------------
def test_a_wanted_number_that_is_free_is_handed_out(store, tenant):
    session = open_session(store, credential(tenant), US_CALLER, T0, wanted_number="14155550102")
    assert session.virtual_number == "+14155550102"
    assert free(store, tenant.auth_id) == {US_DIDS[0], US_DIDS[1]}


def test_a_wanted_number_already_carrying_a_session_is_unavailable(store, tenant):
    open_session(store, credential(tenant), US_CALLER, T0, wanted_number=US_DIDS[1])
    with pytest.raises(NumberUnavailable, match=r"^\+14155550101 already carries an open session$"):
        open_session(store, credential(tenant), US_CALLER, T0 + 1, wanted_number=US_DIDS[1])


def test_a_wanted_number_cooling_off_is_unavailable(store, tenant):
    session = open_session(
        store, credential(tenant), {**US_CALLER, "virtual_number_cooloff_period": 60}, T0, wanted_number=US_DIDS[1]
    )
    end_session(store, tenant.auth_id, session.session_uuid, T0 + US)
    with pytest.raises(NumberUnavailable, match=r"^\+14155550101 was released recently and is cooling off$"):
        open_session(store, credential(tenant), US_CALLER, T0 + 2 * US, wanted_number=US_DIDS[1])
    later = open_session(store, credential(tenant), US_CALLER, T0 + 61 * US, wanted_number=US_DIDS[1])
    assert later.virtual_number == US_DIDS[1]


def test_a_wanted_number_that_is_suspended_is_unavailable(store, tenant):
    pool.set_suspended(store, tenant.auth_id, US_DIDS[1], True, T0)
    with pytest.raises(NumberUnavailable, match=r"^\+14155550101 is suspended$"):
        open_session(store, credential(tenant), US_CALLER, T0 + 1, wanted_number=US_DIDS[1])


@pytest.mark.parametrize("wanted", ["+14155559999", "+442079460958"])
def test_a_wanted_number_outside_the_pool_is_unavailable(store, tenant, wanted):
    with pytest.raises(NumberUnavailable, match=r"is not in this account's pool$"):
        open_session(store, credential(tenant), US_CALLER, T0, wanted_number=wanted)


def test_a_wanted_number_released_from_the_pool_is_unavailable(store, tenant):
    pool.release_number(store, tenant.auth_id, US_DIDS[1], T0)
    with pytest.raises(NumberUnavailable, match="is not in this account's pool"):
        open_session(store, credential(tenant), US_CALLER, T0 + 1, wanted_number=US_DIDS[1])


def test_a_wanted_number_of_another_tenant_is_not_in_this_pool(store, tenant):
    other = make_tenant(store, dids=["+14155550199"], name="other")
    with pytest.raises(NumberUnavailable, match="is not in this account's pool"):
        open_session(store, credential(tenant), US_CALLER, T0, wanted_number="+14155550199")
    assert free(store, other.auth_id) == {"+14155550199"}


def test_a_wanted_number_in_another_country_is_unavailable_under_geomatch(store, mixed):
    with pytest.raises(NumberUnavailable, match=r"^\+442079460958 is not in the first party's country"):
        open_session(store, credential(mixed), US_CALLER, T0, wanted_number=GB_DID)
    assert free(store, mixed.auth_id, "GB") == {GB_DID}


def test_a_wanted_number_in_another_country_is_fine_without_geomatch(store, mixed):
    session = open_session(store, credential(mixed), {**US_CALLER, "geomatch": False}, T0, wanted_number=GB_DID)
    assert session.virtual_number == GB_DID


def test_a_wanted_number_that_is_not_a_number_is_invalid_input(store, tenant):
    with pytest.raises(InvalidInput) as caught:
        open_session(store, credential(tenant), US_CALLER, T0, wanted_number="the nice one")
    assert caught.value.field == "virtual_number"


def test_a_refused_wanted_number_leaves_the_pool_as_it_was(store, tenant):
    pool.set_suspended(store, tenant.auth_id, US_DIDS[0], True, T0)
    with pytest.raises(NumberUnavailable):
        open_session(store, credential(tenant), US_CALLER, T0 + 1, wanted_number=US_DIDS[0])
    assert free(store, tenant.auth_id) == {US_DIDS[1], US_DIDS[2]}
    assert store.redis.zcard(store.keys.sessions_by_created(tenant.auth_id)) == 0


# -- ending and cooling off -------------------------------------------------------------------------------
def test_ending_a_session_returns_its_number_at_once_without_a_cooloff(store, one):
    session = open_session(store, credential(one), US_CALLER, T0)
    end_session(store, one.auth_id, session.session_uuid, T0 + 5 * US)
    assert free(store, one.auth_id) == {US_DIDS[0]}
    assert store.redis.hget(store.keys.number(one.auth_id, US_DIDS[0]), "session") == ""
    assert store.redis.hget(store.keys.route(one.auth_id, US_DIDS[0]), "*") is None
    assert store.redis.zcard(store.keys.open_by_expiry(one.auth_id)) == 0
    assert open_session(store, credential(one), US_CALLER, T0 + 6 * US).virtual_number == US_DIDS[0]


def test_a_cooloff_keeps_a_released_number_out_until_it_has_passed(store, one):
    session = open_session(store, credential(one), {**US_CALLER, "virtual_number_cooloff_period": 300}, T0)
    ended_at = T0 + 10 * US
    end_session(store, one.auth_id, session.session_uuid, ended_at)
    assert cooling(store, one.auth_id) == [(US_DIDS[0], ended_at + 300 * US)]
    for moment in (ended_at + US, ended_at + 299 * US, ended_at + 300 * US - 1):
        with pytest.raises(PoolExhausted):
            open_session(store, credential(one), US_CALLER, moment)
    assert open_session(store, credential(one), US_CALLER, ended_at + 300 * US).virtual_number == US_DIDS[0]
    assert cooling(store, one.auth_id) == []


def test_a_cooloff_ends_for_the_sweep_as_well_as_for_the_next_session(store, one):
    session = open_session(store, credential(one), {**US_CALLER, "virtual_number_cooloff_period": 60}, T0)
    end_session(store, one.auth_id, session.session_uuid, T0)
    reclaim_expired(store, one.auth_id, T0 + 59 * US)
    assert free(store, one.auth_id) == set()
    reclaim_expired(store, one.auth_id, T0 + 60 * US)
    assert free(store, one.auth_id) == {US_DIDS[0]}


def test_other_numbers_are_handed_out_while_one_cools_off(store, tenant):
    first = open_session(store, credential(tenant), {**US_CALLER, "virtual_number_cooloff_period": 3600}, T0)
    end_session(store, tenant.auth_id, first.session_uuid, T0 + US)
    later = [open_session(store, credential(tenant), US_CALLER, T0 + (2 + i) * US) for i in range(2)]
    assert first.virtual_number not in {s.virtual_number for s in later}


# -- suspended numbers --------------------------------------------------------------------------------------
def test_a_suspended_number_is_never_handed_out_and_comes_back_when_resumed(store, tenant):
    pool.set_suspended(store, tenant.auth_id, US_DIDS[0], True, T0)
    opened = [open_session(store, credential(tenant), US_CALLER, T0 + i) for i in range(1, 3)]
    assert {s.virtual_number for s in opened} == {US_DIDS[1], US_DIDS[2]}
    with pytest.raises(PoolExhausted):
        open_session(store, credential(tenant), US_CALLER, T0 + 3)
    pool.set_suspended(store, tenant.auth_id, US_DIDS[0], False, T0 + 4)
    assert open_session(store, credential(tenant), US_CALLER, T0 + 5).virtual_number == US_DIDS[0]


def test_a_number_suspended_during_a_session_stays_out_after_it_ends(store, one):
    session = open_session(store, credential(one), {**US_CALLER, "virtual_number_cooloff_period": 60}, T0)
    pool.set_suspended(store, one.auth_id, US_DIDS[0], True, T0 + US)
    end_session(store, one.auth_id, session.session_uuid, T0 + 2 * US)
    reclaim_expired(store, one.auth_id, T0 + 3600 * US)
    with pytest.raises(PoolExhausted):
        open_session(store, credential(one), US_CALLER, T0 + 3600 * US)
    pool.set_suspended(store, one.auth_id, US_DIDS[0], False, T0 + 3601 * US)
    assert open_session(store, credential(one), US_CALLER, T0 + 3602 * US).virtual_number == US_DIDS[0]


def test_a_number_resumed_while_cooling_waits_for_its_cooloff(store, one):
    session = open_session(store, credential(one), {**US_CALLER, "virtual_number_cooloff_period": 60}, T0)
    end_session(store, one.auth_id, session.session_uuid, T0)
    pool.set_suspended(store, one.auth_id, US_DIDS[0], True, T0 + US)
    pool.set_suspended(store, one.auth_id, US_DIDS[0], False, T0 + 2 * US)
    with pytest.raises(PoolExhausted):
        open_session(store, credential(one), US_CALLER, T0 + 59 * US)
    assert open_session(store, credential(one), US_CALLER, T0 + 60 * US).virtual_number == US_DIDS[0]


# -- expiry and reclaiming ----------------------------------------------------------------------------------
def test_a_session_past_its_expiry_reads_as_expired_before_anything_reclaims_it(store, one):
    session = open_session(store, credential(one), {**US_CALLER, "session_expiry": 60}, T0)
    assert get_session(store, one.auth_id, session.session_uuid).status(T0 + 60 * US - 1) == "active"
    assert get_session(store, one.auth_id, session.session_uuid).status(T0 + 60 * US) == "expired"
    assert store.redis.hget(store.keys.number(one.auth_id, US_DIDS[0]), "session") == session.session_uuid


def test_the_next_allocation_reclaims_a_number_whose_session_expired(store, one):
    expired = open_session(store, credential(one), {**US_CALLER, "session_expiry": 60}, T0)
    with pytest.raises(PoolExhausted):
        open_session(store, credential(one), US_CALLER, T0 + 60 * US - 1)
    fresh = open_session(store, credential(one), US_CALLER, T0 + 60 * US)
    assert fresh.virtual_number == US_DIDS[0]
    assert store.redis.hget(store.keys.route(one.auth_id, US_DIDS[0]), "*") == fresh.session_uuid
    assert timed_out(store, one.auth_id) == [expired.session_uuid]


def test_reclaim_expired_ends_only_the_sessions_past_their_expiry(store, tenant):
    short = open_session(store, credential(tenant), {**US_CALLER, "session_expiry": 60}, T0)
    also_short = open_session(store, credential(tenant), {**US_CALLER, "session_expiry": 120}, T0)
    long = open_session(store, credential(tenant), {**US_CALLER, "session_expiry": 3600}, T0)
    assert reclaim_expired(store, tenant.auth_id, T0 + 59 * US) == 0
    assert reclaim_expired(store, tenant.auth_id, T0 + 120 * US) == 2
    assert reclaim_expired(store, tenant.auth_id, T0 + 121 * US) == 0
    assert timed_out(store, tenant.auth_id) == [short.session_uuid, also_short.session_uuid]
    assert free(store, tenant.auth_id) == {short.virtual_number, also_short.virtual_number}
    assert store.redis.hget(store.keys.number(tenant.auth_id, long.virtual_number), "session") == long.session_uuid


def test_reclaim_expired_honours_its_limit(store, tenant):
    for i in range(3):
        open_session(store, credential(tenant), {**US_CALLER, "session_expiry": 60}, T0 + i)
    assert reclaim_expired(store, tenant.auth_id, T0 + 3600 * US, limit=2) == 2
    assert reclaim_expired(store, tenant.auth_id, T0 + 3600 * US, limit=2) == 1
    assert len(timed_out(store, tenant.auth_id)) == 3


def test_a_session_ended_by_hand_is_not_announced_as_timed_out(store, one):
    session = open_session(store, credential(one), {**US_CALLER, "session_expiry": 60}, T0)
    end_session(store, one.auth_id, session.session_uuid, T0 + US)
    assert reclaim_expired(store, one.auth_id, T0 + 3600 * US) == 0
    assert len(timed_out(store, one.auth_id)) == 0


def test_an_expired_sessions_cooloff_counts_from_its_expiry(store, one):
    open_session(store, credential(one), {**US_CALLER, "session_expiry": 60, "virtual_number_cooloff_period": 30}, T0)
    reclaim_expired(store, one.auth_id, T0 + 80 * US)
    assert cooling(store, one.auth_id) == [(US_DIDS[0], T0 + 90 * US)]
    with pytest.raises(PoolExhausted):
        open_session(store, credential(one), US_CALLER, T0 + 90 * US - 1)
    assert open_session(store, credential(one), US_CALLER, T0 + 90 * US).virtual_number == US_DIDS[0]


# -- a large pool -----------------------------------------------------------------------------------------
def test_a_pool_of_a_thousand_numbers_gives_out_one_number_per_session(store):
    dids = [f"+1415555{i:04d}" for i in range(1000)]
    big = make_tenant(store, dids=dids)
    free_key = store.keys.free(big.auth_id, "US")
    assert store.redis.scard(free_key) == 1000
    first = open_session(store, credential(big), US_CALLER, T0)
    assert first.virtual_number in dids
    assert store.redis.scard(free_key) == 999
    second = open_session(store, credential(big), US_CALLER, T0 + 1)
    assert second.virtual_number not in {first.virtual_number}
    assert store.redis.scard(free_key) == 998
    assert store.redis.smismember(free_key, [first.virtual_number, second.virtual_number]) == [0, 0]
    busy = [n for n in dids if store.redis.hget(store.keys.number(big.auth_id, n), "session")]
    assert sorted(busy) == sorted([first.virtual_number, second.virtual_number])


# -- the pool number by number ------------------------------------------------------------------------------------
def test_each_did_of_the_pool_is_told_with_its_country_and_state(store):
    tenant = make_tenant(store, dids=[*US_DIDS, GB_DID, "+14155550103"])
    cooling_off = {**US_CALLER, "virtual_number_cooloff_period": 60}
    carrying = open_session(store, credential(tenant), cooling_off, T0, wanted_number=US_DIDS[0])
    resting = open_session(store, credential(tenant), cooling_off, T0, wanted_number=US_DIDS[1])
    end_session(store, tenant.auth_id, resting.session_uuid, T0 + US)
    pool.set_suspended(store, tenant.auth_id, "+14155550103", True, T0)

    states = {n.number: (n.country, n.state, n.session_uuid) for n in pool.pool_numbers(store, tenant.auth_id)}

    idle = set(US_DIDS) - {carrying.virtual_number, resting.virtual_number}
    assert states == {
        carrying.virtual_number: ("US", pool.IN_USE, carrying.session_uuid),
        resting.virtual_number: ("US", pool.COOLING, ""),
        **{number: ("US", pool.FREE, "") for number in idle},
        GB_DID: ("GB", pool.FREE, ""),
        "+14155550103": ("US", pool.SUSPENDED, ""),
    }
    assert [n.number for n in pool.pool_numbers(store, tenant.auth_id)] == sorted(states)


def test_a_suspended_did_carrying_a_session_is_told_suspended(store, one):
    session = open_session(store, credential(one), US_CALLER, T0)
    pool.set_suspended(store, one.auth_id, session.virtual_number, True, T0)

    [number] = pool.pool_numbers(store, one.auth_id)
    assert (number.state, number.session_uuid) == (pool.SUSPENDED, session.session_uuid)


def test_a_tenant_without_dids_has_an_empty_pool(store):
    assert pool.pool_numbers(store, make_tenant(store, dids=[]).auth_id) == []
