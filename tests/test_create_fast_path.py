"""The Plivo create's fast path opens sessions itself, answering exactly as the Flask view would, and hands every
other request, and every refusal but the pool's, to that view."""

from __future__ import annotations

import json

import pytest
import redis

from app import create_app
from app.create_fast_path import CreateFastPath
from routing import tenants
from routing.clock import now_us
from routing.sessions import lifecycle
from tests.conftest import count_view, make_tenant

FIRST, SECOND = "+14155551234", "+14155554321"
PARTIES = {"first_party": FIRST, "second_party": SECOND}
VOLATILE = (
    "api_id",
    "session_uuid",
    "virtual_number",
    "created_time",
    "modified_time",
    "expiry_time",
    "last_interaction_time",
)


def build(store, **config):
    return create_app({"STORE": store, "TESTING": True, **config})


@pytest.fixture
def flask_creates(app, monkeypatch):
    """Count the requests the Flask view of the create answers."""
    return count_view(app, monkeypatch, "api_plivo.create")


def stable(body: dict) -> dict:
    """Return an answer without what differs from one create to the next."""
    return {k: stable(v) if isinstance(v, dict) else v for k, v in body.items() if k not in VOLATILE}


def test_a_create_is_answered_without_the_flask_view(client, store, tenant, flask_creates, capsys):
    capsys.readouterr()

    response = client.post(tenant.plivo_base, auth=tenant.basic, json=PARTIES, headers={"X-Request-Id": "lb-9"})

    assert response.status_code == 200 and response.mimetype == "application/json"
    assert response.get_json()["message"] == "Session created"
    assert response.headers["X-Request-Id"] == "lb-9"
    assert flask_creates == []
    [line] = [json.loads(text) for text in capsys.readouterr().err.splitlines() if '"masq.access"' in text]
    assert (line["method"], line["path"], line["status"]) == ("POST", tenant.plivo_base, 200)
    assert (line["request_id"], line["auth_id"]) == ("lb-9", tenant.auth_id)


def test_the_answer_is_the_one_the_flask_view_gives(store):
    tenant = make_tenant(store, [f"+1415555{n:04d}" for n in range(200, 210)])
    fast, plain = build(store), build(store)
    plain.wsgi_app = plain.extensions["masq.flask_wsgi"]  # type: ignore[method-assign]
    requests = [
        PARTIES,
        {**PARTIES, "record": True, "session_expiry": 600, "callback_url": "https://t.example/cb"},
        {
            **PARTIES,
            "is_pin_authentication_required": True,
            "first_party_pin": "1234",
            "second_party_pin": "5678",
            "pin_prompt_play": "https://cdn.example.com/p.mp3",
        },
        {"first_party": FIRST, "create_session_with_single_party": True},
    ]
    for body in requests:
        answers = [app.test_client().post(tenant.plivo_base, auth=tenant.basic, json=body) for app in (fast, plain)]
        assert [a.status_code for a in answers] == [200, 200]
        assert [a.headers["Content-Type"] for a in answers] == ["application/json"] * 2
        first, second = (a.get_json() for a in answers)
        assert stable(first) == stable(second)
        assert list(first) == list(second) and list(first["session"]) == list(second["session"])


def test_an_exhausted_pool_is_a_409_as_the_view_says_it(store, flask_creates, client):
    tenant = make_tenant(store, ["+14155550100"])
    plain = build(store)
    plain.wsgi_app = plain.extensions["masq.flask_wsgi"]  # type: ignore[method-assign]
    assert client.post(tenant.plivo_base, auth=tenant.basic, json=PARTIES).status_code == 200

    fast_answer = client.post(tenant.plivo_base, auth=tenant.basic, json=PARTIES)
    view_answer = plain.test_client().post(tenant.plivo_base, auth=tenant.basic, json=PARTIES)

    assert fast_answer.status_code == view_answer.status_code == 409
    assert fast_answer.get_json()["error"] == view_answer.get_json()["error"]
    assert set(fast_answer.get_json()) == {"api_id", "error"}
    assert flask_creates == []


@pytest.mark.parametrize(
    "case",
    [
        "wrong token",
        "other account",
        "no auth",
        "bearer",
        "bad base64",
        "not json",
        "json list",
        "bad field",
        "form body",
        "subaccount",
    ],
)
def test_what_the_fast_path_does_not_take_goes_to_the_flask_view(client, store, tenant, flask_creates, case):
    sub = tenants.create_tenant(store, "sub", now_us(), parent=tenant.auth_id).auth_id
    auth = {"wrong token": (tenant.auth_id, "nope"), "other account": ("MA" + "Z" * 18, tenant.auth_token)}
    headers = {"no auth": {}, "bearer": {"Authorization": "Bearer x"}, "bad base64": {"Authorization": "Basic %%%"}}
    kwargs: dict = {"auth": auth.get(case, tenant.basic)}
    if case in headers:
        kwargs = {"headers": headers[case]}
    if case == "not json":
        kwargs.update(data="{", content_type="application/json")
    elif case == "json list":
        kwargs.update(json=[PARTIES])
    elif case == "bad field":
        kwargs.update(json={**PARTIES, "ring_timeout": "soon"})
    elif case == "form body":
        kwargs.update(data=PARTIES)
    elif case == "subaccount":
        kwargs.update(json={**PARTIES, "subaccount": sub})
    else:
        kwargs.update(json=PARTIES)

    response = client.post(tenant.plivo_base, **kwargs)

    expected = {
        "wrong token": 401,
        "other account": 401,
        "no auth": 401,
        "bearer": 401,
        "bad base64": 401,
        "not json": 400,
        "json list": 400,
        "bad field": 400,
        "form body": 200,
        "subaccount": 200,
    }
    assert response.status_code == expected[case], response.get_json()
    assert flask_creates == [1]


def test_a_tenant_over_its_limit_gets_the_views_429_and_spends_nothing_more(store, tenant):
    app = build(store, MASQ_RATE_LIMIT=1, MASQ_RATE_WINDOW=60)
    client = app.test_client()
    assert client.post(tenant.plivo_base, auth=tenant.basic, json=PARTIES).status_code == 200
    tat = store.redis.get(store.keys.rate_limit(tenant.auth_id))

    refused = client.post(tenant.plivo_base, auth=tenant.basic, json=PARTIES)

    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
    assert store.redis.get(store.keys.rate_limit(tenant.auth_id)) == tat


def test_redis_down_is_a_503_logged_and_no_500(client, store, tenant, monkeypatch, capsys):
    def down(*args, **kwargs):
        raise redis.ConnectionError("Connection refused")

    monkeypatch.setattr(store.redis, "execute_command", down)
    capsys.readouterr()

    response = client.post(tenant.plivo_base, auth=tenant.basic, json=PARTIES)

    assert response.status_code == 503 and set(response.get_json()) == {"api_id", "error"}
    logged = [json.loads(text) for text in capsys.readouterr().err.splitlines()]
    assert any(line["message"] == f"unexpected error on POST {tenant.plivo_base}" and "exc" in line for line in logged)


def test_a_session_opened_on_the_fast_path_is_the_domains(client, store, tenant):
    created = client.post(tenant.plivo_base, auth=tenant.basic, json=PARTIES).get_json()
    session = lifecycle.get_session(store, tenant.auth_id, created["session_uuid"])
    assert (session.first_party, session.second_party) == (FIRST, SECOND)
    assert session.virtual_number == created["virtual_number"] == "+" + created["session"]["virtual_number"]


def test_the_fast_path_is_in_front_of_flask(app):
    wsgi = app.wsgi_app
    while not isinstance(wsgi, CreateFastPath):
        wsgi = wsgi.flask_wsgi
    assert isinstance(wsgi, CreateFastPath)


def test_in_debug_mode_the_answer_is_indented_as_jsonify_indents_it(store, tenant):
    fast, plain = build(store), build(store)
    plain.wsgi_app = plain.extensions["masq.flask_wsgi"]  # type: ignore[method-assign]
    fast.debug = plain.debug = True
    texts = [
        app.test_client().post(tenant.plivo_base, auth=tenant.basic, json=PARTIES).get_data(as_text=True)
        for app in (fast, plain)
    ]
    assert [text[:12] for text in texts] == ['{\n  "api_id"'] * 2
    assert [text.count("\n") for text in texts][0] == [text.count("\n") for text in texts][1]


def test_a_failure_before_redis_is_left_to_the_view(client, tenant, monkeypatch, flask_creates):
    def broken(*args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(lifecycle, "prepare_session", broken)

    assert client.post(tenant.plivo_base, auth=tenant.basic, json=PARTIES).status_code == 200
    assert flask_creates == [1]


def test_a_failure_after_the_script_is_a_503_not_a_500(client, tenant, monkeypatch, capsys):
    def broken(*args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(lifecycle.Opening, "opened", broken)
    capsys.readouterr()

    response = client.post(tenant.plivo_base, auth=tenant.basic, json=PARTIES)

    assert response.status_code == 503 and set(response.get_json()) == {"api_id", "error"}
    assert "unexpected error on POST" in capsys.readouterr().err
