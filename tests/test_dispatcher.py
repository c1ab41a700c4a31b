import logging

import pytest
import redis

from routing import due
from routing.clock import US, now_us
from routing.sessions import lifecycle
from tests.conftest import backlog, make_tenant, redis_commands, timed_out, wait_for
from tests.dispatch_helpers import FAST
from tests.sessions_helpers import credential
from workers import dispatcher as dispatcher_module
from workers.deliveries import Report
from workers.dispatcher import Dispatcher, run_in_thread, sweep_expired

NOW = 1_700_000_000 * US
OTHER_NUMBERS = ["+14155550110", "+14155550111", "+14155550112"]


@pytest.fixture
def sender(make_sender):
    return make_sender(4)


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: int) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now


def open_session(store, tenant, expiry_seconds=60, now=NOW, **options):
    return lifecycle.open_session(
        store,
        credential(tenant),
        {"first_party": "+14155551234", "second_party": "+14155554321", "session_expiry": expiry_seconds, **options},
        now,
    )


def add_event(store, tenant, session, now=NOW):
    """Append an event to the tenant's outbox as the scripts do, ringing its doorbell."""
    store.redis.xadd(
        store.keys.events(tenant.auth_id),
        {"EventName": "SessionFirstPartyAnswer", "SessionUUID": session.session_uuid, "SequenceNumber": "1"},
    )
    due.ring(store, tenant.auth_id, now, now)


def is_free(store, tenant, number):
    return bool(store.redis.sismember(store.keys.free(tenant.auth_id, "US"), number))


def test_a_sweep_ends_only_the_sessions_past_their_expiry_in_every_tenant(store):
    first, second, idle = make_tenant(store), make_tenant(store, OTHER_NUMBERS, "other"), make_tenant(store, [])
    first_due, first_open = open_session(store, first, 60), open_session(store, first, 600)
    second_due, second_open = open_session(store, second, 120), open_session(store, second, 3600)
    auth_ids = [first.auth_id, second.auth_id, idle.auth_id]

    before = sweep_expired(store, auth_ids, first_due.expiry - 1)
    ended = sweep_expired(store, auth_ids, second_due.expiry)
    again = sweep_expired(store, auth_ids, second_due.expiry)

    assert (before, ended, again) == (0, 2, 0)
    assert timed_out(store, first.auth_id) == [first_due.session_uuid]
    assert timed_out(store, second.auth_id) == [second_due.session_uuid]
    assert timed_out(store, idle.auth_id) == []
    for tenant, still_open in ((first, first_open), (second, second_open)):
        [member] = store.redis.zrange(store.keys.open_by_expiry(tenant.auth_id), 0, -1)
        assert member.startswith(still_open.session_uuid)


def test_a_sweep_does_work_for_the_sessions_due_not_for_the_sessions_open(real_store, monkeypatch):
    tenant = make_tenant(real_store, [f"+1415556{n:04d}" for n in range(2000)])
    due = {open_session(real_store, tenant, 60).session_uuid for _ in range(3)}
    for _ in range(1997):
        open_session(real_store, tenant, 3600)
    rounds = []
    reclaim = lifecycle.reclaim_expired
    monkeypatch.setattr(lifecycle, "reclaim_expired", lambda *args: rounds.append(reclaim(*args)) or rounds[-1])

    ended = sweep_expired(real_store, [tenant.auth_id], NOW + 61 * US, limit=2)

    assert ended == 3 and rounds == [2, 1]
    assert sorted(timed_out(real_store, tenant.auth_id)) == sorted(due)
    assert real_store.redis.zcard(real_store.keys.open_by_expiry(tenant.auth_id)) == 1997


def test_an_expired_session_is_announced_at_its_expiry_and_not_before(store, tenant, sender, receiver):
    session = open_session(store, tenant, 60, callback_url=receiver.url)
    clock = Clock(session.expiry - 1)
    worker = Dispatcher(store, sender, clock=clock, policy=FAST)

    before = worker.tick()
    clock.now = session.expiry
    at_expiry = worker.tick()

    assert before == Report() and at_expiry == Report(delivered=1)
    [got] = receiver.requests
    assert (got.params["EventName"], got.params["SessionUUID"]) == ("SessionTimeout", session.session_uuid)
    assert backlog(store, tenant.auth_id) == 0


def test_a_tenant_is_looked_at_only_when_its_work_falls_due(store, tenant, sender, monkeypatch):
    session = open_session(store, tenant, 3600)
    clock = Clock(NOW)
    worker = Dispatcher(store, sender, clock=clock, policy=FAST)
    worker.tick()
    looked = []
    monkeypatch.setattr(dispatcher_module.Dispatcher, "_work", lambda self, auth_id, now: looked.append(now))

    for seconds in (1, 5, 60, 600, 3599):
        clock.now = NOW + seconds * US
        worker.tick()
    clock.now = session.expiry
    worker.tick()

    assert looked == [session.expiry]


def test_an_idle_tenant_costs_no_redis_command_between_the_workers_own_timers(real_store, sender):
    tenant = make_tenant(real_store)
    open_session(real_store, tenant, 3600, now=now_us())
    clock = Clock(now_us())
    worker = Dispatcher(real_store, sender, clock=clock, policy=FAST)
    worker.tick()  # beats, reads every tenant's next due, records the metrics
    clock.now += US // 2  # before the next beat, slice of tenants or metrics

    _, seen = redis_commands(real_store, worker.tick)

    assert seen == []


def test_a_new_tenants_event_is_delivered_when_its_doorbell_rings(store, tenant, sender, receiver):
    open_session(store, tenant, 60, callback_url=receiver.url)
    clock = Clock(NOW)
    worker = Dispatcher(store, sender, clock=clock, policy=FAST)
    worker.tick()
    newcomer = make_tenant(store, OTHER_NUMBERS, "newcomer")
    late = open_session(store, newcomer, 60, callback_url=receiver.url)

    add_event(store, newcomer, late)
    report = worker.tick()

    assert report == Report(delivered=1)
    assert [r.params["SessionUUID"] for r in receiver.requests] == [late.session_uuid]


def test_a_failed_delivery_is_sent_again_at_its_retry_time(store, tenant, sender, receiver):
    session = open_session(store, tenant, 3600, callback_url=receiver.url)
    clock = Clock(NOW)
    worker = Dispatcher(store, sender, clock=clock, policy=FAST)
    receiver.status = 500
    add_event(store, tenant, session)

    failed = worker.tick()
    receiver.status = 200
    clock.now = NOW + FAST.backoff[0] * US - 1
    too_soon = worker.tick()
    clock.now = NOW + FAST.backoff[0] * US
    retried = worker.tick()

    assert (failed, too_soon, retried) == (Report(retried=1), Report(), Report(delivered=1))
    assert len({r.headers["Idempotency-Key"] for r in receiver.requests}) == 1 and len(receiver.requests) == 2


def test_a_number_cooling_off_is_freed_when_its_cool_off_ends(store, tenant, sender):
    session = open_session(store, tenant, 3600, virtual_number_cooloff_period=30)
    clock = Clock(NOW)
    worker = Dispatcher(store, sender, clock=clock, policy=FAST)
    lifecycle.end_session(store, tenant.auth_id, session.session_uuid, NOW)

    worker.tick()
    clock.now = NOW + 30 * US - 1
    worker.tick()
    free_before = is_free(store, tenant, session.virtual_number)
    clock.now = NOW + 30 * US
    worker.tick()

    assert not free_before and is_free(store, tenant, session.virtual_number)


def test_run_stops_when_its_event_is_set(real_store, sender, receiver):
    tenant = make_tenant(real_store)
    session = open_session(real_store, tenant, 60, now=now_us(), callback_url=receiver.url)
    add_event(real_store, tenant, session, now_us())

    thread, stop = run_in_thread(Dispatcher(real_store, sender, policy=FAST))
    wait_for(lambda: len(receiver.requests) == 1)
    stop.set()
    thread.join(timeout=30)

    assert not thread.is_alive()
    assert backlog(real_store, tenant.auth_id) == 0
    assert real_store.redis.zcard(real_store.keys.workers()) == 0  # it left the registry


def test_run_survives_a_turn_that_fails(real_store, sender, receiver, monkeypatch, caplog):
    tenant = make_tenant(real_store)
    session = open_session(real_store, tenant, 60, now=now_us(), callback_url=receiver.url)
    real_plan, calls = dispatcher_module.plan, []

    def redis_down_once(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise redis.ConnectionError("Error 111 connecting to redis. Connection refused.")
        return real_plan(*args, **kwargs)

    monkeypatch.setattr(dispatcher_module, "plan", redis_down_once)
    caplog.set_level(logging.ERROR, logger="masq.worker")
    add_event(real_store, tenant, session, now_us())

    thread, stop = run_in_thread(Dispatcher(real_store, sender, policy=FAST))
    try:
        wait_for(lambda: len(receiver.requests) == 1)
        alive_after_failure = thread.is_alive()
    finally:
        stop.set()
        thread.join(timeout=30)

    assert alive_after_failure and not thread.is_alive()
    assert f"tenant {tenant.auth_id}'s work failed" in caplog.text and "Connection refused" in caplog.text
    assert backlog(real_store, tenant.auth_id) == 0


def test_planning_a_tenant_again_and_again_keeps_the_heap_small(store, sender):
    worker = Dispatcher(store, sender, clock=Clock(NOW), policy=FAST)

    for n in range(5000):
        worker._plan("MA1", NOW + 3600 * US - n, sooner_only=True)

    assert len(worker._heap) <= 1001 and worker._planned == {"MA1": NOW + 3600 * US - 4999}
