"""The Plivo dialect: `/v1/Account/{auth_id}/Masking/Session/`, wire-compatible with Plivo's SDKs."""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, g, jsonify, request
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import HTTPException

from app.auth import basic_auth, basic_credentials, rate_limit, too_many_requests
from app.extensions import call_first_party, store
from app.plivo_format import session_object
from app.requests import body, query
from routing import sessions
from routing.clock import now_us
from routing.errors import InvalidInput, RoutingError
from routing.interactions import CallState
from routing.session import Session
from routing.session_query import check_query
from routing.tenants import basic_credential, basic_refusal

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
    """Open a session: the credentials, the rate limit and the DID taken in one round trip to Redis.

    A request that cannot go that way (a body that does not check out, a subaccount to look up) goes the way of
    every other request, `create_in_steps`: whoever asks is authenticated and counted before being told more.
    """
    username, password = basic_credentials(auth_id)
    credential = basic_credential(username, password, *rate_limit())
    opening = _opening(auth_id) if credential is not None else None
    if credential is None or opening is None:
        answer: ResponseReturnValue = create_in_steps(auth_id=auth_id)
        return answer
    outcome = sessions.open_session_checked(store(), opening, credential)
    if outcome is None:
        raise basic_refusal()
    tenant, admission, placed = outcome
    g.tenant = tenant
    if not admission.allowed:
        return too_many_requests(admission)
    return _created(opening.opened(placed))


def _opening(auth_id: str) -> sessions.Opening | None:
    """Return the session the request asks for, ready to be opened in one step; None when it cannot be."""
    try:
        opening = sessions.prepare_session(auth_id, body(), now_us())
    except (RoutingError, HTTPException):
        return None  # `create_in_steps` says what is wrong, once it knows who asks
    return None if opening.session.subaccount else opening


@basic_auth
def create_in_steps() -> ResponseReturnValue:
    """Open a session as every request goes: authenticate and count the request, then check it and open it."""
    return _created(sessions.open_session(store(), g.tenant.auth_id, body(), now_us()))


def _created(session: Session) -> ResponseReturnValue:
    """Return the answer to a create, once the call to the first party (if asked for) is on its way."""
    call_first_party(session)
    # A session opened a moment ago has had no call yet: no need to read its calls back.
    return reply({"session_uuid": session.session_uuid, "virtual_number": session.virtual_number,
                  "message": "Session created", "session": session_object(session, session.created, calls=CallState())})


@bp.get("", strict_slashes=False)
@basic_auth
def list_all() -> ResponseReturnValue:
    now = now_us()
    params = query()
    filters = check_query(params)
    page = sessions.list_sessions(store(), g.tenant.auth_id, filters, now)
    return reply({"response": {
        "meta": {
            "limit": filters.limit,
            "next": _page_link(params, filters.offset + filters.limit)
            if filters.offset + filters.limit < page.total_count else None,
            "offset": filters.offset,
            "previous": _page_link(params, max(filters.offset - filters.limit, 0)) if filters.offset > 0 else None,
            "total_count": page.total_count,
        },
        "objects": [session_object(s, now, listing=True) for s in page.sessions],
    }})


@bp.get("/<session_uuid>", strict_slashes=False)
@basic_auth
def retrieve(session_uuid: str) -> ResponseReturnValue:
    session = sessions.get_session(store(), g.tenant.auth_id, session_uuid)
    return reply({"response": session_object(session, now_us())})


@bp.post("/<session_uuid>", strict_slashes=False)
@basic_auth
def update(session_uuid: str) -> ResponseReturnValue:
    now = now_us()
    session = sessions.update_session(store(), g.tenant.auth_id, session_uuid, _body_for(session_uuid), now)
    return reply({"message": "Session updated", "session": session_object(session, now)})


@bp.delete("/<session_uuid>", strict_slashes=False)
@basic_auth
def expire(session_uuid: str) -> ResponseReturnValue:
    _body_for(session_uuid)
    sessions.end_session(store(), g.tenant.auth_id, session_uuid, now_us())
    return reply({"message": "Session Deleted"})


def _page_link(params: dict[str, str], offset: int) -> str:
    return request.base_url.removeprefix(request.host_url.rstrip("/")) + "?" + urlencode(
        {**params, "offset": offset, "limit": params.get("limit", 20)})
