"""However a session ends, the tenant hears of it once: SessionEnded on request, SessionTimeout at its expiry."""

from __future__ import annotations

from routing.clock import US, plivo_time
from routing.outbox import wire_fields
from routing.sessions import lifecycle
from tests.conftest import make_tenant, outbox
from tests.sessions_helpers import credential

PARTIES = {"first_party": "+14155551234", "second_party": "+14155554321", "session_expiry": 600}
ENDINGS = ("SessionEnded", "SessionTimeout")


def endings(store, auth_id):
    return [wire_fields(e) for e in outbox(store, auth_id) if e["EventName"] in ENDINGS]


def test_a_session_ended_on_request_is_announced_once_with_its_parties(store, tenant):
    session = lifecycle.open_session(store, credential(tenant), PARTIES, 1_700_000_000 * US)
    at = session.created + 7 * US

    lifecycle.end_session(store, tenant.auth_id, session.session_uuid, at)
    lifecycle.reclaim_expired(store, tenant.auth_id, session.expiry + US)

    assert endings(store, tenant.auth_id) == [
        {
            "EventName": "SessionEnded",
            "EventTimestamp": plivo_time(at),
            "SessionUUID": session.session_uuid,
            "From": "+14155551234",
            "To": "+14155554321",
            "VirtualNumber": session.virtual_number,
            "SequenceNumber": "1",
        }
    ]


def test_an_update_is_not_an_end(store, tenant):
    session = lifecycle.open_session(store, credential(tenant), PARTIES, 1_700_000_000 * US)
    lifecycle.update_session(store, tenant.auth_id, session.session_uuid, {"session_expiry": 900}, session.created)
    assert endings(store, tenant.auth_id) == []


def test_a_single_party_session_ended_on_request_is_announced_without_a_second_party(store, tenant):
    single = {"first_party": "+14155551234", "create_session_with_single_party": True}
    session = lifecycle.open_session(store, credential(tenant), single, 1_700_000_000 * US)
    lifecycle.end_session(store, tenant.auth_id, session.session_uuid, session.created + US)
    [event] = endings(store, tenant.auth_id)
    assert (event["EventName"], event["To"]) == ("SessionEnded", "")


def test_a_plivo_delete_sends_one_session_ended_and_a_second_delete_sends_nothing(client, store, tenant):
    created = client.post(tenant.plivo_base, json=PARTIES, auth=tenant.basic).get_json()
    url = tenant.plivo_base + created["session_uuid"] + "/"

    assert client.delete(url, auth=tenant.basic).status_code == 200
    assert client.delete(url, auth=tenant.basic).status_code == 409

    assert [e["EventName"] for e in endings(store, tenant.auth_id)] == ["SessionEnded"]


def test_a_cloudtalk_complete_sends_one_session_ended(client, store, tenant):
    headers = {"X-API-Key": tenant.api_key}
    body = {"driver_phone": "+14155551234", "customer_phone": "+14155554321"}
    created = client.post("/v1/sessions", json=body, headers=headers).get_json()

    assert client.post(f"/v1/sessions/{created['id']}/complete", headers=headers).status_code == 200
    client.post(f"/v1/sessions/{created['id']}/complete", headers=headers)

    [event] = endings(store, tenant.auth_id)
    assert (event["EventName"], event["SessionUUID"]) == ("SessionEnded", created["id"])


def test_a_session_ended_on_request_is_announced_on_a_real_redis_too(real_store):
    tenant = make_tenant(real_store)
    session = lifecycle.open_session(real_store, credential(tenant), PARTIES, 1_700_000_000 * US)
    lifecycle.end_session(real_store, tenant.auth_id, session.session_uuid, session.created + US)
    lifecycle.reclaim_expired(real_store, tenant.auth_id, session.expiry + US)
    assert [e["EventName"] for e in endings(real_store, tenant.auth_id)] == ["SessionEnded"]
