"""`masq worker`: one process that runs RQ jobs (with the scheduler) and the dispatcher beside them."""

from __future__ import annotations

import logging
from typing import Any

from rq import Queue, SimpleWorker

from routing import settings
from routing.clock import US
from routing.outbox import BACKOFF, CLAIM_IDLE_MS, Policy
from workers.deliveries import Sender
from workers.dispatcher import PER_ENDPOINT, Dispatcher, run_in_thread

log = logging.getLogger("masq.worker")


def policy(config: dict[str, Any]) -> Policy:
    """Return the delivery policy, with the operator's overrides (tests shorten the back-off)."""
    backoff = config.get("MASQ_CALLBACK_BACKOFF") or ""
    return Policy(
        backoff=tuple(int(s) for s in backoff.split(",")) if backoff else BACKOFF,
        claim_idle_ms=int(config.get("MASQ_CALLBACK_CLAIM_IDLE_MS") or CLAIM_IDLE_MS),
    )


def run(config: dict[str, Any], threads: int = 32, burst: bool = False) -> None:
    """Work the `masq` queue with a non-forking worker and the scheduler, and deliver callbacks meanwhile.

    `config` is `routing.settings`' dict with REDIS_URL set (the CLI starts the embedded Redis when need be).
    Jobs run in this process (no fork per job); the dispatcher thread expires sessions on time and delivers
    the outboxes of the tenants this worker owns, at most MASQ_CALLBACK_PER_ENDPOINT requests in flight to one
    endpoint. Both stop when the worker is told to stop (SIGTERM or SIGINT): the deliveries in flight are finished.
    """
    store = settings.connect_store(config)
    connection = settings.queue_connection(
        store, config.get("QUEUE_REDIS_URL") or "", settings.redis_timeout(config), waits=True
    )
    sender = Sender(threads=threads, allow_private=bool(config.get("MASQ_ALLOW_PRIVATE_CALLBACKS")))
    carrier = settings.twilio_client(config) if settings.has_carrier(config) else None
    dispatcher = Dispatcher(
        store,
        sender,
        policy=policy(config),
        carrier=carrier,
        quiet=int(config["MASQ_RECONCILE_QUIET"] * US),
        clock=store.now_us,
        per_endpoint=int(config.get("MASQ_CALLBACK_PER_ENDPOINT") or PER_ENDPOINT),
    )
    thread, stop = run_in_thread(dispatcher)
    queue = Queue(config["MASQ_QUEUE"], connection=connection)
    worker = SimpleWorker([queue], connection=connection)
    log.info("masq worker %s: queue %r, callbacks on %d threads", worker.name, queue.name, threads)
    try:
        worker.work(burst=burst, with_scheduler=True)
    finally:
        stop.set()
        thread.join(timeout=45)
        sender.close()
