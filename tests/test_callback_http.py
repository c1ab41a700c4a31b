import socket

import pytest
import requests
from plivo.utils.signature_v3 import validate_v3_signature

from workers.callback_http import Delivery, refusal, send

TOKEN = "tenant-token-0123456789"


def delivery(url: str, method: str = "POST") -> Delivery:
    return Delivery(url, method, {"EventName": "SessionTimeout", "SequenceNumber": "1"}, TOKEN, "evt-1")


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/cb",
        "http://localhost/cb",
        "http://10.1.2.3/cb",
        "http://192.168.1.1/cb",
        "http://172.16.0.9/cb",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/cb",
        "http://0.0.0.0/cb",
    ],
)
def test_private_loopback_and_metadata_addresses_are_refused(url):
    assert "not a public address" in refusal(url, allow_private=False)


@pytest.mark.parametrize("url", ["ftp://example.com/cb", "file:///etc/passwd", "gopher://x", "http:///nohost"])
def test_only_http_and_https_urls_may_be_called(url):
    assert refusal(url, allow_private=True) == "callback URLs must be http or https"


def test_the_operator_may_allow_private_addresses():
    assert refusal("http://127.0.0.1/cb", allow_private=True) == ""


def test_a_public_address_is_allowed(monkeypatch):
    monkeypatch.setattr(socket, "getaddrinfo", lambda *a, **k: [(socket.AF_INET, 1, 6, "", ("93.184.215.14", 443))])

    assert refusal("https://tenant.example.com/cb", allow_private=False) == ""


def test_a_delivery_to_a_private_address_is_refused_without_a_request(receiver):
    outcome = send(requests.Session(), delivery(receiver.url), allow_private=False)

    assert not outcome.delivered and "not a public address" in outcome.error
    assert receiver.requests == []


@pytest.mark.parametrize("method", ["POST", "GET"])
def test_a_2xx_is_delivered_with_a_signature_the_plivo_sdk_accepts(receiver, method):
    outcome = send(requests.Session(), delivery(receiver.url, method), allow_private=True)

    assert outcome.delivered and outcome.status == 200
    got = receiver.requests[0]
    assert got.method == method and got.params == {"EventName": "SessionTimeout", "SequenceNumber": "1"}
    assert got.headers["Idempotency-Key"] == "evt-1"
    assert validate_v3_signature(
        method,
        receiver.url,
        got.headers["X-Plivo-Signature-V3-Nonce"],
        TOKEN,
        got.headers["X-Plivo-Signature-V3"],
        got.params,
    )


@pytest.mark.parametrize("status", [302, 400, 404, 500, 503])
def test_anything_but_a_2xx_is_not_delivered_and_is_retried(receiver, status):
    receiver.status = status

    outcome = send(requests.Session(), delivery(receiver.url), allow_private=True)

    assert not outcome.delivered and outcome.status == status and outcome.retry


def test_a_refused_connection_is_an_outcome_not_an_exception():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]

    outcome = send(requests.Session(), delivery(f"http://127.0.0.1:{port}/cb"), allow_private=True)

    assert not outcome.delivered and outcome.retry and "ConnectionError" in outcome.error
