"""The expiry sweep: 100,000 sessions due at once, alone, and beside 100,000 open sessions not yet due.

Two fresh Redis servers run side by side: one holds only the sessions due, the other as many due and as
many not due. The sweep is what `workers.dispatcher.sweep_expired` does (what the worker runs when a tenant's
first expiry falls due): `lifecycle.reclaim_expired` 1,000 sessions at a time until fewer come back. Here the two
servers are swept in turns, 1,000 at a time, so that other work on a shared machine falls on both alike; `now` is
set two minutes ahead instead of waiting for the sessions' 60 s to pass. Each server's sweep time is the sum of its
turns; how the two compare is the median of the ratios of their paired turns (the i-th reclaim of 1,000 on one
against the i-th on the other), which a burst of other work during a few turns does not move.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from bench import fixtures
from bench.common import PREFIX, Figure, cpu_seconds, private_redis, redis_pid
from routing import tenants
from routing.clock import US, now_us
from routing.sessions import lifecycle
from routing.store import Store

DUE_AFTER_S = 60
NOT_DUE_S = 86_400
LIMIT = 1000  # what sweep_expired asks of each reclaim


@dataclass
class Pool:
    """One server's tenant, what it holds, and what sweeping it has taken so far."""

    store: Store
    auth_id: str
    due: int
    not_due: int
    pid: int
    now: int
    turns: list[float] = field(default_factory=list)
    full_turns: list[float] = field(default_factory=list)  # the turns that reclaimed a whole LIMIT
    ended: int = 0
    redis_cpu: float = 0.0

    def turn(self) -> bool:
        """Reclaim up to LIMIT due sessions, timed; return whether there may be more."""
        cpu_before = cpu_seconds(self.pid)
        began = time.perf_counter()
        count = lifecycle.reclaim_expired(self.store, self.auth_id, self.now + 2 * DUE_AFTER_S * US, LIMIT)
        self.turns.append(time.perf_counter() - began)
        self.redis_cpu += cpu_seconds(self.pid) - cpu_before
        self.ended += count
        if count == LIMIT:
            self.full_turns.append(self.turns[-1])
        return count == LIMIT

    def report(self) -> dict[str, float]:
        """Return what the sweep did and took, after checking it ended exactly the sessions due."""
        still_open = int(self.store.redis.zcard(self.store.keys.open_by_expiry(self.auth_id)))
        announced = int(self.store.redis.xlen(self.store.keys.events(self.auth_id)))
        if self.ended != self.due or still_open != self.not_due or announced != self.due:
            raise RuntimeError(
                f"the sweep ended {self.ended} (of {self.due} due), left {still_open} open "
                f"(of {self.not_due}), announced {announced}"
            )
        seconds = sum(self.turns)
        return {
            "due": self.due,
            "not_due": self.not_due,
            "ended": self.ended,
            "seconds": round(seconds, 3),
            "reclaims": len(self.turns),
            "redis_cpu_seconds": round(self.redis_cpu, 2),
            "per_second": round(self.ended / seconds),
        }


@contextmanager
def pool(workdir: Path, due: int, not_due: int, did_start: int) -> Iterator[Pool]:
    """Run a fresh Redis holding `not_due` long sessions and `due` ones that expire in 60 s."""
    with private_redis(workdir) as redis_url:
        store = Store.connect(redis_url, PREFIX)
        now = now_us()
        auth_id = tenants.create_tenant(store, "bench-expiry", now).auth_id
        fixtures.add_numbers(store, auth_id, fixtures.did_numbers(due + not_due, start=did_start), now)
        if not_due:
            fixtures.open_sessions(store, auth_id, fixtures.session_request(NOT_DUE_S), not_due, now)
        fixtures.open_sessions(store, auth_id, fixtures.session_request(DUE_AFTER_S), due, now)
        try:
            yield Pool(store, auth_id, due, not_due, redis_pid(redis_url), now)
        finally:
            store.redis.close()


def run(workdir: Path, quick: bool) -> list[Figure]:
    """Return the sweep time for sessions due at once, and how it changes with as many not due."""
    due = 10_000 if quick else 100_000
    with ExitStack() as stack:
        alone = stack.enter_context(pool(workdir, due, 0, 6_000_000))
        beside = stack.enter_context(pool(workdir, due, due, 6_200_000))
        sides = {"alone": alone, "beside": beside}
        going = dict.fromkeys(sides, True)
        turn = 0
        while any(going.values()):
            for name in ("alone", "beside") if turn % 2 == 0 else ("beside", "alone"):
                if going[name]:
                    going[name] = sides[name].turn()
            turn += 1
        alone_report, beside_report = alone.report(), beside.report()
        pairs = [b / a for a, b in zip(alone.full_turns, beside.full_turns, strict=False)]
    flat = round(statistics.median(pairs), 3)
    detail = {
        "alone": alone_report,
        "beside_not_due": beside_report,
        "ratio_of_sums": round(beside_report["seconds"] / alone_report["seconds"], 3),
    }
    return [
        Figure(
            f"expiry sweep, {due:,} sessions due at once",
            alone_report["seconds"],
            "s",
            "≤ 10 s",
            alone_report["seconds"] <= 10,
            None,
            None,
            {"alone": alone_report},
        ),
        Figure(
            f"expiry sweep, {due:,} due beside {due:,} not due (floor: alone)",
            beside_report["seconds"],
            "s",
            "ratio ≈ 1 (≤ 1.2)",
            flat <= 1.2,
            alone_report["seconds"],
            flat,
            detail,
        ),
    ]
