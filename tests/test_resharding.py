"""A tenant's slot moving between two nodes of a real Redis Cluster, with the tenant busy: nothing half written.

While a slot migrates, its keys move one by one, so for a while each of the two nodes holds only some of the
tenant's keys. A Redis script stopped by a key its node no longer holds keeps the writes it made before; masq's
scripts name their keys before their first write (base.lua's `keys_here`, `tracked_call`), so that a script stopped
by the move has written nothing of the whole it was in. These tests move a tenant's slot by hand, as
`redis-cli --cluster reshard` does (SETSLOT IMPORTING / MIGRATING, MIGRATE key by key, SETSLOT NODE), with sessions
due and open on it, and check after every step that each session is either untouched or ended and announced,
never one without the other; once the slot has moved, everything left is done.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis
from redis.cluster import RedisCluster
from rq import Queue

from routing import metrics
from routing.clock import US
from routing.sessions import lifecycle
from routing.store import Store
from tests import redis_cluster
from tests.conftest import TenantFixture, backlog, cannot_run, make_tenant, wait_for
from tests.dispatch_helpers import FAST, add_event
from tests.receiver import Receiver
from tests.sessions_helpers import credential
from tests.shared_helpers import check_shared_state, shared_tenant
from tests.shared_helpers import open_sessions as shared_open
from tests.twilio_helpers import ACCOUNT_SID, new_sid, post
from workers.dispatcher import Dispatcher

pytestmark = pytest.mark.integration  # a cluster of redis-servers of its own

PREFIX = "masq:"
DIDS = [f"+1415555{i:04d}" for i in range(12)]
FIRST, SECOND = "+14155551234", "+14155554321"


@dataclass
class Move:
    """The slot of one tenant on its way from node `source` to node `target` (clients of each node itself)."""

    slot: int
    source: redis.Redis
    target: redis.Redis
    target_address: tuple[str, int]

    @classmethod
    def begin(cls, cluster: RedisCluster, key: str) -> Move:
        """Open the move of `key`'s slot to another primary: IMPORTING on the target, then MIGRATING on the source."""
        slot = cluster.keyslot(key)
        owner = cluster.get_node_from_key(key)
        other = next(node for node in cluster.get_primaries() if node.name != owner.name)
        source = redis.Redis(host=owner.host, port=owner.port, decode_responses=True)
        target = redis.Redis(host=other.host, port=other.port, decode_responses=True)
        source_id, target_id = source.execute_command("CLUSTER MYID"), target.execute_command("CLUSTER MYID")
        target.execute_command("CLUSTER SETSLOT", slot, "IMPORTING", source_id)
        source.execute_command("CLUSTER SETSLOT", slot, "MIGRATING", target_id)
        return cls(slot, source, target, (other.host, other.port))

    def keys_left(self) -> list[str]:
        return list(self.source.execute_command("CLUSTER GETKEYSINSLOT", self.slot, 100_000))

    def migrate(self, keys: list[str]) -> None:
        """Move `keys` to the target, each as MIGRATE moves it: gone from the source once it is on the target."""
        host, port = self.target_address
        for key in keys:
            self.source.execute_command("MIGRATE", host, port, key, 0, 5000)

    def finish(self, cluster: RedisCluster) -> None:
        """Move the keys left, then give the slot to the target on every primary."""
        self.migrate(self.keys_left())
        target_id = self.target.execute_command("CLUSTER MYID")
        for node in cluster.get_primaries():
            client = redis.Redis(host=node.host, port=node.port)
            client.execute_command("CLUSTER SETSLOT", self.slot, "NODE", target_id)
            client.close()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    """A store on a Redis Cluster of this test's own (a move left half done would trouble other tests)."""
    try:
        binary = redis_cluster.server_binary()
    except redis_cluster.ClusterUnavailable as missing:
        cannot_run(str(missing))
    with redis_cluster.running(tmp_path, binary) as url:
        store = Store.connect(url, PREFIX)
        yield store
        store.redis.close()


def open_sessions(store: Store, tenant: TenantFixture, count: int, at: int, expiry_s: int) -> list[str]:
    """Open `count` sessions at `at` (µs) lasting `expiry_s`; return their uuids."""
    raw = {"first_party": FIRST, "second_party": SECOND, "session_expiry": expiry_s}
    return [lifecycle.open_session(store, credential(tenant), raw, at).session_uuid for _ in range(count)]


def events_of(store: Store, auth_id: str) -> list[dict[str, Any]]:
    return [fields for _, fields in store.redis.xrange(store.keys.events(auth_id))]


def ended_and_announced(store: Store, auth_id: str, uuids: list[str], event: str) -> dict[str, bool]:
    """For each session: whether it has ended (left the open sessions); raise when it ended unannounced or the
    other way round, or was announced twice."""
    open_members = {str(m).split("|", 1)[0] for m in store.redis.zrange(store.keys.open_by_expiry(auth_id), 0, -1)}
    told = [fields["SessionUUID"] for fields in events_of(store, auth_id) if fields["EventName"] == event]
    state = {}
    for session_uuid in uuids:
        ended = session_uuid not in open_members
        assert told.count(session_uuid) == (1 if ended else 0), (session_uuid, ended, told.count(session_uuid))
        state[session_uuid] = ended
    return state


def dids_accounted(store: Store, tenant: TenantFixture) -> None:
    """Every DID is exactly one of free, cooling off or carrying one open session."""
    free = set(store.redis.smembers(store.keys.free(tenant.auth_id, "US")))
    cooling = set(store.redis.zrange(store.keys.cooling(tenant.auth_id), 0, -1))
    carrying = {str(m).split("|")[1] for m in store.redis.zrange(store.keys.open_by_expiry(tenant.auth_id), 0, -1)}
    assert not free & cooling and not free & carrying and not cooling & carrying
    assert free | cooling | carrying == set(tenant.numbers)


def attempt(step: Any, *args: Any) -> Any:
    """Run a step of the tenant's while its slot moves: it may fail whole (the move stopped it), with a Redis error."""
    try:
        return step(*args)
    except redis.RedisError as refused:
        assert "non local key" in str(refused) or "TRYAGAIN" in str(refused) or "ASK" in str(refused), refused
        return None


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_sessions_ending_while_their_slot_moves_end_whole_and_are_announced_once(store, seed):
    """The expiry sweep, completes and new sessions, each tried after every few keys moved, in a random order."""
    tenant = make_tenant(store, dids=DIDS)
    now = store.now_us()
    due = open_sessions(store, tenant, 6, now - 120 * US, 60)  # ended a minute ago, not yet swept
    lasting = open_sessions(store, tenant, 3, now, 3600)
    move = Move.begin(store.redis, store.keys.tenant_base(tenant.auth_id))
    keys = move.keys_left()
    random.Random(seed).shuffle(keys)
    opened: list[str] = []
    for start in range(0, len(keys), 4):
        move.migrate(keys[start : start + 4])
        attempt(lifecycle.reclaim_expired, store, tenant.auth_id, store.now_us())
        ended_and_announced(store, tenant.auth_id, due, "SessionTimeout")
        if lasting:
            attempt(lifecycle.end_session, store, tenant.auth_id, lasting[-1], store.now_us())
            if ended_and_announced(store, tenant.auth_id, lasting, "SessionEnded")[lasting[-1]]:
                lasting.pop()
        session = attempt(open_sessions, store, tenant, 1, store.now_us(), 3600)
        opened += session or []
    move.finish(store.redis)

    lifecycle.reclaim_expired(store, tenant.auth_id, store.now_us())
    assert all(ended_and_announced(store, tenant.auth_id, due, "SessionTimeout").values())
    for session_uuid in opened:  # each session opened during the move is whole: readable, on a DID of its own
        assert lifecycle.get_session(store, tenant.auth_id, session_uuid).virtual_number in tenant.numbers
    dids_accounted(store, tenant)


def test_a_script_sent_to_the_target_before_the_rest_of_the_slot_writes_nothing_there(store):
    """The tenant's record moves first: redis-py follows the ASK to the target, where the other keys are not yet.
    Reading them as missing there, a script would open a session with no DID, or sweep nothing; it stops instead."""
    tenant = make_tenant(store, dids=DIDS)
    now = store.now_us()
    due = open_sessions(store, tenant, 2, now - 120 * US, 60)
    base = store.keys.tenant_base(tenant.auth_id)
    move = Move.begin(store.redis, base)
    move.migrate([base])
    before = sorted(move.target.execute_command("CLUSTER GETKEYSINSLOT", move.slot, 100_000))

    assert attempt(lifecycle.reclaim_expired, store, tenant.auth_id, store.now_us()) is None
    assert attempt(open_sessions, store, tenant, 1, store.now_us(), 3600) is None
    assert sorted(move.target.execute_command("CLUSTER GETKEYSINSLOT", move.slot, 100_000)) == before
    move.finish(store.redis)

    assert lifecycle.reclaim_expired(store, tenant.auth_id, store.now_us()) == 2
    assert all(ended_and_announced(store, tenant.auth_id, due, "SessionTimeout").values())
    dids_accounted(store, tenant)


def test_while_the_slot_moves_the_api_answers_503_with_retry_after_and_a_caller_hears_the_apology(
    store, make_app, redis_url
):
    """What a tenant and a carrier see during the move: a clean refusal to ask again, never a 500 or a half call."""
    tenant = make_tenant(store, dids=DIDS)
    session = open_sessions(store, tenant, 1, store.now_us(), 3600)[0]
    number = lifecycle.get_session(store, tenant.auth_id, session).virtual_number
    client = make_app(QUEUE=Queue("masqtest-resharding", connection=redis.Redis.from_url(redis_url))).test_client()
    base = store.keys.tenant_base(tenant.auth_id)
    move = Move.begin(store.redis, base)
    move.migrate([base])  # the record first: every script of the tenant's goes to the target, which lacks the rest
    call = {"CallSid": new_sid(), "AccountSid": ACCOUNT_SID, "From": FIRST, "To": number, "CallStatus": "ringing"}

    created = client.post(
        f"/v1/Account/{tenant.auth_id}/Masking/Session/",
        json={"first_party": FIRST, "second_party": SECOND},
        auth=tenant.basic,
    )
    answered = post(client, "/voice/inbound", call)

    assert created.status_code == 503 and created.headers["Retry-After"] == "1"
    assert "error" in created.get_json()
    assert answered.status_code == 200 and "<Hangup" in answered.text and "<Dial" not in answered.text
    move.finish(store.redis)
    answered = post(client, "/voice/inbound", call)  # the carrier asks again: now it is bridged
    assert "<Dial" in answered.text and SECOND in answered.text


def shared_session(store: Store, tenant: TenantFixture, at: int, expiry_s: int, cool_off_s: int) -> str:
    """Open a shared session with PINs between FIRST and SECOND at `at`; return its uuid."""
    raw = {
        "first_party": FIRST,
        "second_party": SECOND,
        "session_expiry": expiry_s,
        "virtual_number_cooloff_period": cool_off_s,
        "is_pin_authentication_required": True,
        "first_party_pin": "1234",
        "second_party_pin": "5678",
        "pin_prompt_play": "https://cdn.example.com/pin.mp3",
    }
    return lifecycle.open_session(store, credential(tenant), raw, at).session_uuid


@pytest.mark.parametrize("cool_off_s", [0, 15])
def test_a_shared_session_ending_while_its_slot_moves_is_announced_once_and_frees_its_did(store, cool_off_s):
    """Shared sessions (with PINs, tombstones while they cool off) ended by the sweep and by a complete while their
    slot is marked as moving: each is announced once, its holdings end, its DID comes back, the bookkeeping is whole.
    (That no script touches a key it emptied itself, which the moving slot's node would stop it at, is checked on
    every script the suite runs: tests/lua_audit.py.)"""
    tenant = shared_tenant(store, DIDS[:2])
    now = store.now_us()
    ending = shared_session(store, tenant, now - 120 * US, 60, cool_off_s)
    completed = shared_session(store, tenant, now, 3600, cool_off_s)
    move = Move.begin(store.redis, store.keys.tenant_base(tenant.auth_id))

    attempt(lifecycle.reclaim_expired, store, tenant.auth_id, store.now_us())
    attempt(lifecycle.end_session, store, tenant.auth_id, completed, store.now_us())
    ended_and_announced(store, tenant.auth_id, [ending], "SessionTimeout")
    ended_and_announced(store, tenant.auth_id, [completed], "SessionEnded")
    move.finish(store.redis)

    lifecycle.reclaim_expired(store, tenant.auth_id, store.now_us())
    if completed in {s.session_uuid for s in shared_open(store, tenant.auth_id, store.now_us())}:
        lifecycle.end_session(store, tenant.auth_id, completed, store.now_us())  # the move refused it: asked again
    assert ended_and_announced(store, tenant.auth_id, [ending], "SessionTimeout") == {ending: True}
    assert ended_and_announced(store, tenant.auth_id, [completed], "SessionEnded") == {completed: True}
    later = store.now_us() + (cool_off_s + 1) * US  # past the tombstones' cool-off: the holdings end
    lifecycle.reclaim_expired(store, tenant.auth_id, later)
    check_shared_state(store, tenant.auth_id, later)
    assert set(store.redis.smembers(store.keys.free(tenant.auth_id, "US"))) == set(DIDS[:2])


class FrozenClock:
    """The worker's clock, held still: a tenant looked at again STILL_DUE later is not due again within a tick."""

    def __init__(self, now: int) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now


def tick_until(worker: Dispatcher, done: Callable[[], bool], wait: bool = True) -> int:
    """Tick `worker` (`Dispatcher.tick(wait)`) until `done()`: a ring published on one node reaches the others over
    the cluster's bus a moment later. Return how many deliveries the ticks settled."""
    delivered = 0

    def ticked() -> bool:
        nonlocal delivered
        delivered += worker.tick(wait).delivered
        return done()

    wait_for(ticked)
    return delivered


def two_tenants_calling_back(store: Store, receiver: Receiver) -> tuple[TenantFixture, TenantFixture, list[str]]:
    """Two tenants on different slots, a session each calling back to `receiver`; return them and the sessions."""
    moving, other = make_tenant(store, dids=DIDS[:6], name="moving"), make_tenant(store, dids=DIDS[6:], name="other")
    assert store.redis.keyslot(store.keys.tenant_base(moving.auth_id)) != store.redis.keyslot(
        store.keys.tenant_base(other.auth_id)
    )
    raw = {"first_party": FIRST, "second_party": SECOND, "session_expiry": 3600, "callback_url": receiver.url}
    sessions = [
        lifecycle.open_session(store, credential(tenant), raw, store.now_us()).session_uuid
        for tenant in (moving, other)
    ]
    return moving, other, sessions


def test_a_tenant_whose_slot_moves_holds_back_no_other_tenants_deliveries_or_figures(store, receiver, make_sender):
    """The moving tenant's claim, due and metrics share fail (its outbox has left for the target); the other
    tenant's event is delivered and its share read in the same tick; once the slot has moved the first is delivered."""
    moving, other, (moving_session, other_session) = two_tenants_calling_back(store, receiver)
    clock = FrozenClock(store.now_us())
    worker = Dispatcher(store, make_sender(4), clock=clock, policy=FAST)
    worker.tick()
    move = Move.begin(store.redis, store.keys.tenant_base(moving.auth_id))
    move.migrate([store.keys.events(moving.auth_id)])
    add_event(store, other.auth_id, other_session)
    add_event(store, moving.auth_id, moving_session)  # written on the target, through the ASK

    delivered = tick_until(worker, lambda: len(receiver.requests) == 1)
    store.redis.hdel(store.keys.tenant_figures(), moving.auth_id, other.auth_id)
    clock.now += metrics.EVERY  # the next metrics period: both tenants' shares, touched, are read again
    worker.tick()

    assert delivered == 1
    assert [r.params["SessionUUID"] for r in receiver.requests] == [other_session]
    assert backlog(store, other.auth_id) == 0
    assert store.redis.hexists(store.keys.tenant_figures(), other.auth_id)
    assert not store.redis.hexists(store.keys.tenant_figures(), moving.auth_id)

    move.finish(store.redis)
    clock.now += 2 * US
    report = worker.tick()

    assert report.delivered == 1
    assert [r.params["SessionUUID"] for r in receiver.requests] == [other_session, moving_session]
    assert backlog(store, moving.auth_id) == 0


def test_a_tenant_whose_slot_moves_after_its_callback_was_sent_settles_it_once_the_slot_has_moved(
    store, receiver, make_sender
):
    """Both tenants' callbacks are in flight when the first one's slot starts moving: the other's is settled at once,
    the moving one's is kept and settled (not sent again) once the slot has moved."""
    moving, other, (moving_session, other_session) = two_tenants_calling_back(store, receiver)
    clock = FrozenClock(store.now_us())
    worker = Dispatcher(store, make_sender(4), clock=clock, policy=FAST)
    worker.tick()
    receiver.gate.clear()
    add_event(store, moving.auth_id, moving_session)
    add_event(store, other.auth_id, other_session)
    tick_until(worker, lambda: receiver.arrived == 2, wait=False)  # both in flight, held by the receiver
    move = Move.begin(store.redis, store.keys.tenant_base(moving.auth_id))
    move.migrate([store.keys.events(moving.auth_id)])
    receiver.gate.set()

    report = worker.tick()

    assert report.delivered == 1
    assert backlog(store, other.auth_id) == 0 and backlog(store, moving.auth_id) == 1

    move.finish(store.redis)
    clock.now += 2 * US
    report = worker.tick()

    assert report.delivered == 1 and backlog(store, moving.auth_id) == 0
    assert sorted(r.params["SessionUUID"] for r in receiver.requests) == sorted([moving_session, other_session])
