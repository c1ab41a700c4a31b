"""Shared fixtures: a fakeredis store for unit tests, a real Redis for integration tests, the app.

Every test that needs a real Redis, a real HTTP server or a process is marked `integration`: through the fixtures
named in INTEGRATION_FIXTURES (however indirectly it asks for them), or by its module's `pytestmark`.
`pytest -m "not integration"` is the fast loop, and needs no Redis.
"""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, NoReturn

import fakeredis
import hypothesis
import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.serving import make_server

from app import create_app
from app.cli import embedded
from routing import pool, tenants
from routing.clock import now_us
from routing.keys import Keys
from routing.store import Store
from tests import lua_audit, redis_cluster
from tests.receiver import Receiver
from tests.twilio_helpers import PUBLIC, TOKEN
from workers.deliveries import Sender

# Every script a test runs checks that it names its keys before its first write (tests/lua_audit.py).
lua_audit.install()

US_NUMBERS = ["+14155550100", "+14155550101", "+14155550102"]

# Tests fire bursts at one tenant that no real tenant would (120 racing creates, the OpenAPI fuzzer), so apps
# built here start without the REST rate limit; tests/test_rate_limit.py turns it on in its apps' config.
os.environ["MASQ_RATE_LIMIT"] = "0"

# Property tests draw the same examples on every run, and a machine busy with other work does not fail them on
# time: hypothesis' default 200 ms deadline per example is a wall-clock race.
hypothesis.settings.register_profile("masq", deadline=None, derandomize=True, database=None)
hypothesis.settings.load_profile("masq")

# Fixtures that bring up a real Redis or a real HTTP server (a module overriding one keeps its name, and the mark).
INTEGRATION_FIXTURES = frozenset({"redis_url", "real_store", "env", "live_server", "receiver", "cluster_url"})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark `integration` every test that asks for a fixture of INTEGRATION_FIXTURES, directly or through others."""
    for item in items:
        if INTEGRATION_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.integration)


def require_integration_mark(request: pytest.FixtureRequest) -> None:
    """Fail a test that reached a real Redis without being marked `integration` (e.g. via getfixturevalue)."""
    if request.node.get_closest_marker("integration") is None:
        pytest.fail(f"{request.node.nodeid} uses a real Redis: mark it integration", pytrace=False)


@dataclass(frozen=True)
class TenantFixture:
    """A tenant made for a test, with its credentials and pool."""

    auth_id: str
    auth_token: str
    api_key: str
    numbers: list[str]

    @property
    def basic(self) -> tuple[str, str]:
        return (self.auth_id, self.auth_token)

    @property
    def plivo_base(self) -> str:
        return f"/v1/Account/{self.auth_id}/Masking/Session/"


def make_tenant(store: Store, dids: list[str] | None = None, name: str = "acme") -> TenantFixture:
    """Create a tenant holding `dids` (three US numbers by default)."""
    now = now_us()
    creds = tenants.create_tenant(store, name, now)
    dids_held = US_NUMBERS if dids is None else dids
    pool.add_numbers(store, creds.auth_id, dids_held, now)
    return TenantFixture(creds.auth_id, creds.auth_token, creds.api_key, list(dids_held))


def outbox(store: Store, auth_id: str, count: int = 1000) -> list[dict[str, str]]:
    """Return the oldest `count` events in the tenant's outbox stream, as flat dicts."""
    return [dict(fields) for _, fields in store.redis.xrange(store.keys.events(auth_id), count=count)]


def backlog(store: Store, auth_id: str) -> int:
    """Return how many events the tenant is still owed (new, in flight or waiting for a retry)."""
    return int(store.redis.xlen(store.keys.events(auth_id)))


def timed_out(store: Store, auth_id: str) -> list[str]:
    """Return the uuids announced with SessionTimeout events in the tenant's outbox, in order."""
    return [fields["SessionUUID"] for fields in outbox(store, auth_id) if fields["EventName"] == "SessionTimeout"]


def owner_of(store: Store, number: str) -> str | None:
    """Return the auth_id holding `number` (E.164) now, if any."""
    return store.redis.get(store.keys.did_owner(number)) or None


def changed(value: str) -> str:
    """Return `value` with its last character replaced by another: a wrong value that never equals the right one."""
    wrong = value[:-1] + ("x" if value[-1:] != "x" else "y")
    assert wrong != value and len(wrong) == len(value)
    return wrong


def cannot_run(message: str) -> NoReturn:
    """Skip a test that cannot run here (`message` says why: a tool this machine lacks, and how to install it, or
    the tests it depends on left out of the run); in CI (`CI=true`), where `.ci/run` installs everything the tests
    need and runs them all, fail it instead. The suite's one way to skip."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"{message}: CI must run it")
    pytest.skip(message)


def wait_for(
    condition: Callable[[], object], seconds: float = 30.0, ignoring: tuple[type[Exception], ...] = ()
) -> None:
    """Poll `condition` until it holds, treating the exceptions `ignoring` as "not yet"; fail after `seconds`.

    The deadlines are generous: a loaded machine starts workers and servers slowly.
    """
    deadline = time.monotonic() + seconds
    while True:
        try:
            if condition():
                return
        except ignoring:
            pass
        assert time.monotonic() < deadline, f"gave up waiting after {seconds} s"
        time.sleep(0.02)


# -- fast: fakeredis -------------------------------------------------------------------------------------
@pytest.fixture
def store() -> Store:
    """A store on a fresh in-memory fakeredis server."""
    return Store(fakeredis.FakeRedis(server=fakeredis.FakeServer(), decode_responses=True), Keys("test:"))


@pytest.fixture
def make_app(store: Store) -> Callable[..., Flask]:
    """Return a factory of apps on the test's store: `make_app(**config)` overrides the test defaults."""

    def make(**config: Any) -> Flask:
        return create_app(
            {"STORE": store, "TESTING": True, "MASQ_PUBLIC_URL": PUBLIC, "TWILIO_AUTH_TOKEN": TOKEN, **config}
        )

    return make


@pytest.fixture
def app_config() -> dict[str, Any]:
    """The settings by which a module's `app` differs from the default; a module overrides this fixture."""
    return {}


@pytest.fixture
def app(make_app: Callable[..., Flask], app_config: dict[str, Any]) -> Flask:
    return make_app(**app_config)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def tenant(store: Store) -> TenantFixture:
    return make_tenant(store)


@pytest.fixture
def make_sender() -> Iterator[Callable[[int], Sender]]:
    """Return a factory of callback senders (`make_sender(threads)`, private addresses allowed), closed at the end."""
    made: list[Sender] = []

    def make(threads: int = 4) -> Sender:
        made.append(Sender(threads=threads, allow_private=True))
        return made[-1]

    yield make
    for sender in made:
        sender.close()


# -- real Redis -------------------------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """REDIS_URL when given; otherwise a real embedded redis-server started for this run."""
    given = os.environ.get("REDIS_URL")
    if given:
        try:
            redis.Redis.from_url(given, socket_connect_timeout=2).ping()
        except redis.ConnectionError as exc:
            pytest.fail(f"REDIS_URL={given} does not answer: {exc}")
        yield given
        return
    port = _free_port()
    url = embedded.ensure_running(str(tmp_path_factory.mktemp("redis")), port)
    yield url
    embedded.stop(port)


@pytest.fixture(scope="session")
def cluster_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Redis Cluster of three masters on loopback ports, started for the run; yields its redis+cluster:// URL."""
    try:
        binary = redis_cluster.server_binary()
    except redis_cluster.ClusterUnavailable as missing:
        cannot_run(str(missing))
    with redis_cluster.running(tmp_path_factory.mktemp("cluster"), binary) as url:
        yield url


@pytest.fixture
def real_store(redis_url: str, request: pytest.FixtureRequest) -> Iterator[Store]:
    """A store on the real Redis under a key prefix of its own; only its own keys are deleted after."""
    require_integration_mark(request)
    prefix = f"masqtest:{uuid.uuid4().hex[:12]}:"
    store = Store.connect(redis_url, prefix)
    yield store
    for key in store.redis.scan_iter(match=prefix + "*", count=1000):
        store.redis.delete(key)
    store.redis.close()


@pytest.fixture
def env(redis_url: str, request: pytest.FixtureRequest) -> Iterator[dict[str, str]]:
    """The environment of a `masq` run on the real Redis, under a key prefix of this test's own."""
    require_integration_mark(request)
    prefix = f"masqtest:{uuid.uuid4().hex[:12]}:"
    yield {"REDIS_URL": redis_url, "MASQ_KEY_PREFIX": prefix}
    with redis.Redis.from_url(redis_url) as client:
        for key in client.scan_iter(match=prefix + "*", count=1000):
            client.delete(key)


@contextmanager
def serving(store: Store, **config: Any) -> Iterator[str]:
    """Serve masq on `store` with `config` over real HTTP on a loopback port for the block; yield its base URL."""
    port = _free_port()
    app = create_app({"STORE": store, "MASQ_PUBLIC_URL": f"http://127.0.0.1:{port}", **config})
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.shutdown()
        thread.join(timeout=5)


@pytest.fixture
def live_server(real_store: Store) -> Iterator[str]:
    """masq served over real HTTP on a loopback port, on the real Redis; yields its base URL."""
    with serving(real_store) as url:
        yield url


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A loopback HTTP server recording the callbacks it receives."""
    server = Receiver().start()
    yield server
    server.stop()


def redis_commands(store: Store, action: Callable[[], Any]) -> tuple[Any, list[str]]:
    """Run `action`; return its result and every command the Redis server ran for it on the store's database,
    those its scripts ran included, as MONITOR shows them."""
    database = store.redis.connection_pool.connection_kwargs.get("db", 0)
    start, end = (f"masq-monitor-{uuid.uuid4().hex}-{edge}" for edge in ("start", "end"))
    seen: list[str] = []
    with store.redis.monitor() as monitor:
        store.redis.echo(start)
        result = action()
        store.redis.echo(end)
        while (command := monitor.next_command())["command"] != f"ECHO {start}" or command["db"] != database:
            pass
        while (command := monitor.next_command())["command"] != f"ECHO {end}" or command["db"] != database:
            if command["db"] == database:
                seen.append(command["command"])
    return result, seen


def count_view(app: Flask, monkeypatch: pytest.MonkeyPatch, endpoint: str) -> list[int]:
    """Count the requests the Flask view `endpoint` answers: one item is appended for each."""
    answered: list[int] = []
    view = app.view_functions[endpoint]

    def counted(*args: Any, **kwargs: Any) -> Any:
        answered.append(1)
        return view(*args, **kwargs)

    monkeypatch.setitem(app.view_functions, endpoint, counted)
    return answered
