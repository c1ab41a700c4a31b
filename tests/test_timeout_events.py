from datetime import UTC, datetime

import pytest

from routing.clock import US, plivo_time, to_us
from routing.outbox import wire_fields
from routing.sessions import lifecycle
from tests.sessions_helpers import credential

PARTIES = {"first_party": "+14155551234", "second_party": "+14155554321", "session_expiry": 60}


def timeout_events(store, auth_id):
    return [
        wire_fields(fields)
        for _, fields in store.redis.xrange(store.keys.events(auth_id))
        if fields["EventName"] == "SessionTimeout"
    ]


@pytest.mark.parametrize(
    "opened",
    [
        datetime(2024, 2, 28, 23, 59, 30, 123456, tzinfo=UTC),  # expires on a leap day
        datetime(2023, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),  # expires in the new year
        datetime(2000, 2, 29, 0, 0, 0, 1, tzinfo=UTC),
        datetime(2100, 2, 28, 23, 59, 0, tzinfo=UTC),  # 2100 is not a leap year
        datetime(1999, 12, 31, 23, 59, 0, 500000, tzinfo=UTC),
        datetime(2026, 11, 23, 15, 4, 5, 67, tzinfo=UTC),
    ],
)
def test_a_session_that_runs_out_its_ttl_is_announced_with_its_expiry_time(store, tenant, opened):
    session = lifecycle.open_session(store, credential(tenant), PARTIES, to_us(opened))

    lifecycle.reclaim_expired(store, tenant.auth_id, session.expiry + 5 * US)

    [event] = timeout_events(store, tenant.auth_id)
    assert event == {
        "EventName": "SessionTimeout",
        "EventTimestamp": plivo_time(session.expiry),
        "SessionUUID": session.session_uuid,
        "From": "+14155551234",
        "To": "+14155554321",
        "VirtualNumber": session.virtual_number,
        "SequenceNumber": "1",
    }


def test_the_timeout_comes_after_the_sessions_other_events_in_its_sequence(store, tenant):
    session = lifecycle.open_session(store, credential(tenant), PARTIES, 1_700_000_000 * US)
    store.redis.hset(store.keys.call_state(tenant.auth_id, session.session_uuid), "seq", 7)

    lifecycle.reclaim_expired(store, tenant.auth_id, session.expiry)

    assert timeout_events(store, tenant.auth_id)[0]["SequenceNumber"] == "8"


def test_a_session_ended_on_request_is_not_announced_as_a_timeout(store, tenant):
    session = lifecycle.open_session(store, credential(tenant), PARTIES, 1_700_000_000 * US)
    lifecycle.end_session(store, tenant.auth_id, session.session_uuid, session.created + US)

    lifecycle.reclaim_expired(store, tenant.auth_id, session.expiry + US)

    assert timeout_events(store, tenant.auth_id) == []


def test_the_timeout_is_announced_on_a_real_redis_too(real_store):
    from tests.conftest import make_tenant

    tenant = make_tenant(real_store)
    session = lifecycle.open_session(
        real_store, credential(tenant), PARTIES, to_us(datetime(2024, 2, 29, 12, tzinfo=UTC))
    )

    lifecycle.reclaim_expired(real_store, tenant.auth_id, session.expiry)

    [event] = timeout_events(real_store, tenant.auth_id)
    assert event["EventTimestamp"] == "2024-02-29 12:01:00.000000 +0000 UTC"
