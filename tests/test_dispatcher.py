import logging

import pytest
import redis

from routing.clock import US, now_us
from routing.outbox import Policy
from routing.sessions import lifecycle
from tests.conftest import backlog, make_tenant, timed_out, wait_for
from tests.sessions_helpers import credential
from workers import dispatcher as dispatcher_module
from workers.deliveries import Report, Sender
from workers.dispatcher import SWEEP_EVERY, TENANTS_EVERY, Dispatcher, run_in_thread, sweep_expired

NOW = 1_700_000_000 * US
FAST = Policy(backoff=(1, 2))
OTHER_NUMBERS = ["+14155550110", "+14155550111", "+14155550112"]


@pytest.fixture
def sender():
    pool = Sender(threads=4, allow_private=True)
    yield pool
    pool.close()


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


def test_a_tick_sweeps_at_most_once_a_second(store, tenant, sender, monkeypatch):
    sweeps = []
    monkeypatch.setattr(dispatcher_module, "sweep_expired", lambda store, auth_ids, now: sweeps.append(now) or 0)
    clock = Clock(NOW)
    worker = Dispatcher(store, sender, clock=clock, policy=FAST)

    for offset in (0, SWEEP_EVERY // 2, SWEEP_EVERY - 1, SWEEP_EVERY, SWEEP_EVERY + 1, 2 * SWEEP_EVERY + 5):
        clock.now = NOW + offset
        worker.tick()

    assert sweeps == [NOW, NOW + SWEEP_EVERY, NOW + 2 * SWEEP_EVERY + 5]


def test_a_tick_announces_an_expired_session_to_the_tenant(store, tenant, sender, receiver):
    session = open_session(store, tenant, 60, callback_url=receiver.url)
    clock = Clock(session.expiry - US // 2)
    worker = Dispatcher(store, sender, clock=clock, policy=FAST)

    first = worker.tick()
    clock.now = session.expiry + US // 5  # expired, but less than a second since the last sweep
    between = worker.tick()
    announced_between = timed_out(store, tenant.auth_id)
    clock.now = session.expiry + US // 2
    swept = worker.tick()

    assert first == between == Report() and announced_between == []
    assert swept == Report(delivered=1)
    [got] = receiver.requests
    assert (got.params["EventName"], got.params["SessionUUID"]) == ("SessionTimeout", session.session_uuid)
    assert backlog(store, tenant.auth_id) == 0


def test_a_tick_delivers_every_tenants_outbox_and_finds_new_tenants(store, tenant, sender, receiver):
    open_session(store, tenant, 60, callback_url=receiver.url)
    clock = Clock(NOW)
    worker = Dispatcher(store, sender, clock=clock, policy=FAST)
    worker.tick()
    newcomer = make_tenant(store, OTHER_NUMBERS, "newcomer")
    late = open_session(store, newcomer, 60, callback_url=receiver.url)
    store.redis.xadd(
        store.keys.events(newcomer.auth_id),
        {"EventName": "SessionFirstPartyAnswer", "SessionUUID": late.session_uuid, "SequenceNumber": "1"},
    )

    clock.now = NOW + TENANTS_EVERY
    report = worker.tick()

    assert report == Report(delivered=1)
    assert [r.params["SessionUUID"] for r in receiver.requests] == [late.session_uuid]


def test_run_stops_when_its_event_is_set(real_store, sender, receiver):
    tenant = make_tenant(real_store)
    session = open_session(real_store, tenant, 60, now=now_us(), callback_url=receiver.url)
    real_store.redis.xadd(
        real_store.keys.events(tenant.auth_id),
        {"EventName": "SessionFirstPartyAnswer", "SessionUUID": session.session_uuid, "SequenceNumber": "1"},
    )

    thread, stop = run_in_thread(Dispatcher(real_store, sender, policy=FAST))
    wait_for(lambda: len(receiver.requests) == 1)
    stop.set()
    thread.join(timeout=30)

    assert not thread.is_alive()
    assert backlog(real_store, tenant.auth_id) == 0


def test_run_survives_a_tick_that_fails(real_store, sender, receiver, monkeypatch, caplog):
    tenant = make_tenant(real_store)
    session = open_session(real_store, tenant, 60, now=now_us(), callback_url=receiver.url)
    real_store.redis.xadd(
        real_store.keys.events(tenant.auth_id),
        {"EventName": "SessionFirstPartyAnswer", "SessionUUID": session.session_uuid, "SequenceNumber": "1"},
    )
    real_deliver, calls = dispatcher_module.deliver_batch, []

    def redis_down_once(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise redis.ConnectionError("Error 111 connecting to redis. Connection refused.")
        return real_deliver(*args, **kwargs)

    monkeypatch.setattr(dispatcher_module, "deliver_batch", redis_down_once)
    caplog.set_level(logging.ERROR, logger="masq.worker")

    thread, stop = run_in_thread(Dispatcher(real_store, sender, policy=FAST))
    try:
        wait_for(lambda: len(receiver.requests) == 1)
        alive_after_failure = thread.is_alive()
    finally:
        stop.set()
        thread.join(timeout=30)

    assert alive_after_failure and not thread.is_alive()
    assert "dispatcher tick failed" in caplog.text and "Connection refused" in caplog.text
    assert backlog(real_store, tenant.auth_id) == 0
