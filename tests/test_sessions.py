import json
import uuid
from pathlib import Path

import pytest

from routing import pool
from routing.clock import US, from_us
from routing.errors import Conflict, InvalidInput, NotFound, SessionEnded
from routing.sessions.lifecycle import (
    end_session,
    get_session,
    list_sessions,
    open_session,
    reclaim_expired,
    update_session,
)
from routing.sessions.query import check_query, parse_time
from routing.tenants import create_tenant
from tests.conftest import make_tenant
from tests.sessions_helpers import credential

T0 = 1_710_000_000_000_000
PARTIES = {"first_party": "+14155550123", "second_party": "+14155550124"}
FIXTURES = Path("/work/shared/plivo-fixtures")


# -- opening and reading ----------------------------------------------------------------------------------
def test_an_opened_session_keeps_what_was_asked_for(store, tenant):
    session = open_session(
        store,
        credential(tenant),
        {
            "first_party": "14155550123",
            "second_party": "14155550124",
            "session_expiry": "600",
            "call_time_limit": 120,
            "record": "true",
            "callback_url": "https://example.com/cb",
            "callback_method": "get",
            "virtual_number_cooloff_period": 30,
        },
        T0,
    )
    assert uuid.UUID(session.session_uuid).version == 4
    assert session.auth_id == tenant.auth_id
    assert (session.first_party, session.second_party) == ("+14155550123", "+14155550124")
    assert session.virtual_number in tenant.numbers
    assert (session.created, session.modified, session.expiry) == (T0, T0, T0 + 600 * US)
    assert session.duration == 600
    assert (session.call_time_limit, session.record, session.callback_method) == (120, True, "GET")
    assert session.callback_url == "https://example.com/cb"
    assert session.virtual_number_cooloff_period == 30
    assert session.status(T0) == "active"


def test_a_session_lasts_an_hour_unless_told_otherwise(store, tenant):
    session = open_session(store, credential(tenant), PARTIES, T0)
    assert session.expiry == T0 + 3600 * US
    assert session.duration == 3600


def test_get_returns_the_session_as_it_was_opened(store, tenant):
    session = open_session(store, credential(tenant), {**PARTIES, "ring_timeout": 30}, T0)
    assert get_session(store, tenant.auth_id, session.session_uuid) == session


def test_every_session_gets_its_own_uuid(store, tenant):
    uuids = {open_session(store, credential(tenant), PARTIES, T0 + i).session_uuid for i in range(3)}
    assert len(uuids) == 3


def test_an_invalid_request_opens_nothing_and_takes_no_number(store, tenant):
    with pytest.raises(InvalidInput):
        open_session(store, credential(tenant), {**PARTIES, "ring_timeout": 5}, T0)
    assert store.redis.scard(store.keys.free(tenant.auth_id, "US")) == 3
    assert store.redis.zcard(store.keys.sessions_by_created(tenant.auth_id)) == 0


def test_a_session_for_ones_own_subaccount_is_opened(store, tenant):
    sub = create_tenant(store, "support", T0, parent=tenant.auth_id)
    pool.add_numbers(store, sub.auth_id, ["+14155550110"], T0)
    session = open_session(store, credential(tenant), {**PARTIES, "subaccount": sub.auth_id}, T0)
    assert get_session(store, tenant.auth_id, session.session_uuid).subaccount == sub.auth_id
    assert get_session(store, sub.auth_id, session.session_uuid).virtual_number == "+14155550110"
    assert store.redis.scard(store.keys.free(tenant.auth_id, "US")) == 3


def test_a_session_for_someone_elses_subaccount_is_refused(store, tenant):
    other = create_tenant(store, "globex", T0)
    sub = create_tenant(store, "globex support", T0, parent=other.auth_id)
    with pytest.raises(InvalidInput) as caught:
        open_session(store, credential(tenant), {**PARTIES, "subaccount": sub.auth_id}, T0)
    assert caught.value.field == "subaccount"
    assert store.redis.scard(store.keys.free(tenant.auth_id, "US")) == 3


def test_another_tenants_session_is_not_found(store, tenant):
    other = make_tenant(store, dids=["+14155550199"], name="other")
    theirs = open_session(store, credential(other), PARTIES, T0)
    with pytest.raises(NotFound):
        get_session(store, tenant.auth_id, theirs.session_uuid)
    with pytest.raises(NotFound):
        update_session(store, tenant.auth_id, theirs.session_uuid, {"record": True}, T0 + US)
    with pytest.raises(NotFound):
        end_session(store, tenant.auth_id, theirs.session_uuid, T0 + US)
    assert get_session(store, other.auth_id, theirs.session_uuid).status(T0 + US) == "active"


@pytest.mark.parametrize("session_uuid", ["nope", "", "../../etc/passwd", "*", "1234", str(uuid.uuid4())])
def test_a_malformed_or_unknown_uuid_is_not_found(store, tenant, session_uuid):
    with pytest.raises(NotFound, match="no session"):
        get_session(store, tenant.auth_id, session_uuid)


def test_a_session_is_kept_compactly_without_its_defaults(store, tenant):
    session = open_session(store, credential(tenant), PARTIES, T0)
    kept = json.loads(store.redis.get(store.keys.session(tenant.auth_id, session.session_uuid)))
    assert kept["virtual_number"] == session.virtual_number
    assert "ring_timeout" not in kept
    assert "geomatch" not in kept


# -- updating ---------------------------------------------------------------------------------------------
def test_update_counts_session_expiry_from_the_update_as_plivos_fixture_shows(store, tenant):
    shown = json.loads((FIXTURES / "maskingSessionUpdateResponse.json").read_text())["session"]
    created = parse_time(shown["created_time"].removesuffix(" +0000"), "created_time").start
    modified = parse_time(shown["modified_time"], "modified_time").start
    session = open_session(store, credential(tenant), PARTIES, created)
    updated = update_session(store, tenant.auth_id, session.session_uuid, {"session_expiry": 600}, modified)
    assert (updated.created, updated.modified) == (created, modified)
    assert updated.expiry == modified + 600 * US
    assert abs(updated.expiry - parse_time(shown["expiry_time"], "expiry_time").start) < 1000
    assert updated.duration == shown["duration"] == 612
    assert get_session(store, tenant.auth_id, session.session_uuid) == updated


def test_an_update_can_shorten_a_session_and_it_then_ends_sooner(store, tenant):
    session = open_session(store, credential(tenant), {**PARTIES, "session_expiry": 3600}, T0)
    update_session(store, tenant.auth_id, session.session_uuid, {"session_expiry": 60}, T0 + 10 * US)
    assert reclaim_expired(store, tenant.auth_id, T0 + 69 * US) == 0
    assert reclaim_expired(store, tenant.auth_id, T0 + 70 * US) == 1
    assert get_session(store, tenant.auth_id, session.session_uuid).status(T0 + 70 * US) == "expired"


def test_an_update_can_lengthen_a_session_past_its_first_expiry(store, tenant):
    session = open_session(store, credential(tenant), {**PARTIES, "session_expiry": 60}, T0)
    update_session(store, tenant.auth_id, session.session_uuid, {"session_expiry": 600}, T0 + 50 * US)
    assert reclaim_expired(store, tenant.auth_id, T0 + 100 * US) == 0
    assert store.redis.hget(store.keys.number(tenant.auth_id, session.virtual_number), "session") == (
        session.session_uuid
    )
    updated = update_session(store, tenant.auth_id, session.session_uuid, {"record": True}, T0 + 100 * US)
    assert updated.expiry == T0 + 650 * US


def test_an_update_without_session_expiry_keeps_the_expiry_and_changes_the_rest(store, tenant):
    session = open_session(store, credential(tenant), PARTIES, T0)
    updated = update_session(
        store,
        tenant.auth_id,
        session.session_uuid,
        {
            "record": "true",
            "record_file_format": "wav",
            "ring_timeout": 45,
            "callback_url": "https://example.com/x",
        },
        T0 + 5 * US,
    )
    assert updated.expiry == session.expiry
    assert updated.modified == T0 + 5 * US
    assert (updated.record, updated.record_file_format, updated.ring_timeout) == (True, "wav", 45)
    assert updated.callback_url == "https://example.com/x"
    assert updated.virtual_number == session.virtual_number
    assert get_session(store, tenant.auth_id, session.session_uuid) == updated


def test_an_update_can_clear_a_url(store, tenant):
    session = open_session(store, credential(tenant), {**PARTIES, "callback_url": "https://example.com/cb"}, T0)
    updated = update_session(store, tenant.auth_id, session.session_uuid, {"callback_url": ""}, T0 + US)
    assert get_session(store, tenant.auth_id, session.session_uuid).callback_url == updated.callback_url == ""


def test_a_refused_update_changes_nothing(store, tenant):
    session = open_session(store, credential(tenant), PARTIES, T0)
    with pytest.raises(InvalidInput) as caught:
        update_session(store, tenant.auth_id, session.session_uuid, {"record": True, "geomatch": False}, T0 + US)
    assert caught.value.field == "geomatch"
    assert get_session(store, tenant.auth_id, session.session_uuid) == session


@pytest.mark.parametrize("how", ["ended", "timed out", "reclaimed"])
def test_an_expired_session_cannot_be_updated_or_ended(store, tenant, how):
    session = open_session(store, credential(tenant), {**PARTIES, "session_expiry": 60}, T0)
    later = T0 + 61 * US
    if how == "ended":
        end_session(store, tenant.auth_id, session.session_uuid, T0 + US)
    if how == "reclaimed":
        reclaim_expired(store, tenant.auth_id, later)
    cause = "ended by a request" if how == "ended" else "its expiry time passed"
    with pytest.raises(SessionEnded) as caught:
        update_session(store, tenant.auth_id, session.session_uuid, {"record": True}, later)
    assert caught.value.message == (
        f"session {session.session_uuid} has expired ({cause}) and can no longer be updated"
    )
    assert caught.value.by_request is (how == "ended")
    with pytest.raises(SessionEnded) as caught:
        end_session(store, tenant.auth_id, session.session_uuid, later)
    assert caught.value.message == f"session {session.session_uuid} has already expired ({cause})"


def test_a_session_cannot_be_updated_at_the_very_microsecond_it_expires(store, tenant):
    session = open_session(store, credential(tenant), {**PARTIES, "session_expiry": 60}, T0)
    with pytest.raises(Conflict):
        update_session(store, tenant.auth_id, session.session_uuid, {"session_expiry": 600}, T0 + 60 * US)
    assert get_session(store, tenant.auth_id, session.session_uuid).expiry == T0 + 60 * US


# -- single-party sessions --------------------------------------------------------------------------------
def test_a_single_party_session_takes_its_second_party_in_an_update(store, tenant):
    session = open_session(
        store, credential(tenant), {"first_party": "+14155550123", "create_session_with_single_party": True}, T0
    )
    assert session.second_party == ""
    updated = update_session(store, tenant.auth_id, session.session_uuid, {"second_party": "14155550124"}, T0 + US)
    assert updated.second_party == "+14155550124"
    assert updated.party("+14155550124") == "second"
    assert get_session(store, tenant.auth_id, session.session_uuid).second_party == "+14155550124"


def test_once_both_parties_are_set_they_can_no_longer_change(store, tenant):
    session = open_session(
        store, credential(tenant), {"first_party": "+14155550123", "create_session_with_single_party": True}, T0
    )
    update_session(store, tenant.auth_id, session.session_uuid, {"second_party": "+14155550124"}, T0 + US)
    with pytest.raises(InvalidInput, match="single party") as caught:
        update_session(store, tenant.auth_id, session.session_uuid, {"second_party": "+14155550125"}, T0 + 2 * US)
    assert caught.value.field == "second_party"


def test_a_two_party_session_cannot_change_its_parties(store, tenant):
    session = open_session(store, credential(tenant), PARTIES, T0)
    with pytest.raises(InvalidInput) as caught:
        update_session(store, tenant.auth_id, session.session_uuid, {"first_party": "+14155550125"}, T0 + US)
    assert caught.value.field == "first_party"


def test_the_added_second_party_must_differ_from_the_first(store, tenant):
    session = open_session(
        store, credential(tenant), {"first_party": "+14155550123", "create_session_with_single_party": True}, T0
    )
    with pytest.raises(InvalidInput, match="must differ") as caught:
        update_session(store, tenant.auth_id, session.session_uuid, {"second_party": "14155550123"}, T0 + US)
    assert caught.value.field == "second_party"
    assert get_session(store, tenant.auth_id, session.session_uuid).second_party == ""


# -- ending -----------------------------------------------------------------------------------------------
def test_ending_a_session_expires_it_now_and_frees_its_number(store, tenant):
    session = open_session(store, credential(tenant), PARTIES, T0)
    ended = end_session(store, tenant.auth_id, session.session_uuid, T0 + 30 * US)
    assert (ended.expiry, ended.modified) == (T0 + 30 * US, T0 + 30 * US)
    assert ended.duration == 30
    kept = get_session(store, tenant.auth_id, session.session_uuid)
    assert kept == ended
    assert kept.status(T0 + 30 * US) == "expired"
    assert session.virtual_number in store.redis.smembers(store.keys.free(tenant.auth_id, "US"))


# -- listing ----------------------------------------------------------------------------------------------
def stamp(us):
    return from_us(us).strftime("%Y-%m-%d %H:%M:%S.%f")


@pytest.fixture
def lister(store):
    """A tenant with five numbers."""
    return make_tenant(store, dids=[f"+1415555011{i}" for i in range(5)], name="lister")


@pytest.fixture
def five(store, lister):
    """Five sessions a minute apart, the oldest first; the second has ended and the fourth is with +1…0199."""
    opened = []
    for i in range(5):
        second = "+14155550199" if i == 3 else "+14155550124"
        opened.append(
            open_session(
                store, credential(lister), {"first_party": "+14155550123", "second_party": second}, T0 + i * 60 * US
            )
        )
    end_session(store, lister.auth_id, opened[1].session_uuid, T0 + 60 * US + US)
    return opened


def listing(store, tenant, now=T0 + 1800 * US, **raw):
    page = list_sessions(store, tenant.auth_id, check_query(raw), now)
    return [s.session_uuid for s in page.sessions], page.total_count


def picked(five, indexes):
    return [five[i].session_uuid for i in indexes]


def test_a_listing_is_newest_first_with_the_total(store, lister, five):
    assert listing(store, lister) == (picked(five, [4, 3, 2, 1, 0]), 5)


@pytest.mark.parametrize(
    ("offset", "limit", "expected"),
    [("0", "2", [4, 3]), ("2", "2", [2, 1]), ("4", "2", [0]), ("5", "2", []), ("1", "3", [3, 2, 1])],
)
def test_a_listing_pages_by_offset_and_limit_and_still_counts_everything(store, lister, five, offset, limit, expected):
    assert listing(store, lister, offset=offset, limit=limit) == (picked(five, expected), 5)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({"status": "expired"}, [1]),
        ({"status": "active"}, [4, 3, 2, 0]),
        ({"second_party": "+14155550199"}, [3]),
        ({"first_party": "14155550123"}, [4, 3, 2, 1, 0]),
        ({"first_party": "+14155550124"}, []),
        ({"created_time__gte": stamp(T0 + 120 * US)}, [4, 3, 2]),
        ({"created_time__gt": stamp(T0 + 120 * US)}, [4, 3]),
        ({"created_time__lt": stamp(T0 + 120 * US)}, [1, 0]),
        ({"created_time": stamp(T0 + 120 * US)}, [2]),
        ({"expiry_time__lte": stamp(T0 + 3600 * US)}, [1, 0]),
        ({"duration__lt": "3600"}, [1]),
    ],
)
def test_a_listing_filters_and_counts_only_the_matches(store, lister, five, raw, expected):
    assert listing(store, lister, **raw) == (picked(five, expected), len(expected))


def test_a_listing_finds_a_session_by_the_second_or_the_minute_it_was_created_in(store, lister):
    created = T0 + 57 * US + 877_364  # Plivo shows it as …:57.877364
    session = open_session(store, credential(lister), PARTIES, created)
    second, minute = from_us(created).strftime("%Y-%m-%d %H:%M:%S"), from_us(created).strftime("%Y-%m-%d %H:%M")

    for raw in (
        {"created_time": second},
        {"created_time": minute},
        {"created_time": stamp(created)},
        {"created_time__lte": second},
        {"created_time__gte": second},
        {"expiry_time": from_us(session.expiry).strftime("%Y-%m-%d %H:%M:%S")},
    ):
        assert listing(store, lister, **raw) == ([session.session_uuid], 1), raw
    for raw in ({"created_time__lt": second}, {"created_time__gt": second}, {"created_time__gt": minute}):
        assert listing(store, lister, **raw) == ([], 0), raw


def test_a_listing_of_a_subaccount_that_is_not_the_tenants_is_invalid(store, lister, five):
    with pytest.raises(InvalidInput) as caught:
        listing(store, lister, subaccount="SA0123456789ABCDEFGH")
    assert caught.value.field == "subaccount"


def test_a_filtered_listing_pages_through_the_matches(store, lister, five):
    assert listing(store, lister, status="active", limit="2", offset="1") == (picked(five, [3, 2]), 4)


def test_a_listing_by_virtual_number_finds_that_numbers_sessions(store, lister, five):
    number = five[2].virtual_number
    expected = [s.session_uuid for s in reversed(five) if s.virtual_number == number]
    assert expected
    assert listing(store, lister, virtual_number=number) == (expected, len(expected))


def test_a_listing_looks_back_seven_days_by_default(store, lister, five):
    week_later = T0 + 7 * 86_400 * US + 120 * US
    assert listing(store, lister, now=week_later) == (picked(five, [4, 3, 2]), 3)


def test_a_listing_shows_only_the_tenants_own_sessions(store, lister, five):
    other = make_tenant(store, dids=["+14155550198"], name="other")
    theirs = open_session(store, credential(other), PARTIES, T0 + 30 * US)
    assert listing(store, other) == ([theirs.session_uuid], 1)
    assert listing(store, lister)[1] == 5


def test_a_parent_keeps_finding_its_subaccounts_session_after_the_subaccount_extends_it(store, tenant):
    sub = create_tenant(store, "support", T0, parent=tenant.auth_id)
    pool.add_numbers(store, sub.auth_id, ["+14155550110"], T0)
    session = open_session(store, credential(tenant), {**PARTIES, "subaccount": sub.auth_id}, T0)
    note = store.keys.subaccount_session(tenant.auth_id, session.session_uuid)
    before = store.redis.pttl(note)

    update_session(store, sub.auth_id, session.session_uuid, {"session_expiry": 86400}, T0 + 60 * US)

    assert store.redis.get(note) == sub.auth_id
    assert store.redis.pttl(note) > before
    assert get_session(store, tenant.auth_id, session.session_uuid).expiry == T0 + 86460 * US
