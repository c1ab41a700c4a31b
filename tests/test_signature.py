import pytest
from plivo.utils.signature_v3 import validate_v3_signature

from workers.signature import sign

TOKEN = "MAUTHTOKEN0123456789abcdefABCDEF01234567"
EVENT = {"EventName": "SessionFirstPartyAnswer", "SequenceNumber": "3", "From": "+14155551234", "Note": "a b&c"}


@pytest.mark.parametrize(
    ("method", "url", "params"),
    [
        ("POST", "https://tenant.example.com/cb", EVENT),
        ("POST", "https://tenant.example.com/cb?account=7&z=1", EVENT),
        ("POST", "https://tenant.example.com/cb", {}),
        ("POST", "https://tenant.example.com/cb?account=7", {}),
        ("GET", "https://tenant.example.com/cb", EVENT),
        ("GET", "https://tenant.example.com/cb?account=7", EVENT),
        ("GET", "https://tenant.example.com/cb", {}),
    ],
)
def test_plivo_sdk_accepts_the_signature_of_every_callback_shape(method, url, params):
    headers = sign(TOKEN, method, url, params)

    assert validate_v3_signature(
        method, url, headers["X-Plivo-Signature-V3-Nonce"], TOKEN, headers["X-Plivo-Signature-V3"], dict(params)
    )


def test_a_signature_made_with_another_token_is_refused():
    headers = sign("another-token", "POST", "https://tenant.example.com/cb", EVENT)

    assert not validate_v3_signature(
        "POST",
        "https://tenant.example.com/cb",
        headers["X-Plivo-Signature-V3-Nonce"],
        TOKEN,
        headers["X-Plivo-Signature-V3"],
        dict(EVENT),
    )


def test_a_changed_parameter_breaks_the_signature():
    headers = sign(TOKEN, "POST", "https://tenant.example.com/cb", EVENT)

    assert not validate_v3_signature(
        "POST",
        "https://tenant.example.com/cb",
        headers["X-Plivo-Signature-V3-Nonce"],
        TOKEN,
        headers["X-Plivo-Signature-V3"],
        {**EVENT, "SequenceNumber": "4"},
    )


def test_every_delivery_gets_a_fresh_nonce():
    first = sign(TOKEN, "POST", "https://tenant.example.com/cb", EVENT)
    second = sign(TOKEN, "POST", "https://tenant.example.com/cb", EVENT)

    assert first["X-Plivo-Signature-V3-Nonce"] != second["X-Plivo-Signature-V3-Nonce"]
    assert first["X-Plivo-Signature-V3"] != second["X-Plivo-Signature-V3"]
