"""Redis' clock as a process reads it: a host whose clock is wrong still writes Redis' time into the store."""

from __future__ import annotations

import threading
import time

import pytest

from routing import clock
from routing.clock import US, now_us
from routing.redis_clock import RedisClock
from routing.sessions import lifecycle
from routing.store import Store
from tests.sessions_helpers import credential

SKEW = 30 * US  # the worker ran 30 s fast
CLOSE = 2 * US  # what two readings of one clock a moment apart may differ by, on a loaded machine
JUMP = 40 * US  # the wall clock stepped 40 s forward (an NTP step, `date -s`)
PARTIES = {"first_party": "+14155551234", "second_party": "+14155554321"}


@pytest.fixture
def fast_host(monkeypatch) -> None:
    """This process's clock runs SKEW ahead of the real one (Redis' fake keeps the real time)."""
    real = clock.now_us
    monkeypatch.setattr(clock, "now_us", lambda: real() + SKEW)


class CountingTime:
    """A client whose only command is TIME, answered from the real clock, counted."""

    def __init__(self) -> None:
        self.asked = 0
        self._lock = threading.Lock()

    def time(self) -> tuple[int, int]:
        with self._lock:
            self.asked += 1
        return divmod(now_us(), US)


@pytest.fixture
def wall_clock_jumps(monkeypatch):
    """Return a function that steps this process's wall clock JUMP forward (Redis' fake keeps the real time)."""
    real_ns = time.time_ns

    def jump() -> None:
        monkeypatch.setattr(time, "time_ns", lambda: real_ns() + JUMP * 1000)
        monkeypatch.setattr(clock, "now_us", lambda: real_ns() // 1000 + JUMP)

    return jump


@pytest.mark.usefixtures("fast_host")
def test_a_fast_host_reads_redis_time_not_its_own(store):
    assert clock.now_us() - now_us() > SKEW - CLOSE  # the host's clock is off
    assert abs(store.now_us() - now_us()) < CLOSE


def test_the_offset_is_measured_once_per_period_whatever_the_threads_ask():
    client, redis_clock = CountingTime(), RedisClock()

    def ask() -> None:
        for _ in range(200):
            redis_clock.now_us(client)

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert client.asked == 1


def test_a_clock_measured_every_time_asks_redis_every_time():
    client, redis_clock = CountingTime(), RedisClock(every=0)
    for _ in range(3):
        redis_clock.now_us(client)
    assert client.asked == 3


@pytest.mark.usefixtures("fast_host")
def test_a_fast_process_dates_what_it_opens_by_redis_clock(client, tenant, store):
    answered = client.post(tenant.plivo_base, auth=tenant.basic, json=PARTIES)
    assert answered.status_code == 200, answered.get_json()

    session = lifecycle.get_session(store, tenant.auth_id, answered.get_json()["session_uuid"])
    assert abs(session.created - now_us()) < CLOSE


def test_a_fast_process_neither_ends_a_session_early_nor_shows_it_ended(client, tenant, store, monkeypatch):
    # Opened 40 s ago for 60 s: 20 s to go, though a host 30 s fast would say it ended 10 s ago.
    opened = lifecycle.open_session(store, credential(tenant), {**PARTIES, "session_expiry": 60}, now_us() - 40 * US)
    real = clock.now_us
    monkeypatch.setattr(clock, "now_us", lambda: real() + SKEW)

    assert lifecycle.reclaim_expired(store, tenant.auth_id, store.now_us()) == 0
    shown = client.get(f"{tenant.plivo_base}{opened.session_uuid}/", auth=tenant.basic).get_json()["response"]
    assert shown["status"] == "active"


def test_two_processes_with_different_clocks_agree_on_now(store, monkeypatch):
    slow = Store(store.redis, store.keys)
    reading = slow.now_us()
    real = clock.now_us
    monkeypatch.setattr(clock, "now_us", lambda: real() + SKEW)
    fast = Store(store.redis, store.keys)
    assert abs(fast.now_us() - reading) < CLOSE


class StoppedRedisClock:
    """A client whose only command is TIME, answered with one fixed reading."""

    def __init__(self, reading: int) -> None:
        self.reading = reading

    def time(self) -> tuple[int, int]:
        return divmod(self.reading, US)


def test_a_step_of_the_wall_clock_does_not_move_redis_time(wall_clock_jumps):
    measured = now_us()
    redis_clock = RedisClock()
    first = redis_clock.now_us(StoppedRedisClock(measured))
    wall_clock_jumps()

    later = redis_clock.now_us(StoppedRedisClock(measured))
    assert clock.now_us() - measured > JUMP - CLOSE  # the host's clock stepped
    assert 0 <= later - first < CLOSE  # Redis' time moved on by the monotonic time only


def test_a_step_of_the_wall_clock_does_not_end_a_session_early(store, tenant, wall_clock_jumps):
    # Opened 50 s ago for 60 s: 10 s to go, though a clock that believed the 40 s step would say it ended 30 s ago.
    opened = lifecycle.open_session(store, credential(tenant), {**PARTIES, "session_expiry": 60}, now_us() - 50 * US)
    reader = Store(store.redis, store.keys)
    before = reader.now_us()
    wall_clock_jumps()

    assert reader.now_us() - before < CLOSE
    assert lifecycle.reclaim_expired(store, tenant.auth_id, reader.now_us()) == 0
    assert lifecycle.get_session(store, tenant.auth_id, opened.session_uuid).status(reader.now_us()) == "active"
