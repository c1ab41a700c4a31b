"""Whole flows through a real `masq worker` process, a real Redis and a local HTTP receiver."""

from __future__ import annotations

import pytest
from plivo.utils.signature_v3 import validate_v3_signature

from app.cli.simulator import CallPlan, Carrier
from routing.clock import US, now_us
from routing.sessions import lifecycle
from routing.tenants import auth_token_of
from tests.conftest import make_tenant, wait_for
from tests.sessions_helpers import credential
from tests.twilio_helpers import TOKEN
from tests.worker_process import WorkerProcess, forget_queue

pytestmark = pytest.mark.integration  # runs `masq worker` processes and a Redis of its own

FIRST, SECOND = "+14155551234", "+14155554321"
CALL_EVENTS = [
    "SessionSecondPartyInitiated",
    "SessionSecondPartyRing",
    "SessionFirstPartyAnswer",
    "SessionSecondPartyAnswer",
    "SessionSecondPartyHangup",
    "SessionFirstPartyHangup",
    "SessionPartiesHangup",
]


@pytest.fixture(autouse=True)
def twilio_token(monkeypatch):
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", TOKEN)
    monkeypatch.delenv("MASQ_SKIP_TWILIO_SIGNATURE", raising=False)


@pytest.fixture
def worker(redis_url, real_store):
    process = WorkerProcess(redis_url, real_store.keys.prefix)
    yield process
    process.stop()
    forget_queue(redis_url, process.env["MASQ_QUEUE"])


def signed(request, url: str, token: str) -> bool:
    """Say whether `request` carries the Plivo V3 signature of a POST to `url` made with `token`."""
    return validate_v3_signature(
        "POST",
        url,
        request.headers["X-Plivo-Signature-V3-Nonce"],
        token,
        request.headers["X-Plivo-Signature-V3"],
        request.params,
    )


def events_by_sequence(receiver):
    seen = {}
    for request in receiver.requests:
        seen.setdefault(request.params["SequenceNumber"], request)
    return [seen[key] for key in sorted(seen, key=int)]


def test_a_simulated_call_reaches_the_tenant_as_signed_events_in_order(real_store, live_server, receiver, worker):
    tenant = make_tenant(real_store)
    session = lifecycle.open_session(
        real_store,
        credential(tenant),
        {"first_party": FIRST, "second_party": SECOND, "callback_url": receiver.url},
        now_us(),
    )
    worker.start()

    result = Carrier(live_server, TOKEN).call(CallPlan(FIRST, session.virtual_number, talk_seconds=30))

    assert result.ending == "bridged"
    wait_for(lambda: len(events_by_sequence(receiver)) == len(CALL_EVENTS))
    events = events_by_sequence(receiver)
    assert [e.params["EventName"] for e in events] == CALL_EVENTS
    token = auth_token_of(real_store, tenant.auth_id)
    for event in events:
        assert event.method == "POST" and event.params["SessionUUID"] == session.session_uuid
        assert signed(event, receiver.url, token)
    wait_for(lambda: real_store.redis.xlen(real_store.keys.events(tenant.auth_id)) == 0)


def test_a_worker_killed_mid_delivery_loses_no_event(real_store, receiver, worker):
    tenant = make_tenant(real_store)
    session = lifecycle.open_session(
        real_store,
        credential(tenant),
        {"first_party": FIRST, "second_party": SECOND, "callback_url": receiver.url},
        now_us(),
    )
    stream = real_store.keys.events(tenant.auth_id)
    for seq in range(1, 21):
        real_store.redis.xadd(
            stream,
            {"EventName": "SessionSecondPartyRing", "SessionUUID": session.session_uuid, "SequenceNumber": str(seq)},
        )
    receiver.delay = 0.5  # every delivery is slow, so the worker dies with deliveries in flight
    worker.start()
    wait_for(lambda: len(receiver.requests) >= 2)

    worker.kill()
    receiver.delay = 0.0
    worker.start()

    # Deliveries are at least once: an event in flight at the kill may arrive twice, and the receiver records only
    # requests that arrived whole.
    every = {str(seq) for seq in range(1, 21)}
    # A restarted worker is a new one: the dead one counts as live for LIVE more seconds, and may own the tenant.
    wait_for(lambda: {r.params["SequenceNumber"] for r in receiver.requests} >= every, seconds=60)
    wait_for(lambda: real_store.redis.xlen(stream) == 0)
    token = auth_token_of(real_store, tenant.auth_id)
    got = list(receiver.requests)
    assert all(signed(r, receiver.url, token) for r in got)
    assert {r.params["SequenceNumber"] for r in got} == every


def test_events_wait_while_the_receiver_is_down_and_arrive_when_it_is_back(real_store, receiver, worker):
    tenant = make_tenant(real_store)
    session = lifecycle.open_session(
        real_store,
        credential(tenant),
        {"first_party": FIRST, "second_party": SECOND, "callback_url": receiver.url},
        now_us(),
    )
    stream = real_store.keys.events(tenant.auth_id)
    for seq in (1, 2, 3):
        real_store.redis.xadd(
            stream,
            {"EventName": "SessionSecondPartyRing", "SessionUUID": session.session_uuid, "SequenceNumber": str(seq)},
        )
    receiver.status = 503
    worker.start()
    wait_for(lambda: len(receiver.requests) >= 6)  # every event tried at least twice while the receiver is down
    # Polled, not read once: just after a refused try the event is still in flight, not yet waiting for a retry.
    wait_for(lambda: real_store.redis.zcard(real_store.keys.event_retries(tenant.auth_id)) >= 1)

    receiver.status = 200

    wait_for(lambda: {r.params["SequenceNumber"] for r in receiver.requests if r.status == 200} == {"1", "2", "3"})
    wait_for(lambda: real_store.redis.xlen(stream) == 0)
    assert real_store.redis.hlen(real_store.keys.dead_letters(tenant.auth_id)) == 0


def test_expiry_announces_the_timeout_and_frees_the_number_without_any_api_call(real_store, receiver, worker):
    tenant = make_tenant(real_store, ["+14155550100"])
    opened = now_us() - 59 * US  # a 60-second session with one second left
    session = lifecycle.open_session(
        real_store,
        credential(tenant),
        {"first_party": FIRST, "second_party": SECOND, "session_expiry": 60, "callback_url": receiver.url},
        opened,
    )
    number = real_store.keys.number(tenant.auth_id, session.virtual_number)
    worker.start()

    wait_for(lambda: any(r.params["EventName"] == "SessionTimeout" for r in receiver.requests))

    [timeout] = [r for r in receiver.requests if r.params["EventName"] == "SessionTimeout"]
    assert timeout.params["SessionUUID"] == session.session_uuid
    assert real_store.redis.hget(number, "session") == ""
    assert real_store.redis.sismember(real_store.keys.free(tenant.auth_id, "US"), session.virtual_number)


def test_a_redis_restart_with_append_only_persistence_loses_no_event(tmp_path, receiver):
    from app.cli import embedded
    from routing import outbox
    from routing.store import Store
    from tests.conftest import _free_port

    port, data = _free_port(), str(tmp_path / "redis")
    url = embedded.ensure_running(data, port)
    try:
        store = Store.connect(url, "restart:")
        tenant = make_tenant(store)
        session = lifecycle.open_session(
            store,
            credential(tenant),
            {"first_party": FIRST, "second_party": SECOND, "callback_url": receiver.url},
            now_us(),
        )
        for seq in range(1, 6):
            store.redis.xadd(
                store.keys.events(tenant.auth_id),
                {
                    "EventName": "SessionSecondPartyRing",
                    "SessionUUID": session.session_uuid,
                    "SequenceNumber": str(seq),
                },
            )
        assert len(outbox.claim(store, tenant.auth_id, "a-worker-that-dies", now_us(), count=3)) == 3  # in flight
        store.redis.close()

        assert embedded.stop(port, data)
        embedded.ensure_running(data, port)
        process = WorkerProcess(url, "restart:").start()
        try:
            wait_for(lambda: {r.params["SequenceNumber"] for r in receiver.requests} == {"1", "2", "3", "4", "5"})
        finally:
            process.stop()
    finally:
        embedded.stop(port)
