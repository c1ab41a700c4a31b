from datetime import UTC, datetime

import pytest
import redis

from routing.clock import US, to_us
from routing.errors import Conflict, InvalidInput, NotFound
from routing.pool import Assignment, add_numbers, assignments, release_number, set_suspended
from routing.sessions import lifecycle
from routing.store import Store
from tests.conftest import make_tenant, owner_of
from tests.sessions_helpers import credential

NOW = to_us(datetime(2024, 3, 20, 12, 0, tzinfo=UTC))
A, B, C = "+14155550100", "+14155550101", "+14155550102"
PARTIES = {"first_party": "+14155550123", "second_party": "+14155550124"}


def at(*parts: int) -> int:
    return to_us(datetime(*parts, tzinfo=UTC))


@pytest.fixture
def empty(store):
    """A tenant with no numbers yet."""
    return make_tenant(store, dids=[])


def free(store, auth_id, country="US"):
    return store.redis.smembers(store.keys.free(auth_id, country))


def held(store, auth_id):
    return store.redis.smembers(store.keys.numbers(auth_id))


# -- adding -----------------------------------------------------------------------------------------------
def test_added_numbers_are_held_free_and_owned_by_the_tenant(store, empty):
    assert add_numbers(store, empty.auth_id, [A, "14155550101", "+442079460958"], NOW) == [A, B, "+442079460958"]
    assert held(store, empty.auth_id) == {A, B, "+442079460958"}
    assert free(store, empty.auth_id, "US") == {A, B}
    assert free(store, empty.auth_id, "GB") == {"+442079460958"}
    assert store.redis.smembers(store.keys.countries(empty.auth_id)) == {"US", "GB"}
    assert owner_of(store, B) == empty.auth_id


def test_an_added_number_starts_an_active_assignment(store, empty):
    add_numbers(store, empty.auth_id, [A], NOW)
    assert assignments(store, empty.auth_id) == [Assignment(1, A, "US", NOW, None, "active")]


def test_adding_a_number_already_held_changes_nothing(store, empty):
    add_numbers(store, empty.auth_id, [A], NOW)
    assert add_numbers(store, empty.auth_id, ["14155550100"], NOW + US) == []
    assert [a.assigned_at for a in assignments(store, empty.auth_id, "all")] == [NOW]


@pytest.mark.parametrize("raw", ["not a number", "+1415", "", "+1415555FLOW"])
def test_a_number_that_is_not_e164_is_refused(store, empty, raw):
    with pytest.raises(InvalidInput) as caught:
        add_numbers(store, empty.auth_id, [raw], NOW)
    assert caught.value.field == "number"
    assert held(store, empty.auth_id) == set()


def test_one_bad_number_refuses_the_whole_list_before_anything_is_added(store, empty):
    with pytest.raises(InvalidInput):
        add_numbers(store, empty.auth_id, [A, "nonsense"], NOW)
    assert held(store, empty.auth_id) == set()
    assert owner_of(store, A) is None


def test_a_number_held_by_another_tenant_is_a_conflict(store, tenant, empty):
    with pytest.raises(Conflict, match=r"\+14155550100 belongs to another account"):
        add_numbers(store, empty.auth_id, ["14155550100"], NOW)
    assert owner_of(store, A) == tenant.auth_id
    assert held(store, empty.auth_id) == set()
    assert A in free(store, tenant.auth_id)


def test_owner_of_a_number_nobody_holds_is_none(store):
    assert owner_of(store, "+14155559999") is None


# -- suspending and resuming ------------------------------------------------------------------------------
def test_a_suspended_number_leaves_the_free_set_and_its_assignment_says_so(store, tenant):
    set_suspended(store, tenant.auth_id, A, True, NOW)
    assert free(store, tenant.auth_id) == {B, C}
    assert [a.number for a in assignments(store, tenant.auth_id, "suspended")] == [A]
    assert A in held(store, tenant.auth_id)


def test_a_resumed_number_is_free_again(store, tenant):
    set_suspended(store, tenant.auth_id, A, True, NOW)
    set_suspended(store, tenant.auth_id, "14155550100", False, NOW + US)
    assert free(store, tenant.auth_id) == {A, B, C}
    assert assignments(store, tenant.auth_id, "suspended") == []
    assert [a.number for a in assignments(store, tenant.auth_id, "active")] == [A, B, C]


def test_suspending_twice_is_the_same_as_once(store, tenant):
    set_suspended(store, tenant.auth_id, A, True, NOW)
    set_suspended(store, tenant.auth_id, A, True, NOW + US)
    set_suspended(store, tenant.auth_id, A, False, NOW + 2 * US)
    assert A in free(store, tenant.auth_id)


def test_resuming_a_number_with_an_open_session_does_not_free_it(store, tenant):
    session = lifecycle.open_session(store, credential(tenant), PARTIES, NOW, wanted_number=A)
    set_suspended(store, tenant.auth_id, A, True, NOW + US)
    set_suspended(store, tenant.auth_id, A, False, NOW + 2 * US)
    assert A not in free(store, tenant.auth_id)
    lifecycle.end_session(store, tenant.auth_id, session.session_uuid, NOW + 3 * US)
    assert A in free(store, tenant.auth_id)


@pytest.mark.parametrize("suspended", [True, False])
def test_suspending_or_resuming_a_number_not_held_is_not_found(store, tenant, suspended):
    with pytest.raises(NotFound, match="not in this account's pool"):
        set_suspended(store, tenant.auth_id, "+14155559999", suspended, NOW)


# -- releasing --------------------------------------------------------------------------------------------
def test_a_released_number_leaves_the_pool_and_its_owner(store, tenant):
    release_number(store, tenant.auth_id, "14155550100", NOW)
    assert held(store, tenant.auth_id) == {B, C}
    assert free(store, tenant.auth_id) == {B, C}
    assert owner_of(store, A) is None
    assert not store.redis.exists(store.keys.number(tenant.auth_id, A))


def test_a_released_number_can_be_taken_by_another_tenant(store, tenant, empty):
    release_number(store, tenant.auth_id, A, NOW)
    assert add_numbers(store, empty.auth_id, [A], NOW + US) == [A]
    assert owner_of(store, A) == empty.auth_id


def test_a_suspended_number_can_be_released(store, tenant):
    set_suspended(store, tenant.auth_id, A, True, NOW)
    release_number(store, tenant.auth_id, A, NOW + US)
    assert A not in held(store, tenant.auth_id)
    assert [(a.number, a.status) for a in assignments(store, tenant.auth_id, "released")] == [(A, "released")]


def test_a_number_cooling_off_can_be_released_and_does_not_come_back(store, tenant):
    session = lifecycle.open_session(
        store, credential(tenant), {**PARTIES, "virtual_number_cooloff_period": 600}, NOW, wanted_number=A
    )
    lifecycle.end_session(store, tenant.auth_id, session.session_uuid, NOW + US)
    release_number(store, tenant.auth_id, A, NOW + 2 * US)
    assert store.redis.zscore(store.keys.cooling(tenant.auth_id), A) is None
    lifecycle.reclaim_expired(store, tenant.auth_id, NOW + 3600 * US)
    assert A not in free(store, tenant.auth_id)


def test_a_number_carrying_an_open_session_cannot_be_released(store, tenant):
    session = lifecycle.open_session(store, credential(tenant), PARTIES, NOW, wanted_number=A)
    with pytest.raises(Conflict, match="open session"):
        release_number(store, tenant.auth_id, A, NOW + US)
    assert A in held(store, tenant.auth_id)
    assert owner_of(store, A) == tenant.auth_id
    lifecycle.end_session(store, tenant.auth_id, session.session_uuid, NOW + 2 * US)
    release_number(store, tenant.auth_id, A, NOW + 3 * US)
    assert A not in held(store, tenant.auth_id)


def test_a_number_whose_session_has_expired_can_be_released_at_once(store, tenant):
    lifecycle.open_session(store, credential(tenant), {**PARTIES, "session_expiry": 60}, NOW, wanted_number=A)
    release_number(store, tenant.auth_id, A, NOW + 60 * US)
    assert A not in held(store, tenant.auth_id)


def test_a_release_cut_before_the_owner_is_forgotten_keeps_the_number_reserved_until_released_again(
    store, tenant, empty, monkeypatch
):
    def cut(*args, **kwargs):
        raise redis.ConnectionError("the owner's node went away")

    with monkeypatch.context() as patched:
        patched.setattr(Store, "run_global", cut)
        with pytest.raises(redis.ConnectionError):
            release_number(store, tenant.auth_id, A, NOW)
    assert A not in held(store, tenant.auth_id)
    assert owner_of(store, A) == tenant.auth_id
    with pytest.raises(Conflict, match="another account"):
        add_numbers(store, empty.auth_id, [A], NOW + US)
    release_number(store, tenant.auth_id, A, NOW + 2 * US)
    assert owner_of(store, A) is None
    assert add_numbers(store, empty.auth_id, [A], NOW + 3 * US) == [A]


def test_releasing_a_number_not_held_is_not_found(store, tenant, empty):
    with pytest.raises(NotFound, match="not in this account's pool"):
        release_number(store, empty.auth_id, A, NOW)
    assert owner_of(store, A) == tenant.auth_id


# -- the assignment history -------------------------------------------------------------------------------
def test_the_history_keeps_a_released_holding_with_when_it_ended(store, empty):
    add_numbers(store, empty.auth_id, [A, B], NOW)
    release_number(store, empty.auth_id, A, NOW + 90 * US)
    assert assignments(store, empty.auth_id, "all") == [
        Assignment(1, A, "US", NOW, NOW + 90 * US, "released"),
        Assignment(2, B, "US", NOW, None, "active"),
    ]


def test_taking_a_number_back_after_release_starts_a_second_holding(store, empty):
    add_numbers(store, empty.auth_id, [A], NOW)
    release_number(store, empty.auth_id, A, NOW + US)
    add_numbers(store, empty.auth_id, [A], NOW + 2 * US)
    assert [(a.id, a.status, a.assigned_at, a.released_at) for a in assignments(store, empty.auth_id, "all")] == [
        (1, "released", NOW, NOW + US),
        (2, "active", NOW + 2 * US, None),
    ]


@pytest.fixture
def history(store, empty):
    """A active, B suspended, C released."""
    add_numbers(store, empty.auth_id, [A, B, C], NOW)
    set_suspended(store, empty.auth_id, B, True, NOW + US)
    release_number(store, empty.auth_id, C, NOW + 2 * US)
    return empty


@pytest.mark.parametrize(
    ("status", "expected"),
    [(None, [A]), ("active", [A]), ("suspended", [B]), ("released", [C]), ("all", [A, B, C])],
)
def test_the_status_filter_picks_holdings_by_their_status_now(store, history, status, expected):
    assert [a.number for a in assignments(store, history.auth_id, status)] == expected


def test_an_unknown_status_filter_is_refused(store, history):
    with pytest.raises(InvalidInput, match="active, suspended, released, all") as caught:
        assignments(store, history.auth_id, "gone")
    assert caught.value.field == "status"


@pytest.fixture
def march(store, empty):
    """A held 1–3 March, B from 5 March on, C from 3 March 23:59 on and suspended."""
    add_numbers(store, empty.auth_id, [A], at(2024, 3, 1, 10, 0))
    release_number(store, empty.auth_id, A, at(2024, 3, 3, 12, 0))
    add_numbers(store, empty.auth_id, [C], at(2024, 3, 3, 23, 59, 59))
    set_suspended(store, empty.auth_id, C, True, at(2024, 3, 4, 8, 0))
    add_numbers(store, empty.auth_id, [B], at(2024, 3, 5, 0, 0))
    return empty


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        ("2024-02-29", []),
        ("2024-03-01", [A]),
        ("2024-03-02", [A]),
        ("2024-03-03", [A, C]),
        ("2024-03-04", [C]),
        ("2024-03-05", [C, B]),
        ("2024-04-30", [C, B]),
    ],
)
def test_on_a_day_shows_every_number_held_at_any_time_that_day(store, march, day, expected):
    assert [a.number for a in assignments(store, march.auth_id, on=day)] == expected


@pytest.mark.parametrize(
    ("status", "day", "expected"),
    [
        ("active", "2024-03-03", []),
        ("released", "2024-03-03", [A]),
        ("suspended", "2024-03-05", [C]),
        ("released", "2024-03-05", []),
    ],
)
def test_on_a_day_and_a_status_together_narrow_to_both(store, march, status, day, expected):
    assert [a.number for a in assignments(store, march.auth_id, status, on=day)] == expected


def test_a_number_taken_in_the_last_microsecond_of_a_day_was_held_that_day(store, empty):
    add_numbers(store, empty.auth_id, [A], at(2024, 3, 2) - 1)
    assert [a.number for a in assignments(store, empty.auth_id, on="2024-03-01")] == [A]
    assert [a.number for a in assignments(store, empty.auth_id, on="2024-02-29")] == []


@pytest.mark.parametrize("day", ["03/01/2024", "2024-02-30", "yesterday", ""])
def test_on_must_be_a_date(store, march, day):
    with pytest.raises(InvalidInput, match="YYYY-MM-DD") as caught:
        assignments(store, march.auth_id, on=day)
    assert caught.value.field == "on"
