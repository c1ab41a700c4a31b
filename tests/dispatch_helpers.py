"""Running dispatchers in a test: events written as the scripts write them, and a dispatcher on a thread."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from routing import due
from routing.clock import now_us
from routing.outbox import Policy
from routing.store import Store
from tests.conftest import wait_for
from workers.dispatcher import Dispatcher, run_in_thread

# A back-off of 1 s, then 2 s, then a dead letter: retries a test can wait for.
FAST = Policy(backoff=(1, 2))
PARTIES = {"first_party": "+14155551234", "second_party": "+14155554321"}


def add_event(store: Store, auth_id: str, session_uuid: str, seq: int = 1, ring: bool = True) -> str:
    """Append an event of the session to the tenant's outbox and, as the scripts do, ring its doorbell (unless not
    `ring`: a lost ring); return the entry's id."""
    entry = store.redis.xadd(
        store.keys.events(auth_id),
        {"EventName": "SessionSecondPartyRing", "SessionUUID": session_uuid, "SequenceNumber": str(seq)},
    )
    if ring:
        now = now_us()
        due.ring(store, auth_id, now, now)
    return str(entry)


def listeners(store: Store) -> int:
    """Return how many clients listen on the store's due channel."""
    channel = store.keys.due_channel()
    return int(dict(store.redis.pubsub_numsub(channel)).get(channel, 0))


@contextmanager
def running(dispatcher: Dispatcher) -> Iterator[Dispatcher]:
    """Run `dispatcher` on a thread for the block, once it listens on the due channel; stop it after."""
    before = listeners(dispatcher.store)
    thread, stop = run_in_thread(dispatcher)
    try:
        wait_for(lambda: listeners(dispatcher.store) > before)
        yield dispatcher
    finally:
        stop.set()
        thread.join(timeout=60)
    assert not thread.is_alive()
