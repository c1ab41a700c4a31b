"""Shared virtual numbers through both REST dialects, and in the pool's capacity figures."""

from __future__ import annotations

import pytest

from tests.conftest import make_tenant
from tests.shared_helpers import dids, people, shared_tenant

A, B, C, D = people(4)
PINS = {"is_pin_authentication_required": True, "pin_prompt_play": "https://cdn.example.com/pin.mp3"}


def plivo_create(client, tenant, **fields):
    return client.post(tenant.plivo_base, json=fields, auth=tenant.basic)


def cloudtalk_create(client, tenant, **fields):
    return client.post("/v1/sessions", json=fields, headers={"X-API-Key": tenant.api_key})


# -- Plivo ----------------------------------------------------------------------------------------------------
def test_plivo_creates_ask_for_shared_numbers_and_answer_in_the_same_shape(client, store):
    tenant = make_tenant(store, dids(3))
    exclusive = plivo_create(client, tenant, first_party=A, second_party=B)
    shared = [
        plivo_create(client, tenant, first_party=first, second_party=second, number_mode="shared")
        for first, second in [(A, C), (B, D)]
    ]

    assert [r.status_code for r in (exclusive, *shared)] == [200, 200, 200]
    bodies = [r.get_json() for r in (exclusive, *shared)]
    assert all(body.keys() == bodies[0].keys() for body in bodies)
    assert all(body["session"].keys() == bodies[0]["session"].keys() for body in bodies)
    assert "number_mode" not in bodies[0]["session"]
    assert bodies[1]["virtual_number"] == bodies[2]["virtual_number"] != bodies[0]["virtual_number"]


@pytest.mark.parametrize("mode", ["dedicated", "Shared!", 5, True])
def test_a_plivo_number_mode_that_is_neither_mode_is_a_400_naming_it(client, tenant, mode):
    response = plivo_create(client, tenant, first_party=A, second_party=B, number_mode=mode)

    assert response.status_code == 400
    assert response.get_json()["field"] == "number_mode"


def test_a_plivo_pin_that_a_session_on_the_shared_number_has_is_a_409_naming_it(client, store):
    tenant = shared_tenant(store, dids(1))
    first = plivo_create(
        client, tenant, first_party=A, second_party=B, first_party_pin="1111", second_party_pin="2222", **PINS
    )

    clash = plivo_create(
        client, tenant, first_party=C, second_party=D, first_party_pin="2222", second_party_pin="3333", **PINS
    )

    assert first.status_code == 200
    assert clash.status_code == 409
    assert clash.get_json()["field"] == "first_party_pin"


def test_a_shared_plivo_session_is_read_updated_and_ended_as_any_other(client, store):
    tenant = shared_tenant(store, dids(1))
    created = plivo_create(client, tenant, first_party=A, second_party=B).get_json()
    path = f"{tenant.plivo_base}{created['session_uuid']}/"

    updated = client.post(path, json={"session_expiry": 600}, auth=tenant.basic)
    read = client.get(path, auth=tenant.basic)
    ended = client.delete(path, auth=tenant.basic)

    assert [updated.status_code, read.status_code, ended.status_code] == [200, 200, 200]
    assert read.get_json()["response"]["virtual_number"] == created["virtual_number"].lstrip("+")


# -- CloudTalk -------------------------------------------------------------------------------------------------
def test_cloudtalk_creates_opt_in_to_shared_numbers_and_answer_in_the_same_shape(client, store):
    tenant = make_tenant(store, dids(3))
    dedicated = cloudtalk_create(client, tenant, driver_phone=A, customer_phone=B, number_mode="dedicated")
    shared = [
        cloudtalk_create(client, tenant, driver_phone=first, customer_phone=second, number_mode="shared")
        for first, second in [(A, C), (B, D)]
    ]

    assert [r.status_code for r in (dedicated, *shared)] == [201, 201, 201]
    bodies = [r.get_json() for r in (dedicated, *shared)]
    assert all(body.keys() == bodies[0].keys() for body in bodies)
    assert bodies[1]["masked_e164"] == bodies[2]["masked_e164"] != bodies[0]["masked_e164"]


def test_a_cloudtalk_number_mode_of_the_plivo_dialect_is_a_400_naming_it(client, tenant):
    response = cloudtalk_create(client, tenant, driver_phone=A, customer_phone=B, number_mode="exclusive")

    assert response.status_code == 400
    assert response.get_json()["field"] == "number_mode"


def test_a_cloudtalk_number_held_by_a_party_is_refused_in_the_dialects_words(client, store):
    tenant = shared_tenant(store, dids(2))
    held = cloudtalk_create(client, tenant, driver_phone=A, customer_phone=B).get_json()["masked_e164"]

    refused = cloudtalk_create(client, tenant, driver_phone=A, customer_phone=C, masked_e164=held)
    exhausted = [cloudtalk_create(client, tenant, driver_phone=A, customer_phone=p) for p in (C, D)][-1]

    assert refused.status_code == 409
    assert "already driver_phone's" in refused.get_json()["error"]
    assert exhausted.status_code == 409
    assert exhausted.get_json()["error"].startswith("no virtual number in US left for driver_phone")


# -- capacity --------------------------------------------------------------------------------------------------
def test_the_pool_figures_give_k_2k_minus_1_and_the_busiest_numbers(client, store):
    tenant = shared_tenant(store, dids(4), parties_per_number=4)
    for first, second in [(A, B), (A, C), (A, D), (B, C)]:
        assert cloudtalk_create(client, tenant, driver_phone=first, customer_phone=second).status_code == 201

    body = client.get("/v1/did/pool", headers={"X-API-Key": tenant.api_key}).get_json()

    [us] = body["shared"]
    assert (us["country"], us["numbers"], us["largest_k"], us["peak_k"], us["numbers_required"]) == ("US", 4, 3, 3, 5)
    assert (us["holdings"], us["peak_holdings"], us["parties_per_number"]) == (8, 8, 4)
    assert (us["in_shared_use"], us["peak_in_shared_use"]) == (3, 3)
    assert us["numbers_recommended"] == 5 + 8 // 4
    assert [b["parties"] for b in us["busiest"]] == [4, 2, 2]
    assert body["in_use"] == 3 and body["free"] == 1
    assert body["recommended_size"] == 7
    assert "US has 4 DIDs, 3 fewer than its shared sessions need" in body["warning"]


def test_the_recommendation_adds_the_exclusive_peak_to_what_shared_sessions_need(client, store):
    tenant = shared_tenant(store, dids(6))
    cloudtalk_create(client, tenant, driver_phone=A, customer_phone=B, number_mode="dedicated")
    cloudtalk_create(client, tenant, driver_phone=C, customer_phone=D, number_mode="dedicated")
    cloudtalk_create(client, tenant, driver_phone=A, customer_phone=C)

    body = client.get("/v1/did/pool", headers={"X-API-Key": tenant.api_key}).get_json()

    assert body["recommended_size"] == 3 + 1  # 1.5 × 2 exclusive, and 2k − 1 = 1
    assert body["in_use"] == 3
