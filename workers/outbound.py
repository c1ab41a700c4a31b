"""The job that rings a session's first party from its virtual number (`initiate_call_to_first_party`)."""

from __future__ import annotations

import logging
from typing import Any

from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from app.config import from_environment
from app.extensions import redis_url
from routing.calls import outbound
from routing.clock import now_us
from routing.errors import NotFound
from routing.sessions.lifecycle import get_session
from routing.store import Store

HTTP_TIMEOUT = 10.0
log = logging.getLogger("masq.outbound")


def call_first_party(auth_id: str, session_uuid: str) -> str:
    """Ring the session's first party from its virtual number; return the carrier's CallSid, `""` when skipped.

    A session that has ended, is gone, or no longer calls for the call is skipped. Every failure (Redis, the
    network, the carrier refusing or failing the request) is raised, so RQ retries the job as its Retry
    says and, after the last try, keeps it in the failed registry. A try that timed out may still have
    reached the carrier, so a retry can ring the first party twice.
    """
    config = from_environment()
    plan = planned_call(config, auth_id, session_uuid)
    if plan is None:
        log.info(
            "session %s no longer calls for a call to its first party; skipped",
            session_uuid,
            extra={"auth_id": auth_id, "session_uuid": session_uuid},
        )
        return ""
    call = twilio_client(config).calls.create(
        to=plan.to, from_=plan.from_, url=plan.url, method="POST", timeout=plan.timeout
    )
    log.info(
        "called the first party of session %s: %s",
        session_uuid,
        call.sid,
        extra={"auth_id": auth_id, "session_uuid": session_uuid, "call_sid": call.sid},
    )
    return str(call.sid)


def planned_call(config: dict[str, Any], auth_id: str, session_uuid: str) -> outbound.CallOut | None:
    """Return the call the session still calls for, read from the store the environment names."""
    store = Store.connect(redis_url(config), config["MASQ_KEY_PREFIX"])
    try:
        return outbound.call_out(get_session(store, auth_id, session_uuid), config["MASQ_PUBLIC_URL"], now_us())
    except NotFound:
        return None
    finally:
        store.redis.close()


def twilio_client(config: dict[str, Any]) -> Client:
    """Return a Twilio REST client with a bounded HTTP timeout, sending to TWILIO_API_BASE_URL when set."""
    client = Client(
        config["TWILIO_ACCOUNT_SID"], config["TWILIO_AUTH_TOKEN"], http_client=TwilioHttpClient(timeout=HTTP_TIMEOUT)
    )
    if config.get("TWILIO_API_BASE_URL"):
        client.api.base_url = config["TWILIO_API_BASE_URL"]
    return client
