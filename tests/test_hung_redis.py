"""A Redis that hangs (a stopped process: its kernel still accepts connections, nothing answers) costs a request at
most MASQ_REDIS_TIMEOUT: the API answers a 503, the caller hears the apology, /readyz says unavailable, and the
worker's pub/sub ear, whose waits are longer than that bound, keeps listening on a Redis that answers."""

from __future__ import annotations

import os
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import redis

from app.cli import embedded
from routing import due
from routing.clock import now_us
from routing.sessions import lifecycle
from routing.store import Store
from tests.conftest import _free_port, make_tenant, wait_for
from tests.sessions_helpers import credential
from tests.twilio_helpers import call, verbs, xml
from workers.doorbell import SUBSCRIBED, Doorbell

pytestmark = pytest.mark.integration  # a redis-server of its own, stopped and resumed

TIMEOUT = 1.0  # MASQ_REDIS_TIMEOUT here (s)
BOUND = TIMEOUT + 1.0  # what a request may take against the stopped server, a loaded machine's second included
PARTIES = {"first_party": "+14155551234", "second_party": "+14155554321"}


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """A redis-server of this module's own, on a free port, with no persistence; yields it and its URL."""
    port = _free_port()
    directory = tmp_path_factory.mktemp("hung")
    process = subprocess.Popen(
        [embedded.server_binary(), "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", str(directory)],
        stdout=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    try:
        wait_for(lambda: redis.Redis.from_url(url).ping(), ignoring=(redis.ConnectionError,))
        yield process, url
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture
def hung_store(server) -> Iterator[Store]:
    store = Store.connect(server[1], f"hung:{uuid.uuid4().hex[:12]}:", timeout=TIMEOUT)
    yield store
    store.redis.close()


@contextmanager
def stopped(process: subprocess.Popen[bytes]) -> Iterator[None]:
    """Stop the redis-server (SIGSTOP) for the block; resume it whatever happens."""
    os.kill(process.pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(process.pid, signal.SIGCONT)


def timed(action):
    started = time.monotonic()
    result = action()
    return result, time.monotonic() - started


def test_a_session_list_answers_a_json_503_in_time_when_redis_hangs(server, hung_store, make_app):
    tenant = make_tenant(hung_store)
    client = make_app(STORE=hung_store).test_client()
    assert client.get(tenant.plivo_base, auth=tenant.basic).status_code == 200  # its connection is made

    with stopped(server[0]):
        response, took = timed(lambda: client.get(tenant.plivo_base, auth=tenant.basic))

    assert response.status_code == 503 and response.mimetype == "application/json"
    assert "error" in response.get_json()
    assert took < BOUND


def test_a_signed_call_hears_the_apology_in_time_when_redis_hangs(server, hung_store, make_app):
    tenant = make_tenant(hung_store)
    session = lifecycle.open_session(hung_store, credential(tenant), PARTIES, now_us())
    client = make_app(STORE=hung_store).test_client()

    with stopped(server[0]):
        response, took = timed(lambda: call(client, PARTIES["first_party"], session.virtual_number))

    assert verbs(xml(response)) == ["Say", "Hangup"]
    assert took < BOUND


def test_readyz_says_unavailable_in_time_when_redis_hangs(server, hung_store, make_app):
    client = make_app(STORE=hung_store, MASQ_READY_TIMEOUT=TIMEOUT).test_client()

    with stopped(server[0]):
        response, took = timed(lambda: client.get("/readyz"))

    assert (response.status_code, response.get_json()["status"]) == (503, "unavailable")
    assert took < BOUND


def test_the_doorbell_waits_longer_than_the_commands_bound_and_still_hears_a_ring(server):
    store = Store.connect(server[1], f"hung:{uuid.uuid4().hex[:12]}:", timeout=0.2)
    doorbell = Doorbell(store)
    try:
        assert doorbell.poll(timeout=1.0) == [SUBSCRIBED]
        assert doorbell.poll(timeout=1.0) == []  # a second of silence, five times the socket's bound: no error
        due.ring(store, "MAtenant", now_us(), now_us())
        [ring] = doorbell.poll(timeout=5.0)
        assert ring.auth_id == "MAtenant"
    finally:
        doorbell.stop()
        store.redis.close()
