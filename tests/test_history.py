"""A session's calls as the API shows them: one session's, and a listing's in one round trip."""

from __future__ import annotations

import uuid

from routing.calls import inbound
from routing.calls.history import CallState, read_calls, read_calls_many
from routing.clock import now_us
from routing.sessions import lifecycle
from tests.conftest import make_tenant
from tests.sessions_helpers import credential

FIRST, SECOND = "+14155551234", "+14155554321"


def sessions_with_calls(store, tenant, count):
    """Open `count` sessions; the first `count - 1` each get one call from their first party."""
    opened = [
        lifecycle.open_session(store, credential(tenant), {"first_party": FIRST, "second_party": SECOND}, now_us())
        for _ in range(count)
    ]
    for session in opened[:-1]:
        call = inbound.incoming_call("CA" + uuid.uuid4().hex, FIRST, session.virtual_number)
        inbound.identify_caller(store, call, now_us())
    return opened


def count_connections_taken(store, monkeypatch):
    """Return a list that grows by one each time the store's client takes a connection (a round trip or more)."""
    taken = []
    pool = store.redis.connection_pool
    original = pool.get_connection

    def get_connection(*args, **kwargs):
        taken.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(pool, "get_connection", get_connection)
    return taken


def test_a_listing_reads_each_sessions_calls_as_one_read_would(store):
    tenant = make_tenant(store)
    opened = sessions_with_calls(store, tenant, 3)
    now = now_us()
    many = read_calls_many(store, tenant.auth_id, [s.session_uuid for s in opened], now)
    assert many == [read_calls(store, tenant.auth_id, s.session_uuid, now) for s in opened]
    assert [state.count for state in many] == [1, 1, 0]


def test_a_listing_reads_every_sessions_calls_in_one_round_trip(store, monkeypatch):
    tenant = make_tenant(store)
    opened = sessions_with_calls(store, tenant, 3)
    read_calls_many(store, tenant.auth_id, [opened[0].session_uuid], now_us())  # the script is loaded by now
    taken = count_connections_taken(store, monkeypatch)
    assert len(read_calls_many(store, tenant.auth_id, [s.session_uuid for s in opened], now_us())) == 3
    assert len(taken) == 1


def test_a_listing_still_reads_when_the_server_forgot_the_script(store):
    tenant = make_tenant(store)
    called, _ = sessions_with_calls(store, tenant, 2)
    read_calls_many(store, tenant.auth_id, [called.session_uuid], now_us())
    store.redis.script_flush()
    now = now_us()
    [state] = read_calls_many(store, tenant.auth_id, [called.session_uuid], now)
    assert state == read_calls(store, tenant.auth_id, called.session_uuid, now) != CallState()


def test_an_empty_listing_reads_nothing(store, monkeypatch):
    taken = count_connections_taken(store, monkeypatch)
    assert read_calls_many(store, "MA0123456789ABCDEFGH", [], now_us()) == []
    assert taken == []
