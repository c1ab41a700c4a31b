"""The worker's steady loop: expire sessions on time, deliver every outbox, reconcile quiet calls, sum the metrics."""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable

from twilio.rest import Client

from routing import metrics
from routing.calls import reconcile
from routing.clock import US, now_us
from routing.outbox import DEFAULT_POLICY, Policy
from routing.sessions import lifecycle
from routing.store import Store
from workers.deliveries import Report, Sender, deliver_batch
from workers.reconciler import reconcile_calls

log = logging.getLogger("masq.worker")

SWEEP_EVERY = 1 * US
TENANTS_EVERY = 5 * US


def sweep_expired(store: Store, auth_ids: list[str], now: int, limit: int = 1000) -> int:
    """End every session past its expiry (announcing each), tenant by tenant; return how many ended.

    The work is in proportion to the sessions due, not to the sessions open.
    """
    ended = 0
    for auth_id in auth_ids:
        while True:
            count = lifecycle.reclaim_expired(store, auth_id, now, limit)
            ended += count
            if count < limit:
                break
    return ended


class Dispatcher:
    """Runs sweeps and deliveries until told to stop; one per worker process is enough."""

    def __init__(
        self,
        store: Store,
        sender: Sender,
        clock: Callable[[], int] = now_us,
        batch: int = 64,
        policy: Policy = DEFAULT_POLICY,
        carrier: Client | None = None,
        reconcile_every: int = reconcile.EVERY,
        quiet: int = reconcile.QUIET,
    ) -> None:
        self.store = store
        self.sender = sender
        self.clock = clock
        self.batch = batch
        self.policy = policy
        self.carrier = carrier
        self.reconcile_every = reconcile_every
        self.quiet = quiet
        self.consumer = f"{socket.gethostname()}-{os.getpid()}"
        self._tenants: list[str] = []
        self._tenants_at = 0
        self._swept_at = 0
        self._reconciled_at = 0
        self._measured_at = 0

    def tenants(self, now: int) -> list[str]:
        """Return every tenant's auth_id, re-read every few seconds."""
        if now - self._tenants_at >= TENANTS_EVERY or not self._tenants:
            self._tenants = sorted(str(a) for a in self.store.redis.smembers(self.store.keys.tenants()))
            self._tenants_at = now
        return self._tenants

    def tick(self) -> Report:
        """Sweep if a second has passed, reconcile quiet calls every half minute, deliver a batch per tenant.

        Every `metrics.EVERY` it also offers to sum the metrics, which one worker per period does. Return what
        was delivered.
        """
        now = self.clock()
        auth_ids = self.tenants(now)
        if now - self._swept_at >= SWEEP_EVERY:
            ended = sweep_expired(self.store, auth_ids, now)
            if ended:
                log.info("expired %d sessions", ended)
            self._swept_at = now
        if now - self._reconciled_at >= self.reconcile_every:
            self._reconciled_at = now
            closed = reconcile_calls(self.store, auth_ids, self.carrier, now, quiet=self.quiet)
            if closed:
                log.info("closed %d calls the carrier reports over", closed)
        if now - self._measured_at >= metrics.EVERY:
            self._measured_at = now
            metrics.gather_if_due(self.store, now)
        total = Report()
        for auth_id in auth_ids:
            report = deliver_batch(self.store, auth_id, self.sender, self.consumer, now, self.batch, self.policy)
            total = Report(total.delivered + report.delivered, total.retried + report.retried, total.dead + report.dead)
        return total

    def run(self, stop: threading.Event, idle_wait: float = 0.05) -> None:
        """Tick until `stop` is set; a failing tick is logged and retried after a pause, never fatal."""
        while not stop.is_set():
            try:
                report = self.tick()
            except Exception:  # noqa: BLE001 - the loop must outlive a Redis blip; each tick is retried whole
                log.exception("dispatcher tick failed; retrying")
                stop.wait(1.0)
                continue
            if report.handled == 0:
                stop.wait(idle_wait)


def run_in_thread(dispatcher: Dispatcher) -> tuple[threading.Thread, threading.Event]:
    """Start the dispatcher on a daemon thread; set the returned event to stop it."""
    stop = threading.Event()
    thread = threading.Thread(target=dispatcher.run, args=(stop,), name="masq-dispatcher", daemon=True)
    thread.start()
    return thread, stop
