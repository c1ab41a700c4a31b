"""Operating masq: liveness, readiness and the OpenAPI document, open to all; the metrics, behind a bearer token."""

from __future__ import annotations

import redis
from flask import Blueprint, current_app, jsonify
from flask.typing import ResponseReturnValue
from redis.cluster import RedisCluster

from app import metrics, openapi
from app.extensions import store
from routing.store import Client

bp = Blueprint("ops", __name__)

READY_TIMEOUT = 1.0  # seconds; `MASQ_READY_TIMEOUT` in the app's config overrides it


@bp.get("/healthz")
def healthz() -> ResponseReturnValue:
    """Answer that the process is up; touches nothing else."""
    return jsonify({"status": "ok"})


@bp.get("/readyz")
def readyz() -> ResponseReturnValue:
    """Answer 200 when Redis (every primary of a Redis Cluster) answers a PING in time, else 503 saying why."""
    try:
        ping(store().redis, float(current_app.config.get("MASQ_READY_TIMEOUT", READY_TIMEOUT)))
    except (redis.RedisError, OSError) as exc:
        return jsonify({"status": "unavailable", "error": f"redis: {exc}"}), 503
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
