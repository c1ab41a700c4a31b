"""Prometheus metrics: webhook latency measured here, the rest read from Redis at scrape time.

Under gunicorn each worker process measures its own webhooks: set `PROMETHEUS_MULTIPROC_DIR` to an empty
directory shared by the processes and the scrape adds them up (prometheus_client's multiprocess mode).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

from flask import Flask, Response, current_app, g, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Histogram, generate_latest, multiprocess
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from routing import metrics
from routing.clock import now_us

WEBHOOK_BUCKETS = (0.001, 0.0025, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
POOL_STATES = ("free", "in_use", "cooling", "suspended")


class RedisCollector(Collector):
    """Reads the shared figures from Redis when Prometheus scrapes."""

    def __init__(self, app: Flask) -> None:
        self.app = app

    def collect(self) -> Iterator[Metric]:
        """Yield the sessions, pools, callbacks and queue figures."""
        store = self.app.extensions["masq.store"]
        figures = metrics.all_figures(store, now_us())
        sessions = CounterMetricFamily("masq_sessions", "Sessions by what happened to them", labels=["tenant", "event"])
        callbacks = CounterMetricFamily(
            "masq_callback_deliveries", "Tenant callback deliveries by outcome", labels=["tenant", "outcome"]
        )
        pool = GaugeMetricFamily("masq_pool_numbers", "DIDs in each tenant's pool by state", labels=["tenant", "state"])
        owed = GaugeMetricFamily("masq_callbacks_owed", "Tenant events not yet delivered", labels=["tenant", "state"])
        for tenant in figures:
            for name in metrics.SESSION_COUNTERS:
                sessions.add_metric([tenant.auth_id, name.removeprefix("sessions_")], tenant.counters[name])
            for name in metrics.CALLBACK_COUNTERS:
                callbacks.add_metric([tenant.auth_id, name.removeprefix("callbacks_")], tenant.counters[name])
            for state in POOL_STATES:
                pool.add_metric([tenant.auth_id, state], getattr(tenant, state))
            owed.add_metric([tenant.auth_id, "pending"], tenant.outbox)
            owed.add_metric([tenant.auth_id, "retrying"], tenant.retrying)
            owed.add_metric([tenant.auth_id, "dead"], tenant.dead)
        yield from (sessions, callbacks, pool, owed)
        queue = self.app.extensions["masq.queue"]
        depth = GaugeMetricFamily("masq_queue_jobs", "Jobs waiting in the RQ queue", labels=["queue"])
        depth.add_metric([queue.name], queue.count)
        yield depth


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
    app.extensions["masq.webhook_latency"] = latency  # app.inbound_webhook records its own requests

    @app.after_request
    def observe(response: Response) -> Response:
        started = g.get("request_started")  # set by app.logs for every request
        if request.blueprint == "voice" and started is not None:
            latency.labels(request.endpoint or "unknown").observe(time.perf_counter() - started)
        return response


def exposition() -> Response:
    """Return the metrics in Prometheus's text format."""
    registry = current_app.extensions["masq.metrics"]
    return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)
