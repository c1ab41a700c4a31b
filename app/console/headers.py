"""The console's headers: no page is cached or framed, and its assets are cached for good under their digest.

Pages may load styles and images from masq itself only, run no script at all, and post forms to masq only
(Content-Security-Policy); they are never framed (`frame-ancestors`, and X-Frame-Options for older browsers), never
stored (`no-store`: they show a tenant's numbers) and tell other sites nothing of where the visitor was. An asset's
URL carries the digest of its content, so it may be kept a year: a new version has a new URL.
"""

from __future__ import annotations

import hashlib
from functools import cache
from pathlib import Path

from flask import Response, abort, request, send_from_directory, url_for
from flask.typing import ResponseReturnValue

from app.console import bp

ASSETS = Path(__file__).resolve().parent.parent / "static" / "console"
YEAR = 365 * 86_400
POLICY = "; ".join(
    (
        "default-src 'none'",
        "style-src 'self'",
        "img-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    )
)
HEADERS = {
    "Content-Security-Policy": POLICY,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    # Same-origin requests keep their Referer: Flask-WTF checks it on a form posted over HTTPS.
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}


@cache
def digest(name: str) -> str:
    """Return the first 16 hex digits of the SHA-256 of the asset `name`; "" when there is no such asset."""
    path = ASSETS / name
    if "/" in name or name.startswith(".") or not path.is_file():
        return ""
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def asset_url(name: str) -> str:
    """Return the URL of the asset `name` (`console.css`), fingerprinted with its digest."""
    return url_for("console.asset", version=digest(name), name=name)


@bp.get("/assets/<version>/<name>")
def asset(version: str, name: str) -> ResponseReturnValue:
    """Serve an asset under its current digest, cached for a year; any other version is not found."""
    if not digest(name) or version != digest(name):
        abort(404, "There is no such asset (any more).")
    response = send_from_directory(ASSETS, name, max_age=YEAR)
    response.cache_control.public = True
    response.cache_control.immutable = True
    return response


@bp.after_request
def secure(response: Response) -> Response:
    """Give every console answer the security headers, and every page (not an asset) `Cache-Control: no-store`."""
    response.headers.update(HEADERS)
    if request.endpoint != "console.asset" or response.status_code not in (200, 304):
        response.headers["Cache-Control"] = "no-store"
        response.headers.pop("Expires", None)
    return response
