"""One tenant on one Redis slot: what a whole trip costs the Redis that holds the slot, and the ceiling that sets.

Every key of a tenant carries its hash tag, so in a Redis Cluster one tenant lives on one slot, on one node, and
that node's one command thread does all of the tenant's work. A *trip* is a session's whole life as a
ride-hailing tenant lives it: the create (one script), the first party's call (the DID's owner, then the inbound
script), the dialled leg's four status reports, the `<Dial>`'s end, the complete, and the delivery of every
event the trip made (claimed through the consumer group and settled). The trips run through the domain's own
functions against a private Redis; the figure is the Redis server's CPU time per trip (user + system, as
its INFO reads them), which is what one node spends, whatever the Python side costs. The ceiling is one core's second
divided by that: trips per second one slot can take, and so one tenant, before the node's thread is saturated.
The memory a finished trip leaves (its session, call and history, kept for the retention period, its
delivered events gone) is `used_memory` before and after; memory per open session is bench/memory.py's.
docs/scaling.md reads these figures.
"""

from __future__ import annotations

from pathlib import Path

from bench import fixtures
from bench.common import PREFIX, Figure
from bench.memory import used_memory
from routing import outbox, tenants
from routing.calls import carrier_reports, inbound
from routing.calls.carrier_reports import DialOutcome, LegStatus
from routing.clock import now_us
from routing.sessions import lifecycle
from routing.store import Store

CONSUMER = "bench-slot"
# The dialled leg's status callbacks, as Twilio sends them for a `<Dial><Number statusCallbackEvent=…>`.
LEG_STATUSES = ("initiated", "ringing", "in-progress", "completed")
CALL_SECONDS = 95


def _trips(store: Store, auth_id: str, token: str, first: int, count: int, now: int) -> dict[str, float]:
    """Run trips `first` … `first + count - 1` step by step (every trip's create, then every trip's call, …);
    return the CPU seconds Redis spent on each step over all of them, and the events they made."""
    spent: dict[str, float] = {}
    credential = tenants.basic_credential(auth_id, token)
    request = fixtures.session_request(3600, record=True)
    trips = range(first, first + count)

    at = redis_cpu(store)
    sessions = [lifecycle.open_session(store, credential, request, now) for _ in trips]
    at = _spent(store, spent, "create", at)
    for index, session in zip(trips, sessions, strict=True):
        call = inbound.incoming_call(_sid(index), session.first_party, session.virtual_number)
        decision = inbound.identify_caller(store, call, now + 1)
        if type(decision).__name__ != "Bridge":
            raise RuntimeError(f"trip {index}: the first party's call was not bridged: {decision}")
    at = _spent(store, spent, "inbound call", at)
    for index in trips:
        call_sid, leg_sid = _sid(index), _sid(index + 10**9)
        for offset, status in enumerate(LEG_STATUSES, start=2):
            duration = CALL_SECONDS if status == "completed" else 0
            report = LegStatus(call_sid, leg_sid, status, duration)
            carrier_reports.record_leg_status(store, auth_id, report, now + offset)
        outcome = DialOutcome(call_sid, "completed", leg_sid, CALL_SECONDS)
        carrier_reports.finish_dial(store, auth_id, outcome, now + 9)
    at = _spent(store, spent, "carrier reports", at)
    for session in sessions:
        lifecycle.end_session(store, auth_id, session.session_uuid, now + 10)
    at = _spent(store, spent, "complete", at)
    events = 0
    while batch := outbox.claim(store, auth_id, CONSUMER, now + 11, count=500):
        outbox.delivered(store, auth_id, batch)
        events += len(batch)
    _spent(store, spent, "deliver its events", at)
    spent["events"] = events
    return spent


def _sid(index: int) -> str:
    return f"CA{index:032x}"


def _spent(store: Store, spent: dict[str, float], name: str, before: float) -> float:
    after = redis_cpu(store)
    spent[name] = spent.get(name, 0.0) + after - before
    return after


def redis_cpu(store: Store) -> float:
    """Return the CPU seconds (user + system) the store's Redis has used, as it reads them (getrusage, µs)."""
    cpu = store.redis.info("cpu")
    return float(cpu["used_cpu_user"]) + float(cpu["used_cpu_sys"])


def run(workdir: Path, quick: bool, redis_url: str) -> list[Figure]:
    """Return the Redis CPU per trip and the trips per second one slot's node can take."""
    trips = 300 if quick else 3000
    store = Store.connect(redis_url, PREFIX)
    now = now_us()
    created = tenants.create_tenant(store, "bench-slot", now)
    fixtures.add_numbers(store, created.auth_id, fixtures.did_numbers(trips, start=5_000_000), now)
    # Warm: scripts loaded, the consumer group made, connections open.
    _trips(store, created.auth_id, created.auth_token, 10**6, 20, now)
    memory_before = used_memory(store)
    totals = _trips(store, created.auth_id, created.auth_token, 0, trips, now + 1000)
    kept_bytes = round((used_memory(store) - memory_before) / trips)
    events = totals.pop("events") / trips
    per_step_us = {name: round(seconds / trips * 1e6, 1) for name, seconds in totals.items()}
    per_trip_us = round(sum(per_step_us.values()), 1)
    store.redis.close()
    return [
        Figure(
            "one tenant on one slot: Redis CPU per trip (create → call → complete → callbacks)",
            per_trip_us,
            "µs",
            "—",
            None,
            detail={"trips": trips, "events_per_trip": events, "per_step_us": per_step_us},
        ),
        Figure(
            "one tenant on one slot: trips/s one Redis core can take",
            round(1e6 / per_trip_us),
            "trips/s",
            "—",
            None,
            detail={"events_per_second": round(1e6 / per_trip_us * events)},
        ),
        Figure(
            "one tenant on one slot: memory kept per finished trip (for the 90-day retention)",
            kept_bytes,
            "B",
            "—",
            None,
            detail={"trips_kept_per_gib": round(2**30 / kept_bytes) if kept_bytes > 0 else None},
        ),
    ]
