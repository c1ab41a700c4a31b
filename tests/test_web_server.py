"""`masq web` with real sockets: slow clients hold no thread and are closed in time; every error is masq's JSON.

Each test runs the web process as the Procfile does (granian, here one process of four threads) on a free port.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from app.asgi import HEADER_BYTES, TARGET_BYTES
from routing.store import Store
from tests.conftest import TenantFixture, _free_port, make_tenant, wait_for

pytestmark = pytest.mark.integration  # starts the web process

ROOT = Path(__file__).parent.parent
FAKE = "MA" + "Z" * 18  # no such account: its requests are refused, after their body is read
CREATE = f"/v1/Account/{FAKE}/Masking/Session/"
BASIC = base64.b64encode(f"{FAKE}:{'w' * 40}".encode()).decode()
QUICK = 1.0  # seconds: /healthz and a tenant's request must be answered within this, whatever else is connected
SHORT = 1  # seconds: the header and body timeouts of the server that tests closing


@dataclass(frozen=True)
class Served:
    """A running `masq web`: its port, and a tenant of its store."""

    port: int
    tenant: TenantFixture

    def basic(self) -> bytes:
        """Return the tenant's Authorization header."""
        token = base64.b64encode(f"{self.tenant.auth_id}:{self.tenant.auth_token}".encode())
        return b"Authorization: Basic " + token

    def create(self) -> bytes:
        return b"POST " + self.tenant.plivo_base.encode()


@contextmanager
def web(redis_url: str, **environment: str) -> Iterator[Served]:
    """Run `masq web` (one process, four threads) on a free port with `environment`, with a tenant; yield it."""
    port = _free_port()
    prefix = f"masqtest:{uuid.uuid4().hex[:12]}:"
    store = Store.connect(redis_url, prefix)
    env = {**os.environ, "REDIS_URL": redis_url, "MASQ_KEY_PREFIX": prefix, **environment}
    command = [sys.executable, "-m", "app.cli", "web", "--port", str(port), "--workers", "1", "--threads", "4"]
    server = subprocess.Popen(
        command, env=env, cwd=ROOT, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        wait_for(lambda: server.poll() is None and status_of(port, b"GET /healthz") == 200, ignoring=(OSError,))
        yield Served(port, make_tenant(store))
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=5)
        for key in store.redis.scan_iter(match=prefix + "*", count=1000):
            store.redis.delete(key)
        store.redis.close()


@pytest.fixture(scope="module")
def short_timeouts(redis_url: str) -> Iterator[Served]:
    """A web process whose header and body timeouts are SHORT seconds."""
    with web(redis_url, MASQ_HEADER_TIMEOUT=str(SHORT), MASQ_BODY_TIMEOUT=str(SHORT)) as served:
        yield served


def opened(port: int, data: bytes = b"") -> socket.socket:
    """Return a connection to the server that has sent `data`."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    if data:
        sock.sendall(data)
    return sock


def request(line: bytes, *headers: bytes, body: bytes = b"") -> bytes:
    """Return an HTTP/1.1 request's bytes: `line` (`METHOD target`), Host, `headers`, then `body`."""
    return b"\r\n".join([line + b" HTTP/1.1", b"Host: masq", *headers, b"", body])


def exchange(port: int, data: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send `data` on a new connection and read the answer until the server closes it; return its parts."""
    with opened(port, data) as sock:
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {name.lower(): value.strip() for name, _, value in (line.partition(":") for line in lines)}
    return int(status_line.split()[1]), headers, body


def status_of(port: int, line: bytes) -> int:
    return exchange(port, request(line, b"Connection: close"))[0]


def answers_within(port: int, data: bytes, seconds: float) -> bool:
    """Return whether the request `data` gets a 200 within `seconds`."""
    with socket.create_connection(("127.0.0.1", port), timeout=seconds) as sock:
        sock.sendall(data)
        try:
            return sock.recv(65536).startswith(b"HTTP/1.1 200 ")
        except TimeoutError:
            return False


def seconds_until_closed(sock: socket.socket) -> tuple[float, bytes]:
    """Read from `sock` until the server closes it; return the seconds that took and what it sent."""
    started = time.monotonic()
    received = b""
    while chunk := sock.recv(65536):
        received += chunk
    return time.monotonic() - started, received


def json_error(answer: tuple[int, dict[str, str], bytes], status: int) -> str:
    """Assert masq's JSON error with `status`; return its text."""
    got, headers, body = answer
    assert got == status, body
    assert headers["content-type"] == "application/json"
    return str(json.loads(body)["error"])


# -- slow clients ----------------------------------------------------------------------------------------
def test_slow_clients_hold_no_thread_and_healthz_and_tenants_are_answered_at_once(redis_url):
    half_header = request(b"GET /healthz", b"X-Half: ").rstrip(b"\r\n")
    slow_create = request(
        b"POST " + CREATE.encode(),
        b"Authorization: Basic " + BASIC.encode(),
        b"Content-Type: application/json",
        b"Content-Length: 60000",
        body=b"{",
    )
    with web(redis_url) as served, ExitStack() as held:
        port = served.port
        for _ in range(256):
            held.enter_context(opened(port, half_header))
        for _ in range(16):
            held.enter_context(opened(port, slow_create))

        healthz = request(b"GET /healthz", b"Connection: close")
        listing = request(b"GET " + served.tenant.plivo_base.encode(), served.basic(), b"Connection: close")
        answered = []
        for _ in range(5):
            answered.append((answers_within(port, healthz, QUICK), answers_within(port, listing, QUICK)))
            time.sleep(0.2)

    assert answered == [(True, True)] * 5


def test_a_client_that_sends_no_header_half_a_header_or_nothing_more_is_closed_after_the_header_timeout(
    short_timeouts,
):
    port = short_timeouts.port
    idle = opened(port, request(b"GET /healthz"))  # answered, then kept alive and left idle
    assert idle.recv(65536).startswith(b"HTTP/1.1 200 ")
    socks = {
        "silent": opened(port),
        "half a header": opened(port, request(b"GET /healthz", b"X-Half: ").rstrip(b"\r\n")),
        "idle": idle,
    }

    for name, sock in socks.items():
        with sock:
            waited, sent = seconds_until_closed(sock)
            assert sent == b"", name
            assert waited < SHORT + 5, name


def test_a_body_that_does_not_arrive_in_time_is_a_408_and_its_connection_is_closed(short_timeouts):
    served = short_timeouts
    slow = opened(served.port, request(served.create(), served.basic(), b"Content-Length: 60000"))
    started = time.monotonic()

    with slow:
        _, sent = seconds_until_closed(slow)
    waited = time.monotonic() - started

    assert SHORT - 0.1 <= waited < SHORT + 5
    head, _, body = sent.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408 ")
    assert json.loads(body)["error"] == f"the request body did not arrive within {SHORT:g} seconds"


# -- every error is masq's JSON --------------------------------------------------------------------------
def test_a_request_target_over_the_limit_is_masqs_json_414(short_timeouts):
    data = request(b"GET /healthz?pad=" + b"x" * TARGET_BYTES, b"Connection: close")

    assert "longer than" in json_error(exchange(short_timeouts.port, data), 414)


def test_headers_over_the_limit_are_masqs_json_431(short_timeouts):
    data = request(b"GET /healthz", b"X-Pad: " + b"x" * HEADER_BYTES, b"Connection: close")

    assert "more than" in json_error(exchange(short_timeouts.port, data), 431)


@pytest.mark.parametrize("declared", [True, False], ids=["declared", "chunked"])
def test_a_body_over_the_limit_is_masqs_json_413(short_timeouts, declared):
    served, limit = short_timeouts, 64 * 1024  # MASQ_MAX_BODY_BYTES' default
    if declared:
        size = f"Content-Length: {limit + 1}".encode()
        data = request(served.create(), served.basic(), size, b"Connection: close")
    else:
        body = b"%x\r\n%s\r\n0\r\n\r\n" % (limit + 1, b"x" * (limit + 1))
        data = request(served.create(), served.basic(), b"Transfer-Encoding: chunked", b"Connection: close", body=body)

    json_error(exchange(served.port, data), 413)


def test_a_malformed_body_is_masqs_json_400(short_timeouts):
    served = short_timeouts
    malformed = request(
        served.create(), served.basic(), b"Transfer-Encoding: chunked", b"Connection: close", body=b"zz\r\n"
    )

    assert "could not be read" in json_error(exchange(served.port, malformed), 400)


@pytest.mark.parametrize(
    "data, status",
    [
        (request(b"GET /" + b"x" * 70_000), 414),  # past the 64 KB request target granian's parser takes
        (request(b"GET /healthz", *(b"X-%d: y" % n for n in range(101))), 431),  # past its 100 headers
        (b"GET /healthz HTTP/9.9\r\nHost: masq\r\n\r\n", 400),
        (b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03\r\n\r\n", 400),  # TLS spoken to a plain-HTTP port
    ],
    ids=["target-past-64KB", "101-headers", "unknown-version", "not-http"],
)
def test_what_the_server_refuses_before_masq_sees_it_has_the_right_status_and_no_body(short_timeouts, data, status):
    got, headers, body = exchange(short_timeouts.port, data)

    assert (got, headers.get("content-length"), body) == (status, "0", b"")


@pytest.mark.parametrize(
    "name, value", [("MASQ_HEADER_TIMEOUT", "0"), ("MASQ_HEADER_TIMEOUT", "61"), ("MASQ_BODY_TIMEOUT", "-1")]
)
def test_a_timeout_out_of_range_stops_masq_web_before_it_serves(redis_url, name, value):
    command = [sys.executable, "-m", "app.cli", "web", "--port", str(_free_port())]
    env = {**os.environ, "REDIS_URL": redis_url, name: value}

    finished = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=60)

    assert finished.returncode == 1 and name in finished.stderr
