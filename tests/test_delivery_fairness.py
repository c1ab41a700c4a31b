"""A slow endpoint holds only its own lane: other tenants' callbacks go on, and no endpoint gets more than its bound."""

import pytest

from routing.clock import now_us
from routing.outbox import GROUP, Policy
from routing.sessions import lifecycle
from tests.conftest import make_tenant, wait_for
from tests.dispatch_helpers import add_event, listeners, running
from tests.receiver import Receiver
from tests.sessions_helpers import credential
from workers.deliveries import Sender
from workers.dispatcher import Dispatcher, run_in_thread

FAST = Policy(backoff=(1, 2))
PARTIES = {"first_party": "+14155551234", "second_party": "+14155554321"}


@pytest.fixture
def slow_receiver():
    """A receiver that holds every request until the test sets its gate."""
    server = Receiver().start()
    server.gate.clear()
    yield server
    server.stop()


@pytest.fixture
def sender():
    pool = Sender(threads=16, allow_private=True)
    yield pool
    pool.close()


def session_of(store, tenant, url):
    return lifecycle.open_session(store, credential(tenant), {**PARTIES, "callback_url": url}, now_us())


def pending(store, tenant):
    return int(store.redis.xpending(store.keys.events(tenant.auth_id), GROUP)["pending"])


def test_a_slow_endpoint_does_not_delay_another_tenants_events(real_store, sender, receiver, slow_receiver):
    slow, fast = make_tenant(real_store, ["+14155550100"], "slow"), make_tenant(real_store, ["+14155550110"], "fast")
    slow_session, fast_session = (
        session_of(real_store, slow, slow_receiver.url),
        session_of(real_store, fast, receiver.url),
    )

    with running(Dispatcher(real_store, sender, policy=FAST, per_endpoint=4)) as worker:
        for seq in range(1, 11):
            add_event(real_store, slow.auth_id, slow_session.session_uuid, seq)
        wait_for(lambda: slow_receiver.arrived == 4)  # its bound, held by the receiver; the rest wait in its lane
        add_event(real_store, fast.auth_id, fast_session.session_uuid)
        wait_for(lambda: len(receiver.requests) == 1)
        held_meanwhile = (slow_receiver.arrived, len(slow_receiver.requests), worker.lanes.waiting())
        slow_receiver.gate.set()
        wait_for(lambda: len(slow_receiver.requests) == 10 and pending(real_store, slow) == 0)

    assert held_meanwhile == (4, 0, 6)
    assert slow_receiver.most_at_once == 4
    assert sorted(int(r.params["SequenceNumber"]) for r in slow_receiver.requests) == list(range(1, 11))


def test_a_tenant_has_no_more_deliveries_claimed_at_once_than_its_bound(real_store, sender, slow_receiver):
    tenant = make_tenant(real_store, ["+14155550100"])
    session = session_of(real_store, tenant, slow_receiver.url)

    with running(Dispatcher(real_store, sender, policy=FAST, batch=6, per_endpoint=4)):
        for seq in range(1, 21):
            add_event(real_store, tenant.auth_id, session.session_uuid, seq)
        wait_for(lambda: slow_receiver.arrived == 4 and pending(real_store, tenant) == 6)
        claimed_while_held = pending(real_store, tenant)
        slow_receiver.gate.set()
        wait_for(lambda: len(slow_receiver.requests) == 20 and pending(real_store, tenant) == 0)

    assert claimed_while_held == 6
    assert real_store.redis.xlen(real_store.keys.events(tenant.auth_id)) == 0


def test_a_stopping_worker_finishes_the_sends_in_flight_and_leaves_the_queued_ones_pending(
    real_store, sender, slow_receiver
):
    tenant = make_tenant(real_store, ["+14155550100"])
    session = session_of(real_store, tenant, slow_receiver.url)
    worker = Dispatcher(real_store, sender, policy=FAST, batch=10, per_endpoint=4)
    thread, stop = run_in_thread(worker)
    wait_for(lambda: listeners(real_store) == 1)
    for seq in range(1, 11):
        add_event(real_store, tenant.auth_id, session.session_uuid, seq)
    wait_for(lambda: slow_receiver.arrived == 4 and pending(real_store, tenant) == 10)

    stop.set()
    wait_for(lambda: worker.lanes.waiting() == 0)  # stopping: the queued ones are let go
    slow_receiver.gate.set()
    thread.join(timeout=60)

    assert not thread.is_alive()
    assert len(slow_receiver.requests) == 4  # those in flight, finished and settled; the other six never left
    assert pending(real_store, tenant) == 6 and real_store.redis.xlen(real_store.keys.events(tenant.auth_id)) == 6
