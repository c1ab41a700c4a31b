"""The worker's ear on the due channel: rings (routing.due), and each (re)subscription, which may have missed some.

redis-py's pub/sub client subscribes again by itself after a lost connection; every subscription it makes is
confirmed by a `subscribe` message, which comes out here as `SUBSCRIBED`: messages published while the connection
was down are lost, so the worker reads every tenant's next due again when it sees one. The client is the store's
own `pubsub()`, a plain or a cluster one alike (on a cluster, PUBLISH reaches every node, so any node will do).
When Redis cannot be reached, the listening thread drops its client and makes a new one a second later, which on a
cluster picks a node afresh (the one it had may be the one that failed).
"""

from __future__ import annotations

import logging
import queue
import threading
from typing import Any

import redis

from routing.due import Ring, parse_ring
from routing.store import Store

log = logging.getLogger("masq.worker")

SUBSCRIBED = "subscribed"
# How long the first poll waits for Redis to confirm the subscription (s).
SUBSCRIBE_WAIT = 5.0
Heard = Ring | str


class Doorbell:
    """A subscription to the due channel, read by `poll`, or by a thread of its own (`start`) into a queue."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.channel = store.keys.due_channel()
        self._pubsub: Any = store.redis.pubsub()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    def poll(self, timeout: float = 0.0) -> list[Heard]:
        """Return what arrived (waiting up to `timeout` s for the first): rings, and SUBSCRIBED after a (re)connect.

        The first call subscribes and waits for Redis to confirm it (SUBSCRIBED comes first). Raise redis.RedisError
        when Redis cannot be reached.
        """
        if not self._pubsub.subscribed:
            self._pubsub.subscribe(self.channel)
            timeout = max(timeout, SUBSCRIBE_WAIT)
        heard: list[Heard] = []
        message = self._pubsub.get_message(timeout=timeout)
        while message is not None:
            if message["type"] == "subscribe":
                heard.append(SUBSCRIBED)
            elif message["type"] == "message":
                ring = parse_ring(_text(message["data"]))
                if ring is not None:
                    heard.append(ring)
            message = self._pubsub.get_message(timeout=0)
        return heard

    def start(self, inbox: queue.Queue[Any]) -> None:
        """Listen on a daemon thread, putting everything heard on `inbox`, until `stop`."""
        self._thread = threading.Thread(target=self._listen, args=(inbox,), name="masq-doorbell", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop listening (within a second) and close the subscription."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._pubsub.close()

    def _listen(self, inbox: queue.Queue[Any]) -> None:
        while not self._stop.is_set():
            try:
                for heard in self.poll(timeout=1.0):
                    inbox.put(heard)
            except redis.RedisError as exc:
                log.warning("due channel: %s; listening again in a second", exc)
                self._renew()
                self._stop.wait(1.0)

    def _renew(self) -> None:
        """Drop the subscription's client and make a new one: the next poll subscribes again."""
        try:
            self._pubsub.close()
        except redis.RedisError:
            pass  # its connection is gone already
        self._pubsub = self.store.redis.pubsub()


def _text(data: object) -> str:
    return data.decode() if isinstance(data, bytes) else str(data)
