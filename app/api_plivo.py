"""The Plivo dialect: `/v1/Account/{auth_id}/Masking/Session/`, wire-compatible with Plivo's SDKs."""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, g, jsonify, request
from flask.typing import ResponseReturnValue

from app.auth import basic_auth, basic_credential, on_behalf_of
from app.extensions import call_first_party, links, require_carrier, store
from app.plivo_format import session_created, session_object
from app.request_data import body, query
from routing.calls.history import read_calls, read_calls_many
from routing.errors import InvalidInput
from routing.sessions import lifecycle
from routing.sessions.options import check_fields
from routing.sessions.query import check_query

bp = Blueprint("api_plivo", __name__, url_prefix="/v1/Account/<auth_id>/Masking/Session")


def reply(payload: dict[str, Any], status: int = 200) -> ResponseReturnValue:
    """Return `payload` with a fresh `api_id` first, as every Plivo response has."""
    return jsonify({"api_id": str(uuid.uuid4()), **payload}), status


def _body_for(session_uuid: str) -> dict[str, Any]:
    """Return the body without the `session_uuid` echo the SDK adds, checking that it matches."""
    data = body()
    echoed = data.pop("session_uuid", session_uuid)
    if echoed != session_uuid:
        raise InvalidInput("session_uuid", "does not match the session in the URL")
    return data


@bp.post("", strict_slashes=False)
def create(auth_id: str) -> ResponseReturnValue:
    """Open a session: the credential, the rate limit and the DID in one round trip (`lifecycle.open_session`)."""
    credential = basic_credential(auth_id)
    with on_behalf_of(credential):
        raw = body()
        require_carrier(raw)
        session = lifecycle.open_session(store(), credential, raw, store().now_us())
    call_first_party(session)
    return reply(session_created(session))


@bp.get("", strict_slashes=False)
@basic_auth
def list_all() -> ResponseReturnValue:
    """List the tenant's sessions matching Plivo's filters, newest first, a page at a time (Plivo's list shape)."""
    now = store().now_us()
    params = query()
    filters = check_query(params)
    page = lifecycle.list_sessions(store(), g.tenant.auth_id, filters, now)
    calls = read_calls_many(store(), page.auth_id, [s.session_uuid for s in page.sessions], now)
    return reply(
        {
            "response": {
                "meta": {
                    "limit": filters.limit,
                    "next": _page_link(params, filters.offset + filters.limit)
                    if filters.offset + filters.limit < page.total_count
                    else None,
                    "offset": filters.offset,
                    "previous": _page_link(params, max(filters.offset - filters.limit, 0))
                    if filters.offset > 0
                    else None,
                    "total_count": page.total_count,
                },
                "objects": [
                    session_object(s, now, c, links().base, listing=True)
                    for s, c in zip(page.sessions, calls, strict=True)
                ],
            }
        }
    )


@bp.get("/<session_uuid>", strict_slashes=False)
@basic_auth
def retrieve(session_uuid: str) -> ResponseReturnValue:
    """Return one session in Plivo's `response` shape; another tenant's session is a 404."""
    now = store().now_us()
    session = lifecycle.get_session(store(), g.tenant.auth_id, session_uuid)
    calls = read_calls(store(), session.auth_id, session.session_uuid, now)
    return reply({"response": session_object(session, now, calls, links().base)})


@bp.post("/<session_uuid>", strict_slashes=False)
@basic_auth
def update(session_uuid: str) -> ResponseReturnValue:
    """Change an open session's updatable fields; a new `session_expiry` counts from now, as Plivo's does."""
    now = store().now_us()
    session = lifecycle.update_session(store(), g.tenant.auth_id, session_uuid, _body_for(session_uuid), now)
    calls = read_calls(store(), session.auth_id, session.session_uuid, now)
    return reply({"message": "Session updated", "session": session_object(session, now, calls, links().base)})


@bp.delete("/<session_uuid>", strict_slashes=False)
@basic_auth
def expire(session_uuid: str) -> ResponseReturnValue:
    """End a session now (Plivo's DELETE): its DID goes back to the pool and the tenant hears `SessionEnded`.

    The body may echo `session_uuid` (Plivo's SDK does) and carry nothing else: another field is refused as update
    refuses one it does not know, and the session stays open.
    """
    check_fields(_body_for(session_uuid), {})
    lifecycle.end_session(store(), g.tenant.auth_id, session_uuid, store().now_us())
    return reply({"message": "Session Deleted"})


def _page_link(params: dict[str, str], offset: int) -> str:
    """Return the path and query of the listing page at `offset`, as Plivo's `next` and `previous` give it."""
    return (
        request.base_url.removeprefix(request.host_url.rstrip("/"))
        + "?"
        + urlencode({**params, "offset": offset, "limit": params.get("limit", 20)})
    )
