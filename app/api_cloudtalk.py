"""The CloudTalk-style dialect: `/v1/sessions` and `/v1/did/…`, JSON in and out, `X-API-Key` auth."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, g, jsonify, request, url_for
from flask.typing import ResponseReturnValue

from app.auth import api_key_auth, api_key_credential, on_behalf_of
from app.capacity_format import days_of, pool_stats_json
from app.cloudtalk_format import assignment_json, create_request, dialect_words, session_json
from app.extensions import call_first_party, store
from app.request_data import body, query
from routing import capacity, pool
from routing.errors import InvalidInput
from routing.sessions import lifecycle
from routing.sessions.options import check_fields

bp = Blueprint("api_cloudtalk", __name__, url_prefix="/v1")

ASSIGNMENT_PARAMETERS = ("status", "on")


def json_body() -> dict[str, Any]:
    """Return the JSON object sent; this dialect takes no form bodies."""
    if request.get_data(cache=True) and not request.is_json:
        raise InvalidInput("body", "must be a JSON object sent as application/json")
    return body()


def no_parameters(given: dict[str, Any]) -> None:
    """Refuse any field in a request that takes none, as every request refuses a field it does not know."""
    check_fields(given, {})


@bp.post("/sessions", strict_slashes=False)
def create() -> ResponseReturnValue:
    """Open a session: the credential, the rate limit and the DID in one round trip (`lifecycle.open_session`)."""
    credential = api_key_credential()
    with on_behalf_of(credential):
        raw, wanted = create_request(json_body())
        with dialect_words():
            session = lifecycle.open_session(store(), credential, raw, store().now_us(), wanted_number=wanted)
    call_first_party(session)
    location = url_for(".retrieve", session_id=session.session_uuid)
    return jsonify(session_json(session, session.created)), 201, {"Location": location}


@bp.get("/sessions/<session_id>", strict_slashes=False)
@api_key_auth
def retrieve(session_id: str) -> ResponseReturnValue:
    """Return one session in the CloudTalk shape; another tenant's session is a 404."""
    session = lifecycle.get_session(store(), g.tenant.auth_id, session_id)
    return jsonify(session_json(session, store().now_us()))


@bp.post("/sessions/<session_id>/complete", strict_slashes=False)
@api_key_auth
def complete(session_id: str) -> ResponseReturnValue:
    """End a session now: its DID goes back to the pool and the tenant hears `SessionEnded`."""
    no_parameters(json_body())
    now = store().now_us()
    with dialect_words():
        session = lifecycle.end_session(store(), g.tenant.auth_id, session_id, now)
    return jsonify(session_json(session, now))


@bp.get("/did/assignments", strict_slashes=False)
@api_key_auth
def did_assignments() -> ResponseReturnValue:
    """List the DIDs the tenant held (`status`, or on the day `on`), each holding as billed."""
    params = query()
    no_parameters({name: value for name, value in params.items() if name not in ASSIGNMENT_PARAMETERS})
    held = pool.assignments(store(), g.tenant.auth_id, params.get("status"), params.get("on"))
    return jsonify({"assignments": [assignment_json(a) for a in held]})


@bp.get("/did/pool", strict_slashes=False)
@api_key_auth
def did_pool() -> ResponseReturnValue:
    """Report the tenant's pool: its numbers by state and its peaks over the last `days`."""
    params = query()
    no_parameters({name: value for name, value in params.items() if name != "days"})
    stats = capacity.pool_stats(store(), g.tenant.auth_id, store().now_us(), days_of(params))
    return jsonify(pool_stats_json(stats))
