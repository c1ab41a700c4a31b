"""Plivo's own Python SDK, unchanged, talking to masq over real HTTP on the real Redis."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import plivo
import pytest
import requests
from plivo import exceptions
from plivo.rest import client as plivo_client

from routing import number_mode, pool, tenants
from routing.clock import now_us
from tests.conftest import TenantFixture, make_tenant, outbox

BASE_URI_CONSTANTS = (
    "PLIVO_API_BASE_URI",
    "API_VOICE_BASE_URI",
    "API_VOICE_BASE_URI_FALLBACK_1",
    "API_VOICE_BASE_URI_FALLBACK_2",
)
FIRST = "14155551234"
SECOND = "14155554321"
HOOKS = "https://hooks.example.com"


def moment(text: str) -> datetime:
    """Return a Plivo timestamp (`2023-07-12 15:52:14.772699 +0000 UTC`) as an aware datetime."""
    return datetime.strptime(text.removesuffix(" +0000 UTC"), "%Y-%m-%d %H:%M:%S.%f").replace(tzinfo=UTC)


@pytest.fixture
def exchanges(live_server: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[str, str, int]]]:
    """Point the SDK at masq; record every request it sends and check none was answered with a 5xx."""
    for name in BASE_URI_CONSTANTS:
        monkeypatch.setattr(plivo_client, name, f"{live_server}/v1/Account")
    seen: list[tuple[str, str, int]] = []
    send = plivo_client.Client.send_request

    def recording(self: plivo_client.Client, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        response = send(self, request, **kwargs)
        seen.append((str(request.method), str(request.url), response.status_code))
        return response

    monkeypatch.setattr(plivo_client.Client, "send_request", recording)
    yield seen
    assert seen, "the SDK sent nothing"
    assert all(url.startswith(live_server) for _, url, _ in seen)
    assert [e for e in seen if e[2] >= 500] == []


@pytest.fixture
def sdk(exchanges: list[tuple[str, str, int]]) -> Iterator[Callable[..., plivo.RestClient]]:
    """Return a maker of SDK clients for a tenant (or any auth_id and token); closes them after."""
    made: list[plivo.RestClient] = []

    def connect(tenant: TenantFixture | None = None, auth_id: str = "", auth_token: str = "") -> plivo.RestClient:
        client = plivo.RestClient(auth_id or tenant.auth_id, auth_token or tenant.auth_token)
        made.append(client)
        return client

    yield connect
    for client in made:
        client.__exit__(None, None, None)


@pytest.fixture
def account(real_store) -> TenantFixture:
    return make_tenant(real_store)


@pytest.fixture
def stranger(real_store) -> TenantFixture:
    return make_tenant(real_store, ["+14155550110"], name="globex")


def raw(live_server: str, tenant: TenantFixture, method: str, path: str = "", **kwargs: Any) -> requests.Response:
    """Send the request the SDK would send, without the SDK, to read masq's own answer."""
    return requests.request(method, f"{live_server}{tenant.plivo_base}{path}", auth=tenant.basic, timeout=10, **kwargs)


# -- every method -----------------------------------------------------------------------------------------
def test_create_with_every_argument_answers_what_was_asked(sdk, account):
    client = sdk(account)

    created = client.masking_sessions.create_masking_session(
        first_party=FIRST,
        second_party=SECOND,
        session_expiry=6000,
        call_time_limit=3600,
        record=True,
        record_file_format="wav",
        recording_callback_url=f"{HOOKS}/recording",
        recording_callback_method="GET",
        initiate_call_to_first_party=False,
        callback_url=f"{HOOKS}/callback",
        callback_method="GET",
        ring_timeout=45,
        first_party_play_url=f"{HOOKS}/first.mp3",
        second_party_play_url=f"{HOOKS}/second.mp3",
        is_pin_authentication_required=True,
        generate_pin=False,
        first_party_pin="1234",
        second_party_pin="98765",
        pin_prompt_play=f"{HOOKS}/pin.mp3",
        pin_retry=2,
        pin_retry_wait=7,
        incorrect_pin_play=f"{HOOKS}/wrong.mp3",
        unknown_caller_play=f"{HOOKS}/unknown.mp3",
        geomatch=True,
        virtual_number_cooloff_period=30,
        force_pin_authentication=True,
    )

    assert created.message == "Session created"
    assert created.api_id and created.session_uuid
    assert created.virtual_number.startswith("+") and created.virtual_number in account.numbers
    session = created.session
    assert session.session_uuid == created.session_uuid
    assert session.virtual_number == created.virtual_number.removeprefix("+")
    assert (session.first_party, session.second_party, session.status) == (FIRST, SECOND, "active")
    assert (session.duration, session.call_time_limit, session.ring_timeout) == (6000, 3600, 45)
    assert (session.record, session.record_file_format) == (True, "wav")
    assert (session.recording_callback_url, session.recording_callback_method) == (f"{HOOKS}/recording", "GET")
    assert (session.callback_url, session.callback_method) == (f"{HOOKS}/callback", "GET")
    assert (session.first_party_play_url, session.second_party_play_url) == (
        f"{HOOKS}/first.mp3",
        f"{HOOKS}/second.mp3",
    )
    assert session.initiate_call_to_first_party is False
    assert session.is_pin_authentication_required is True
    assert (session.first_party_pin, session.second_party_pin) == ("1234", "98765")
    assert (session.pin_prompt_play, session.incorrect_pin_play, session.unknown_caller_play) == (
        f"{HOOKS}/pin.mp3",
        f"{HOOKS}/wrong.mp3",
        f"{HOOKS}/unknown.mp3",
    )
    assert (session.pin_retry, session.pin_retry_wait) == (2, 7)
    assert moment(session.expiry_time) - moment(session.created_time) == timedelta(seconds=6000)


def test_create_can_generate_the_pins(sdk, account):
    client = sdk(account)

    session = client.masking_sessions.create_masking_session(
        first_party=FIRST,
        second_party=SECOND,
        is_pin_authentication_required=True,
        generate_pin=True,
        generate_pin_length=6,
        pin_prompt_play=f"{HOOKS}/pin.mp3",
    ).session

    assert session.generate_pin is True and session.generate_pin_length == 6
    assert len(session.first_party_pin) == len(session.second_party_pin) == 6
    assert session.first_party_pin.isdigit() and session.second_party_pin.isdigit()
    assert session.first_party_pin != session.second_party_pin


def test_get_returns_the_session_as_created(sdk, account):
    client = sdk(account)
    created = client.masking_sessions.create_masking_session(
        first_party=FIRST, second_party=SECOND, callback_url=f"{HOOKS}/callback"
    )

    got = client.masking_sessions.get_masking_session(created.session_uuid)

    assert got.api_id and got.api_id != created.api_id
    session = got.response
    assert session.session_uuid == created.session_uuid
    assert (session.first_party, session.second_party, session.status) == (FIRST, SECOND, "active")
    assert session.virtual_number == created.session.virtual_number
    assert session.callback_url == f"{HOOKS}/callback"
    assert (session.created_time, session.expiry_time) == (created.session.created_time, created.session.expiry_time)
    assert session.duration == 3600


def test_list_filters_and_pages_through_the_query_string(sdk, account):
    client = sdk(account)
    sessions = client.masking_sessions
    made = [sessions.create_masking_session(first_party=FIRST, second_party=SECOND) for _ in account.numbers]
    sessions.delete_masking_session(made[0].session_uuid)
    other = sessions.create_masking_session(first_party="12125550123", second_party=SECOND)

    everything = sessions.list_masking_session()
    active = sessions.list_masking_session(status="active", limit=2, offset=0)
    rest = sessions.list_masking_session(status="active", limit=2, offset=2)
    filtered = sessions.list_masking_session(first_party=FIRST, status="expired")
    by_number = sessions.list_masking_session(virtual_number=made[1].session.virtual_number)
    long_ones = sessions.list_masking_session(
        duration__gte=3000, created_time__gte=made[0].session.created_time, second_party=SECOND
    )

    assert everything.response.meta.total_count == 4
    assert everything.response.meta.limit == 20 and everything.response.meta.next is None
    for session in everything.response.objects:
        assert session.resource_uri == f"/v1/Account/{account.auth_id}/Masking/Session/{session.session_uuid}/"
    assert (active.response.meta.total_count, len(active.response.objects)) == (3, 2)
    assert active.response.meta.offset == 0 and active.response.meta.previous is None
    assert "offset=2" in active.response.meta.next and "status=active" in active.response.meta.next
    assert (rest.response.meta.offset, len(rest.response.objects), rest.response.meta.next) == (2, 1, None)
    assert "offset=0" in rest.response.meta.previous
    paged = {s.session_uuid for s in active.response.objects + rest.response.objects}
    assert paged == {made[1].session_uuid, made[2].session_uuid, other.session_uuid}
    assert [s.session_uuid for s in filtered.response.objects] == [made[0].session_uuid]
    assert [s.session_uuid for s in by_number.response.objects] == [made[1].session_uuid]
    assert {s.session_uuid for s in long_ones.response.objects} == paged


def test_a_parent_opens_a_subaccounts_session_in_the_subaccount_and_still_sees_it(sdk, account, real_store):
    sub_creds = tenants.create_tenant(real_store, "acme-eu", now_us(), parent=account.auth_id)
    pool.add_numbers(real_store, sub_creds.auth_id, ["+14155550120"], now_us())
    parent, sub = sdk(account), sdk(auth_id=sub_creds.auth_id, auth_token=sub_creds.auth_token)
    mine = parent.masking_sessions.create_masking_session(
        first_party=FIRST, second_party=SECOND, subaccount=sub_creds.auth_id
    )
    own = parent.masking_sessions.create_masking_session(first_party=FIRST, second_party=SECOND)

    assert (mine.session.subaccount, mine.virtual_number) == (sub_creds.auth_id, "+14155550120")
    listed = parent.masking_sessions.list_masking_session(subaccount=sub_creds.auth_id)
    assert [s.session_uuid for s in listed.response.objects] == [mine.session_uuid]
    unfiltered = parent.masking_sessions.list_masking_session()
    assert [s.session_uuid for s in unfiltered.response.objects] == [own.session_uuid]
    assert [s.session_uuid for s in sub.masking_sessions.list_masking_session().response.objects] == [mine.session_uuid]
    for client in (parent, sub):
        assert client.masking_sessions.get_masking_session(mine.session_uuid).response.session_uuid == (
            mine.session_uuid
        )
    parent.masking_sessions.update_masking_session(mine.session_uuid, ring_timeout=30)
    assert sub.masking_sessions.get_masking_session(mine.session_uuid).response.ring_timeout == 30
    sub.masking_sessions.update_masking_session(mine.session_uuid, ring_timeout=40)
    assert parent.masking_sessions.get_masking_session(mine.session_uuid).response.ring_timeout == 40
    with pytest.raises(exceptions.ResourceNotFoundError):
        sub.masking_sessions.get_masking_session(own.session_uuid)

    parent.masking_sessions.delete_masking_session(mine.session_uuid)

    assert sub.masking_sessions.get_masking_session(mine.session_uuid).response.status == "expired"
    ended = [e for e in outbox(real_store, sub_creds.auth_id) if e["EventName"] == "SessionEnded"]
    assert [e["SessionUUID"] for e in ended] == [mine.session_uuid]
    assert all(e["SessionUUID"] != mine.session_uuid for e in outbox(real_store, account.auth_id))
    counted = real_store.redis.hmget(real_store.keys.tenant(sub_creds.auth_id), "sessions_opened", "sessions_completed")
    assert counted == ["1", "1"]
    assert real_store.redis.hget(real_store.keys.tenant(account.auth_id), "sessions_completed") is None


def test_a_subaccount_can_delete_the_session_its_parent_opened_for_it(sdk, account, real_store):
    sub_creds = tenants.create_tenant(real_store, "acme-eu", now_us(), parent=account.auth_id)
    pool.add_numbers(real_store, sub_creds.auth_id, ["+14155550121"], now_us())
    parent, sub = sdk(account), sdk(auth_id=sub_creds.auth_id, auth_token=sub_creds.auth_token)
    mine = parent.masking_sessions.create_masking_session(
        first_party=FIRST, second_party=SECOND, subaccount=sub_creds.auth_id
    )

    sub.masking_sessions.delete_masking_session(mine.session_uuid)

    assert parent.masking_sessions.get_masking_session(mine.session_uuid).response.status == "expired"


def test_a_subaccount_with_no_free_number_is_exhausted_though_its_parent_has_some(sdk, account, real_store):
    sub_creds = tenants.create_tenant(real_store, "acme-eu", now_us(), parent=account.auth_id)

    with pytest.raises(exceptions.PlivoRestError):
        sdk(account).masking_sessions.create_masking_session(
            first_party=FIRST, second_party=SECOND, subaccount=sub_creds.auth_id
        )

    assert real_store.redis.scard(real_store.keys.free(account.auth_id, "US")) == len(account.numbers)


def test_update_changes_the_session_and_counts_the_new_expiry_from_now(sdk, account):
    client = sdk(account)
    created = client.masking_sessions.create_masking_session(
        first_party=FIRST, second_party=SECOND, session_expiry=6000
    )

    updated = client.masking_sessions.update_masking_session(
        created.session_uuid,
        session_expiry=600,
        call_time_limit=1200,
        record=True,
        record_file_format="wav",
        recording_callback_url=f"{HOOKS}/recording",
        recording_callback_method="GET",
        callback_url=f"{HOOKS}/callback",
        callback_method="GET",
        ring_timeout=30,
        first_party_play_url=f"{HOOKS}/first.mp3",
        second_party_play_url=f"{HOOKS}/second.mp3",
    )

    assert updated.message == "Session updated"
    session = updated.session
    assert session.session_uuid == created.session_uuid
    assert (session.call_time_limit, session.record, session.record_file_format, session.ring_timeout) == (
        1200,
        True,
        "wav",
        30,
    )
    assert (session.callback_url, session.callback_method) == (f"{HOOKS}/callback", "GET")
    assert (session.recording_callback_url, session.recording_callback_method) == (f"{HOOKS}/recording", "GET")
    assert (session.first_party_play_url, session.second_party_play_url) == (
        f"{HOOKS}/first.mp3",
        f"{HOOKS}/second.mp3",
    )
    assert session.created_time == created.session.created_time
    assert moment(session.expiry_time) - moment(session.modified_time) == timedelta(seconds=600)
    assert session.duration == (moment(session.expiry_time) - moment(session.created_time)) // timedelta(seconds=1)
    got = client.masking_sessions.get_masking_session(created.session_uuid).response
    assert (got.expiry_time, got.ring_timeout) == (session.expiry_time, 30)


def test_a_single_party_session_gets_its_second_party_by_update(sdk, account):
    client = sdk(account)
    created = client.masking_sessions.create_masking_session(first_party=FIRST, create_session_with_single_party=True)

    updated = client.masking_sessions.update_masking_session(created.session_uuid, second_party=SECOND)

    assert created.session.second_party == ""
    assert created.session.create_session_with_single_party is True
    assert (updated.session.first_party, updated.session.second_party) == (FIRST, SECOND)


def test_delete_ends_the_session_and_frees_its_number(sdk, account):
    client = sdk(account)
    made = [
        client.masking_sessions.create_masking_session(first_party=FIRST, second_party=SECOND) for _ in account.numbers
    ]

    deleted = client.masking_sessions.delete_masking_session(made[0].session_uuid)

    assert deleted.message == "Session Deleted" and deleted.api_id
    assert client.masking_sessions.get_masking_session(made[0].session_uuid).response.status == "expired"
    again = client.masking_sessions.create_masking_session(first_party=FIRST, second_party=SECOND)
    assert again.virtual_number == made[0].virtual_number


# -- errors -----------------------------------------------------------------------------------------------
def test_a_400_is_a_validation_error_carrying_masqs_words(sdk, account, live_server):
    client = sdk(account)

    with pytest.raises(exceptions.ValidationError) as caught:
        client.masking_sessions.create_masking_session(first_party=FIRST, second_party=FIRST)

    answer = raw(live_server, account, "POST", json={"first_party": FIRST, "second_party": FIRST})
    assert answer.status_code == 400
    assert str(caught.value) == answer.json()["error"]
    assert str(caught.value).startswith("second_party:")


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (
            lambda s, _: s.create_masking_session(first_party=FIRST, second_party=SECOND, session_expiry=10),
            "session_expiry",
        ),
        (
            lambda s, _: s.create_masking_session(first_party=FIRST, second_party=SECOND, ring_timeout=500),
            "ring_timeout",
        ),
        (lambda s, _: s.create_masking_session(first_party="nobody", second_party=SECOND), "first_party"),
        (lambda s, _: s.create_masking_session(second_party=SECOND), "first_party"),
        (
            lambda s, _: s.create_masking_session(first_party=FIRST, second_party=SECOND, record_file_format="ogg"),
            "record_file_format",
        ),
        (lambda s, _: s.list_masking_session(limit=50), "limit"),
        (lambda s, _: s.list_masking_session(status="open"), "status"),
        (lambda s, uuid: s.update_masking_session(uuid, session_expiry=1), "session_expiry"),
        (lambda s, uuid: s.update_masking_session(uuid, first_party="14155550199"), "first_party"),
    ],
)
def test_every_400_is_a_validation_error_that_names_the_field(sdk, account, call, field):
    sessions = sdk(account).masking_sessions
    session_uuid = sessions.create_masking_session(first_party=FIRST, second_party=SECOND).session_uuid

    with pytest.raises(exceptions.ValidationError) as caught:
        call(sessions, session_uuid)

    assert str(caught.value).startswith(f"{field}:")


@pytest.mark.parametrize("who", ["wrong token", "unknown account"])
def test_a_401_is_an_authentication_error_carrying_masqs_words(sdk, account, live_server, who):
    auth_id = account.auth_id if who == "wrong token" else "MA" + "Q" * 18
    client = sdk(auth_id=auth_id, auth_token="not-the-token")

    with pytest.raises(exceptions.AuthenticationError) as caught:
        client.masking_sessions.list_masking_session()
    with pytest.raises(exceptions.AuthenticationError):
        client.masking_sessions.create_masking_session(first_party=FIRST, second_party=SECOND)

    answer = requests.get(
        f"{live_server}/v1/Account/{auth_id}/Masking/Session/", auth=(auth_id, "not-the-token"), timeout=10
    )
    assert answer.status_code == 401
    assert str(caught.value) == answer.json()["error"]
    assert sdk(account).masking_sessions.list_masking_session().response.meta.total_count == 0


@pytest.mark.parametrize("target", ["unknown", "another tenant's", "malformed"])
def test_a_404_is_a_resource_not_found_error_carrying_masqs_words(sdk, account, stranger, live_server, target):
    theirs = sdk(stranger).masking_sessions.create_masking_session(first_party=FIRST, second_party=SECOND)
    session_uuid = {
        "unknown": "4b083bef-7b26-4116-95a4-c35f81f5c2c1",
        "another tenant's": theirs.session_uuid,
        "malformed": "not-a-session",
    }[target]
    sessions = sdk(account).masking_sessions

    for call in (
        lambda: sessions.get_masking_session(session_uuid),
        lambda: sessions.update_masking_session(session_uuid, ring_timeout=30),
        lambda: sessions.delete_masking_session(session_uuid),
    ):
        with pytest.raises(exceptions.ResourceNotFoundError) as caught:
            call()
        answer = raw(live_server, account, "GET", f"{session_uuid}/")
        assert answer.status_code == 404
        assert str(caught.value) == answer.json()["error"]
    kept = sdk(stranger).masking_sessions.get_masking_session(theirs.session_uuid).response
    assert (kept.status, kept.ring_timeout) == ("active", 120)


def test_an_exhausted_pool_is_an_invalid_request_error_carrying_masqs_words(sdk, stranger, live_server):
    sessions = sdk(stranger).masking_sessions
    sessions.create_masking_session(first_party=FIRST, second_party=SECOND)

    with pytest.raises(exceptions.InvalidRequestError) as caught:
        sessions.create_masking_session(first_party=FIRST, second_party=SECOND)

    answer = raw(live_server, stranger, "POST", json={"first_party": FIRST, "second_party": SECOND})
    assert answer.status_code == 409
    assert str(caught.value) == answer.json()["error"]
    assert "no free virtual number" in str(caught.value)


def test_changing_a_deleted_session_is_an_invalid_request_error_carrying_masqs_words(sdk, account, live_server):
    sessions = sdk(account).masking_sessions
    session_uuid = sessions.create_masking_session(first_party=FIRST, second_party=SECOND).session_uuid
    sessions.delete_masking_session(session_uuid)

    with pytest.raises(exceptions.InvalidRequestError) as on_update:
        sessions.update_masking_session(session_uuid, ring_timeout=30)
    with pytest.raises(exceptions.InvalidRequestError) as on_delete:
        sessions.delete_masking_session(session_uuid)

    updating = raw(live_server, account, "POST", f"{session_uuid}/", json={"ring_timeout": 30})
    deleting = raw(live_server, account, "DELETE", f"{session_uuid}/")
    assert (updating.status_code, deleting.status_code) == (409, 409)
    assert str(on_update.value) == updating.json()["error"]
    assert str(on_delete.value) == deleting.json()["error"]


def test_the_sdk_sent_every_request_once_and_only_to_masq(sdk, account, exchanges):
    sessions = sdk(account).masking_sessions
    created = sessions.create_masking_session(first_party=FIRST, second_party=SECOND)
    sessions.get_masking_session(created.session_uuid)
    sessions.list_masking_session(limit=5)
    sessions.update_masking_session(created.session_uuid, ring_timeout=30)
    sessions.delete_masking_session(created.session_uuid)
    with pytest.raises(exceptions.InvalidRequestError):
        sessions.delete_masking_session(created.session_uuid)

    path = f"/v1/Account/{account.auth_id}/Masking/Session/"
    one = f"{path}{created.session_uuid}/"
    assert [(method, urlsplit(url).path) for method, url, _ in exchanges] == [
        ("POST", path),
        ("GET", one),
        ("GET", path),
        ("POST", one),
        ("DELETE", one),
        ("DELETE", one),
    ]
    assert [status // 100 for _, _, status in exchanges] == [2, 2, 2, 2, 2, 4]
    assert exchanges[-1][2] == 409


# -- shared virtual numbers ------------------------------------------------------------------------------------------
def test_an_account_sharing_numbers_works_with_the_sdk_unchanged(sdk, real_store):
    rides = make_tenant(real_store, ["+14155550120", "+14155550121", "+14155550122"], name="rides")
    number_mode.set_number_settings(real_store, rides.auth_id, number_mode.SHARED)
    client = sdk(rides)
    sessions = client.masking_sessions
    rider, drivers, others = (
        "14155556001",
        ["14155556101", "14155556102", "14155556103"],
        ("14155556201", "14155556202"),
    )

    trips = [sessions.create_masking_session(first_party=rider, second_party=driver) for driver in drivers]
    other = sessions.create_masking_session(first_party=others[0], second_party=others[1])
    got = sessions.get_masking_session(trips[0].session_uuid).response
    listed = sessions.list_masking_session(virtual_number=trips[0].session.virtual_number).response
    sessions.update_masking_session(trips[1].session_uuid, session_expiry=600)
    sessions.delete_masking_session(trips[2].session_uuid)
    again = sessions.create_masking_session(first_party=rider, second_party="14155556104")

    numbers = [trip.virtual_number for trip in trips]
    assert len(set(numbers)) == 3  # the rider is never twice on one number
    assert other.virtual_number in numbers  # two people the rider is not with share one of them
    assert again.virtual_number == trips[2].virtual_number  # the rider's number freed by the delete
    assert (got.first_party, got.second_party, got.virtual_number) == (rider, drivers[0], numbers[0].lstrip("+"))
    assert {s.session_uuid for s in listed.objects} >= {trips[0].session_uuid}
    assert {s.first_party for s in listed.objects} <= {rider, others[0]}
