"""The inbound voice webhook, served as the Procfile serves it, against bare floor apps under gunicorn.

Every request is a new call (its own CallSid) from a session's first party to a DID whose session has no
live call, so each one takes the whole bridge path: signature check, DID → tenant lookup, the INBOUND script
(session, caller, interaction, call state, a `SessionFirstPartyAnswer` event in the outbox) and the
`<Play>`+`<Dial>` TwiML. The sessions have a first-party play URL so that the event is written.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import redis
import requests
from twilio.request_validator import RequestValidator

from bench import breakdown, fixtures
from bench.common import (
    PREFIX,
    Figure,
    Server,
    WrkResult,
    counting_round_trips,
    gunicorn,
    lua,
    procfile_web,
    ratio,
    run_wrk,
)
from routing import number_mode, tenants
from routing.clock import now_us
from routing.store import Store

PUBLIC_URL = "https://masq.bench.test"
PATH = "/voice/inbound"
TOKEN = "bench-twilio-auth-token-0123456789"
ACCOUNT_SID = "AC" + "b" * 32
PLAY_URL = "https://media.bench.test/hello.mp3"
SPARE = 40  # sessions for warming the servers up and for counting round trips
SESSIONS_PER_DID = 50  # on a shared DID: the default cap of 100 parties
BREAKDOWN_CALLS = {False: 400, True: 100}  # in-process calls per CPU reading (full run, quick run)
WRK_THREADS = 2
ROUNDS = {False: 3, True: 2}  # turns each server gets at 16 connections (full run, quick run)
ROUND_SECONDS = {False: 4.0, True: 2.0}
SINGLE_SECONDS = {False: 3.0, True: 2.0}


def inbound_fields(caller: str, virtual_number: str, call_sid: str) -> dict[str, str]:
    """Return the fields of Twilio's voice webhook for a new inbound call."""
    return {
        "AccountSid": ACCOUNT_SID,
        "ApiVersion": "2010-04-01",
        "CallSid": call_sid,
        "CallStatus": "ringing",
        "Direction": "inbound",
        "From": caller,
        "Caller": caller,
        "To": virtual_number,
        "Called": virtual_number,
        "FromCountry": "US",
        "ToCountry": "US",
    }


def signed_calls(numbers: list[str], callers: list[str] | None = None) -> list[tuple[str, str]]:
    """Return one (form body, X-Twilio-Signature) per DID: a new call from the first party (the i-th of `callers`
    to the i-th DID, when given)."""
    validator = RequestValidator(TOKEN)
    calls = []
    for i, number in enumerate(numbers):
        caller = callers[i] if callers else fixtures.FIRST_PARTY
        fields = inbound_fields(caller, number, "CA" + uuid.uuid4().hex)
        calls.append((urlencode(fields), validator.compute_signature(PUBLIC_URL + PATH, fields)))
    return calls


def write_calls(path: Path, calls: list[tuple[str, str]]) -> Path:
    """Write the calls where the wrk script reads them."""
    path.write_text("".join(f"{body}\t{signature}\n" for body, signature in calls))
    return path


def prepare(redis_url: str, count: int) -> list[str]:
    """Make a tenant with `count` DIDs, each carrying an open session; return the DIDs."""
    store = Store.connect(redis_url, PREFIX)
    now = now_us()
    auth_id = tenants.create_tenant(store, "bench-webhook", now).auth_id
    numbers = fixtures.did_numbers(count)
    fixtures.add_numbers(store, auth_id, numbers, now)
    taken = fixtures.open_sessions(store, auth_id, fixtures.session_request(first_party_play_url=PLAY_URL), count, now)
    if sorted(number for _, number in taken) != sorted(numbers):
        raise RuntimeError("not every DID got a session")
    store.redis.close()
    return numbers


def prepare_calls(redis_url: str, count: int, mode: str, start: int = 0) -> list[tuple[str, str]]:
    """Make a tenant in number mode `mode` with `count` open sessions of distinct parties, SESSIONS_PER_DID to a
    DID when shared, one each when exclusive; return each session's call, as (its first party, its DID).

    The DIDs are `fixtures.did_numbers` from `start`.
    """
    store = Store.connect(redis_url, PREFIX)
    now = now_us()
    auth_id = tenants.create_tenant(store, f"bench-webhook-{mode}", now).auth_id
    number_mode.set_number_settings(store, auth_id, mode)
    dids = count if mode == number_mode.EXCLUSIVE else -(-count // SESSIONS_PER_DID)
    fixtures.add_numbers(store, auth_id, fixtures.did_numbers(dids, start=start), now)
    callers, others = fixtures.phone_numbers(count, "646"), fixtures.phone_numbers(count, "718")
    requests = [
        {**fixtures.session_request(first_party_play_url=PLAY_URL), "first_party": caller, "second_party": other}
        for caller, other in zip(callers, others, strict=True)
    ]
    taken = fixtures.open_many(store, auth_id, requests, now)
    store.redis.close()
    return [(caller, number) for caller, (_, number) in zip(callers, taken, strict=True)]


def warm_up(base_url: str, calls: list[tuple[str, str]]) -> None:
    """Send a few calls so that every web worker has connected and loaded its scripts."""
    with requests.Session() as http:
        for body, signature in calls:
            http.post(
                base_url + PATH,
                data=body,
                timeout=10,
                headers={"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": signature},
            )


def load(server: Server, path: Path, seconds: float, connections: int, redis_url: str = "") -> WrkResult:
    """Run wrk through the calls in `path` at `connections` connections."""
    threads = min(WRK_THREADS, connections)
    return run_wrk(
        server.url + PATH,
        lua("inbound.lua"),
        seconds,
        [str(path), str(threads), "<Dial"],
        connections=connections,
        threads=threads,
        server=server,
        redis_url=redis_url,
    )


def count_round_trips(redis_url: str, calls: list[tuple[str, str]]) -> dict[str, Any]:
    """Post one call through masq in-process and count what reaches Redis before the TwiML comes back.

    Round trips are counted on the client (each write to a Redis socket is one: a pipeline is one write), and
    cross-checked with MONITOR on the private Redis (top-level commands, and the commands scripts ran). The
    first call warms up: it connects and loads the scripts; the second is the one counted.
    """
    from app import create_app

    app = create_app(
        {
            "REDIS_URL": redis_url,
            "QUEUE_REDIS_URL": redis_url,
            "MASQ_KEY_PREFIX": PREFIX,
            "MASQ_PUBLIC_URL": PUBLIC_URL,
            "TWILIO_AUTH_TOKEN": TOKEN,
            "MASQ_SKIP_TWILIO_SIGNATURE": False,
        }
    )
    client = app.test_client()

    def post(call: tuple[str, str]) -> str:
        response = client.post(
            PATH,
            data=call[0],
            content_type="application/x-www-form-urlencoded",
            headers={"X-Twilio-Signature": call[1]},
        )
        return response.get_data(as_text=True)

    post(calls[0])
    marker = redis.Redis.from_url(redis_url, decode_responses=True)
    watcher = redis.Redis.from_url(redis_url, decode_responses=True)
    with watcher.monitor() as monitor:
        marker.echo("bench-begin")
        with counting_round_trips() as writes:
            twiml = post(calls[1])
        marker.echo("bench-end")
        seen: list[dict[str, Any]] = []
        began = False
        while True:
            command = monitor.next_command()
            text = str(command["command"])
            if text == "ECHO bench-begin":
                began = True
            elif text == "ECHO bench-end":
                break
            elif began:
                seen.append(command)
    marker.close()
    watcher.close()
    top = [str(c["command"]).split(" ")[0] for c in seen if c.get("client_type") != "lua"]
    inner = [c for c in seen if c.get("client_type") == "lua"]
    return {
        "round_trips": writes[0],
        "commands": top,
        "commands_inside_scripts": len(inner),
        "answer_is_dial": "<Dial" in twiml,
    }


def round_trips_figure(name: str, trips: dict[str, Any]) -> Figure:
    """Return the figure of `count_round_trips`' answer: at most 2 round trips, and the call bridged."""
    return Figure(
        name,
        trips["round_trips"],
        "round trips",
        "≤ 2",
        trips["round_trips"] <= 2 and trips["answer_is_dial"],
        detail=trips,
    )


def masq_env(redis_url: str) -> dict[str, str]:
    """Return the environment masq's web process runs with (the create figure's tenant is never rate limited)."""
    from bench.create import RATE_LIMIT_OUT_OF_REACH

    return {
        "REDIS_URL": redis_url,
        "QUEUE_REDIS_URL": redis_url,
        "MASQ_KEY_PREFIX": PREFIX,
        "MASQ_PUBLIC_URL": PUBLIC_URL,
        "TWILIO_AUTH_TOKEN": TOKEN,
        "MASQ_SKIP_TWILIO_SIGNATURE": "0",
        "MASQ_RATE_LIMIT": str(RATE_LIMIT_OUT_OF_REACH),
        "MASQ_RATE_WINDOW": "1",
    }


def run(workdir: Path, quick: bool, redis_url: str, with_create: bool = True) -> list[Figure]:
    """Measure the floor, masq's webhook and masq's creates at 16 connections, taking turns; then at 1.

    Both servers run side by side and the loads alternate, floor then webhook then create, ROUNDS times: on a
    shared machine a burst of other work then lands on every server alike, and the best round of each is
    kept. Sessions (and DIDs for creates) are made after the floor's first round, enough for masq to go as
    fast as the floor did.
    """
    from bench import create

    seconds, rounds, single = ROUND_SECONDS[quick], ROUNDS[quick], SINGLE_SECONDS[quick]
    in_process = BREAKDOWN_CALLS[quick]
    floor_file = write_calls(workdir / "floor-calls.txt", signed_calls(fixtures.did_numbers(2000)))
    floor_runs: list[WrkResult] = []
    redis_floor_runs: list[WrkResult] = []
    one_trip_floor_runs: list[WrkResult] = []
    masq_runs: list[WrkResult] = []
    create_runs: list[WrkResult] = []
    with (
        gunicorn("bench.floor_app:create_app()", {}, workdir) as floor,
        gunicorn("bench.floor_app:create_redis_app()", {"REDIS_URL": redis_url}, workdir) as redis_floor,
        gunicorn(
            "bench.floor_app:create_redis_app()", {"REDIS_URL": redis_url, "FLOOR_ROUND_TRIPS": "1"}, workdir
        ) as one_trip_floor,
        procfile_web(masq_env(redis_url), workdir) as masq,
    ):
        warm_up(floor.url, signed_calls(fixtures.did_numbers(SPARE)))
        warm_up(redis_floor.url, signed_calls(fixtures.did_numbers(SPARE)))
        warm_up(one_trip_floor.url, signed_calls(fixtures.did_numbers(SPARE)))
        floor_runs.append(load(floor, floor_file, seconds, 16))
        per_round = int(floor_runs[0].rps * seconds * 1.15) + 200
        n1 = int(floor_runs[0].rps / 16 * single * 1.5) + 100
        numbers = prepare(redis_url, per_round * rounds + n1 + SPARE + breakdown.calls_needed(in_process))
        calls = signed_calls(numbers)
        files = [
            write_calls(workdir / f"calls-16-{r}.txt", calls[r * per_round : (r + 1) * per_round])
            for r in range(rounds)
        ]
        taken = per_round * rounds
        file1 = write_calls(workdir / "calls-1.txt", calls[taken : taken + n1])
        spare = calls[taken + n1 : taken + n1 + SPARE]
        in_process_calls = calls[taken + n1 + SPARE :]
        creator = (
            create.prepare(redis_url, per_round * rounds + 100 + breakdown.calls_needed(in_process))
            if with_create
            else None
        )
        warm_up(masq.url, spare[: SPARE - 2])
        if creator:
            creator.warm_up(masq)
        for r in range(rounds):
            if r:
                floor_runs.append(load(floor, floor_file, seconds, 16))
            redis_floor_runs.append(load(redis_floor, floor_file, seconds, 16, redis_url))
            masq_runs.append(load(masq, files[r], seconds, 16, redis_url))
            if creator:
                one_trip_floor_runs.append(load(one_trip_floor, floor_file, seconds, 16, redis_url))
                create_runs.append(creator.load(masq, seconds))
        floor1 = load(floor, floor_file, single, 1)
        masq1 = load(masq, file1, single, 1, redis_url)
    trips = count_round_trips(redis_url, spare[SPARE - 2 :])
    cpu = breakdown.inbound_cpu(redis_url, in_process_calls, in_process)
    store = Store.connect(redis_url, PREFIX)
    events = sum(int(store.redis.xlen(k)) for k in store.redis.scan_iter(f"{PREFIX}t:*:events"))
    store.redis.close()
    best_floor = max(floor_runs, key=lambda run: run.rps)
    best_redis_floor = max(redis_floor_runs, key=lambda run: run.rps)
    best = max(masq_runs, key=lambda run: run.rps)
    bad = sum(run.counts.get("non200", 0) + run.counts.get("unexpected", 0) for run in masq_runs)
    detail = {
        "masq_16_rounds": [run.as_dict() for run in masq_runs],
        "floor_16_rounds": [run.as_dict() for run in floor_runs],
        "redis_floor_16_rounds": [run.as_dict() for run in redis_floor_runs],
        "masq_1": masq1.as_dict(),
        "floor_1": floor1.as_dict(),
        "sessions_prepared": len(numbers),
        "outbox_events_written": events,
        "answers_not_dial_or_not_200": bad,
        "cpu_us_in_process": cpu,
    }
    rps_ratio = ratio(best.rps, best_floor.rps)
    found = [
        Figure(
            "inbound webhook, requests/s at 16 connections",
            round(best.rps, 1),
            "req/s",
            "≥ 0.5× floor",
            rps_ratio >= 0.5 and bad == 0,
            round(best_floor.rps, 1),
            rps_ratio,
            detail,
        ),
        Figure(
            "inbound webhook against Flask + 2 Redis round trips, requests/s",
            round(best.rps, 1),
            "req/s",
            "—",
            None,
            round(best_redis_floor.rps, 1),
            ratio(best.rps, best_redis_floor.rps),
            {
                "redis_floor_vs_floor": ratio(best_redis_floor.rps, best_floor.rps),
                "redis_floor_p99_ms": best_redis_floor.p99_ms,
            },
        ),
        Figure(
            "inbound webhook, p50 at 16 connections",
            best.p50_ms,
            "ms",
            "—",
            None,
            best_floor.p50_ms,
            ratio(best.p50_ms, best_floor.p50_ms),
        ),
        Figure(
            "inbound webhook, p99 at 16 connections",
            best.p99_ms,
            "ms",
            "≤ 10 ms",
            best.p99_ms <= 10,
            best_floor.p99_ms,
            ratio(best.p99_ms, best_floor.p99_ms),
        ),
        Figure(
            "inbound webhook, p50 at 1 connection (service time)",
            masq1.p50_ms,
            "ms",
            "—",
            None,
            floor1.p50_ms,
            ratio(masq1.p50_ms, floor1.p50_ms),
            {"p99_ms": masq1.p99_ms, "floor_p99_ms": floor1.p99_ms},
        ),
        round_trips_figure("Redis round trips before the TwiML (inbound)", trips),
        Figure(
            "inbound webhook, CPU per call in process (the app through WSGI)",
            cpu["masq_wsgi"],
            "µs",
            "≤ 350 µs",
            cpu["masq_wsgi"] <= 350,
            cpu["floor_wsgi"],
            ratio(cpu["masq_wsgi"], cpu["floor_wsgi"]),
        ),
    ]
    if creator:
        found += create.figures(creator, create_runs, best_floor, in_process, one_trip_floor_runs)
    return found
