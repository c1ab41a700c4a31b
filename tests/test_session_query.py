from datetime import UTC, datetime

import pytest

from routing.clock import US, to_us
from routing.errors import InvalidInput
from routing.sessions.query import DEFAULT_WINDOW, MAX_WINDOW, Bounds, SessionQuery, Span, check_query, parse_time
from routing.sessions.session import Session

DAY = 86_400 * US
NOW = to_us(datetime(2024, 3, 20, 12, 0, tzinfo=UTC))


def at(*parts: int) -> int:
    return to_us(datetime(*parts, tzinfo=UTC))


def session(**fields) -> Session:
    base = dict(
        session_uuid="8a0f4a6e-3c1b-4f7e-9a51-5d2f2f0f6a10",
        auth_id="MA0123456789ABCDEFGH",
        first_party="+14155550123",
        second_party="+14155550124",
        virtual_number="+14155550100",
        created=NOW - 600 * US,
        modified=NOW - 600 * US,
        expiry=NOW + 3000 * US,
    )
    return Session(**{**base, **fields})


# -- parsing ----------------------------------------------------------------------------------------------
def test_no_parameters_mean_the_first_twenty_of_every_status():
    assert check_query({}) == SessionQuery(limit=20, offset=0, status="all")


@pytest.mark.parametrize(("given", "limit"), [("1", 1), ("20", 20), (7, 7)])
def test_limit_is_one_to_twenty(given, limit):
    assert check_query({"limit": given}).limit == limit


@pytest.mark.parametrize("given", ["0", "21", "-1", "ten"])
def test_a_limit_outside_one_to_twenty_is_refused(given):
    with pytest.raises(InvalidInput) as caught:
        check_query({"limit": given})
    assert caught.value.field == "limit"


def test_offset_is_a_non_negative_integer():
    assert check_query({"offset": "40"}).offset == 40
    with pytest.raises(InvalidInput) as caught:
        check_query({"offset": "-1"})
    assert caught.value.field == "offset"


@pytest.mark.parametrize("status", ["active", "expired", "all"])
def test_status_is_active_expired_or_all(status):
    assert check_query({"status": status}).status == status


def test_any_other_status_is_refused():
    with pytest.raises(InvalidInput, match="active, expired, all") as caught:
        check_query({"status": "open"})
    assert caught.value.field == "status"


@pytest.mark.parametrize("name", ["first_party", "second_party", "virtual_number"])
def test_a_party_filter_is_read_as_e164(name):
    assert check_query({name: "14155550123"}).parties == {name: "+14155550123"}


def test_a_party_filter_that_is_not_a_number_is_refused_by_name():
    with pytest.raises(InvalidInput) as caught:
        check_query({"virtual_number": "nobody"})
    assert caught.value.field == "virtual_number"


def test_the_subaccount_filter_is_kept_as_given():
    assert check_query({"subaccount": "SA0123456789ABCDEFGH"}).subaccount == "SA0123456789ABCDEFGH"


SECOND = Span(at(2024, 3, 18, 9, 30), at(2024, 3, 18, 9, 30, 1))


@pytest.mark.parametrize(
    ("name", "field", "bounds"),
    [
        ("created_time", "created", Bounds(SECOND.start, SECOND.end)),
        ("created_time__gt", "created", Bounds(low=SECOND.end)),
        ("created_time__gte", "created", Bounds(low=SECOND.start)),
        ("created_time__lt", "created", Bounds(high=SECOND.start)),
        ("created_time__lte", "created", Bounds(high=SECOND.end)),
        ("expiry_time__gte", "expiry", Bounds(low=SECOND.start)),
        ("expiry_time__lt", "expiry", Bounds(high=SECOND.start)),
    ],
)
def test_a_time_filter_bounds_the_time_by_the_whole_second_it_names(name, field, bounds):
    assert getattr(check_query({name: "2024-03-18 09:30:00"}), field) == bounds


def test_several_conditions_on_one_time_all_hold():
    query = check_query({"created_time__gte": "2024-03-01", "created_time__lt": "2024-03-10"})
    assert query.created == Bounds(at(2024, 3, 1), at(2024, 3, 10))
    query = check_query({"created_time__gte": "2024-03-01", "created_time__gt": "2024-03-02"})
    assert query.created == Bounds(low=at(2024, 3, 3))


def test_a_duration_filter_bounds_the_whole_seconds():
    query = check_query({"duration__gt": "60", "duration__lte": "3600"})
    assert query.duration == Bounds(61, 3601)


@pytest.mark.parametrize(
    "name",
    [
        "colour",
        "created",
        "created_time__between",
        "duration__ne",
        "expiry_time__",
        "modified_time__gt",
        "session_uuid",
    ],
)
def test_an_unknown_filter_is_refused_by_name(name):
    with pytest.raises(InvalidInput, match="is not a filter") as caught:
        check_query({name: "1"})
    assert caught.value.field == name


# -- time formats -----------------------------------------------------------------------------------------
MINUTE = 60 * US


@pytest.mark.parametrize(
    ("text", "start", "precision"),
    [
        ("2024-02-01", at(2024, 2, 1), DAY),
        ("2024-02-01 06:28", at(2024, 2, 1, 6, 28), MINUTE),
        ("2024-02-01 06:28:15", at(2024, 2, 1, 6, 28, 15), US),
        ("2024-02-01 06:28:15.772699", at(2024, 2, 1, 6, 28, 15) + 772_699, 1),
        ("2024-02-01 06:28:15.5", at(2024, 2, 1, 6, 28, 15) + 500_000, 100_000),
        ("2024-02-01 06:28:15.050", at(2024, 2, 1, 6, 28, 15) + 50_000, 1000),
        ("2024-02-01T06:28:15", at(2024, 2, 1, 6, 28, 15), US),
        ("2024-02-01 06:28:15.772699 +0000 UTC", at(2024, 2, 1, 6, 28, 15) + 772_699, 1),
        ("2024-02-01 06:28:15 +0000 UTC", at(2024, 2, 1, 6, 28, 15), US),
        ("  2024-02-01 06:28:15  ", at(2024, 2, 1, 6, 28, 15), US),
    ],
)
def test_times_are_read_as_utc_spans_as_precise_as_they_are_written(text, start, precision):
    assert parse_time(text, "created_time") == Span(start, start + precision)


@pytest.mark.parametrize(
    "text",
    [
        "yesterday",
        "2024-13-01",
        "01/02/2024",
        "2024-02-01 25:00",
        "",
        "1706768895",
        "2024-02-01 06:28:15.",
        "2024-02-01 06:28:15.1234567",
        "2024-02-01 06:28:15.²",
        "2024-02-01 06:28.5",
        "2024-02-01.5",
    ],
)
def test_anything_else_is_not_a_time_and_names_the_filter(text):
    with pytest.raises(InvalidInput, match="UTC time") as caught:
        check_query({"created_time__gte": text})
    assert caught.value.field == "created_time__gte"


# -- the window read from the creation index ---------------------------------------------------------------
def window(**raw: str) -> tuple[int, int]:
    return check_query(raw).created_window(NOW)


def test_without_a_creation_filter_the_last_seven_days_are_searched():
    assert window() == (NOW - DEFAULT_WINDOW, NOW)
    assert DEFAULT_WINDOW == 7 * DAY


def test_a_lower_bound_alone_searches_up_to_now():
    low, high = window(created_time__gte="2024-03-01")
    assert low == at(2024, 3, 1)
    assert high >= NOW


def test_an_upper_bound_alone_searches_the_seven_days_before_it():
    end = at(2024, 3, 10, 12, 0, 1) - 1
    assert window(created_time__lte="2024-03-10 12:00:00") == (end - 7 * DAY, end)


def test_strict_bounds_leave_the_whole_day_they_name_out():
    assert window(created_time__gt="2024-03-01", created_time__lt="2024-03-10") == (
        at(2024, 3, 2),
        at(2024, 3, 10) - 1,
    )


@pytest.mark.parametrize(
    ("written", "first", "last"),
    [
        ("2024-03-18 09:30:00", at(2024, 3, 18, 9, 30), at(2024, 3, 18, 9, 30, 1) - 1),
        ("2024-03-18 09:30", at(2024, 3, 18, 9, 30), at(2024, 3, 18, 9, 31) - 1),
        ("2024-03-18", at(2024, 3, 18), at(2024, 3, 19) - 1),
        ("2024-03-18 09:30:00.250000", at(2024, 3, 18, 9, 30) + 250_000, at(2024, 3, 18, 9, 30) + 250_000),
    ],
)
def test_an_exact_creation_time_searches_the_span_it_is_written_to(written, first, last):
    assert window(created_time=written) == (first, last)


def test_a_window_of_exactly_thirty_days_is_allowed():
    low, high = window(created_time__gte="2024-02-01", created_time__lt="2024-03-02 00:00:00.000001")
    assert high - low == MAX_WINDOW == 30 * DAY


@pytest.mark.parametrize(
    "raw",
    [
        {"created_time__gte": "2024-02-01", "created_time__lte": "2024-03-02"},  # the whole of March 2 too
        {"created_time__gte": "2024-01-01"},
    ],
)
def test_a_window_longer_than_thirty_days_is_refused(raw):
    with pytest.raises(InvalidInput, match="30 days") as caught:
        check_query(raw).created_window(NOW)
    assert caught.value.field == "created_time"


# -- which listings need the sessions themselves ----------------------------------------------------------
@pytest.mark.parametrize(
    ("raw", "needed"),
    [
        ({}, False),
        ({"limit": "5", "offset": "10"}, False),
        ({"status": "all"}, False),
        ({"created_time__gte": "2024-03-18"}, False),
        ({"created_time__lt": "2024-03-18"}, False),
        ({"created_time": "2024-03-18 09:30:00"}, False),
        ({"status": "active"}, True),
        ({"status": "expired"}, True),
        ({"first_party": "+14155550123"}, True),
        ({"virtual_number": "+14155550100"}, True),
        ({"subaccount": "SA0123456789ABCDEFGH"}, False),  # names whose sessions to list, read from its index
        ({"expiry_time__lt": "2024-03-18"}, True),
        ({"duration__gte": "60"}, True),
    ],
)
def test_only_filters_beyond_creation_time_need_each_session_read(raw, needed):
    assert check_query(raw).needs_sessions() is needed


# -- matching ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("raw", "matched"),
    [
        ({}, True),
        ({"status": "active"}, True),
        ({"status": "expired"}, False),
        ({"status": "all"}, True),
        ({"first_party": "+14155550123"}, True),
        ({"first_party": "+14155550124"}, False),
        ({"second_party": "14155550124"}, True),
        ({"virtual_number": "+14155550100"}, True),
        ({"virtual_number": "+14155550101"}, False),
        ({"created_time__lt": "2024-03-20 12:00:00"}, True),
        ({"created_time__gte": "2024-03-20 12:00:00"}, False),
        ({"created_time": "2024-03-20 11:50:00"}, True),
        ({"expiry_time__gt": "2024-03-20 12:49:59"}, True),
        ({"expiry_time__gt": "2024-03-20 12:50:00"}, False),
        ({"expiry_time__gte": "2024-03-20 12:50:00"}, True),
        ({"duration": "3600"}, True),
        ({"duration__gt": "3600"}, False),
        ({"duration__lte": "3600", "duration__gte": "3600"}, True),
        ({"first_party": "+14155550123", "status": "expired"}, False),
    ],
)
def test_a_session_matches_only_when_every_filter_holds(raw, matched):
    assert check_query(raw).matches(session(), NOW) is matched


def test_a_session_past_its_expiry_matches_expired_and_not_active():
    ended = session(expiry=NOW)
    assert check_query({"status": "expired"}).matches(ended, NOW)
    assert not check_query({"status": "active"}).matches(ended, NOW)


def test_the_subaccount_names_whose_sessions_are_listed_and_filters_none_of_them():
    query = check_query({"subaccount": "SA0123456789ABCDEFGH"})
    assert query.matches(session(subaccount="SA0123456789ABCDEFGH"), NOW)
    assert query.matches(session(), NOW)


# -- a written time matches at the precision it is written in ----------------------------------------------
# Plivo shows `created_time` to the microsecond (2026-11-30 21:29:57.877364) and documents filters as
# `YYYY-MM-DD HH:MM[:ss[.uuuuuu]]`: a filter names the whole second, minute or day it writes.
CREATED = at(2026, 11, 30, 21, 29, 57) + 877_364


@pytest.mark.parametrize("name", ["created_time", "expiry_time"])
@pytest.mark.parametrize(
    ("op", "written", "matched"),
    [
        ("", "2026-11-30 21:29:57.877364 +0000 UTC", True),
        ("", "2026-11-30 21:29:57.877364", True),
        ("", "2026-11-30 21:29:57.8", True),
        ("", "2026-11-30 21:29:57", True),
        ("", "2026-11-30 21:29", True),
        ("", "2026-11-30", True),
        ("", "2026-11-30 21:29:57.877365", False),
        ("", "2026-11-30 21:29:58", False),
        ("", "2026-11-30 21:30", False),
        ("", "2026-12-01", False),
        ("__lte", "2026-11-30 21:29:57", True),
        ("__lte", "2026-11-30 21:29", True),
        ("__lte", "2026-11-30 21:29:56", False),
        ("__lt", "2026-11-30 21:29:57", False),
        ("__lt", "2026-11-30 21:29:58", True),
        ("__gte", "2026-11-30 21:29:57", True),
        ("__gte", "2026-11-30 21:29:58", False),
        ("__gt", "2026-11-30 21:29:57", False),
        ("__gt", "2026-11-30 21:29:56", True),
        ("__gt", "2026-11-30 21:29:57.877363", True),
        ("__gt", "2026-11-30", False),
        ("__lt", "2026-11-30", False),
    ],
)
def test_a_time_filter_matches_at_the_precision_it_is_written_in(name, op, written, matched):
    shown = session(created=CREATED, modified=CREATED, expiry=CREATED)
    assert check_query({name + op: written}).matches(shown, CREATED - 1) is matched


@pytest.mark.parametrize("written", ["2026-11-30 21:29:57", "2026-11-30 21:29", "2026-11-30", "2026-11-30 21:29:57.9"])
def test_each_comparison_is_the_equality_and_the_strict_comparison_together(written):
    shown = session(created=CREATED, modified=CREATED, expiry=CREATED + 3600 * US)
    verdict = {op: check_query({"created_time" + op: written}).matches(shown, CREATED) for op in ("", "__lt", "__gt")}
    for op, strict in (("__lte", "__lt"), ("__gte", "__gt")):
        assert check_query({"created_time" + op: written}).matches(shown, CREATED) is (verdict[""] or verdict[strict])
    assert sum(verdict.values()) == 1
