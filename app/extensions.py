"""The clients the app uses, built once per app and kept in `app.extensions`."""

from __future__ import annotations

import logging

import redis
from flask import Flask, current_app
from rq import Queue, Retry

from routing import embedded
from routing.sessions.session import Session
from routing.store import Store

CALL_FIRST_PARTY = "workers.outbound.call_first_party"
log = logging.getLogger("masq.http")
# RQ waits 5, 15 then 30 s between tries (retries need the worker's scheduler, which `masq worker` runs).
CALL_FIRST_PARTY_RETRY = Retry(max=3, interval=[5, 15, 30])


def redis_url(config: dict) -> str:  # type: ignore[type-arg]
    """Return the configured Redis URL, starting the embedded Redis when none is configured."""
    if config.get("REDIS_URL"):
        return str(config["REDIS_URL"])
    return embedded.ensure_running(config["MASQ_DATA_DIR"], config["MASQ_EMBEDDED_REDIS_PORT"])


def init_app(app: Flask) -> None:
    """Connect the store and the job queue (or take the ones `STORE` and `QUEUE` give, as tests do)."""
    store, url = app.config.get("STORE"), ""
    if store is None:
        url = redis_url(app.config)
        store = Store.connect(url, app.config["MASQ_KEY_PREFIX"])
    app.extensions["masq.store"] = store
    queue = app.config.get("QUEUE")
    if queue is None:
        # A store handed in (as tests do) brings its queue along: its own server, whatever the environment says.
        queue_url = app.config.get("QUEUE_REDIS_URL") if app.config.get("STORE") is None else ""
        connection = queue_connection(queue_url or url, store)
        queue = Queue(app.config.get("MASQ_QUEUE") or "masq", connection=connection)
    app.extensions["masq.queue"] = queue


def queue_connection(url: str, store: Store) -> redis.Redis:
    """Return a connection for RQ to `url`, else to the store's server: RQ wants raw bytes, not decoded text."""
    if url:
        return redis.Redis.from_url(url)
    pool = store.redis.connection_pool
    kwargs = {**pool.connection_kwargs, "decode_responses": False}
    return redis.Redis(connection_pool=type(pool)(connection_class=pool.connection_class, **kwargs))


def store() -> Store:
    """Return the current app's store."""
    result: Store = current_app.extensions["masq.store"]
    return result


def queue() -> Queue:
    """Return the current app's job queue."""
    result: Queue = current_app.extensions["masq.queue"]
    return result


def call_first_party(session: Session) -> None:
    """Enqueue the call to the session's first party when the session asks for one.

    The session already exists when this runs: if the queue cannot be reached, the failure is logged and the
    tenant still gets its session (a 5xx would make Plivo's SDK create it twice more).
    """
    if not session.initiate_call_to_first_party:
        return
    try:
        queue().enqueue(CALL_FIRST_PARTY, session.auth_id, session.session_uuid, retry=CALL_FIRST_PARTY_RETRY)
    except redis.RedisError:
        log.exception("could not enqueue the call to the first party of session %s", session.session_uuid)
