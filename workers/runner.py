"""`masq worker`: one process that runs RQ jobs (with the scheduler) and the dispatcher beside them."""

from __future__ import annotations

import logging
from typing import Any

import redis
from rq import Queue, SimpleWorker

from routing import embedded
from routing.outbox import BACKOFF, CLAIM_IDLE_MS, Policy
from routing.store import Store
from workers.deliveries import Sender
from workers.dispatcher import Dispatcher, run_in_thread

log = logging.getLogger("masq.worker")


def store_url(config: dict[str, Any]) -> str:
    """Return the store's Redis URL, starting the embedded Redis when none is configured."""
    if config.get("REDIS_URL"):
        return str(config["REDIS_URL"])
    return embedded.ensure_running(config["MASQ_DATA_DIR"], config["MASQ_EMBEDDED_REDIS_PORT"])


def queue_connection(config: dict[str, Any]) -> redis.Redis:
    """Return a connection to the queue's Redis (QUEUE_REDIS_URL, else the store's): RQ wants raw bytes."""
    return redis.Redis.from_url(config.get("QUEUE_REDIS_URL") or store_url(config))


def policy(config: dict[str, Any]) -> Policy:
    """Return the delivery policy, with the operator's overrides (tests shorten the back-off)."""
    backoff = config.get("MASQ_CALLBACK_BACKOFF") or ""
    return Policy(
        backoff=tuple(int(s) for s in backoff.split(",")) if backoff else BACKOFF,
        claim_idle_ms=int(config.get("MASQ_CALLBACK_CLAIM_IDLE_MS") or CLAIM_IDLE_MS),
    )


def run(config: dict[str, Any], threads: int = 32, burst: bool = False) -> None:
    """Work the `masq` queue with a non-forking worker and the scheduler, and deliver callbacks meanwhile.

    Jobs run in this process (no fork per job); the dispatcher thread expires sessions on time and delivers
    every tenant's outbox. Both stop when the worker is told to stop (SIGTERM or SIGINT).
    """
    store = Store.connect(store_url(config), config["MASQ_KEY_PREFIX"])
    connection = queue_connection(config)
    sender = Sender(threads=threads, allow_private=bool(config.get("MASQ_ALLOW_PRIVATE_CALLBACKS")))
    thread, stop = run_in_thread(Dispatcher(store, sender, policy=policy(config)))
    queue = Queue(config.get("MASQ_QUEUE") or "masq", connection=connection)
    worker = SimpleWorker([queue], connection=connection)
    log.info("masq worker %s: queue %r, callbacks on %d threads", worker.name, queue.name, threads)
    try:
        worker.work(burst=burst, with_scheduler=True)
    finally:
        stop.set()
        thread.join(timeout=15)
        sender.close()
