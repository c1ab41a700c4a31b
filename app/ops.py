"""Operating masq: liveness, readiness and the OpenAPI document, open to all; the metrics, behind a bearer token."""

from __future__ import annotations

import logging

import redis
from flask import Blueprint, current_app, jsonify
from flask.typing import ResponseReturnValue
from redis.cluster import RedisCluster

from app import metrics, openapi
from app.extensions import store
from routing.store import Client

bp = Blueprint("ops", __name__)
log = logging.getLogger("masq.http")

READY_TIMEOUT = 1.0  # seconds; `MASQ_READY_TIMEOUT` in the app's config overrides it
NOT_READY = "redis does not answer"  # all /readyz tells the public of why


@bp.get("/healthz")
def healthz() -> ResponseReturnValue:
    """Answer that the process is up; touches nothing else."""
    return jsonify({"status": "ok"})


@bp.get("/readyz")
def readyz() -> ResponseReturnValue:
    """Answer 200 when Redis (every primary of a Redis Cluster) answers a PING in time, else 503.

    The 503 says only that Redis did not answer: the probe is open to all, and the failure's text names internal
    addresses, so that goes to the log.
    """
    try:
        ping(store().redis, float(current_app.config.get("MASQ_READY_TIMEOUT", READY_TIMEOUT)))
    except (redis.RedisError, OSError) as exc:
        log.warning("not ready: redis: %s", exc)
        return jsonify({"status": "unavailable", "error": NOT_READY}), 503
    return jsonify({"status": "ok"})


@bp.get("/metrics")
def prometheus_metrics() -> ResponseReturnValue:
    """Return Prometheus metrics to a scraper sending MASQ_METRICS_TOKEN (401 without it, 403 when none is set)."""
    return metrics.refusal() or metrics.exposition()


@bp.get("/openapi.json")
def openapi_document() -> ResponseReturnValue:
    """Return the OpenAPI 3.1 document of masq's HTTP API."""
    return jsonify(openapi.document())


def ping(client: Client, timeout: float) -> None:
    """PING Redis (each primary of a Redis Cluster), on a connection of its own that gives up after `timeout` seconds.

    A fresh connection, so that a probe neither waits on the pool's sockets nor changes their timeouts.
    """
    if isinstance(client, RedisCluster):
        for node in client.get_primaries():
            _ping(client.get_redis_connection(node).connection_pool, timeout)
    else:
        _ping(client.connection_pool, timeout)


def _ping(pool: redis.ConnectionPool, timeout: float) -> None:
    connection = pool.connection_class(
        **{**pool.connection_kwargs, "socket_timeout": timeout, "socket_connect_timeout": timeout}
    )
    try:
        connection.send_command("PING")
        if connection.read_response() not in (True, "PONG", b"PONG"):
            raise redis.ResponseError("PING did not answer PONG")
    finally:
        connection.disconnect()
