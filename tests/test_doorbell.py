"""A running worker does each tenant's work when it falls due: woken by the doorbell, or by its own due-index, and
a lost ring is found again."""

import time

import pytest
import redis

from app.cli import embedded
from routing.clock import US, now_us
from routing.sessions import lifecycle
from routing.store import Store
from tests.conftest import _free_port, make_tenant, wait_for
from tests.dispatch_helpers import FAST, PARTIES, add_event, listeners, running
from tests.sessions_helpers import credential
from workers import dispatcher as dispatcher_module
from workers.dispatcher import Dispatcher

# How late a worker with nothing else to do may be (s): it sleeps until the due time; the rest is a busy machine.
ON_TIME = 0.25


@pytest.fixture
def sender(make_sender):
    return make_sender(4)


def open_session(store, tenant, opened=None, **options):
    return lifecycle.open_session(store, credential(tenant), {**PARTIES, **options}, opened or now_us())


def entry_time(entry_id):
    """Return when a stream entry was added (s, to the ms), from its id."""
    return int(entry_id.split("-")[0]) / 1000


def test_an_event_wakes_the_worker_at_once(real_store, sender, receiver):
    tenant = make_tenant(real_store)
    session = open_session(real_store, tenant, callback_url=receiver.url)

    with running(Dispatcher(real_store, sender, policy=FAST)):
        written = entry_time(add_event(real_store, tenant.auth_id, session.session_uuid))
        wait_for(lambda: len(receiver.requests) == 1)

    assert -0.001 <= receiver.requests[0].at - written < ON_TIME


def test_a_session_expires_on_time_and_its_timeout_is_announced(real_store, sender, receiver):
    tenant = make_tenant(real_store)
    with running(Dispatcher(real_store, sender, policy=FAST)):
        session = open_session(real_store, tenant, now_us() - 58 * US, session_expiry=60, callback_url=receiver.url)
        wait_for(lambda: len(receiver.requests) == 1)

    [history] = [
        fields
        for _, fields in real_store.redis.xrange(real_store.keys.session_events(tenant.auth_id, session.session_uuid))
        if fields["EventName"] == "SessionTimeout"
    ]
    assert -0.001 <= entry_time(history["entry"]) - session.expiry / US < ON_TIME  # an entry id counts whole ms
    assert receiver.requests[0].params["EventName"] == "SessionTimeout"


def test_a_number_is_freed_when_its_cool_off_ends(real_store, sender):
    tenant = make_tenant(real_store, ["+14155550100"])
    session = open_session(real_store, tenant, virtual_number_cooloff_period=2)
    free = real_store.keys.free(tenant.auth_id, "US")

    with running(Dispatcher(real_store, sender, policy=FAST)):
        ended = now_us()
        lifecycle.end_session(real_store, tenant.auth_id, session.session_uuid, ended)
        wait_for(lambda: real_store.redis.sismember(free, session.virtual_number))
        seen = time.time()

    assert 0 <= seen - (ended / US + 2) < ON_TIME + 0.1  # the poll that saw it adds its own 20 ms


def test_a_failed_delivery_is_retried_at_its_time(real_store, sender, receiver):
    tenant = make_tenant(real_store)
    session = open_session(real_store, tenant, callback_url=receiver.url)
    receiver.status = 500

    with running(Dispatcher(real_store, sender, policy=FAST)):
        add_event(real_store, tenant.auth_id, session.session_uuid)
        wait_for(lambda: len(receiver.requests) == 1)
        receiver.status = 200
        wait_for(
            lambda: len(receiver.requests) == 2 and real_store.redis.xlen(real_store.keys.events(tenant.auth_id)) == 0
        )

    first, second = receiver.requests
    assert FAST.backoff[0] <= second.at - first.at < FAST.backoff[0] + ON_TIME
    assert first.headers["Idempotency-Key"] == second.headers["Idempotency-Key"]


def test_an_event_whose_ring_was_lost_is_found_when_the_worker_subscribes_again(real_store, sender, receiver):
    tenant = make_tenant(real_store)
    session = open_session(real_store, tenant, callback_url=receiver.url)

    with running(Dispatcher(real_store, sender, policy=FAST)) as worker:
        add_event(real_store, tenant.auth_id, session.session_uuid, ring=False)
        host, port = worker.doorbell._pubsub.connection._sock.getsockname()[:2]
        real_store.redis.client_kill_filter(_type="pubsub", skipme=True, addr=f"{host}:{port}")
        wait_for(lambda: len(receiver.requests) == 1)

    assert receiver.requests[0].params["SessionUUID"] == session.session_uuid


def test_an_event_whose_ring_was_lost_is_found_by_the_rescan(real_store, sender, receiver, monkeypatch):
    monkeypatch.setattr(dispatcher_module, "RESCAN_EVERY", 2 * US)
    tenant = make_tenant(real_store)
    session = open_session(real_store, tenant, callback_url=receiver.url)

    with running(Dispatcher(real_store, sender, policy=FAST)):
        add_event(real_store, tenant.auth_id, session.session_uuid, ring=False)
        wait_for(lambda: len(receiver.requests) == 1)

    assert receiver.requests[0].params["SessionUUID"] == session.session_uuid


def test_a_worker_hears_the_doorbell_again_after_redis_restarts(tmp_path, sender, receiver):
    port, data = _free_port(), str(tmp_path / "redis")
    url = embedded.ensure_running(data, port)
    try:
        store = Store.connect(url, "restart:")
        tenant = make_tenant(store)
        session = open_session(store, tenant, callback_url=receiver.url)
        with running(Dispatcher(store, sender, policy=FAST)):
            assert embedded.stop(port, data)
            embedded.ensure_running(data, port)
            wait_for(lambda: listeners(store) == 1, ignoring=(redis.ConnectionError,))
            wait_for(store.client.ping, ignoring=(redis.ConnectionError,))  # this thread's connection, made again
            add_event(store, tenant.auth_id, session.session_uuid)
            wait_for(lambda: len(receiver.requests) == 1)
        store.redis.close()
    finally:
        embedded.stop(port)

    assert receiver.requests[0].params["SessionUUID"] == session.session_uuid
