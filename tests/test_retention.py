import pytest

from routing.clock import US
from routing.sessions import lifecycle
from tests.lua_helpers import lua_value
from tests.sessions_helpers import credential

T0 = 1_700_000_000 * US
DAY = 86_400 * US
PARTIES = {"first_party": "+14155551234", "second_party": "+14155554321", "session_expiry": 600}


@pytest.fixture
def retention_days(store):
    """The retention period the scripts keep, in days (retention.lua)."""
    return lua_value(store, "retention.lua", "RETENTION_MS") // 86_400_000


def test_the_retention_period_is_plivos_90_days(retention_days):
    assert retention_days == 90


def test_an_open_session_is_kept_without_a_time_to_live(store, tenant):
    session = lifecycle.open_session(store, credential(tenant), PARTIES, T0)

    assert store.redis.pttl(store.keys.session(tenant.auth_id, session.session_uuid)) == -1


def test_an_ended_session_stays_readable_for_the_retention_period(store, tenant, retention_days):
    session = lifecycle.open_session(store, credential(tenant), PARTIES, T0)
    lifecycle.end_session(store, tenant.auth_id, session.session_uuid, T0 + US)

    ttl_ms = store.redis.pttl(store.keys.session(tenant.auth_id, session.session_uuid))
    assert retention_days * 86_400_000 - 5_000 < ttl_ms <= retention_days * 86_400_000


def test_a_session_ended_by_its_ttl_is_kept_for_the_retention_period_from_its_expiry(store, tenant, retention_days):
    session = lifecycle.open_session(store, credential(tenant), PARTIES, T0)
    lifecycle.reclaim_expired(store, tenant.auth_id, T0 + 600 * US + DAY)

    ttl_ms = store.redis.pttl(store.keys.session(tenant.auth_id, session.session_uuid))
    assert (retention_days - 1) * 86_400_000 - 5_000 < ttl_ms <= (retention_days - 1) * 86_400_000


def test_the_listing_index_forgets_sessions_older_than_the_retention_period(store, tenant, retention_days):
    old = lifecycle.open_session(store, credential(tenant), PARTIES, T0)
    lifecycle.end_session(store, tenant.auth_id, old.session_uuid, T0 + US)
    later = T0 + (retention_days + 1) * DAY

    lifecycle.reclaim_expired(store, tenant.auth_id, later)

    assert store.redis.zscore(store.keys.sessions_by_created(tenant.auth_id), old.session_uuid) is None
