"""Session create through the Plivo dialect, served as the Procfile serves it: Basic auth, rate limit, DID, JSON.

Every request opens a new session on a free DID of a pool big enough for the whole run. The tenant's rate
limit is raised out of reach (MASQ_RATE_LIMIT, see `webhook.masq_env`) so that the limiter still runs on
every request but never refuses one: the figure is what the server can do, not what one tenant may do. The
loads take turns with the floor's and the webhook's (see `webhook.run`).
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

import requests

from bench import breakdown, fixtures
from bench.common import PREFIX, Figure, Server, WrkResult, lua, ratio, run_wrk
from routing import number_mode, tenants
from routing.clock import now_us
from routing.store import Store

RATE_LIMIT_OUT_OF_REACH = 1_000_000_000


@dataclass(frozen=True)
class Creator:
    """A tenant with a pool of free DIDs, and the create request wrk sends for it."""

    redis_url: str
    auth_id: str
    auth_token: str

    @property
    def path(self) -> str:
        """Return the create URL's path."""
        return f"/v1/Account/{self.auth_id}/Masking/Session/"

    @property
    def basic(self) -> str:
        """Return the HTTP Basic credentials, encoded."""
        return base64.b64encode(f"{self.auth_id}:{self.auth_token}".encode()).decode()

    def warm_up(self, server: Server, count: int = 20) -> None:
        """Create a few sessions so that every web worker has connected and loaded its scripts."""
        with requests.Session() as http:
            for _ in range(count):
                http.post(
                    server.url + self.path,
                    data=json.dumps(fixtures.session_request()),
                    timeout=10,
                    headers={"Content-Type": "application/json", "Authorization": f"Basic {self.basic}"},
                ).raise_for_status()

    def load(self, server: Server, seconds: float, first: int | None = None) -> WrkResult:
        """Run wrk's create requests against masq at 16 connections: the same two parties every time, or with
        `first`, parties of their own for every request (numbers from the `first`-th on, see `VARIED`)."""
        varied = [] if first is None else [str(2_000_000 + first), str(WRK_THREADS)]
        return run_wrk(
            server.url + self.path,
            lua("create.lua"),
            seconds,
            [self.basic, json.dumps(VARIED if varied else fixtures.session_request()), '"Session created"', *varied],
            threads=WRK_THREADS,
            server=server,
            redis_url=self.redis_url,
        )


# A create whose parties create.lua writes anew for every request (each NNNNNNN), as a tenant's trips are.
VARIED = fixtures.session_request() | {"first_party": "+1646NNNNNNN", "second_party": "+1718NNNNNNN"}
WRK_THREADS = 2


def prepare(redis_url: str, dids: int, mode: str = number_mode.EXCLUSIVE, start: int = 1_000_000) -> Creator:
    """Make a tenant in number mode `mode` with `dids` free DIDs (`fixtures.did_numbers` from `start`)."""
    store = Store.connect(redis_url, PREFIX)
    now = now_us()
    credentials = tenants.create_tenant(store, f"bench-create-{mode}", now)
    number_mode.set_number_settings(store, credentials.auth_id, mode)
    fixtures.add_numbers(store, credentials.auth_id, fixtures.did_numbers(dids, start=start), now)
    store.redis.close()
    return Creator(redis_url, credentials.auth_id, credentials.auth_token)


def figures(
    creator: Creator, runs: list[WrkResult], floor: WrkResult, in_process: int, one_trip_floor_runs: list[WrkResult]
) -> list[Figure]:
    """Return the create figures: the best of masq's rounds against the best of the floor's, and against the
    best of the floor making one Redis round trip (as a create does)."""
    best = max(runs, key=lambda run: run.rps)
    cpu = breakdown.create(creator.redis_url, creator.auth_id, creator.auth_token, in_process, RATE_LIMIT_OUT_OF_REACH)
    bad = sum(run.counts.get("non200", 0) + run.counts.get("unexpected", 0) for run in runs)
    created = ratio(best.rps, floor.rps)
    detail: dict[str, Any] = {
        "masq_16_rounds": [run.as_dict() for run in runs],
        "answers_not_created": bad,
        "cpu_us_in_process": cpu,
    }
    one_trip = max(one_trip_floor_runs, key=lambda run: run.rps)
    detail["one_trip_floor_16_rounds"] = [run.as_dict() for run in one_trip_floor_runs]
    return [
        Figure(
            "session create (Plivo API), requests/s at 16 connections",
            round(best.rps, 1),
            "req/s",
            "≥ 0.5× floor",
            created >= 0.5 and bad == 0,
            round(floor.rps, 1),
            created,
            detail,
        ),
        Figure(
            "session create against Flask + 1 Redis round trip, requests/s",
            round(best.rps, 1),
            "req/s",
            "—",
            None,
            round(one_trip.rps, 1),
            ratio(best.rps, one_trip.rps),
            {"one_trip_floor_vs_floor": ratio(one_trip.rps, floor.rps)},
        ),
    ]
