"""The job that rings a session's first party from its virtual number (`initiate_call_to_first_party`)."""

from __future__ import annotations

import logging
from typing import Any

from routing import settings
from routing.calls import outbound
from routing.clock import now_us
from routing.errors import NotFound
from routing.sessions.lifecycle import get_session

log = logging.getLogger("masq.outbound")


def call_first_party(auth_id: str, session_uuid: str, answer_url: str) -> str:
    """Ring the session's first party from its virtual number; return the carrier's CallSid, `""` when skipped.

    `answer_url` is where the carrier asks what to do once the first party answers (the app gives it at
    enqueue). A session that has ended, is gone, or no longer calls for the call is skipped. Every failure
    (Redis, the network, the carrier refusing or failing the request) is raised, so RQ retries the job as its
    Retry says and, after the last try, keeps it in the failed registry. A try that timed out may still have
    reached the carrier, so a retry can ring the first party twice.
    """
    config = settings.from_environment()
    plan = planned_call(config, auth_id, session_uuid, answer_url)
    if plan is None:
        log.info(
            "session %s no longer calls for a call to its first party; skipped",
            session_uuid,
            extra={"auth_id": auth_id, "session_uuid": session_uuid},
        )
        return ""
    call = settings.twilio_client(config).calls.create(
        to=plan.to, from_=plan.from_, url=plan.url, method="POST", timeout=plan.timeout
    )
    log.info(
        "called the first party of session %s: %s",
        session_uuid,
        call.sid,
        extra={"auth_id": auth_id, "session_uuid": session_uuid, "call_sid": call.sid},
    )
    return str(call.sid)


def planned_call(
    config: dict[str, Any], auth_id: str, session_uuid: str, answer_url: str
) -> outbound.OutboundCall | None:
    """Return the call the session still calls for, read from the store the settings name."""
    store = settings.connect_store(config)
    try:
        return outbound.outbound_call(get_session(store, auth_id, session_uuid), answer_url, now_us())
    except NotFound:
        return None
    finally:
        store.redis.close()
