"""Prometheus metrics of one server process (its own registry, not the global one).

Counting is on the request path, so it is a few integer additions under one lock;
the Prometheus families are built from those counts only when ``/metrics`` is scraped
(a custom collector). ``prometheus_client``'s own Counter and Histogram would take a
lock per value and walk the bucket list in Python on every request.
"""

from __future__ import annotations

import bisect
import os
import threading
from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
DECISIONS = ("allowed", "explicitDeny", "implicitDeny")


class _Latency:
    """One (service, operation) histogram: a count per bucket (the last is ``+Inf``),
    and its requests' count by outcome (each a cell of ``ServerMetrics._requests``)."""

    __slots__ = ("buckets", "outcomes", "total")

    def __init__(self) -> None:
        self.buckets = [0] * (len(LATENCY_BUCKETS) + 1)
        self.total = 0.0
        self.outcomes: dict[str, list[int]] = {}

    def cumulative(self) -> list[tuple[str, float]]:
        bounds = [repr(float(b)) for b in LATENCY_BUCKETS] + ["+Inf"]
        running, out = 0, []
        for bound, count in zip(bounds, self.buckets, strict=False):
            running += count
            out.append((bound, float(running)))
        return out


class ServerMetrics:
    content_type = CONTENT_TYPE_LATEST

    def __init__(self, audit_backlog: Callable[[], int] | None = None) -> None:
        self.registry = CollectorRegistry()
        self._lock = threading.Lock()  # decisions are counted from worker threads too
        # by (service, operation, outcome), in the order first counted: a one-item list
        # that the series' ``outcomes`` holds too (one look-up a request, no key tuple)
        self._requests: dict[tuple[str, str, str], list[int]] = {}
        self._latency: dict[tuple[str, str], _Latency] = {}
        self._decisions: dict[str, int] = dict.fromkeys(DECISIONS, 0)
        self._audit_backlog = audit_backlog
        self.registry.register(_Collector(self))

    def decision(self, result: str) -> None:
        lock = self._lock
        lock.acquire()  # as in ``observe``
        try:
            self._decisions[result] = self._decisions.get(result, 0) + 1
        finally:
            lock.release()

    def observe(self, service: str, operation: str, outcome: str, seconds: float) -> None:
        key = (service, operation)
        bucket = bisect.bisect_left(LATENCY_BUCKETS, seconds)  # le= bounds are inclusive
        lock = self._lock
        lock.acquire()  # not ``with``: its two method calls cost twice the lock itself
        try:
            latency = self._latency.get(key)
            if latency is None:
                latency = self._latency[key] = _Latency()
            latency.buckets[bucket] += 1
            latency.total += seconds
            count = latency.outcomes.get(outcome)
            if count is None:
                count = latency.outcomes[outcome] = self._requests[(service, operation, outcome)] = [0]
            count[0] += 1
        finally:
            lock.release()

    def render(self) -> bytes:
        return generate_latest(self.registry)

    def families(self) -> Iterator[Metric]:
        """The Prometheus families of the counts so far (what a scrape returns)."""
        with self._lock:
            requests = {labels: count[0] for labels, count in self._requests.items()}
            latency = {key: (series.cumulative(), series.total) for key, series in self._latency.items()}
            decisions = dict(self._decisions)
        yield _requests_family(requests)
        yield _latency_family(latency)
        yield _decisions_family(decisions)
        backlog = GaugeMetricFamily("tessera_audit_backlog", "Audit events accepted but not yet written.")
        backlog.add_metric([], float(self._audit_backlog()) if self._audit_backlog is not None else 0.0)
        yield backlog
        worker = GaugeMetricFamily(
            "tessera_worker", "The server process answering this scrape (one of --workers), by process id.", labels=["pid"]
        )
        worker.add_metric([str(os.getpid())], 1.0)
        yield worker


class _Collector(Collector):
    def __init__(self, metrics: ServerMetrics) -> None:
        self._metrics = metrics

    def collect(self) -> Iterator[Metric]:
        return self._metrics.families()


def _requests_family(counts: dict[tuple[str, str, str], int]) -> Metric:
    family = CounterMetricFamily(
        "tessera_requests",
        "Requests served, by service, operation and outcome (success, client_error, server_error).",
        labels=["service", "operation", "outcome"],
    )
    for labels, count in counts.items():
        family.add_metric(list(labels), float(count))
    return family


def _latency_family(series: dict[tuple[str, str], tuple[list[tuple[str, float]], float]]) -> Metric:
    family = HistogramMetricFamily(
        "tessera_request_duration_seconds",
        "Time from the request's arrival to its response, by service and operation.",
        labels=["service", "operation"],
    )
    for labels, (buckets, total) in series.items():
        family.add_metric(list(labels), buckets, total)
    return family


def _decisions_family(counts: dict[str, int]) -> Metric:
    family = CounterMetricFamily(
        "tessera_authorization_decisions",
        "Policy engine decisions by result (allowed, explicitDeny, implicitDeny).",
        labels=["result"],
    )
    for result, count in counts.items():
        family.add_metric([result], float(count))
    return family
