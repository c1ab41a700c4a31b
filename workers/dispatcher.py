"""The worker's loop: each tenant's work runs when it falls due, sends never hold the loop, workers share tenants.

- Due-index: a heap of (µs, tenant) over the tenants this worker owns. A tenant's next due, and what for (its sweep,
  reconcile, deliveries), comes from one script (`routing.due.next_due`), which also writes it as the tenant's hint.
  The loop sleeps until the first due, a ring, a finished send or one of its own timers, then runs only the work
  that is due, and reads the tenant's next due again. A tenant with nothing due costs nothing.
- Doorbell: a script that makes work due sooner than the hint publishes the tenant on the due channel once
  (routing/lua/doorbell.lua); a thread hears it (workers/doorbell.py) and the loop reads the tenant's next due. Each
  (re)subscription reads every owned tenant's next due again, as does, one tenant at a time, a round every
  `RESCAN_EVERY` (longer past 600 tenants a worker, so that the idle cost stays the same): the safety net for a ring
  that was lost.
- Sharing: workers register with a heartbeat and each tenant belongs to one live worker (workers/membership.py).
  The outbox keeps its consumer group: each event is read by one worker, and a dead worker's pending deliveries are
  taken over after the claim time; deliveries stay at least once, with the same `Idempotency-Key`.
- Fairness: deliveries go out on the sender's threads through lanes, one per tenant and endpoint (workers/lanes.py:
  `per_endpoint` in flight in a lane, fewer in one that answers slowly, a `TENANT_SHARE`th of the threads for one
  tenant, the tenants taking turns for the threads), and no tenant has more than `batch` deliveries claimed in this
  worker at once, of which at most half are retries (so a dead endpoint's retries leave room for its fresh events).
  Outcomes come back on the loop's queue and are settled in batches per tenant; a failure is retried with the
  back-off policy.
- Handing over: a tenant this worker loses (another worker joined) has its queued deliveries taken out of the lanes
  and handed to its new owner, to be taken at once (`outbox.hand_back`); a worker that stops does the same with all
  it has queued. A worker leaves the consumer groups it holds nothing in when it stops, and deletes the consumers
  gone idle with nothing pending in a tenant's group when it takes the tenant (`outbox.forget_consumers`).
- Also: every `metrics.EVERY` the shares of the metrics of the tenants worked on, and a slice of the others, are
  read again, and one worker sums them (`routing.metrics`).

Reconciling picks a tenant's quiet calls in the loop (one script, which also puts them off) and asks the carrier
about them on a thread of its own, so a slow carrier holds up no tenant's work.
"""

from __future__ import annotations

import heapq
import logging
import math
import os
import queue
import secrets
import socket
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Collection
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from twilio.rest import Client

from routing import due as dues
from routing import metrics, outbox
from routing.calls import reconcile
from routing.clock import US, now_us
from routing.due import Due, Ring
from routing.outbox import DEFAULT_POLICY, Event, Policy
from routing.sessions import lifecycle
from routing.store import Store, slot_moving
from workers.callback_http import Delivery, Outcome
from workers.deliveries import Report, Sender, plan, settle
from workers.doorbell import SUBSCRIBED, Doorbell
from workers.lanes import Endpoint, Lane, Lanes, endpoint_of
from workers.membership import Membership, owner
from workers.reconciler import close_calls_over

log = logging.getLogger("masq.worker")

# Every owned tenant's next due is read again over this period, one tenant at a time, at most one every RESCAN_GAP:
# past RESCAN_EVERY / RESCAN_GAP tenants a pass takes longer, and the idle cost stays the same.
RESCAN_EVERY = 300 * US
RESCAN_GAP = US // 2
# Every owned tenant's metrics share is read again over metrics.SHARES_EVERY, at most SHARES_MOST per metrics.EVERY.
SHARES_MOST = 10
# Deliveries of one tenant in flight to one endpoint (scheme, host, port) at once; never more than the tenant's share.
PER_ENDPOINT = 8
# A tenant whose work ran, moved nothing and is still due is looked at again this much later (a backstop).
STILL_DUE = 1 * US
# The longest the loop sleeps without looking at its stop event, in seconds.
LONGEST_WAIT = 1.0


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


@dataclass(frozen=True)
class Sending:
    """One delivery of a tenant's event, on its way to an endpoint."""

    auth_id: str
    event: Event
    delivery: Delivery
    endpoint: Endpoint

    @property
    def lane(self) -> Lane:
        """Return the lane it waits in: its tenant's, to its endpoint."""
        return (self.auth_id, self.endpoint)


@dataclass(frozen=True)
class Sent:
    """A delivery that came back, with its outcome and how long it took (s)."""

    sending: Sending
    outcome: Outcome
    seconds: float


@dataclass
class Owned:
    """What this worker knows of a tenant it owns."""

    due: Due | None = None  # as last read; None: read it again before acting on it
    waiting: bool = False  # the hint was written while the tenant's deliveries in hand were at the bound


class Dispatcher:
    """Runs every owned tenant's work when it falls due, and delivers callbacks, until told to stop."""

    def __init__(
        self,
        store: Store,
        sender: Sender,
        clock: Callable[[], int] = now_us,
        batch: int = 64,
        policy: Policy = DEFAULT_POLICY,
        carrier: Client | None = None,
        quiet: int = reconcile.QUIET,
        per_endpoint: int = PER_ENDPOINT,
        worker_id: str = "",
    ) -> None:
        self.store = store
        self.sender = sender
        self.clock = clock
        self.batch = batch
        self.policy = policy
        self.carrier = carrier
        self.quiet = quiet
        self.consumer = worker_id or f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(2)}"
        self.membership = Membership(store, self.consumer)
        self.doorbell = Doorbell(store)
        self.inbox: queue.Queue[Any] = queue.Queue()
        self.lanes: Lanes[Sending] = Lanes(per_endpoint, self._start, capacity=sender.threads)
        self.owned: dict[str, Owned] = {}
        self.held: dict[str, set[str]] = defaultdict(set)  # entry ids claimed and not settled yet, by tenant
        self.retrying: dict[str, set[str]] = defaultdict(set)  # of those, the retries
        self._known: set[str] = set()  # every tenant's auth_id, as last read
        self._heap: list[tuple[int, str]] = []
        self._planned: dict[str, int] = {}  # when each owned tenant is next looked at; heap entries not equal are old
        self._sent: list[Sent] = []  # outcomes not settled yet
        self._carrier_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="masq-reconcile")
        self._asking: list[Future[None]] = []  # the carrier's answers still awaited
        self._unsent: dict[str, list[Event]] = defaultdict(list)  # claimed, not in a lane yet (its planning failed)
        self._unsettled: dict[
            str, list[Sent]
        ] = {}  # sent, not settled yet (settling failed): at the tenant's next turn
        self._touched: set[str] = set()  # tenants whose metrics share may have changed since it was last read
        self._listening = False
        self._scan: str = ""  # "all" after a (re)subscription, "new" after the live workers changed
        self._rescans = Rounds()
        self._shares = Rounds()
        self._next_slice: int | None = None
        self._next_figures: int | None = None
        self._report = Report()

    # -- running --------------------------------------------------------------------------------------------
    def run(self, stop: threading.Event) -> None:
        """Listen on the due channel and work until `stop` is set; a failing turn is logged and retried after a
        pause, never fatal. On stop, the deliveries in flight are finished and settled (within their timeouts);
        those still queued stay pending, for this worker's successor or another worker to take over."""
        self.doorbell.start(self.inbox)
        self._listening = True
        try:
            while not stop.is_set():
                try:
                    self._turn(self._wait())
                except Exception as failure:  # noqa: BLE001 - the loop must outlive a Redis blip; each turn is retried
                    if slot_moving(failure):
                        log.warning("dispatcher turn stopped by a moving slot; retrying: %s", failure)
                    else:
                        log.exception("dispatcher turn failed; retrying")
                    stop.wait(1.0)
        finally:
            self._finish()

    def tick(self, wait: bool = True) -> Report:
        """Do everything due now and, with `wait`, wait for the deliveries that started and settle them (for at most
        60 s); return what was settled.

        `run` never waits for a delivery; this is for one-off runs and tests, and hears the due channel itself.
        """
        self._turn(0.0)
        deadline = time.monotonic() + 60
        while wait and self._busy() and time.monotonic() < deadline:
            self._turn(0.05)
        return self._take_report()

    def _turn(self, timeout: float) -> None:
        """Wait up to `timeout` s for something to arrive, then handle all that arrived and all that is due."""
        if not self._listening:
            for heard in self.doorbell.poll():
                self.inbox.put(heard)
        self._receive(timeout)
        now = self.clock()
        if self.membership.beat(now) and not self._scan:
            self._scan = "new"
        if self._scan:
            self._scan_tenants(now, everyone=self._scan == "all")
        self._settle(now)
        self._run_due(now)
        for chore in (self._rescan_slice, self._record_figures):  # housekeeping, after the tenants' work: a failure
            try:  # here (a global key's slot moving) is retried in its own time and holds up no tenant
                chore(now)
            except Exception as failure:  # noqa: BLE001
                if not slot_moving(failure):
                    raise
                log.warning("dispatcher %s stopped by a moving slot; retried later: %s", chore.__name__, failure)

    def _wait(self) -> float:
        """Return how long the loop may sleep (s): until its first due tenant or timer, at most LONGEST_WAIT."""
        now = self.clock()
        timers = [t for t in (self.membership.next_beat, self._next_slice, self._next_figures) if t is not None]
        if self._heap:
            timers.append(self._heap[0][0])
        if not timers:
            return LONGEST_WAIT
        return max(0.0, min(LONGEST_WAIT, (min(timers) - now) / US))

    def _busy(self) -> bool:
        now = self.clock()
        self._asking = [f for f in self._asking if not f.done()]
        return bool(self.lanes.in_flight() or self.lanes.waiting() or self._sent or self._asking) or (
            bool(self._heap) and self._heap[0][0] <= now
        )

    def _take_report(self) -> Report:
        report, self._report = self._report, Report()
        return report

    # -- what arrives ---------------------------------------------------------------------------------------
    def _receive(self, timeout: float) -> None:
        """Take everything on the inbox, waiting up to `timeout` s for the first: rings, subscriptions, outcomes."""
        try:
            item = self.inbox.get(timeout=timeout) if timeout > 0 else self.inbox.get_nowait()
        except queue.Empty:
            return
        while True:
            if isinstance(item, Sent):
                self.lanes.done(item.sending.lane, item.seconds)
                self._sent.append(item)
            elif isinstance(item, Ring):
                self._ring(item)
            elif item == SUBSCRIBED:
                self._scan = "all"
            try:
                item = self.inbox.get_nowait()
            except queue.Empty:
                return

    def _ring(self, ring: Ring) -> None:
        """A tenant's work fell due sooner: read its next due now, and plan it by that (a tenant new to this worker
        is learnt here).

        Now, not at the ring's due time: that time is on the clock of whoever rang, while the next due is read on
        this worker's own (routing.due), so a skewed clock elsewhere cannot make this worker late.
        """
        self._known.add(ring.auth_id)
        if not self.membership.owns(ring.auth_id):
            return
        state = self.owned.setdefault(ring.auth_id, Owned())
        state.due = None
        self._touched.add(ring.auth_id)
        self._plan(ring.auth_id, self.clock(), sooner_only=True)

    # -- which tenants, and when ----------------------------------------------------------------------------
    def _scan_tenants(self, now: int, everyone: bool) -> None:
        """Read the tenant registry, take the tenants this worker owns now and let go of the others; read the next
        due of every one it owns (`everyone`: after a (re)subscription) or of those new to it."""
        self._scan = ""
        self._known = {str(a) for a in self.store.redis.smembers(self.store.keys.tenants())}
        mine = {a for a in self._known if self.membership.owns(a)}
        lost = set(self.owned) - mine
        for auth_id in lost:
            del self.owned[auth_id]
            self._planned.pop(auth_id, None)
            unsettled = self._unsettled.pop(auth_id, [])  # left pending: the new owner claims them after the claim
            self._let_go(auth_id, [s.sending.event.entry_id for s in unsettled])  # time and sends them again
        self._hand_back(lost, now)
        fresh = mine - set(self.owned)
        for auth_id in fresh:
            self.owned[auth_id] = Owned()
        self._touched.update(fresh)
        if fresh:
            outbox.forget_consumers(self.store, sorted(fresh), now, idle_ms=self.policy.claim_idle_ms)
        self._read_dues(sorted(mine if everyone else fresh), now)
        log.info("worker %s owns %d of %d tenants", self.consumer, len(mine), len(self._known))

    def _rescan_slice(self, now: int) -> None:
        """Read the next due of the next owned tenant in turn, so that each is read every RESCAN_EVERY (or, with more
        tenants than that allows, every RESCAN_GAP × tenants)."""
        if self._next_slice is not None and now < self._next_slice:
            return
        self._next_slice = now + max(RESCAN_GAP, RESCAN_EVERY // max(1, len(self.owned)))
        self._read_dues(self._rescans.take(self.owned, 1), now)

    def _read_dues(self, auth_ids: list[str], now: int) -> None:
        """Read the next due of those tenants holding no delivery here (the others are read as theirs are settled),
        pipelined, and plan each by it."""
        idle = [a for a in auth_ids if not self.held.get(a)]
        read = dues.next_dues(self.store, idle, now, self.policy.claim_idle_ms, self.quiet)
        for auth_id, due in zip(idle, read, strict=True):
            if isinstance(due, Exception):
                self._failed(auth_id, "due", due, now)
                continue
            state = self.owned[auth_id]
            state.due, state.waiting = due, False
            self._plan(auth_id, due.due)

    def _plan(self, auth_id: str, at: int | None, sooner_only: bool = False) -> None:
        """Look at the tenant at `at` (µs; None: not until something rings), or no later with `sooner_only`."""
        planned = self._planned.get(auth_id)
        if sooner_only and planned is not None and at is not None and planned <= at:
            return
        if at is None:
            if not sooner_only:
                self._planned.pop(auth_id, None)
            return
        self._planned[auth_id] = at
        heapq.heappush(self._heap, (at, auth_id))
        if len(self._heap) > 2 * len(self._planned) + 1000:  # mostly old plans: keep only the current ones
            self._heap = [(when, tenant) for tenant, when in self._planned.items()]
            heapq.heapify(self._heap)

    # -- a tenant's work ------------------------------------------------------------------------------------
    def _run_due(self, now: int) -> None:
        """Run the work of every owned tenant due by `now`. A tenant whose work fails (its Redis node hung, its slot
        moving) is logged and looked at again STILL_DUE later; the other tenants' work goes on meanwhile."""
        while self._heap and self._heap[0][0] <= now:
            at, auth_id = heapq.heappop(self._heap)
            if self._planned.get(auth_id) != at or auth_id not in self.owned:
                continue  # planned again since, or no longer this worker's
            del self._planned[auth_id]
            try:
                self._work(auth_id, now)
            except Exception as failure:  # noqa: BLE001 - one tenant's failure must not hold back the others
                self._failed(auth_id, "work", failure, now)

    def _failed(self, auth_id: str, step: str, failure: Exception, now: int) -> None:
        """The tenant's `step` (its work, settling, reading its due) failed with `failure`: log it (a moving slot in
        one line: nothing of the whole it was in was written) and look at the tenant again STILL_DUE later. The
        other tenants' work goes on meanwhile."""
        if slot_moving(failure):
            log.warning(
                "tenant %s's %s stopped by its moving slot; looked at again in a second: %s", auth_id, step, failure
            )
        else:
            log.error(
                "tenant %s's %s failed; looked at again in a second",
                auth_id,
                step,
                exc_info=(type(failure), failure, failure.__traceback__),
            )
        state = self.owned.get(auth_id)
        if state is not None:
            state.due = None
            self._plan(auth_id, now + STILL_DUE)

    def _work(self, auth_id: str, now: int) -> None:
        """Run what is due of the tenant's work (sweep, reconcile, claim and send), then plan it by its next due."""
        state = self.owned[auth_id]
        unsettled = self._unsettled.pop(auth_id, [])
        if unsettled:
            self._settle_batch(auth_id, unsettled, now)
        self._send(auth_id, now)
        fresh = state.due is None
        due = state.due or self._read_due(auth_id, now, state)
        moved = False
        if due.sweep is not None and due.sweep <= now:
            ended = sweep_expired(self.store, [auth_id], now)
            if ended:
                log.info("expired %d sessions of %s", ended, auth_id)
            moved = True
        if due.reconcile is not None and due.reconcile <= now:
            call_sids = reconcile.quiet_calls(self.store, auth_id, now, quiet=self.quiet)
            if call_sids and self.carrier is not None:
                self._asking.append(self._carrier_pool.submit(self._ask_carrier, auth_id, call_sids))
            moved = True
        room = self.batch - len(self.held.get(auth_id, ()))
        deliver = due.deliver is not None and due.deliver <= now
        if room > 0 and (moved or deliver):
            moved = self._claim(auth_id, now, due, room) or moved
        if moved or not fresh:
            due = self._read_due(auth_id, now, state)
        at = due.due
        if at is not None and at <= now and not moved:
            at = now + STILL_DUE  # due, yet nothing could be done: look again a little later
        self._plan(auth_id, at)

    def _read_due(self, auth_id: str, now: int, state: Owned) -> Due:
        state.waiting = len(self.held.get(auth_id, ())) >= self.batch
        state.due = dues.next_due(
            self.store, auth_id, now, self.policy.claim_idle_ms, self.quiet, waiting=state.waiting
        )
        self._touched.add(auth_id)
        return state.due

    def _claim(self, auth_id: str, now: int, due: Due, room: int) -> bool:
        """Claim up to `room` of the tenant's deliveries and put each in its endpoint's lane; return whether any.

        A delivery this worker holds already (claimed again as stale: it waited long in its lane) stays as it is.
        Retries fill at most half of the tenant's `batch`, so that those to a dead endpoint leave room for its fresh
        events.
        """
        retry_room = self.batch // 2 - len(self.retrying.get(auth_id, ()))
        events = outbox.claim(
            self.store,
            auth_id,
            self.consumer,
            now,
            room,
            self.policy,
            new=True,
            stale=due.stale is not None and due.stale <= now,
            retries=due.retry is not None and due.retry <= now and retry_room > 0,
            most_retries=retry_room,
        )
        held = self.held[auth_id]
        events = [e for e in events if e.entry_id not in held]
        held.update(e.entry_id for e in events)
        self.retrying[auth_id].update(e.entry_id for e in events if e.attempts)
        self._unsent[auth_id].extend(events)
        self._send(auth_id, now)
        return bool(events)

    def _send(self, auth_id: str, now: int) -> None:
        """Put each claimed event of the tenant not sent yet in its endpoint's lane; settle those with nowhere to go.

        Should this fail, the events stay in hand and unsent, and the tenant's next turn sends them.
        """
        events = self._unsent.pop(auth_id, [])
        if not events:
            return
        try:
            planned = plan(self.store, auth_id, events)
        except Exception:
            self._unsent[auth_id] = events
            raise
        nothing: list[tuple[Event, Outcome | None]] = []
        for event, delivery in planned:
            if delivery is None:
                nothing.append((event, None))
            else:
                sending = Sending(auth_id, event, delivery, endpoint_of(delivery.url))
                self.lanes.offer(sending.lane, sending)
        if nothing:
            self._add(settle(self.store, auth_id, nothing, now, self.policy))
            self._let_go(auth_id, [e.entry_id for e, _ in nothing])

    def _ask_carrier(self, auth_id: str, call_sids: list[str]) -> None:
        """On the carrier's thread: close the tenant's calls the carrier reports over (their events ring the
        doorbell)."""
        assert self.carrier is not None
        try:
            closed = close_calls_over(self.store, auth_id, call_sids, self.carrier, self.clock())
        except Exception:  # noqa: BLE001 - a thread's failure is seen nowhere else; the calls are asked again later
            log.exception("asking the carrier about calls of %s failed; they are asked again later", auth_id)
            return
        if closed:
            log.info("closed %d calls of %s the carrier reports over", closed, auth_id)

    # -- deliveries -----------------------------------------------------------------------------------------
    def _start(self, sending: Sending) -> None:
        self.sender.submit(sending.delivery, lambda outcome, seconds: self.inbox.put(Sent(sending, outcome, seconds)))

    def _settle(self, now: int) -> None:
        """Settle the outcomes that came back, one batch per tenant; a tenant that was at its bound claims again.

        A tenant whose batch could not be settled (its slot moving) keeps it, to settle on a later turn; the other
        tenants' batches are settled meanwhile.
        """
        if not self._sent:
            return
        by_tenant: dict[str, list[Sent]] = defaultdict(list)
        for sent in self._sent:
            by_tenant[sent.sending.auth_id].append(sent)
        self._sent = []
        for auth_id, batch in by_tenant.items():
            try:
                self._settle_batch(auth_id, self._unsettled.pop(auth_id, []) + batch, now)
            except Exception as failure:  # noqa: BLE001 - one tenant's failure must not hold back the others
                self._failed(auth_id, "settling", failure, now)

    def _settle_batch(self, auth_id: str, batch: list[Sent], now: int) -> None:
        """Settle the tenant's outcomes `batch`; should that fail, keep them for the tenant's next turn and raise."""
        try:
            self._add(settle(self.store, auth_id, [(s.sending.event, s.outcome) for s in batch], now, self.policy))
        except Exception:
            held = self.held.get(auth_id, set())
            self._unsettled[auth_id] = [s for s in batch if s.sending.event.entry_id in held]
            raise
        self._let_go(auth_id, [s.sending.event.entry_id for s in batch])
        self._touched.add(auth_id)
        self._after_settling(auth_id, batch, now)

    def _let_go(self, auth_id: str, entry_ids: list[str]) -> None:
        """The tenant's deliveries `entry_ids` are no longer in hand here (settled, or left pending)."""
        for hand in (self.held, self.retrying):
            held = hand.get(auth_id)
            if held is not None:
                held.difference_update(entry_ids)
                if not held:
                    del hand[auth_id]

    def _hand_back(self, auth_ids: Collection[str], now: int) -> int:
        """Take the tenants' deliveries that wait here unsent out of the lanes and hand them to each tenant's owner
        among the other live workers (to this worker's own consumer when there is none, for its successor), to be
        taken at once; the ones in flight finish here. Return how many were handed."""
        if not auth_ids:
            return 0
        unsent: dict[str, list[str]] = defaultdict(list)
        for sending in self.lanes.drop(lambda s: s.auth_id in auth_ids):
            unsent[sending.auth_id].append(sending.event.entry_id)
        for auth_id in auth_ids:
            unsent[auth_id].extend(e.entry_id for e in self._unsent.pop(auth_id, []))
        others = self.membership.workers - {self.consumer}
        handed = 0
        for auth_id, entry_ids in unsent.items():
            if entry_ids:
                to = owner(others, auth_id) if others else self.consumer
                outbox.hand_back(self.store, auth_id, entry_ids, to, now, self.policy)
                self._let_go(auth_id, entry_ids)
                handed += len(entry_ids)
        if handed:
            log.info("handed %d queued deliveries of %d tenants to their owners", handed, len(unsent))
        return handed

    def _after_settling(self, auth_id: str, batch: list[Sent], now: int) -> None:
        state = self.owned.get(auth_id)
        if state is None:
            return  # no longer this worker's: its owner reads it
        held = len(self.held.get(auth_id, ()))
        if (
            (state.waiting and held <= self.batch // 2)  # it may have more to deliver: claim again
            or any(not s.outcome.delivered for s in batch)  # retries were parked: read when they fall due
            or held == 0  # its hint still counts the deliveries in hand: write it without them
        ):
            state.due = None
            self._plan(auth_id, now, sooner_only=True)

    def _add(self, report: Report) -> None:
        r = self._report
        self._report = Report(r.delivered + report.delivered, r.retried + report.retried, r.dead + report.dead)

    # -- metrics --------------------------------------------------------------------------------------------
    def _record_figures(self, now: int) -> None:
        """Every `metrics.EVERY`: read again the metrics shares of the tenants worked on and of the next few others
        in turn (each at least every `metrics.SHARES_EVERY`, or with many tenants every `metrics.EVERY` × tenants /
        SHARES_MOST), then offer to sum them (one worker per period)."""
        if self._next_figures is not None and now < self._next_figures:
            return
        self._next_figures = now + metrics.EVERY
        size = min(SHARES_MOST, math.ceil(len(self.owned) * metrics.EVERY / metrics.SHARES_EVERY))
        chosen = {a for a in self._touched if a in self.owned} | set(self._shares.take(self.owned, size))
        self._touched.clear()
        if chosen:
            for auth_id, failure in metrics.record(self.store, sorted(chosen), now).items():
                self._touched.add(auth_id)  # its share is read again next time
                log.warning("tenant %s's metrics share could not be read; read again next time: %s", auth_id, failure)
        metrics.gather_if_due(self.store, now)

    # -- stopping -------------------------------------------------------------------------------------------
    def _finish(self) -> None:
        """Finish the deliveries in flight and settle them; leave the rest pending; leave the registry."""
        self.doorbell.stop()
        self._carrier_pool.shutdown(wait=True, cancel_futures=True)
        deadline = time.monotonic() + 30
        try:
            self.membership.leave(self.clock())
            self._hand_back(set(self.held) | set(self._unsent), self.clock())
            while (self.lanes.in_flight() or self._sent) and time.monotonic() < deadline:
                self._receive(0.1)
                self._settle(self.clock())
            outbox.forget_consumers(self.store, sorted(self.owned), self.clock(), leaving=self.consumer)
        except Exception:  # noqa: BLE001 - stopping: what is not settled stays pending, for another worker
            log.exception("dispatcher could not settle every delivery in flight; they stay pending")


class Rounds:
    """Rounds over the tenants a worker owns, a few at a time, each round in the order the tenants had at its start."""

    def __init__(self) -> None:
        self._order: list[str] = []
        self._at = 0

    def take(self, owned: Collection[str], count: int) -> list[str]:
        """Return the next `count` tenants of the round that are still in `owned`, starting a round when one ends."""
        if self._at >= len(self._order):
            self._order, self._at = sorted(owned), 0
        chunk = self._order[self._at : self._at + count]
        self._at += count
        return [auth_id for auth_id in chunk if auth_id in owned]


def run_in_thread(dispatcher: Dispatcher) -> tuple[threading.Thread, threading.Event]:
    """Start the dispatcher on a daemon thread; set the returned event to stop it."""
    stop = threading.Event()
    thread = threading.Thread(target=dispatcher.run, args=(stop,), name="masq-dispatcher", daemon=True)
    thread.start()
    return thread, stop
