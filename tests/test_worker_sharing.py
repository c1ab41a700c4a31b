"""Several workers share the tenants: each event is delivered once, and a worker that stops or dies hands its
tenants over (a dead one's pending deliveries within the claim time of their claim)."""

import time
from collections import Counter

import pytest

from routing.clock import now_us
from routing.outbox import GROUP, Policy
from routing.sessions import lifecycle
from tests.conftest import make_tenant, wait_for
from tests.dispatch_helpers import FAST, PARTIES, add_event, running
from tests.receiver import Receiver
from tests.sessions_helpers import credential
from tests.worker_process import WorkerProcess, forget_queue
from workers.deliveries import Sender
from workers.dispatcher import Dispatcher
from workers.membership import BEAT, LIVE, owner

CLAIM_MS = 2000


@pytest.fixture
def sender(make_sender):
    return make_sender(8)


def tenants_with_sessions(store, count, url, start=0):
    made = []
    for n in range(start, start + count):
        tenant = make_tenant(store, [f"+141555501{n:02d}"], f"tenant-{n}")
        session = lifecycle.open_session(store, credential(tenant), {**PARTIES, "callback_url": url}, now_us())
        made.append((tenant, session))
    return made


def owed(store, made):
    return sum(store.redis.xlen(store.keys.events(tenant.auth_id)) for tenant, _ in made)


def test_two_workers_share_the_tenants_and_deliver_each_event_once(real_store, sender, receiver):
    made = tenants_with_sessions(real_store, 8, receiver.url)
    first = Dispatcher(real_store, sender, policy=FAST, worker_id="first")
    second = Dispatcher(real_store, sender, policy=FAST, worker_id="second")

    with running(first), running(second):
        wait_for(lambda: first.membership.workers == second.membership.workers == {"first", "second"}, BEAT / 1e6 * 3)
        for tenant, session in made:
            for seq in range(1, 6):
                add_event(real_store, tenant.auth_id, session.session_uuid, seq)
        wait_for(lambda: len(receiver.requests) == 40 and owed(real_store, made) == 0)
        owners = (set(first.owned), set(second.owned))

    assert max(Counter(r.headers["Idempotency-Key"] for r in receiver.requests).values()) == 1
    assert owners[0] and owners[1] and not owners[0] & owners[1]
    assert owners[0] | owners[1] == {tenant.auth_id for tenant, _ in made}


def test_a_worker_that_stops_hands_its_tenants_over_at_the_next_beat(real_store, sender, receiver):
    made = tenants_with_sessions(real_store, 8, receiver.url)
    staying = Dispatcher(real_store, sender, policy=FAST, worker_id="staying")

    with running(staying):
        with running(Dispatcher(real_store, sender, policy=FAST, worker_id="leaving")):
            wait_for(lambda: staying.membership.workers == {"staying", "leaving"}, BEAT / 1e6 * 3)
            shared = len(staying.owned)
        stopped = time.monotonic()
        for tenant, session in made:
            add_event(real_store, tenant.auth_id, session.session_uuid)
        wait_for(lambda: len(receiver.requests) == 8 and owed(real_store, made) == 0)
        took = time.monotonic() - stopped

    assert shared < 8 and len(staying.owned) == 8
    assert took < BEAT / 1e6 + 2


def test_a_killed_workers_tenants_and_pending_deliveries_are_taken_over(redis_url, real_store):
    gated = Receiver().start()
    gated.gate.clear()
    made = tenants_with_sessions(real_store, 6, gated.url)  # fewer than a worker's bound for one endpoint
    settings = {"MASQ_CALLBACK_CLAIM_IDLE_MS": str(CLAIM_MS), "MASQ_CALLBACK_BACKOFF": "1,1,1"}
    # Each with a thread for every event: should one worker own every tenant, all are still in flight at once.
    workers = [WorkerProcess(redis_url, real_store.keys.prefix, threads=6, **settings).start() for _ in range(2)]
    try:
        wait_for(lambda: real_store.redis.zcard(real_store.keys.workers()) == 2)
        time.sleep(BEAT / 1e6 + 1)  # every worker has beaten since both registered: they agree on the owners
        for tenant, session in made:
            add_event(real_store, tenant.auth_id, session.session_uuid)
        wait_for(lambda: gated.arrived == 6)  # every event is in flight, held by the receiver
        holders = Counter()
        for tenant, _ in made:
            for consumer in real_store.redis.xinfo_consumers(real_store.keys.events(tenant.auth_id), GROUP):
                holders[consumer["name"]] += consumer["pending"]
        [victim] = [w for w in workers if any(f"-{w.process.pid}-" in name for name in holders)][:1]
        killed_holds = sum(n for name, n in holders.items() if f"-{victim.process.pid}-" in name)

        victim.kill()
        killed = time.monotonic()
        gated.gate.set()
        wait_for(lambda: owed(real_store, made) == 0, seconds=90)
        took = time.monotonic() - killed
    finally:
        for worker in workers:
            worker.stop()
            forget_queue(redis_url, worker.env["MASQ_QUEUE"])
        gated.stop()

    keys = Counter(r.headers["Idempotency-Key"] for r in gated.requests)
    assert set(keys) == {f"{session.session_uuid}-1" for _, session in made}  # every event, with its own key
    # What the killed worker held was sent again, once.
    assert sum(keys.values()) == 6 + killed_holds, (holders, keys)
    # Noticed dead within LIVE and a beat; its deliveries are then past the claim time. A busy machine adds its share.
    assert took < (LIVE + 2 * BEAT) / 1e6 + CLAIM_MS / 1000 + 10, took


def test_a_worker_that_loses_a_tenant_hands_its_queued_deliveries_to_the_new_owner_at_once(real_store):
    gated = Receiver().start()
    gated.gate.clear()
    made = tenants_with_sessions(real_store, 4, gated.url)
    while len({owner(frozenset({"first", "second"}), tenant.auth_id) for tenant, _ in made}) < 2:
        made += tenants_with_sessions(real_store, 1, gated.url, start=len(made))  # so that each owns one at least
    pools = [Sender(threads=8, allow_private=True) for _ in range(2)]  # two threads a tenant, one to an endpoint
    first = Dispatcher(real_store, pools[0], policy=FAST, worker_id="first")
    second = Dispatcher(real_store, pools[1], policy=FAST, worker_id="second")
    try:
        with running(first):
            for tenant, session in made:
                for seq in range(1, 6):
                    add_event(real_store, tenant.auth_id, session.session_uuid, seq)
            # One in flight for each tenant, four queued.
            wait_for(lambda: gated.arrived == len(made) and first.lanes.waiting() == 4 * len(made))
            with running(second):
                wait_for(lambda: first.membership.workers == second.membership.workers == {"first", "second"}, 30)
                wait_for(lambda: set(second.owned) and not set(first.owned) & set(second.owned))
                lost = set(second.owned)
                # The new owner sends what the old one had queued now, not after the claim time (120 s).
                wait_for(lambda: gated.arrived == len(made) + len(lost), 30)
                queued_by_first = {s.auth_id for s in first.lanes.drop(lambda s: False)}
                gated.gate.set()
                wait_for(lambda: owed(real_store, made) == 0, 60)
    finally:
        gated.stop()
        for pool in pools:
            pool.close()

    keys = Counter(r.headers["Idempotency-Key"] for r in gated.requests)
    assert len(keys) == 5 * len(made) and max(keys.values()) == 1  # every event, once
    assert not queued_by_first & lost


def test_a_worker_that_stops_leaves_the_consumer_groups_it_holds_nothing_in(real_store, sender, receiver):
    made = tenants_with_sessions(real_store, 3, receiver.url)

    with running(Dispatcher(real_store, sender, policy=FAST, worker_id="leaving")):
        for tenant, session in made:
            add_event(real_store, tenant.auth_id, session.session_uuid)
        wait_for(lambda: owed(real_store, made) == 0)
        joined = [consumers(real_store, tenant) for tenant, _ in made]

    assert joined == [{"leaving"}] * 3
    assert [consumers(real_store, tenant) for tenant, _ in made] == [set()] * 3


def test_a_worker_taking_a_tenant_deletes_its_idle_consumers_holding_nothing(real_store, sender, receiver):
    [(tenant, session)] = tenants_with_sessions(real_store, 1, receiver.url)
    stream = real_store.keys.events(tenant.auth_id)
    real_store.redis.xgroup_create(stream, GROUP, id="0", mkstream=True)
    real_store.redis.xgroup_createconsumer(stream, GROUP, "gone")
    add_event(real_store, tenant.auth_id, session.session_uuid, ring=False)
    real_store.redis.xreadgroup(GROUP, "holder", {stream: ">"}, count=1)  # a consumer still holding a delivery
    wait_for(lambda: all(c["idle"] >= 200 for c in real_store.redis.xinfo_consumers(stream, GROUP)))

    with running(Dispatcher(real_store, sender, policy=Policy(backoff=(1, 2), claim_idle_ms=200), worker_id="taker")):
        wait_for(lambda: "gone" not in consumers(real_store, tenant))
        left = consumers(real_store, tenant)

    assert left == {"holder", "taker"} or left == {"holder"}  # the one holding a delivery stays


def consumers(store, tenant):
    return {c["name"] for c in store.redis.xinfo_consumers(store.keys.events(tenant.auth_id), GROUP)}
