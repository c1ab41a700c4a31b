"""Sign tenant callbacks the way Plivo signs its own (`X-Plivo-Signature-V3`).

A tenant's existing check, `plivo.utils.signature_v3.validate_v3_signature(method, url, nonce, auth_token,
signature, params)`, accepts these signatures unchanged: the string signed is the one that function
rebuilds from the callback's method, URL and parameters.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Mapping
from urllib.parse import parse_qs, urlsplit, urlunsplit


def _query_string(params: Mapping[str, object]) -> str:
    parts = []
    for key in sorted(params):
        value = params[key]
        if isinstance(value, list):
            parts.append("&".join(f"{key}={item}" for item in sorted(str(v) for v in value)))
        else:
            parts.append(f"{key}={value}")
    return "&".join(parts)


def _params_string(params: Mapping[str, object]) -> str:
    return "".join(f"{key}{params[key]}" for key in sorted(params))


def signed_string(method: str, url: str, params: Mapping[str, str]) -> str:
    """Return the text Plivo's V3 scheme signs for a callback of `method` to `url` with `params`."""
    parts = urlsplit(url)
    base = urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
    in_url: dict[str, object] = {key: values for key, values in parse_qs(parts.query, keep_blank_values=True).items()}
    if method.upper() == "GET":
        query = _query_string({**params, **in_url})
        return base + ("?" + query if query else "")
    query = _query_string(in_url)
    if params:  # Plivo's scheme: `?`, the URL's own query, a `.` after a non-empty one, then the params
        base += "?" + query + ("." if query else "")
    elif query:
        base += "?" + query
    return base + _params_string(params)


def sign(auth_token: str, method: str, url: str, params: Mapping[str, str]) -> dict[str, str]:
    """Return the `X-Plivo-Signature-V3` and `X-Plivo-Signature-V3-Nonce` headers for one delivery."""
    nonce = secrets.token_hex(10)
    text = f"{signed_string(method, url, params)}.{nonce}".encode()
    digest = hmac.new(auth_token.encode(), text, hashlib.sha256).digest()
    return {"X-Plivo-Signature-V3": base64.b64encode(digest).decode(), "X-Plivo-Signature-V3-Nonce": nonce}
