"""A slow endpoint holds only its own lane: other tenants' callbacks go on, and no endpoint gets more than its bound."""

import pytest

from routing import outbox
from routing.clock import US, now_us
from routing.outbox import GROUP
from routing.sessions import lifecycle
from tests.conftest import make_tenant, wait_for
from tests.dispatch_helpers import FAST, PARTIES, add_event, listeners, running
from tests.receiver import Receiver
from tests.sessions_helpers import credential
from workers.dispatcher import Dispatcher, run_in_thread


@pytest.fixture
def slow_receiver():
    """A receiver that holds every request until the test sets its gate."""
    server = Receiver().start()
    server.gate.clear()
    yield server
    server.stop()


@pytest.fixture
def sender(make_sender):
    return make_sender(16)


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

    with running(Dispatcher(real_store, sender, policy=FAST, per_endpoint=3)) as worker:
        for seq in range(1, 11):
            add_event(real_store, slow.auth_id, slow_session.session_uuid, seq)
        wait_for(lambda: slow_receiver.arrived == 3)  # its bound, held by the receiver; the rest wait in its lane
        add_event(real_store, fast.auth_id, fast_session.session_uuid)
        wait_for(lambda: len(receiver.requests) == 1)
        held_meanwhile = (slow_receiver.arrived, len(slow_receiver.requests), worker.lanes.waiting())
        slow_receiver.gate.set()
        wait_for(lambda: len(slow_receiver.requests) == 10 and pending(real_store, slow) == 0)

    assert held_meanwhile == (3, 0, 7)
    assert slow_receiver.most_at_once == 3
    assert sorted(int(r.params["SequenceNumber"]) for r in slow_receiver.requests) == list(range(1, 11))


def test_a_tenant_has_no_more_deliveries_claimed_at_once_than_its_bound(real_store, sender, slow_receiver):
    tenant = make_tenant(real_store, ["+14155550100"])
    session = session_of(real_store, tenant, slow_receiver.url)

    with running(Dispatcher(real_store, sender, policy=FAST, batch=6, per_endpoint=3)):
        for seq in range(1, 21):
            add_event(real_store, tenant.auth_id, session.session_uuid, seq)
        wait_for(lambda: slow_receiver.arrived == 3 and pending(real_store, tenant) == 6)
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
    worker = Dispatcher(real_store, sender, policy=FAST, batch=10, per_endpoint=3)
    thread, stop = run_in_thread(worker)
    wait_for(lambda: listeners(real_store) == 1)
    for seq in range(1, 11):
        add_event(real_store, tenant.auth_id, session.session_uuid, seq)
    wait_for(lambda: slow_receiver.arrived == 3 and pending(real_store, tenant) == 10)

    stop.set()
    wait_for(lambda: worker.lanes.waiting() == 0)  # stopping: the queued ones are let go
    slow_receiver.gate.set()
    thread.join(timeout=60)

    assert not thread.is_alive()
    assert len(slow_receiver.requests) == 3  # those in flight, finished and settled; the other seven never left
    assert pending(real_store, tenant) == 7 and real_store.redis.xlen(real_store.keys.events(tenant.auth_id)) == 7


def test_a_tenant_with_many_slow_endpoints_holds_only_its_share_of_the_threads(real_store, sender, receiver):
    slow_ones = [Receiver().start() for _ in range(4)]
    for gated in slow_ones:
        gated.gate.clear()
    numbers = [f"+1415555010{n}" for n in range(4)]
    greedy, other = make_tenant(real_store, numbers, "greedy"), make_tenant(real_store, ["+14155550110"], "other")
    sessions = [session_of(real_store, greedy, gated.url) for gated in slow_ones]
    try:
        with running(Dispatcher(real_store, sender, policy=FAST)) as worker:  # 16 threads: 4 for one tenant
            for seq in range(1, 6):
                for session in sessions:
                    add_event(real_store, greedy.auth_id, session.session_uuid, seq)
            wait_for(lambda: sum(g.arrived for g in slow_ones) == 4)
            add_event(real_store, other.auth_id, session_of(real_store, other, receiver.url).session_uuid)
            wait_for(lambda: len(receiver.requests) == 1)
            held_meanwhile = (sum(g.arrived for g in slow_ones), worker.lanes.tenant_in_flight(greedy.auth_id))
            for gated in slow_ones:
                gated.gate.set()
            wait_for(lambda: sum(len(g.requests) for g in slow_ones) == 20 and pending(real_store, greedy) == 0)
    finally:
        for gated in slow_ones:
            gated.stop()

    assert held_meanwhile == (4, 4)


def test_retries_to_a_dead_endpoint_leave_room_for_the_tenants_fresh_events(
    real_store, sender, receiver, slow_receiver
):
    tenant = make_tenant(real_store, ["+14155550100", "+14155550101"])
    dead, healthy = session_of(real_store, tenant, slow_receiver.url), session_of(real_store, tenant, receiver.url)
    for seq in range(1, 9):  # eight retries due now, to an endpoint that holds every request
        add_event(real_store, tenant.auth_id, dead.session_uuid, seq, ring=False)
        [entry] = outbox.claim(real_store, tenant.auth_id, "earlier", now_us(), 1, FAST)
        outbox.failed(real_store, tenant.auth_id, entry, "HTTP 503", now_us() - 10 * US, policy=FAST)

    with running(Dispatcher(real_store, sender, policy=FAST, batch=8)) as worker:
        # The retries: half the batch claimed, three sent (below the tenant's four threads), none settled.
        wait_for(lambda: slow_receiver.arrived == 3 and len(worker.retrying[tenant.auth_id]) == 4)
        add_event(real_store, tenant.auth_id, healthy.session_uuid, 100)
        wait_for(lambda: len(receiver.requests) == 1)
        retries_held = len(worker.retrying[tenant.auth_id])
        slow_receiver.gate.set()
        wait_for(
            lambda: (
                len(slow_receiver.requests) == 8 and real_store.redis.xlen(real_store.keys.events(tenant.auth_id)) == 0
            )
        )

    assert retries_held == 4
