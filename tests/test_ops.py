"""Liveness and readiness: up means the process answers, ready means Redis answers a PING in time."""

from __future__ import annotations

import json
import socket
import time

import fakeredis
import pytest

from routing.keys import Keys
from routing.store import Store


@pytest.fixture
def server() -> fakeredis.FakeServer:
    return fakeredis.FakeServer()


@pytest.fixture
def fake_store(server) -> Store:
    return Store(fakeredis.FakeRedis(server=server, decode_responses=True), Keys("test:"))


@pytest.fixture
def silent_port():
    """A port that accepts connections and never answers, as a hung Redis does."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        yield listener.getsockname()[1]


def test_healthz_says_the_process_is_up(client):
    response = client.get("/healthz")

    assert (response.status_code, response.get_json()) == (200, {"status": "ok"})
    assert response.mimetype == "application/json"


def test_healthz_touches_nothing_so_it_stays_up_with_redis_down(make_app, server, fake_store):
    server.connected = False

    assert make_app(STORE=fake_store).test_client().get("/healthz").status_code == 200


def test_readyz_is_ready_when_redis_answers(client):
    response = client.get("/readyz")

    assert (response.status_code, response.get_json()) == (200, {"status": "ok"})


def test_readyz_is_ready_on_a_real_redis(make_app, real_store):
    assert make_app(STORE=real_store).test_client().get("/readyz").status_code == 200


def test_readyz_is_unavailable_when_redis_is_down(make_app, server, fake_store):
    server.connected = False

    response = make_app(STORE=fake_store).test_client().get("/readyz")

    assert response.status_code == 503
    assert response.get_json()["status"] == "unavailable"


def test_readyz_tells_the_public_only_that_redis_does_not_answer_and_logs_where(make_app, capsys):
    app = make_app(STORE=Store.connect("redis://127.0.0.1:1"))
    capsys.readouterr()

    response = app.test_client().get("/readyz")

    assert response.status_code == 503
    assert response.get_json() == {"status": "unavailable", "error": "redis does not answer"}
    [logged] = [json.loads(line) for line in capsys.readouterr().err.splitlines() if "not ready" in line]
    assert logged["level"] == "WARNING" and "127.0.0.1:1" in logged["message"]


def test_readyz_gives_up_on_a_redis_that_never_answers_within_its_timeout(make_app, silent_port):
    app = make_app(STORE=Store.connect(f"redis://127.0.0.1:{silent_port}"), MASQ_READY_TIMEOUT=0.2)

    started = time.monotonic()
    response = app.test_client().get("/readyz")

    assert response.status_code == 503
    assert time.monotonic() - started < 2


def test_the_operational_endpoints_need_no_credentials_and_take_only_get(client):
    for path in ("/healthz", "/readyz", "/openapi.json"):
        assert client.get(path).status_code == 200
        response = client.post(path)
        assert response.status_code == 405
        assert "GET" in response.headers["Allow"]


@pytest.mark.parametrize(
    "path", ["/healthz", "/metrics", "/v1/sessions", "/v1/Account/MAXXXXXXXXXXXXXXXXXX/Masking/Session/"]
)
def test_options_is_a_json_405_that_says_what_the_path_takes(client, path):
    response = client.open(path, method="OPTIONS")

    assert response.status_code == 405 and response.mimetype == "application/json"
    assert "error" in response.get_json() and response.headers["Allow"] and "OPTIONS" not in response.headers["Allow"]


@pytest.mark.parametrize("credential", ["café", "\xff\xfe\xfd", "!!!not base64!!!", "Zm9v"])
@pytest.mark.parametrize("path", ["/v1/Account/MAXXXXXXXXXXXXXXXXXX/Masking/Session/", "/metrics"])
def test_an_unreadable_basic_credential_is_a_401_not_a_crash(make_app, path, credential):
    client = make_app(MASQ_METRICS_TOKEN="m" * 40).test_client()
    header = "Basic " + credential
    response = client.get(path, headers=[("Authorization", header.encode("utf-8").decode("latin-1"))])

    assert response.status_code == 401 and response.mimetype == "application/json"
