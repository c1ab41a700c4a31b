"""Callback deliveries: the real `masq worker` against RQ's default forking worker, to the same receiver.

masq's worker claims a tenant's outbox in batches through the stream's consumer group and sends on a pool
of threads over kept-alive connections. The comparison is what a plain RQ design would do: one job per
event (`send_one`, which sends exactly what masq sends, through `workers.callback_http.send`), worked by
`rq worker`, whose default Worker forks a child for every job. That worker preloads the job's module
(bench/rq_preload.py), which only makes RQ faster; a full run also times it without, for the record.
Rates are events from the first to the last: masq's from handing its listening worker the events (written as the
scripts write them, each thousand ringing the tenant's doorbell) to an empty outbox, RQ's from the first job's start
to the last one's end (the worker's start-up is not counted).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import redis
import requests
from rq import Queue
from rq.job import Job

from bench import fixtures
from bench.common import BIN, PREFIX, Figure, cpu_seconds, free_port, ratio, started
from routing import due, tenants
from routing.clock import now_us
from routing.store import Store
from workers.callback_http import Delivery, callback_session, send

RQ_QUEUE = "bench-rq"
SESSIONS = 100
TIMEOUT_S = 120.0
ROUNDS = 2


def send_one(url: str, method: str, params: dict[str, str], auth_token: str, key: str) -> int:
    """RQ job: deliver one event as masq does (signed, bounded in time); raise when it is not delivered."""
    with callback_session() as http:
        outcome = send(http, Delivery(url, method, params, auth_token, key), allow_private=True)
    if not outcome.delivered:
        raise RuntimeError(outcome.error)
    return int(outcome.status or 0)


def event_fields(sessions: list[tuple[str, str]], count: int) -> list[dict[str, str]]:
    """Return `count` events as the call scripts write them, spread over the sessions, numbered per session."""
    stamp = str(now_us())  # µs, as the scripts write it: the delivery formats it
    events = []
    for i in range(count):
        session_uuid, number = sessions[i % len(sessions)]
        events.append(
            {
                "EventName": "SessionSecondPartyRing",
                "EventTimestamp": stamp,
                "SessionUUID": session_uuid,
                "CallUUID": f"CA{i:032x}",
                "From": fixtures.FIRST_PARTY,
                "To": fixtures.SECOND_PARTY,
                "VirtualNumber": number,
                "PinAuthenticationStatus": "",
                "PinRetryCounter": "0",
                "SequenceNumber": str(i // len(sessions) + 1),
            }
        )
    return events


def received(receiver_url: str) -> int:
    """Return how many callbacks the receiver has answered."""
    return int(requests.get(receiver_url + "/_count", timeout=5).text)


def masq_worker_rate(workdir: Path, redis_url: str, receiver_url: str, count: int, did_start: int) -> dict[str, float]:
    """Start `masq worker` for a new tenant, give it `count` events once it claims, time it until none is owed."""
    store = Store.connect(redis_url, PREFIX)
    now = now_us()
    auth_id = tenants.create_tenant(store, "bench-deliveries", now).auth_id
    fixtures.add_numbers(store, auth_id, fixtures.did_numbers(SESSIONS, start=did_start), now)
    sessions = fixtures.open_sessions(
        store, auth_id, fixtures.session_request(callback_url=receiver_url + "/cb"), SESSIONS, now
    )
    events = event_fields(sessions, count)
    stream = store.keys.events(auth_id)
    env = {
        "REDIS_URL": redis_url,
        "QUEUE_REDIS_URL": redis_url,
        "MASQ_KEY_PREFIX": PREFIX,
        "MASQ_ALLOW_PRIVATE_CALLBACKS": "1",
        "MASQ_QUEUE": "bench-masq",
    }
    with started([sys.executable, "-m", "app.cli", "worker"], env=env, log=workdir / "masq-worker.log") as worker:
        _wait_for_worker(store, auth_id, worker.pid)
        before, cpu_before = received(receiver_url), cpu_seconds(worker.pid)
        began = time.perf_counter()
        for start in range(0, count, 1000):
            with store.redis.pipeline(transaction=False) as pipe:
                for fields in events[start : start + 1000]:
                    pipe.xadd(stream, fields)  # type: ignore[arg-type]
                pipe.execute()
            due.ring(store, auth_id, now_us(), now_us())
        while store.redis.xlen(stream):
            if time.perf_counter() - began > TIMEOUT_S:
                raise RuntimeError(f"masq's worker left {store.redis.xlen(stream)} events after {TIMEOUT_S:.0f} s")
            time.sleep(0.002)
        seconds = time.perf_counter() - began
        cpu = cpu_seconds(worker.pid) - cpu_before
    delivered = received(receiver_url) - before
    store.redis.close()
    return {
        "events": count,
        "delivered": delivered,
        "seconds": round(seconds, 3),
        "per_second": count / seconds,
        "worker_cpu_ms_per_event": round(cpu * 1000 / count, 3),
    }


def _wait_for_worker(store: Store, auth_id: str, pid: int) -> None:
    """Wait until the worker listens on the due channel and has read the tenant's next due: a ring reaches it."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        listening = dict(store.redis.pubsub_numsub(store.keys.due_channel())).get(store.keys.due_channel(), 0)
        if listening and store.redis.exists(store.keys.next_due(auth_id)):
            return
        time.sleep(0.05)
    raise RuntimeError(f"masq's worker (pid {pid}) did not start listening within 30 s")


def rq_worker_rate(
    workdir: Path, redis_url: str, receiver_url: str, count: int, did_start: int, preload: bool = True
) -> dict[str, float]:
    """Enqueue `count` events as one RQ job each and let `rq worker --burst` (forking per job) work them.

    With `preload`, the worker imports the job's module before it forks (see bench/rq_preload.py).
    """
    store = Store.connect(redis_url, PREFIX)
    now = now_us()
    credentials = tenants.create_tenant(store, "bench-rq", now)
    dids = fixtures.did_numbers(SESSIONS, start=did_start)
    fixtures.add_numbers(store, credentials.auth_id, dids, now)
    sessions = fixtures.open_sessions(store, credentials.auth_id, fixtures.session_request(), SESSIONS, now)
    store.redis.close()
    connection = redis.Redis.from_url(redis_url)
    queue = Queue(RQ_QUEUE, connection=connection)
    url = receiver_url + "/cb"
    jobs = queue.enqueue_many(
        [
            Queue.prepare_data(
                send_one,
                args=(
                    url,
                    "POST",
                    fields,
                    credentials.auth_token,
                    f"{fields['SessionUUID']}-{fields['SequenceNumber']}",
                ),
                result_ttl=600,
            )
            for fields in event_fields(sessions, count)
        ]
    )
    before = received(receiver_url)
    command = [
        str(BIN / "rq"),
        "worker",
        "--burst",
        "--url",
        redis_url,
        "--logging_level",
        "WARNING",
        *(["-c", "bench.rq_preload"] if preload else []),
        RQ_QUEUE,
    ]
    began = time.perf_counter()
    with started(command, log=workdir / "rq-worker.log") as worker:
        worker.wait(TIMEOUT_S)
    wall = time.perf_counter() - began
    fetched = [job for job in Job.fetch_many([j.id for j in jobs], connection=connection) if job is not None]
    finished = [job for job in fetched if job.get_status() == "finished"]
    first = min(job.started_at for job in finished if job.started_at)
    last = max(job.ended_at for job in finished if job.ended_at)
    seconds = (last - first).total_seconds()
    connection.close()
    return {
        "events": count,
        "preloaded": preload,
        "delivered": received(receiver_url) - before,
        "jobs_finished": len(finished),
        "seconds_first_start_to_last_end": round(seconds, 3),
        "seconds_with_startup": round(wall, 3),
        "per_second": len(finished) / seconds if seconds > 0 else 0.0,
    }


def run(workdir: Path, quick: bool, redis_url: str) -> list[Figure]:
    """Measure masq's worker and RQ's default worker on the same deliveries to one receiver, taking turns.

    ROUNDS rounds of masq then RQ, each masq round with a worker of its own; the best round of each is kept.
    """
    masq_count, rq_count, cold_count = (500, 50, 0) if quick else (3000, 200, 60)
    port = free_port()
    masq_rounds, rq_rounds = [], []
    with started([sys.executable, "-m", "bench.receiver", str(port)], port=port, log=workdir / "receiver.log"):
        receiver_url = f"http://127.0.0.1:{port}"
        for r in range(ROUNDS):
            masq_rounds.append(masq_worker_rate(workdir, redis_url, receiver_url, masq_count, 4_000_000 + r * 1000))
            rq_rounds.append(rq_worker_rate(workdir, redis_url, receiver_url, rq_count, 4_100_000 + r * 1000))
        cold = (
            rq_worker_rate(workdir, redis_url, receiver_url, cold_count, 4_200_000, preload=False)
            if cold_count
            else None
        )
    masq = max(masq_rounds, key=lambda got: got["per_second"])
    forking = max(rq_rounds, key=lambda got: got["per_second"])
    rate, floor = round(masq["per_second"], 1), round(forking["per_second"], 1)
    times = ratio(rate, floor)
    complete = all(got["delivered"] == masq_count for got in masq_rounds) and all(
        got["jobs_finished"] == rq_count for got in rq_rounds
    )
    detail: dict[str, object] = {"masq_rounds": masq_rounds, "rq_default_worker_rounds": rq_rounds}
    if cold:
        detail["rq_default_worker_without_preload"] = cold
    return [
        Figure(
            "callback deliveries/s, one masq worker process",
            rate,
            "events/s",
            "≥ 10× RQ default, ≥ 500/s",
            times >= 10 and rate >= 500 and complete,
            floor,
            times,
            detail,
        )
    ]
