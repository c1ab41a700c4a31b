"""The job that rings a session's first party from its virtual number (`initiate_call_to_first_party`).

At most once per session (see `routing.calls.outbound`): the attempt is recorded before the request, and an
attempt after one that may have reached Twilio (a timeout, a reset connection, a 5xx, a worker killed mid-request)
looks for the call in Twilio's Calls list (filtered by To, From and StartTime) before creating one.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from twilio.rest import Client

from routing import settings
from routing.calls import outbound
from routing.clock import US
from routing.errors import NotFound
from routing.sessions.lifecycle import get_session
from routing.store import Store

log = logging.getLogger("masq.outbound")
# Seconds the lease of an attempt outlasts the client's timeout (a worker killed mid-request holds it that long).
LEASE_MARGIN = 5.0
# Seconds of clock difference allowed between masq and Twilio when looking for a call an attempt may have made.
CLOCK_SLACK = 60


def last_try_failed(job: Any, connection: Any, kind: Any, error: Any, traceback: Any) -> None:
    """RQ's failure callback of `call_first_party`: after its last try fails, tell the tenant the call was not placed.

    RQ calls it after every failed try (before it schedules the next one): a try with retries left says nothing.
    """
    if job.retries_left:
        return
    auth_id, session_uuid = job.args[0], job.args[1]
    config = settings.from_environment()
    store = settings.connect_store(config)
    try:
        outbound.not_placed(store, auth_id, session_uuid, store.now_us())
    finally:
        store.redis.close()
    log.error(
        "session %s: every try to call its first party failed",
        session_uuid,
        extra={"auth_id": auth_id, "session_uuid": session_uuid},
    )


def call_first_party(auth_id: str, session_uuid: str, answer_url: str, status_url: str = "") -> str:
    """Ring the session's first party from its virtual number once; return the carrier's CallSid, `""` when skipped.

    `answer_url` is where the carrier asks what to do once the first party answers, `status_url` where it reports
    the call's progress (the app gives both at enqueue). A session that has ended, is gone, or no longer calls for
    the call is skipped; so is a run while another holds the attempt. Once the ring window is over no call starts,
    and the tenant hears `SessionFirstPartyFailed` unless an earlier attempt's call is found. Every other failure
    (Redis, the network, the carrier) is raised, so RQ retries the job as its Retry says; the retry looks for the
    call the failed try may have made before creating one.
    """
    config = settings.from_environment()
    store = settings.connect_store(config)
    try:
        return _call_once(config, store, auth_id, session_uuid, answer_url, status_url)
    finally:
        store.redis.close()


def _call_once(
    config: dict[str, Any], store: Store, auth_id: str, session_uuid: str, answer_url: str, status_url: str
) -> str:
    ids = {"auth_id": auth_id, "session_uuid": session_uuid}
    plan = planned_call(store, auth_id, session_uuid, answer_url, status_url)
    if plan is None:
        log.info("session %s no longer calls for a call to its first party; skipped", session_uuid, extra=ids)
        return ""
    lease = float(config["MASQ_TWILIO_TIMEOUT"]) + LEASE_MARGIN
    claim = outbound.claim(store, auth_id, session_uuid, plan.deadline, lease, store.now_us())
    if claim.outcome == "placed":
        log.info("session %s: its first party was already called (%s)", session_uuid, claim.sid, extra=ids)
        return claim.sid
    if claim.outcome == "busy":
        log.info("session %s: another worker is calling its first party; skipped", session_uuid, extra=ids)
        return ""
    if not settings.has_carrier(config):
        outbound.not_placed(store, auth_id, session_uuid, store.now_us())
        log.error("session %s: no carrier credentials to call its first party", session_uuid, extra=ids)
        return ""
    try:
        client = settings.twilio_client(config)
        found = (
            find_call(client, plan, claim.started) if claim.outcome in ("retry", "expired") and claim.started else ""
        )
        if found:
            outbound.placed(store, auth_id, session_uuid, found, store.now_us())
            log.info("session %s: found the call an earlier try made: %s", session_uuid, found, extra=ids)
            return found
        if claim.outcome == "expired":
            outbound.not_placed(store, auth_id, session_uuid, store.now_us())
            log.warning("session %s: its ring window is over; the first party is not called", session_uuid, extra=ids)
            return ""
        call = client.calls.create(
            to=plan.to,
            from_=plan.from_,
            url=plan.url,
            method="POST",
            timeout=plan.timeout,
            **_status_callback(plan),
        )
    except BaseException:
        # The request is over (whether or not it reached Twilio): the next try may start, and looks first.
        if claim.outcome != "expired":
            outbound.release(store, auth_id, session_uuid, store.now_us())
        raise
    outbound.placed(store, auth_id, session_uuid, str(call.sid), store.now_us())
    log.info("called the first party of session %s: %s", session_uuid, call.sid, extra={**ids, "call_sid": call.sid})
    return str(call.sid)


def _status_callback(plan: outbound.OutboundCall) -> dict[str, Any]:
    if not plan.status_callback:
        return {}
    return {
        "status_callback": plan.status_callback,
        "status_callback_method": "POST",
        "status_callback_event": ["initiated", "ringing", "answered", "completed"],
    }


def find_call(client: Client, plan: outbound.OutboundCall, started: int) -> str:
    """Return the CallSid of a call Twilio made for `plan` since the attempt at `started` µs, or ""."""
    since = started // US - CLOCK_SLACK
    after = datetime.fromtimestamp(since, tz=UTC)
    for call in client.calls.list(to=plan.to, from_=plan.from_, start_time_after=after, limit=20):
        # StartTime>= may count whole days, and a call still queued has no start: its creation decides.
        created = call.date_created or call.start_time
        if created is None or created.timestamp() >= since:
            return str(call.sid)
    return ""


def planned_call(
    store: Store, auth_id: str, session_uuid: str, answer_url: str, status_url: str = ""
) -> outbound.OutboundCall | None:
    """Return the call the session still calls for, or None."""
    try:
        session = get_session(store, auth_id, session_uuid)
    except NotFound:
        return None
    return outbound.outbound_call(session, answer_url, store.now_us(), status_url)
