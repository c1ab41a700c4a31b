"""The clients the app uses, built once per app and kept in `app.extensions`."""

from __future__ import annotations

import logging

import redis
from flask import Flask, current_app
from rq import Callback, Queue, Retry

from routing import settings
from routing.calls import outbound
from routing.calls.twiml import Links
from routing.errors import InvalidInput
from routing.logins import LoginBudget
from routing.sessions.options import as_bool
from routing.sessions.session import Session
from routing.store import Store

CALL_FIRST_PARTY = "workers.outbound.call_first_party"
# Tells the tenant when the last try of the call failed (RQ runs it after every failed try; it waits for the last).
CALL_FIRST_PARTY_FAILED = "workers.outbound.last_try_failed"
log = logging.getLogger("masq.http")
# RQ waits 5, 15 then 30 s between tries (retries need the worker's scheduler, which `masq worker` runs).
CALL_FIRST_PARTY_RETRY = Retry(max=3, interval=[5, 15, 30])


def init_app(app: Flask) -> None:
    """Connect the store and the job queue (or take the ones `STORE` and `QUEUE` give, as tests do).

    With no REDIS_URL, the app starts (or reuses) masq's embedded Redis, as the CLI does.
    """
    store = app.config.get("STORE")
    if store is None:
        from app.cli.embedded import store_url

        store = settings.connect_store({**app.config, "REDIS_URL": store_url(app.config)})
    app.extensions["masq.store"] = store
    queue = app.config.get("QUEUE")
    if queue is None:
        # A store handed in (as tests do) brings its queue along: its own server, whatever the environment says.
        queue_url = app.config.get("QUEUE_REDIS_URL") if app.config.get("STORE") is None else ""
        connection = settings.queue_connection(store, queue_url or "", settings.redis_timeout(app.config))
        queue = Queue(app.config["MASQ_QUEUE"], connection=connection)
    app.extensions["masq.queue"] = queue
    app.extensions["masq.login_budget"] = settings.login_budget(app.config)


def store() -> Store:
    """Return the current app's store."""
    result: Store = current_app.extensions["masq.store"]
    return result


def login_budget() -> LoginBudget:
    """Return the failed logins the current app allows a client (read from its settings once)."""
    result: LoginBudget = current_app.extensions["masq.login_budget"]
    return result


def queue() -> Queue:
    """Return the current app's job queue."""
    result: Queue = current_app.extensions["masq.queue"]
    return result


def links() -> Links:
    """Return the current app's public URLs of the call steps (see app.voice.init_links)."""
    result: Links = current_app.extensions["masq.links"]
    return result


def require_carrier(raw: dict[str, object]) -> None:
    """Refuse a create asking for `initiate_call_to_first_party` when masq has no carrier credentials to place it.

    Runs before the session is opened, so no DID is taken. A value that is not a boolean is left to the create.
    """
    try:
        asked = as_bool(raw.get("initiate_call_to_first_party", False), "initiate_call_to_first_party")
    except InvalidInput:
        return
    if asked and not settings.has_carrier(current_app.config):
        raise InvalidInput(
            "initiate_call_to_first_party",
            "masq has no carrier account to call the first party (TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN)",
        )


def call_first_party(session: Session) -> None:
    """Enqueue the call to the session's first party, with its answer and status URLs, when the session asks.

    The session already exists when this runs: if the queue cannot take the job, the tenant hears
    `SessionFirstPartyFailed` instead of a 5xx (which would make Plivo's SDK create the session twice more).
    """
    if not session.initiate_call_to_first_party:
        return
    answer_url = links().outbound_answer(session.auth_id, session.session_uuid)
    status_url = links().outbound_status(session.auth_id, session.session_uuid)
    try:
        queue().enqueue(
            CALL_FIRST_PARTY,
            session.auth_id,
            session.session_uuid,
            answer_url,
            status_url,
            retry=CALL_FIRST_PARTY_RETRY,
            on_failure=Callback(CALL_FIRST_PARTY_FAILED),
        )
    except redis.RedisError as exc:  # an outage, said in one line: its traceback tells nothing more
        log.error("could not enqueue the call to the first party of session %s: %s", session.session_uuid, exc)
        try:
            outbound.not_placed(store(), session.auth_id, session.session_uuid, store().now_us())
        except redis.RedisError as also:
            log.error("could not tell the tenant of session %s either: %s", session.session_uuid, also)
