"""Plivo's own Python SDK reads the Call and Recording resources a session's interaction points to, over real HTTP.

A call is placed by the carrier in a box (app.cli.simulator), signed as Twilio signs, against the live server.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

import plivo
import pytest
import requests
from plivo import exceptions
from plivo.rest import client as plivo_client

from app.cli.simulator import CallPlan, Carrier
from tests.conftest import TenantFixture, make_tenant, outbox, serving
from tests.test_plivo_sdk import BASE_URI_CONSTANTS
from tests.twilio_helpers import TOKEN

FIRST, SECOND = "14155551234", "14155554321"


@pytest.fixture
def live_server(real_store) -> Iterator[str]:
    """masq over real HTTP on the real Redis, checking the carrier's signatures with the simulator's token."""
    with serving(real_store, TWILIO_AUTH_TOKEN=TOKEN) as url:
        yield url


@pytest.fixture
def exchanges(live_server: str, monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str, int]]:
    """Point the SDK at masq (as tests/test_plivo_sdk.py does); record each request's method, URL and status."""
    for name in BASE_URI_CONSTANTS:
        monkeypatch.setattr(plivo_client, name, f"{live_server}/v1/Account")
    seen: list[tuple[str, str, int]] = []
    send = plivo_client.Client.send_request

    def recording(self: plivo_client.Client, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        response = send(self, request, **kwargs)
        seen.append((str(request.method), str(request.url), response.status_code))
        return response

    monkeypatch.setattr(plivo_client.Client, "send_request", recording)
    return seen


@pytest.fixture
def sdk(exchanges: list[tuple[str, str, int]]) -> Iterator[Callable[[TenantFixture], plivo.RestClient]]:
    """Return a maker of SDK clients for a tenant; closes them after."""
    made: list[plivo.RestClient] = []

    def connect(tenant: TenantFixture) -> plivo.RestClient:
        made.append(plivo.RestClient(tenant.auth_id, tenant.auth_token))
        return made[-1]

    yield connect
    for client in made:
        client.__exit__(None, None, None)


@pytest.fixture
def account(real_store) -> TenantFixture:
    return make_tenant(real_store)


def answered_and_recorded(client, live_server: str, talk_seconds: int = 75):
    """Open a recording session with the SDK and place a call the other party answers; return its interaction."""
    created = client.masking_sessions.create_masking_session(first_party=FIRST, second_party=SECOND, record=True)
    result = Carrier(live_server, TOKEN).call(CallPlan("+" + FIRST, created.virtual_number, talk_seconds=talk_seconds))
    assert result.ending == "bridged"
    [interaction] = client.masking_sessions.get_masking_session(created.session_uuid).response.interaction
    return created, interaction


def last_part(url: str) -> str:
    """Return the id at the end of a resource URL (`…/Call/{call_uuid}/`)."""
    return url.rstrip("/").rsplit("/", 1)[-1]


def test_the_sdk_reads_both_legs_and_the_recording_at_the_urls_the_interaction_gives(
    sdk, account, exchanges, live_server
):
    client = sdk(account)
    created, interaction = answered_and_recorded(client, live_server)
    urls = [
        interaction.first_party_resource_url,
        interaction.second_party_resource_url,
        interaction.recording_resource_url,
    ]

    caller = client.calls.get(last_part(urls[0]))
    callee = client.calls.get(last_part(urls[1]))
    recording = client.recordings.get(last_part(urls[2]))

    asked = [url.split("?", 1)[0] for _, url, _ in exchanges[-3:]]
    assert asked == urls and all(url.startswith(f"{live_server}/v1/Account/{account.auth_id}/") for url in urls)
    assert [status for _, _, status in exchanges[-3:]] == [200, 200, 200]
    assert (caller.call_uuid, caller.call_direction, caller.parent_call_uuid) == (last_part(urls[0]), "inbound", None)
    assert (caller.from_number, caller.to_number) == (FIRST, created.session.virtual_number)
    assert (callee.call_direction, callee.parent_call_uuid) == ("outbound", caller.call_uuid)
    assert (callee.from_number, callee.to_number) == (created.session.virtual_number, SECOND)
    # 75 s of talk: each leg is billed two started minutes at the default rate.
    for leg in (caller, callee):
        assert leg.answer_time and leg.end_time and leg.initiation_time
        assert (leg.billed_duration, leg.total_amount, leg.total_rate) == (120, "0.01000", "0.00500")
        assert leg.hangup_cause_name == "Normal Hangup"
        assert leg.resource_uri == urlsplit(f"{live_server}/v1/Account/{account.auth_id}/Call/{leg.call_uuid}/").path
    assert (recording.recording_id, recording.call_uuid) == (last_part(urls[2]), caller.call_uuid)
    assert (recording.recording_format, recording.recording_type, recording.conference_name) == ("mp3", "call", "")
    assert recording.recording_duration_ms == "75000.00000" and recording.rounded_recording_duration == 120
    assert recording.recording_url.startswith("https://api.twilio.com/") and recording.recording_url.endswith(".mp3")
    assert (recording.monthly_recording_storage_amount, recording.recording_storage_duration) == (0, 1)


def test_the_recording_event_gives_the_url_the_sdk_reads(sdk, account, live_server, real_store):
    client = sdk(account)
    _, interaction = answered_and_recorded(client, live_server)

    recorded = [e for e in outbox(real_store, account.auth_id) if e["EventName"].startswith("SessionRecording")]

    assert [e["EventName"] for e in recorded] == ["SessionRecordingInitiated", "SessionRecordingCompleted"]
    assert {e["RecordingResourceURL"] for e in recorded} == {interaction.recording_resource_url}
    assert (
        client.recordings.get(last_part(interaction.recording_resource_url)).recording_id
        == (recorded[-1]["RecordingUUID"])
    )


@pytest.mark.parametrize("whose", ["unknown", "another tenant's"])
def test_a_call_or_recording_not_the_tenants_is_a_resource_not_found_error(
    sdk, account, real_store, live_server, whose
):
    stranger = make_tenant(real_store, ["+14155550110"], name="globex")
    _, theirs = answered_and_recorded(sdk(stranger), live_server, talk_seconds=5)
    ids = {
        "unknown": ("CA" + "0" * 32, "RE" + "0" * 32),
        "another tenant's": (last_part(theirs.first_party_resource_url), last_part(theirs.recording_resource_url)),
    }[whose]
    client = sdk(account)

    with pytest.raises(exceptions.ResourceNotFoundError):
        client.calls.get(ids[0])
    with pytest.raises(exceptions.ResourceNotFoundError):
        client.recordings.get(ids[1])
    if whose == "another tenant's":  # theirs, and still readable by them
        assert sdk(stranger).calls.get(ids[0]).call_uuid == ids[0]
