"""Deliver a tenant's outbox to its callback URLs: claim, plan, send in parallel, settle each event.

The worker's loop (workers/dispatcher.py) sends each delivery on the `Sender`'s threads without waiting and settles
what came back in batches; `deliver_batch` does the same steps in one go, waiting for every send.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import requests

from routing import outbox
from routing.errors import NotFound
from routing.outbox import Event
from routing.sessions.session import Session
from routing.store import Store
from routing.tenants import auth_token_of
from workers.callback_http import Delivery, Outcome, callback_session, send


@dataclass(frozen=True)
class Report:
    """What one batch did."""

    delivered: int = 0
    retried: int = 0
    dead: int = 0

    @property
    def handled(self) -> int:
        """Return how many events the batch settled."""
        return self.delivered + self.retried + self.dead


class Sender:
    """Sends deliveries on a pool of threads, each keeping its own HTTP connections alive."""

    def __init__(self, threads: int = 32, allow_private: bool = False) -> None:
        self.threads = threads
        self.allow_private = allow_private
        self._local = threading.local()
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="masq-callback")

    def _http(self) -> requests.Session:
        http = getattr(self._local, "http", None)
        if http is None:
            http = callback_session(pool_size=16)
            self._local.http = http
        return http

    def _send(self, delivery: Delivery) -> Outcome:
        return send(self._http(), delivery, self.allow_private)

    def send_all(self, deliveries: Iterable[Delivery]) -> list[Outcome]:
        """Send every delivery and return the outcomes in the same order."""
        return list(self._pool.map(self._send, deliveries))

    def submit(self, delivery: Delivery, done: Callable[[Outcome, float], None]) -> None:
        """Send `delivery` on a thread of the pool and call `done` with its outcome and the seconds it took, there;
        return at once."""
        began = time.monotonic()

        def finished(future: Future[Outcome]) -> None:
            error = future.exception()
            outcome = (
                future.result() if error is None else Outcome(False, error=f"{type(error).__name__}: {error}"[:300])
            )
            done(outcome, time.monotonic() - began)

        self._pool.submit(self._send, delivery).add_done_callback(finished)

    def close(self) -> None:
        """Stop the threads once the work in hand is done."""
        self._pool.shutdown(wait=True)


def delivery_for(event: Event, session: Session | None, auth_token: str) -> Delivery | None:
    """Return where and how to send `event`, or None when the session asks for no callback."""
    if session is None:
        return None
    url, method = outbox.callback_of(event.fields, session)
    if not url:
        return None
    key = f"{event.fields.get('SessionUUID', '')}-{event.fields.get('SequenceNumber', event.entry_id)}"
    return Delivery(url, method, outbox.wire_fields(event.fields), auth_token, key)


def plan(store: Store, auth_id: str, events: Sequence[Event]) -> list[tuple[Event, Delivery | None]]:
    """Return each of the tenant's `events` with its delivery, None when there is nothing to send (the session asks
    for no callback, or the session or the tenant is gone). Two round trips."""
    if not events:
        return []
    try:
        token = auth_token_of(store, auth_id)
    except NotFound:
        return [(e, None) for e in events]  # the tenant is gone: nobody to tell
    sessions = _sessions(store, auth_id, {e.fields.get("SessionUUID", "") for e in events})
    return [(e, delivery_for(e, sessions.get(e.fields.get("SessionUUID", "")), token)) for e in events]


def settle(
    store: Store,
    auth_id: str,
    results: Sequence[tuple[Event, Outcome | None]],
    now: int,
    policy: outbox.Policy = outbox.DEFAULT_POLICY,
) -> Report:
    """Settle the tenant's events by their outcomes (None: nothing was to be sent): the delivered ones in one round
    trip, each failed one parked for its retry or dead-lettered."""
    ok = [event for event, outcome in results if outcome is None or outcome.delivered]
    outbox.delivered(store, auth_id, ok)
    retried = dead = 0
    for event, outcome in results:
        if outcome is None or outcome.delivered:
            continue
        if outbox.failed(store, auth_id, event, outcome.error, now, retry=outcome.retry, policy=policy):
            dead += 1
        else:
            retried += 1
    return Report(delivered=len(ok), retried=retried, dead=dead)


def deliver_batch(
    store: Store,
    auth_id: str,
    sender: Sender,
    consumer: str,
    now: int,
    count: int = 200,
    policy: outbox.Policy = outbox.DEFAULT_POLICY,
) -> Report:
    """Deliver up to `count` of the tenant's owed events, waiting for every send; failures are parked for retry
    or dead-lettered."""
    planned = plan(store, auth_id, outbox.claim(store, auth_id, consumer, now, count, policy))
    to_send = [(event, delivery) for event, delivery in planned if delivery is not None]
    outcomes = iter(sender.send_all(delivery for _, delivery in to_send))
    return settle(store, auth_id, [(e, None if d is None else next(outcomes)) for e, d in planned], now, policy)


def _sessions(store: Store, auth_id: str, uuids: set[str]) -> dict[str, Session]:
    ordered = sorted(u for u in uuids if u)
    if not ordered:
        return {}
    texts = store.redis.mget([store.keys.session(auth_id, u) for u in ordered])
    return {u: Session.from_json(str(t)) for u, t in zip(ordered, texts, strict=True) if t is not None}
