"""The carrier's side: Twilio voice webhooks in, TwiML out. Each step of a call has its own URL.

The first step, `/voice/inbound`, is answered in front of Flask by app.inbound_webhook (a caller waits on it).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping

from flask import Blueprint, Flask, Response, current_app, request
from twilio.twiml.voice_response import VoiceResponse
from werkzeug.exceptions import HTTPException

from app.errors import domain_error, http_error
from app.extensions import links, store
from app.logs import request_ids
from app.twilio_signature import twilio_signed
from routing import settings
from routing.calls import carrier_input, carrier_reports, inbound, outbound, twiml
from routing.errors import InvalidInput, RoutingError
from routing.store import slot_moving
from routing.tenants import AUTH_ID

bp = Blueprint("voice", __name__, url_prefix="/voice")
log = logging.getLogger("masq.voice")
_CALLBACKS = ("voice.leg_status", "voice.recording_status", "voice.outbound_status")
# The view that answers each call step masq sends the carrier to.
STEP_VIEWS = {
    twiml.PIN_CHECK: "voice.pin_check",
    twiml.WHISPER: "voice.whisper",
    twiml.DIAL_COMPLETE: "voice.dial_complete",
    twiml.LEG_STATUS: "voice.leg_status",
    twiml.RECORDING_STATUS: "voice.recording_status",
    twiml.OUTBOUND_ANSWER: "voice.outbound_answer",
    twiml.OUTBOUND_STATUS: "voice.outbound_status",
}


def as_twiml(response: VoiceResponse) -> Response:
    """Return TwiML as the carrier expects it."""
    return Response(twiml.render(response), status=200, mimetype="text/xml")


def init_links(app: Flask) -> None:
    """Keep the public URLs of the call steps in `app.extensions`: MASQ_PUBLIC_URL and this blueprint's routes."""
    paths = {rule.endpoint: rule.rule for rule in app.url_map.iter_rules()}
    base = str(app.config["MASQ_PUBLIC_URL"]).rstrip("/")
    app.extensions["masq.links"] = twiml.Links(base, {step: paths[view] for step, view in STEP_VIEWS.items()})


def call_tokens() -> tuple[str, str]:
    """Return the tenant and the caller's CallSid that masq put in this step's URL."""
    auth_id, call_sid = request.args.get("t", ""), request.args.get("c", "")
    if not AUTH_ID.fullmatch(auth_id) or not inbound.TOKEN.fullmatch(call_sid):
        raise InvalidInput("c", "this step's URL does not name a call")
    return auth_id, call_sid


def retry_token() -> str:
    """Return the carrier's idempotency token of a retried callback, if any."""
    return request.headers.get("I-Twilio-Idempotency-Token", "")[:128]


@bp.post("/outbound-answer")
@twilio_signed
def outbound_answer() -> Response:
    """The first party answered masq's call: bridge them as if they had called (From is the virtual number)."""
    auth_id, session_uuid = session_tokens()
    form = request.form
    call = inbound.incoming_call(form.get("CallSid", ""), form.get("To", ""), form.get("From", ""))
    decision = outbound.answer(store(), auth_id, session_uuid, call, store().now_us())
    return as_twiml(twiml.apology() if isinstance(decision, inbound.HangUp) else twiml.answer(decision, links()))


def session_tokens() -> tuple[str, str]:
    """Return the tenant and the session that masq put in a call-out step's URL."""
    auth_id, session_uuid = request.args.get("t", ""), request.args.get("s", "")
    if not AUTH_ID.fullmatch(auth_id) or not inbound.TOKEN.fullmatch(session_uuid):
        raise InvalidInput("s", "this step's URL does not name a session")
    return auth_id, session_uuid


@bp.post("/outbound-status")
@twilio_signed
def outbound_status() -> tuple[str, int]:
    """A status callback of masq's call to the first party: ringing, or an end without an answer, is an event."""
    auth_id, session_uuid = session_tokens()
    form = request.form
    outbound.record_status(
        store(),
        auth_id,
        session_uuid,
        carrier_input.sid(form.get("CallSid"), "CallSid"),
        carrier_input.word(form.get("CallStatus"), "CallStatus", carrier_input.CALL_STATUSES),
        carrier_input.seconds(form.get("CallDuration"), "CallDuration"),
        retry_token(),
        store().now_us(),
        carrier_input.sip_code(form),
    )
    return "", 204


@bp.post("/pin-check")
@twilio_signed
def pin_check() -> Response:
    """A PIN was keyed: bridge the party it names, ask again, or say goodbye (or that PINs are locked)."""
    auth_id, call_sid = call_tokens()
    digits = carrier_input.digits(request.form)
    budget = settings.pin_budget(current_app.config)
    decision = inbound.check_pin(store(), auth_id, call_sid, digits, store().now_us(), budget)
    return as_twiml(twiml.answer(decision, links()))


@bp.post("/whisper")
@twilio_signed
def whisper() -> Response:
    """The dialled party answered: play them their play URL, if the session has one."""
    auth_id, call_sid = call_tokens()
    return as_twiml(twiml.whisper(inbound.whisper_url(store(), auth_id, call_sid)))


@bp.post("/dial-complete")
@twilio_signed
def dial_complete() -> Response:
    """The `<Dial>` ended: end the call's interaction (if its dialled leg has not already) and hang up."""
    auth_id, call_sid = call_tokens()
    outcome = carrier_input.dial_outcome(call_sid, request.form, retry_token())
    carrier_reports.finish_dial(store(), auth_id, outcome, store().now_us())
    return as_twiml(twiml.hang_up())


@bp.post("/leg-status")
@twilio_signed
def leg_status() -> tuple[str, int]:
    """A dialled leg's status: its events and charges, and the call's end when the leg is over."""
    auth_id, call_sid = call_tokens()
    report = carrier_input.leg_status(call_sid, request.form, retry_token())
    carrier_reports.record_leg_status(store(), auth_id, report, store().now_us())
    return "", 204


@bp.post("/recording-status")
@twilio_signed
def recording_status() -> tuple[str, int]:
    """A recording's status: the tenant's recording event, with the file's URL in the session's format."""
    auth_id, call_sid = call_tokens()
    report = carrier_input.recording_status(call_sid, request.form, retry_token())
    carrier_reports.record_recording(store(), auth_id, report, store().now_us(), links().base)
    return "", 204


bp.errorhandler(HTTPException)(http_error)  # a carrier's request refused (403, 405, 413) is answered as any request


def apology(path: str, ids: Mapping[str, str | None]) -> VoiceResponse:
    """Log a call step that failed inside masq; return the TwiML that apologises to the caller and hangs up."""
    failure = sys.exc_info()[1]
    if failure is not None and slot_moving(failure):  # the tenant's slot is moving: nothing was written
        log.warning("voice step %s failed, store busy: %s", path, failure, extra=dict(ids))
    else:
        log.exception("voice step %s failed", path, extra=dict(ids))
    return twiml.apology()


@bp.errorhandler(Exception)
def carrier_fallback(error: Exception) -> Response:
    """Never leave a caller in silence: log, then apologise and hang up.

    Status and recording callbacks have no caller: a bad request is a 400 that names the field (logged as a
    warning: the carrier's input, not a fault of masq), a failure inside masq a 503 so that the carrier retries
    (their URLs ask for retries; replays change nothing).
    """
    if isinstance(error, RoutingError):  # the carrier sent what no call could have: nothing was written
        log.warning("voice step %s refused: %s", request.path, error.message, extra=request_ids())
        if request.endpoint in _CALLBACKS:
            return domain_error(error)
        sorry = twiml.apology()
    else:
        sorry = apology(request.path, request_ids())
        if request.endpoint in _CALLBACKS:
            return Response(status=503)
    if request.endpoint == "voice.whisper":
        return as_twiml(VoiceResponse())
    return as_twiml(sorry)
