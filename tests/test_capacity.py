"""Capacity planning: the pool's figures now, its hourly peaks, refused opens, session lengths, the advice."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from click.testing import CliRunner

from app.capacity_format import hour_time
from app.cli import cli
from routing import capacity, pool
from routing.capacity import pool_stats, recommended_size
from routing.clock import US, now_us, to_us
from routing.errors import InvalidInput, NumberUnavailable, PoolExhausted
from routing.sessions.lifecycle import end_session, open_session, reclaim_expired
from routing.store import Store
from routing.tenants import basic_credential
from tests.conftest import make_tenant
from tests.lua_helpers import lua_value
from tests.sessions_helpers import credential

DAY = datetime(2026, 11, 23, tzinfo=UTC)
DIDS = [f"+1415555{n:04d}" for n in range(100, 105)]
GB_CALLER = {"first_party": "+442079460001", "second_party": "+442079460002"}
DRIVER, CUSTOMER = "+14155551234", "+14155554321"


def at(hour: int, minute: int = 0, day: int = 0) -> int:
    """Return a moment of 2026-11-23 (or `day` days from it) in µs, with µs digits cjson would round away."""
    return to_us(DAY + timedelta(days=day, hours=hour, minutes=minute)) + 123_457


def hour(hour: int, day: int = 0) -> str:
    return hour_time(to_us(DAY + timedelta(days=day, hours=hour)))


def start(store, tenant, now, expiry=86_400, wanted=None, **fields):
    """Open a session of DRIVER and CUSTOMER at `now`, lasting `expiry` seconds unless ended."""
    raw = {"first_party": DRIVER, "second_party": CUSTOMER, "session_expiry": expiry, **fields}
    return open_session(store, credential(tenant), raw, now, wanted_number=wanted)


def end(store, tenant, session, now):
    end_session(store, tenant.auth_id, session.session_uuid, now)


def peaks(stats) -> list[tuple[str, int]]:
    return [(hour_time(p.hour), p.peak) for p in stats.hourly_peaks]


def counts(stats) -> dict[str, int]:
    return {name: getattr(stats, name) for name in ("size", "in_use", "free", "cooling", "suspended")}


@pytest.fixture
def five(store):
    """A tenant with five US pool."""
    return make_tenant(store, dids=DIDS)


# -- peaks --------------------------------------------------------------------------------------------------
def test_each_hour_shows_the_most_sessions_open_at_once_as_they_open_and_end(store, tenant):
    a = start(store, tenant, at(10, 5))
    b = start(store, tenant, at(10, 10))
    end(store, tenant, a, at(10, 20))
    c = start(store, tenant, at(12, 30))  # hour 11 saw no opening, but b stayed open through it
    end(store, tenant, b, at(12, 40))
    end(store, tenant, c, at(12, 50))

    stats = pool_stats(store, tenant.auth_id, at(13, 30), days=1)

    assert peaks(stats) == [(hour(10), 2), (hour(11), 1), (hour(12), 2)]
    assert (stats.peak, stats.recommended_size) == (2, 3)
    assert (stats.opened, stats.ended, stats.exhausted) == (3, 3, 0)
    assert stats.since == to_us(DAY + timedelta(hours=14 - 24))


def test_the_peak_counts_sessions_open_at_once_not_sessions_opened(store, tenant):
    for minute in (0, 10, 20):
        end(store, tenant, start(store, tenant, at(9, minute)), at(9, minute + 5))

    stats = pool_stats(store, tenant.auth_id, at(9, 30))

    assert peaks(stats) == [(hour(9), 1)]
    assert (stats.opened, stats.ended, stats.peak, stats.recommended_size) == (3, 3, 1, 2)


def test_a_session_opened_before_the_window_counts_in_every_hour_it_stayed_open(store, tenant):
    start(store, tenant, at(12, 30, day=-1))  # open for a day: until 12:30 today

    stats = pool_stats(store, tenant.auth_id, at(14), days=1)

    assert peaks(stats) == [(hour(h, day=-1), 1) for h in range(15, 24)] + [(hour(h), 1) for h in range(13)]
    assert (stats.opened, stats.ended, stats.peak, stats.in_use) == (0, 1, 1, 0)
    assert stats.average_session_seconds == 86_400


def test_a_quiet_pool_recommends_nothing_and_warns_of_nothing(store, tenant):
    stats = pool_stats(store, tenant.auth_id, at(12))

    assert (stats.hourly_peaks, stats.peak, stats.recommended_size, stats.warning) == ((), 0, 0, None)
    assert stats.average_session_seconds is None


@pytest.mark.parametrize(
    ("peak", "exhausted", "recommended"),
    [
        (0, 0, 0),
        (0, 3, 1),
        (1, 0, 2),
        (2, 0, 3),
        (3, 1, 5),
        (10, 0, 15),
    ],
)
def test_the_recommended_size_is_one_and_a_half_times_the_peak_rounded_up(peak, exhausted, recommended):
    assert recommended_size(peak, exhausted) == recommended


# -- refusals and warnings ------------------------------------------------------------------------------------
def test_opens_refused_by_an_exhausted_pool_are_counted_and_warned_of(store):
    one = make_tenant(store, dids=[DIDS[0]])
    start(store, one, at(10))
    for minute in (5, 6):
        with pytest.raises(PoolExhausted):
            start(store, one, at(10, minute))

    stats = pool_stats(store, one.auth_id, at(11))

    assert (stats.exhausted, stats.peak, stats.recommended_size) == (2, 1, 2)
    assert stats.warning == (
        "the pool was exhausted 2 times in the last 7 days and the peak of 1 open session is "
        "100 % of the pool's 1 DID; recommended size 2"
    )


def test_a_refused_wanted_number_is_not_an_exhausted_pool(store, tenant):
    taken = start(store, tenant, at(10)).virtual_number
    with pytest.raises(NumberUnavailable):
        start(store, tenant, at(10, 1), wanted=taken)

    assert pool_stats(store, tenant.auth_id, at(11)).exhausted == 0


def test_an_exhausted_pool_with_no_session_open_still_asks_for_one_did(store, tenant):
    with pytest.raises(PoolExhausted):
        open_session(store, credential(tenant), GB_CALLER, at(10))  # geomatch: no GB number in the pool

    stats = pool_stats(store, tenant.auth_id, at(11))

    assert (stats.exhausted, stats.peak, stats.recommended_size) == (1, 0, 1)
    assert stats.warning == "the pool was exhausted 1 time in the last 7 days; recommended size 1"


@pytest.mark.parametrize(
    ("open_at_once", "warning"),
    [
        (3, None),
        (4, "the peak of 4 open sessions is 80 % of the pool's 5 DIDs; recommended size 6"),
        (5, "the peak of 5 open sessions is 100 % of the pool's 5 DIDs; recommended size 8"),
    ],
)
def test_a_peak_at_80_percent_of_the_pool_is_a_warning(store, five, open_at_once, warning):
    for minute in range(open_at_once):
        start(store, five, at(10, minute))

    assert pool_stats(store, five.auth_id, at(10, 30)).warning == warning


# -- session lengths ----------------------------------------------------------------------------------------
def test_the_average_covers_sessions_ended_by_request_and_by_their_ttl(store, tenant):
    by_request = start(store, tenant, at(10))
    start(store, tenant, at(10, 1), expiry=1800)  # its TTL ends it at 10:31
    end(store, tenant, by_request, at(10, 10))
    reclaim_expired(store, tenant.auth_id, at(10, 32))  # as the worker does

    stats = pool_stats(store, tenant.auth_id, at(11))

    assert stats.ended == 2
    assert stats.average_session_seconds == (600 + 1800) / 2  # exact: `created` is read to the µs


def test_a_session_past_its_ttl_counts_as_ended_before_any_worker_ran(store, tenant):
    start(store, tenant, at(10), expiry=900)

    stats = pool_stats(store, tenant.auth_id, at(12))

    assert (stats.in_use, stats.ended, stats.average_session_seconds) == (0, 1, 900)
    assert peaks(stats) == [(hour(10), 1)]


# -- the pool now ---------------------------------------------------------------------------------------------
def test_counts_follow_opens_ends_suspensions_releases_and_cool_offs(store):
    four = make_tenant(store, dids=DIDS[:4])
    cooled = start(store, four, at(10), wanted=DIDS[0], virtual_number_cooloff_period=600)
    start(store, four, at(10, 1), wanted=DIDS[1])
    pool.set_suspended(store, four.auth_id, DIDS[2], True, at(10, 2))
    assert counts(pool_stats(store, four.auth_id, at(10, 3))) == {
        "size": 4,
        "in_use": 2,
        "free": 1,
        "cooling": 0,
        "suspended": 1,
    }

    end(store, four, cooled, at(10, 5))  # cools off until 10:15
    assert counts(pool_stats(store, four.auth_id, at(10, 6))) == {
        "size": 4,
        "in_use": 1,
        "free": 1,
        "cooling": 1,
        "suspended": 1,
    }

    pool.release_number(store, four.auth_id, DIDS[2], at(10, 7))
    assert counts(pool_stats(store, four.auth_id, at(10, 8))) == {
        "size": 3,
        "in_use": 1,
        "free": 1,
        "cooling": 1,
        "suspended": 0,
    }

    assert counts(pool_stats(store, four.auth_id, at(10, 16))) == {
        "size": 3,
        "in_use": 1,
        "free": 2,
        "cooling": 0,
        "suspended": 0,
    }

    pool.set_suspended(store, four.auth_id, DIDS[1], True, at(10, 17))  # suspended while in use
    pool.set_suspended(store, four.auth_id, DIDS[1], True, at(10, 18))
    assert counts(pool_stats(store, four.auth_id, at(10, 19))) == {
        "size": 3,
        "in_use": 1,
        "free": 2,
        "cooling": 0,
        "suspended": 1,
    }

    pool.set_suspended(store, four.auth_id, DIDS[1], False, at(10, 20))
    assert pool_stats(store, four.auth_id, at(10, 21)).suspended == 0


def test_free_numbers_of_every_country_are_counted(store):
    mixed = make_tenant(store, dids=[DIDS[0], "+442079460958"])
    open_session(store, credential(mixed), GB_CALLER, at(10))

    assert counts(pool_stats(store, mixed.auth_id, at(10, 1))) == {
        "size": 2,
        "in_use": 1,
        "free": 1,
        "cooling": 0,
        "suspended": 0,
    }


# -- the window -------------------------------------------------------------------------------------------------
def test_the_window_holds_only_the_last_days_asked_for(store, tenant):
    old = start(store, tenant, at(9, day=-3))
    start(store, tenant, at(9, 1, day=-3))  # its TTL ends it a day later
    end(store, tenant, old, at(9, 30, day=-3))
    with pytest.raises(PoolExhausted):
        open_session(store, credential(tenant), GB_CALLER, at(9, 40, day=-3))
    recent = start(store, tenant, at(11))
    end(store, tenant, recent, at(11, 10))

    today = pool_stats(store, tenant.auth_id, at(12), days=1)
    week = pool_stats(store, tenant.auth_id, at(12))

    assert (today.days, today.opened, today.ended, today.exhausted, today.average_session_seconds) == (1, 1, 1, 0, 600)
    assert peaks(today) == [(hour(11), 1)]
    assert (week.days, week.opened, week.ended, week.exhausted, week.peak) == (7, 3, 3, 1, 2)
    assert peaks(week) == [(hour(9, day=-3), 2)] + [(hour(h, day=-3), 1) for h in range(10, 24)] + [
        (hour(h, day=-2), 1) for h in range(10)
    ] + [(hour(11), 1)]
    assert week.average_session_seconds == (30 * 60 + 86_400 + 600) / 3
    assert week.since == to_us(DAY + timedelta(hours=13 - 7 * 24))


@pytest.mark.parametrize("days", [0, 31, -1])
def test_a_window_outside_1_to_30_days_names_the_field(store, tenant, days):
    with pytest.raises(InvalidInput) as caught:
        pool_stats(store, tenant.auth_id, at(12), days=days)

    assert caught.value.field == "days"


def test_old_figures_expire_in_per_day_hashes_that_outlive_the_longest_window(store, tenant):
    start(store, tenant, at(10))
    with pytest.raises(PoolExhausted):
        open_session(store, credential(tenant), GB_CALLER, at(10, 1))

    day = at(10) // (86_400 * US)
    figures = store.keys.capacity(tenant.auth_id, day)

    assert figures.startswith(store.keys.tenant_base(tenant.auth_id))
    assert store.redis.hgetall(figures) == {
        "opened:10": "1",
        "peak:10": "1",
        "peak_exclusive:10": "1",
        "dids_in:10": "1",
        "peak_dids:10": "1",
        "exhausted:10": "1",
    }
    kept_ms = lua_value(store, "capacity.lua", "CAPACITY_MS")
    assert 31 * 86_400_000 < store.redis.pttl(figures) <= kept_ms
    assert kept_ms > (capacity.MAX_DAYS + 1) * 86_400_000  # a 30-day window reads 31 UTC days


def test_figures_older_than_the_window_are_not_read(store, tenant):
    start(store, tenant, at(10, day=-31), expiry=600)
    reclaim_expired(store, tenant.auth_id, at(11, day=-31))

    stats = pool_stats(store, tenant.auth_id, at(9), days=30)

    assert (stats.opened, stats.ended, stats.hourly_peaks) == (0, 0, ())


def test_suspending_and_resuming_keep_a_set_of_the_suspended_numbers(store, tenant):
    pool.set_suspended(store, tenant.auth_id, DIDS[0], True, at(10))
    assert store.redis.smembers(store.keys.suspended(tenant.auth_id)) == {DIDS[0]}

    pool.set_suspended(store, tenant.auth_id, DIDS[0], False, at(10, 1))
    assert store.redis.exists(store.keys.suspended(tenant.auth_id)) == 0


# -- HTTP ------------------------------------------------------------------------------------------------------
def auth(tenant) -> dict[str, str]:
    return {"X-API-Key": tenant.api_key}


def test_the_pool_answers_its_figures_as_json(client, tenant):
    opened = [
        client.post(
            "/v1/sessions", json={"driver_phone": DRIVER, "customer_phone": CUSTOMER}, headers=auth(tenant)
        ).get_json()
        for _ in range(2)
    ]
    client.post(f"/v1/sessions/{opened[0]['id']}/complete", headers=auth(tenant))

    response = client.get("/v1/did/pool", headers=auth(tenant))

    assert response.status_code == 200
    body = response.get_json()
    assert list(body) == [
        "size",
        "in_use",
        "free",
        "cooling",
        "suspended",
        "days",
        "since",
        "peak_concurrent",
        "overall_peak",
        "peak_in_use",
        "overall_peak_in_use",
        "exhausted",
        "sessions_opened",
        "sessions_ended",
        "average_session_seconds",
        "recommended_size",
        "warning",
        "shared",
    ]
    assert body["shared"] == []  # no session shares a number
    assert [sorted(entry) for entry in body["peak_concurrent"]] == [["hour", "peak"]]
    assert body["peak_concurrent"][0]["peak"] == 2
    assert {k: body[k] for k in ("size", "in_use", "free", "cooling", "suspended", "days")} == {
        "size": 3,
        "in_use": 1,
        "free": 2,
        "cooling": 0,
        "suspended": 0,
        "days": 7,
    }
    assert (body["overall_peak"], body["exhausted"], body["sessions_opened"], body["sessions_ended"]) == (2, 0, 2, 1)
    assert isinstance(body["average_session_seconds"], float)
    assert (body["recommended_size"], body["warning"]) == (3, None)
    assert body["since"].endswith(":00:00Z")


def test_hours_are_shown_as_iso_times_of_their_start():
    assert hour_time(to_us(datetime(2026, 11, 23, 15, tzinfo=UTC))) == "2026-11-23T15:00:00Z"


@pytest.mark.parametrize("days", ["1", "30", "07"])
def test_days_from_1_to_30_are_accepted(client, tenant, days):
    response = client.get("/v1/did/pool", query_string={"days": days}, headers=auth(tenant))

    assert response.status_code == 200
    assert response.get_json()["days"] == int(days)


@pytest.mark.parametrize("days", ["0", "31", "-1", "1.5", "abc", "", "²", "1e1", " 7 ", "7\n"])
def test_days_out_of_1_to_30_is_a_400_naming_the_field(client, tenant, days):
    response = client.get("/v1/did/pool", query_string={"days": days}, headers=auth(tenant))

    assert response.status_code == 400
    assert response.get_json()["field"] == "days"


def test_another_parameter_is_a_400_naming_it(client, tenant):
    response = client.get("/v1/did/pool?window=7", headers=auth(tenant))

    assert response.status_code == 400
    assert response.get_json()["field"] == "window"


@pytest.mark.parametrize("headers", [{}, {"X-API-Key": "mk_nope"}])
def test_the_pool_needs_a_valid_api_key(client, tenant, headers):
    assert client.get("/v1/did/pool", headers=headers).status_code == 401


def test_another_tenants_sessions_and_numbers_do_not_show(client, store, tenant):
    other = make_tenant(store, ["+14155550199"], name="other")
    client.post("/v1/sessions", json={"driver_phone": DRIVER, "customer_phone": CUSTOMER}, headers=auth(other))
    with pytest.raises(PoolExhausted):
        start(store, other, now_us())

    mine = client.get("/v1/did/pool", headers=auth(tenant)).get_json()
    theirs = client.get("/v1/did/pool", headers=auth(other)).get_json()

    assert (mine["size"], mine["in_use"], mine["overall_peak"], mine["exhausted"], mine["warning"]) == (
        3,
        0,
        0,
        0,
        None,
    )
    assert (theirs["size"], theirs["in_use"], theirs["overall_peak"], theirs["exhausted"]) == (1, 1, 1, 1)


# -- a real Redis ------------------------------------------------------------------------------------------------
def test_the_figures_on_a_real_redis(real_store):
    tenant = make_tenant(real_store, dids=DIDS[:3])
    cooled = start(real_store, tenant, at(10), wanted=DIDS[0], virtual_number_cooloff_period=600)
    start(real_store, tenant, at(10, 1), wanted=DIDS[1], expiry=120)  # its TTL ends it at 10:03
    start(real_store, tenant, at(10, 2), wanted=DIDS[2])
    with pytest.raises(PoolExhausted):
        start(real_store, tenant, at(10, 2))
    end(real_store, tenant, cooled, at(10) + 150 * US)
    pool.set_suspended(real_store, tenant.auth_id, DIDS[2], True, at(10, 4))

    stats = pool_stats(real_store, tenant.auth_id, at(10, 5))

    assert counts(stats) == {"size": 3, "in_use": 1, "free": 1, "cooling": 1, "suspended": 1}
    assert (stats.peak, stats.exhausted, stats.opened, stats.ended) == (3, 1, 3, 2)
    assert stats.average_session_seconds == (150 + 120) / 2  # cjson would be tens of µs off
    assert peaks(stats) == [(hour(10), 3)]
    assert stats.warning == (
        "the pool was exhausted 1 time in the last 7 days and the peak of 3 open sessions is "
        "100 % of the pool's 3 DIDs; recommended size 5"
    )
    figures = real_store.keys.capacity(tenant.auth_id, at(10) // (86_400 * US))
    assert 31 * 86_400_000 < real_store.redis.pttl(figures) <= lua_value(real_store, "capacity.lua", "CAPACITY_MS")


# -- the command ------------------------------------------------------------------------------------------------
def masq(env: dict[str, str], *args: str):
    return CliRunner().invoke(cli, list(args), env=env)


def test_masq_pool_stats_prints_the_figures_as_json(env):
    created = json.loads(masq(env, "tenant", "create", "--name", "acme").stdout)
    auth_id = created["auth_id"]
    assert masq(env, "did", "add", auth_id, DIDS[0], DIDS[1]).exit_code == 0
    store = Store.connect(env["REDIS_URL"], env["MASQ_KEY_PREFIX"])
    try:
        open_session(
            store,
            basic_credential(auth_id, created["auth_token"]),
            {"first_party": DRIVER, "second_party": CUSTOMER},
            now_us(),
        )
    finally:
        store.redis.close()

    result = masq(env, "pool", "stats", auth_id, "--days", "2")

    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout)
    assert (printed["auth_id"], printed["size"], printed["in_use"], printed["free"], printed["days"]) == (
        auth_id,
        2,
        1,
        1,
        2,
    )
    assert (printed["overall_peak"], printed["sessions_opened"], printed["recommended_size"]) == (1, 1, 2)
    assert printed["warning"] is None


def test_masq_pool_stats_refuses_a_window_beyond_30_days_and_an_unknown_account(env):
    assert masq(env, "pool", "stats", "MA" + "0" * 18, "--days", "31").exit_code == 2

    unknown = masq(env, "pool", "stats", "MA" + "0" * 18)

    assert unknown.exit_code == 1
    assert "no account" in json.loads(unknown.stderr)["error"]
