"""Prometheus metrics: request counts and latencies by route and status.

Under gunicorn several processes serve requests, so when ``PROMETHEUS_MULTIPROC_DIR`` is set (the
``ekyc up`` command sets it) ``/metrics`` aggregates every process's files; otherwise it reports
this process alone.
"""

from __future__ import annotations

import os
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)

# The methods the routes answer; any other is counted as ``other``. The method is the client's to
# choose (gunicorn passes any 3 to 20 capital letters), so as a label of its own it would add a
# series per made-up name, without bound, to the registry and to every scrape.
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class RequestMetrics:
    """Counters and histograms of one app, in their own registry (tests build many apps)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "ekyc_http_requests_total",
            "HTTP requests by method, route and status",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "ekyc_http_request_duration_seconds",
            "HTTP request latency by method and route",
            ["method", "route"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=self.registry,
        )
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    def observe(self, method: str, route: str, status: int, latency_s: float) -> None:
        """Count one finished request.

        The labelled children are looked up once per (method, route, status) and kept: the
        client's ``labels()`` validates and locks on every call, a fifth of the request log
        hook's CPU (cProfile). Routes are templates, statuses few and methods a fixed set, so the
        dict stays small.
        """
        if method not in KNOWN_METHODS:
            method = "other"
        key = (method, route, status)
        children = self._children.get(key)
        if children is None:
            children = (
                self.requests.labels(method, route, str(status)),
                self.latency.labels(method, route),
            )
            self._children[key] = children
        children[0].inc()
        children[1].observe(latency_s)

    def render(self) -> tuple[bytes, str]:
        """The exposition text, aggregated across processes when running multi-process."""
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
            return generate_latest(registry), CONTENT_TYPE_LATEST
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
