"""A dial string (pauses, extensions, keys to press) is never a phone number, in any place masq takes one."""

from __future__ import annotations

import pytest

from routing.errors import InvalidInput
from routing.phone import to_e164
from tests.conftest import outbox

FIRST, SECOND = "+14155551234", "+14155554321"

DIAL_STRINGS = [
    "+14155554321,,5",
    "+14155554321,5",
    "+14155554321#5",
    "+14155554321#",
    "+14155554321*5",
    "+14155554321w5",
    "+14155554321W5",
    "+14155554321p5",
    "+14155554321P5",
    "+14155554321;ext=5",
    "+14155554321;5",
    "+14155554321 x5",
    "+14155554321x5",
    "+14155554321 ext. 5",
    "+14155554321ext5",
    "+14155554321 extension 5",
    "tel:+14155554321",
    "+1 415 555 4321 / 5",
    "+14155554321\n5",
]


@pytest.mark.parametrize("raw", DIAL_STRINGS)
def test_a_dial_string_is_not_a_phone_number(raw):
    with pytest.raises(InvalidInput) as caught:
        to_e164(raw, "second_party")
    assert caught.value.field == "second_party"


@pytest.mark.parametrize("raw", ["+1 (415) 555-4321", "+1.415.555.4321", "1-415-555-4321", " +14155554321 "])
def test_the_usual_separators_are_still_a_phone_number(raw):
    assert to_e164(raw, "second_party") == SECOND


def _plivo_error(response, field):
    assert response.status_code == 400, response.get_json()
    assert response.get_json()["error"].startswith(f"{field}:")


@pytest.mark.parametrize("raw", DIAL_STRINGS)
@pytest.mark.parametrize("field", ["first_party", "second_party"])
def test_a_plivo_create_with_a_dial_string_is_a_400_naming_the_party_and_stores_nothing(
    client, store, tenant, field, raw
):
    parties = {"first_party": FIRST, "second_party": SECOND, field: raw}
    _plivo_error(client.post(tenant.plivo_base, json=parties, auth=tenant.basic), field)
    assert store.redis.zcard(store.keys.sessions_by_created(tenant.auth_id)) == 0
    assert outbox(store, tenant.auth_id) == []


@pytest.mark.parametrize("raw", DIAL_STRINGS)
@pytest.mark.parametrize("field", ["first_party", "second_party"])
def test_a_plivo_update_with_a_dial_string_is_a_400_naming_the_party_and_changes_nothing(client, tenant, field, raw):
    created = client.post(
        tenant.plivo_base, json={"first_party": FIRST, "create_session_with_single_party": True}, auth=tenant.basic
    ).get_json()
    url = tenant.plivo_base + created["session_uuid"] + "/"
    _plivo_error(client.post(url, json={field: raw}, auth=tenant.basic), field)
    session = client.get(url, auth=tenant.basic).get_json()["response"]
    assert (session["first_party"], session["second_party"]) == (FIRST.lstrip("+"), "")


@pytest.mark.parametrize("raw", DIAL_STRINGS)
@pytest.mark.parametrize("field", ["first_party", "second_party", "virtual_number"])
def test_a_plivo_listing_filtered_by_a_dial_string_is_a_400_naming_the_filter(client, tenant, field, raw):
    _plivo_error(client.get(tenant.plivo_base, query_string={field: raw}, auth=tenant.basic), field)


@pytest.mark.parametrize("raw", DIAL_STRINGS)
@pytest.mark.parametrize("field", ["driver_phone", "customer_phone", "masked_e164"])
def test_a_cloudtalk_create_with_a_dial_string_is_a_400_naming_the_field_and_stores_nothing(
    client, store, tenant, field, raw
):
    body = {"driver_phone": FIRST, "customer_phone": SECOND, field: raw}
    response = client.post("/v1/sessions", json=body, headers={"X-API-Key": tenant.api_key})
    assert response.status_code == 400, response.get_json()
    assert response.get_json()["field"] == field
    assert store.redis.zcard(store.keys.sessions_by_created(tenant.auth_id)) == 0
