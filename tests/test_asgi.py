"""The app as the web server calls it (`app.asgi`): only whole requests reach Flask; the rest get masq's JSON errors.

These drive the ASGI callable in-process, with a `receive` that hands over the body as a test says; the real
server's behaviour with real sockets is in test_web_server.py.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Iterator
from typing import Any

import pytest

from app.asgi import HEADER_BYTES, TARGET_BYTES, WholeRequests, wsgi_environ
from tests.conftest import changed, count_view

PARTIES = {"first_party": "+14155551234", "second_party": "+14155554321"}
LATE = 0.05  # seconds the edge waits for a body in these tests


@pytest.fixture
def edge(app) -> Iterator[WholeRequests]:
    server = WholeRequests(app, threads=2, body_timeout=LATE)
    yield server
    server.threads.shutdown()


def scope_of(method: str, path: str, headers: dict[str, str] | None = None, query: str = "") -> dict[str, Any]:
    """Return the ASGI scope granian gives a request."""
    return {
        "type": "http",
        "http_version": "1.1",
        "scheme": "http",
        "method": method,
        "path": path,
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "headers": [(name.lower().encode(), value.encode()) for name, value in (headers or {}).items()],
        "server": ("127.0.0.1", 8080),
        "client": ("203.0.113.7", 40000),
    }


def serve(edge: WholeRequests, scope: dict[str, Any], *messages: dict[str, Any], then_wait: bool = False):
    """Run one request through `edge`: `receive` hands over `messages`, then waits forever if `then_wait`.

    Returns the status, the headers (as a dict of str) and the body; fails if the edge asks for more than it is
    given without `then_wait`.
    """
    sent: list[dict[str, Any]] = []
    pending = list(messages)

    async def receive() -> dict[str, Any]:
        if pending:
            return pending.pop(0)
        assert then_wait, "the edge read past the body it was given"
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(edge(scope, receive, send))
    start, body = sent
    assert start["type"] == "http.response.start" and body["type"] == "http.response.body"
    headers = {name.decode(): value.decode() for name, value in start["headers"]}
    return start["status"], headers, body["body"]


def chunk(data: bytes, more: bool = True) -> dict[str, Any]:
    return {"type": "http.request", "body": data, "more_body": more}


def basic(tenant) -> str:
    return "Basic " + base64.b64encode(f"{tenant.auth_id}:{tenant.auth_token}".encode()).decode()


def json_error(status: int, headers: dict[str, str], body: bytes, expected: int) -> str:
    """Assert masq's JSON error with status `expected`; return its text."""
    assert status == expected, body
    assert headers["content-type"] == "application/json"
    assert headers["x-request-id"]
    payload = json.loads(body)
    assert set(payload) == {"api_id", "error"}
    return str(payload["error"])


# -- whole requests --------------------------------------------------------------------------------------
def test_a_body_sent_in_pieces_reaches_the_app_whole_and_its_answer_comes_back(edge, tenant):
    data = json.dumps(PARTIES).encode()
    scope = scope_of(
        "POST",
        tenant.plivo_base,
        {"Authorization": basic(tenant), "Content-Type": "application/json", "Content-Length": str(len(data))},
    )

    status, headers, body = serve(edge, scope, chunk(data[:10]), chunk(data[10:]), chunk(b"", more=False))

    assert status == 200, body
    assert headers["content-type"] == "application/json" and headers["x-request-id"]
    assert json.loads(body)["virtual_number"] in tenant.numbers


def test_a_request_without_a_body_is_answered_without_waiting_for_one(edge, tenant):
    scope = scope_of("GET", tenant.plivo_base, {"Authorization": basic(tenant)}, query="limit=1")

    status, _, body = serve(edge, scope)  # `receive` has nothing to give, and is not asked

    assert status == 200
    assert json.loads(body)["response"]["meta"]["limit"] == 1


def test_a_chunked_body_reaches_the_app_with_its_length(edge, tenant):
    headers = {"Authorization": basic(tenant), "Content-Type": "application/json", "Transfer-Encoding": "chunked"}

    status, _, body = serve(
        edge, scope_of("POST", tenant.plivo_base, headers), chunk(json.dumps(PARTIES).encode(), more=False)
    )

    assert status == 200, body


def test_the_app_sees_the_headers_and_the_client_but_no_header_named_with_an_underscore():
    scope = scope_of("POST", "/x", {"Content-Type": "application/json", "X-Twilio-Signature": "s", "X_Forged": "1"})

    environ = wsgi_environ(scope)

    assert environ["CONTENT_TYPE"] == "application/json" and environ["HTTP_X_TWILIO_SIGNATURE"] == "s"
    assert "HTTP_X_FORGED" not in environ  # a name with `_` would pass for one with `-`
    assert (environ["REMOTE_ADDR"], environ["SERVER_PORT"]) == ("203.0.113.7", "8080")


def test_the_path_reaches_the_app_percent_decoded_as_wsgi_gives_it():
    environ = wsgi_environ(scope_of("GET", "/v1/caf%C3%A9"))

    assert environ["PATH_INFO"].encode("latin-1").decode() == "/v1/café"


# -- a body the app cannot have ----------------------------------------------------------------------------
def wrong(tenant) -> str:
    return "Basic " + base64.b64encode(f"{tenant.auth_id}:{changed(tenant.auth_token)}".encode()).decode()


@pytest.mark.parametrize("who, status", [("tenant", 408), ("stranger", 401)])
def test_a_body_that_does_not_arrive_in_time_is_a_408_once_the_credential_checks_out(edge, tenant, who, status):
    authorization = basic(tenant) if who == "tenant" else wrong(tenant)
    scope = scope_of("POST", tenant.plivo_base, {"Authorization": authorization, "Content-Length": "60000"})

    answer = serve(edge, scope, chunk(b"{"), then_wait=True)

    error = json_error(*answer, status)
    assert (error == f"the request body did not arrive within {LATE:g} seconds") == (status == 408)


@pytest.mark.parametrize("declared", [True, False], ids=["declared", "chunked"])
@pytest.mark.parametrize("who, status", [("tenant", 413), ("stranger", 401)])
def test_a_body_over_the_limit_is_a_413_once_the_credential_checks_out_and_the_rest_is_not_waited_for(
    edge, app, tenant, declared, who, status
):
    limit = app.config["MAX_CONTENT_LENGTH"]
    size = {"Content-Length": str(limit + 1)} if declared else {"Transfer-Encoding": "chunked"}
    authorization = basic(tenant) if who == "tenant" else wrong(tenant)
    scope = scope_of("POST", tenant.plivo_base, {"Authorization": authorization, **size})
    # declared: refused by its size, unread; chunked: read until past the limit, and no further
    pieces = [] if declared else [chunk(b"x" * 1024) for _ in range(limit // 1024 + 1)]

    json_error(*serve(edge, scope, *pieces), status)


def test_a_body_cut_short_or_malformed_is_a_400(edge, tenant):
    scope = scope_of("POST", tenant.plivo_base, {"Authorization": basic(tenant), "Content-Length": "100"})

    answer = serve(edge, scope, chunk(b"{"), {"type": "http.disconnect"})

    assert "could not be read" in json_error(*answer, 400)


# -- a head too large: refused before the app --------------------------------------------------------------
def test_a_request_target_longer_than_the_limit_is_a_414(edge, tenant):
    path = tenant.plivo_base + "x" * TARGET_BYTES

    answer = serve(edge, scope_of("GET", path, {"Authorization": basic(tenant)}))

    assert json_error(*answer, 414) == f"the request target (path and query) is longer than {TARGET_BYTES} bytes"


def test_a_query_that_makes_the_target_too_long_is_a_414_and_no_view_runs(edge, app, tenant, monkeypatch):
    listed = count_view(app, monkeypatch, "api_plivo.list_all")
    scope = scope_of("GET", tenant.plivo_base, {"Authorization": basic(tenant)}, query="limit=" + "1" * TARGET_BYTES)

    json_error(*serve(edge, scope), 414)
    assert listed == []


def test_headers_larger_than_the_limit_are_a_431(edge, tenant):
    headers = {"Authorization": basic(tenant), "X-Padding": "x" * HEADER_BYTES}

    answer = serve(edge, scope_of("GET", tenant.plivo_base, headers))

    assert json_error(*answer, 431) == f"the request headers add up to more than {HEADER_BYTES} bytes"
