"""The Plivo dialect's Call and Recording resources, read-only: the URLs a session's interactions and recording
events point to (`/v1/Account/{auth_id}/Call/{call_uuid}/`, `/v1/Account/{auth_id}/Recording/{recording_id}/`)."""

from __future__ import annotations

from flask import Blueprint, g
from flask.typing import ResponseReturnValue

from app.api_plivo import reply
from app.auth import basic_auth
from app.extensions import store
from app.plivo_call_format import call_object, recording_object
from routing.calls import resources

bp = Blueprint("api_plivo_calls", __name__, url_prefix="/v1/Account/<auth_id>")


@bp.get("/Call/<call_uuid>", strict_slashes=False)
@basic_auth
def call(call_uuid: str) -> ResponseReturnValue:
    """Return one leg of a call on the tenant's sessions as Plivo's Call object; any other id is a 404."""
    auth_id = g.tenant.auth_id
    return reply(call_object(auth_id, resources.find_call(store(), auth_id, call_uuid)))


@bp.get("/Recording/<recording_id>", strict_slashes=False)
@basic_auth
def recording(recording_id: str) -> ResponseReturnValue:
    """Return the recording of a call on the tenant's sessions as Plivo's Recording object; any other id is a 404."""
    auth_id = g.tenant.auth_id
    return reply(recording_object(auth_id, resources.find_recording(store(), auth_id, recording_id), store().now_us()))
