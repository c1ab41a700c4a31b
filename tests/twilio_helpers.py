"""Posting to masq the way Twilio does: real webhook fields, signed with RequestValidator."""

from __future__ import annotations

import uuid
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from urllib.parse import urlsplit

from flask.testing import FlaskClient
from twilio.request_validator import RequestValidator
from werkzeug.test import TestResponse

TOKEN = "twilio-test-auth-token-0123456789"
PUBLIC = "https://masq.example.com"
ACCOUNT_SID = "AC" + "1" * 32


def new_sid(prefix: str = "CA") -> str:
    """Return a fresh Twilio-style id."""
    return prefix + uuid.uuid4().hex


def sign(url: str, params: Mapping[str, str], token: str = TOKEN) -> str:
    """Return the X-Twilio-Signature Twilio would send for a POST of `params` to `url`."""
    return RequestValidator(token).compute_signature(url, dict(params))


def post(
    client: FlaskClient,
    url: str,
    params: Mapping[str, str],
    token: str = TOKEN,
    headers: Mapping[str, str] | None = None,
    signature: str | None = None,
) -> TestResponse:
    """POST `params` to masq's public `url` (or a path under PUBLIC), signed like Twilio."""
    url = url if url.startswith("http") else PUBLIC + url
    url = url.split("#", 1)[0]
    parts = urlsplit(url)
    path = parts.path + ("?" + parts.query if parts.query else "")
    sent = {"X-Twilio-Signature": sign(url, params, token) if signature is None else signature, **(headers or {})}
    return client.post(path, data=dict(params), headers=sent)


def inbound_fields(caller: str, virtual_number: str, call_sid: str | None = None) -> dict[str, str]:
    """Return the fields of Twilio's voice webhook for a new inbound call."""
    return {
        "AccountSid": ACCOUNT_SID,
        "ApiVersion": "2010-04-01",
        "CallSid": call_sid or new_sid(),
        "CallStatus": "ringing",
        "Direction": "inbound",
        "From": caller,
        "Caller": caller,
        "To": virtual_number,
        "Called": virtual_number,
        "FromCountry": "US",
        "ToCountry": "US",
    }


def call(
    client: FlaskClient, caller: str, virtual_number: str, call_sid: str | None = None, **kwargs: object
) -> TestResponse:
    """Place a call from `caller` to `virtual_number`: POST /voice/inbound as Twilio does."""
    return post(client, "/voice/inbound", inbound_fields(caller, virtual_number, call_sid), **kwargs)  # type: ignore[arg-type]


def xml(response: TestResponse) -> ET.Element:
    """Return a TwiML response parsed, checking it is TwiML."""
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "text/xml"
    root = ET.fromstring(response.get_data())
    assert root.tag == "Response"
    return root


def verbs(root: ET.Element) -> list[str]:
    """Return the top-level verbs of a TwiML document, in order."""
    return [child.tag for child in root]
