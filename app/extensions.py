"""The clients the app uses, built once per app and kept in `app.extensions`."""

from __future__ import annotations

import logging

import redis
from flask import Flask, current_app
from rq import Queue, Retry

from routing import settings
from routing.calls.twiml import Links
from routing.sessions.session import Session
from routing.store import Store

CALL_FIRST_PARTY = "workers.outbound.call_first_party"
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
        connection = settings.queue_connection(store, queue_url or "")
        queue = Queue(app.config.get("MASQ_QUEUE") or "masq", connection=connection)
    app.extensions["masq.queue"] = queue


def store() -> Store:
    """Return the current app's store."""
    result: Store = current_app.extensions["masq.store"]
    return result


def queue() -> Queue:
    """Return the current app's job queue."""
    result: Queue = current_app.extensions["masq.queue"]
    return result


def links() -> Links:
    """Return the current app's public URLs of the call steps (see app.voice.init_links)."""
    result: Links = current_app.extensions["masq.links"]
    return result


def call_first_party(session: Session) -> None:
    """Enqueue the call to the session's first party, with the URL it is answered at, when the session asks for one.

    The session already exists when this runs: if the queue cannot be reached, the failure is logged and the
    tenant still gets its session (a 5xx would make Plivo's SDK create it twice more).
    """
    if not session.initiate_call_to_first_party:
        return
    answer_url = links().outbound_answer(session.auth_id, session.session_uuid)
    try:
        queue().enqueue(
            CALL_FIRST_PARTY, session.auth_id, session.session_uuid, answer_url, retry=CALL_FIRST_PARTY_RETRY
        )
    except redis.RedisError:
        log.exception("could not enqueue the call to the first party of session %s", session.session_uuid)
