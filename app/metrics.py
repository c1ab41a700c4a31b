"""Prometheus metrics behind a bearer token: webhook latency measured here, masq-wide figures read from Redis.

With several web processes each measures its own webhooks: set `PROMETHEUS_MULTIPROC_DIR` to an empty
directory shared by the processes and the scrape adds them up (prometheus_client's multiprocess mode).

Only a request carrying MASQ_METRICS_TOKEN as `Authorization: Bearer <token>` is answered; with no token set,
none is. A scrape reads two Redis keys, the worker's sums (`routing.metrics`) and the queue's length, whatever
the number of tenants, and only once the token has checked out.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Iterator

from flask import Flask, Response, current_app
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Histogram, generate_latest, multiprocess
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from app.errors import error_response
from app.request_data import authorization
from routing import metrics, settings
from routing.clock import US

WEBHOOK_BUCKETS = (0.001, 0.0025, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
# RFC 6750's challenge; a request that sent a token which is not the one is also told `error="invalid_token"`.
CHALLENGE = 'Bearer realm="masq metrics"'


class RedisCollector(Collector):
    """Reads the masq-wide figures the worker summed, and the queue's depth, when Prometheus scrapes."""

    def __init__(self, app: Flask) -> None:
        self.app = app

    def collect(self) -> Iterator[Metric]:
        """Yield the sessions, pools, callbacks and tenants figures (once a worker has summed them), and the queue."""
        figures = metrics.read(self.app.extensions["masq.store"])
        if figures is not None:
            yield from _families(figures)
        queue = self.app.extensions["masq.queue"]
        depth = GaugeMetricFamily("masq_queue_jobs", "Jobs waiting in the RQ queue", labels=["queue"])
        depth.add_metric([queue.name], queue.count)
        yield depth


def _families(figures: metrics.Figures) -> Iterator[Metric]:
    """Yield the metric families of `figures`, labelled by what happened or the state, never by tenant."""
    sessions = CounterMetricFamily("masq_sessions", "Sessions by what happened to them", labels=["event"])
    for name in metrics.SESSION_COUNTERS:
        sessions.add_metric([name.removeprefix("sessions_")], figures.counters[name])
    callbacks = CounterMetricFamily(
        "masq_callback_deliveries", "Tenant callback deliveries by outcome", labels=["outcome"]
    )
    for name in metrics.CALLBACK_COUNTERS:
        callbacks.add_metric([name.removeprefix("callbacks_")], figures.counters[name])
    pool = GaugeMetricFamily("masq_pool_numbers", "DIDs in the tenants' pools by state", labels=["state"])
    for state, count in figures.pool.items():
        pool.add_metric([state], count)
    owed = GaugeMetricFamily("masq_callbacks_owed", "Tenant events not yet delivered", labels=["state"])
    for state, count in figures.owed.items():
        owed.add_metric([state], count)
    tenants = GaugeMetricFamily("masq_tenants", "Tenant accounts")
    tenants.add_metric([], figures.tenants)
    summed = GaugeMetricFamily(
        "masq_figures_timestamp_seconds", "When a worker last summed the figures above (Unix time)"
    )
    summed.add_metric([], figures.at / US)
    yield from (sessions, callbacks, pool, owed, tenants, summed)


def init_app(app: Flask) -> None:
    """Measure carrier webhooks and register the collectors for this app."""
    registry = CollectorRegistry()
    multiproc = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if multiproc:
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    latency = Histogram(
        "masq_webhook_seconds",
        "Time to answer a carrier webhook",
        ["step"],
        buckets=WEBHOOK_BUCKETS,
        registry=None if multiproc else registry,
    )
    registry.register(RedisCollector(app))
    app.extensions["masq.metrics"] = registry
    app.extensions["masq.metrics_token"] = settings.metrics_token(app.config)
    app.extensions["masq.webhook_latency"] = latency  # observed by app.edge


def refusal() -> Response | None:
    """Return the answer to a request without the metrics token (403 when none is set, else 401), or None.

    The token is compared in constant time (as SHA-256 digests, so its length does not show either).
    """
    expected = current_app.extensions["masq.metrics_token"]
    if not expected:
        return error_response(403, "metrics are off: set MASQ_METRICS_TOKEN and send it as a bearer token")
    given = authorization()
    token = given.token if given is not None and given.type == "bearer" else None
    if token is not None and hmac.compare_digest(_digest(token), _digest(expected)):
        return None
    response = error_response(
        401, "authentication required: send MASQ_METRICS_TOKEN as `Authorization: Bearer <token>`"
    )
    response.headers["WWW-Authenticate"] = CHALLENGE if token is None else f'{CHALLENGE}, error="invalid_token"'
    return response


def exposition() -> Response:
    """Return the metrics in Prometheus's text format."""
    registry = current_app.extensions["masq.metrics"]
    return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()
