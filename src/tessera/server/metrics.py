"""Prometheus metrics of one server process (its own registry, not the global one)."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class ServerMetrics:
    content_type = CONTENT_TYPE_LATEST

    def __init__(self, audit_backlog: Callable[[], int] | None = None) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "tessera_requests",
            "Requests served, by service, operation and outcome (success, client_error, server_error).",
            ["service", "operation", "outcome"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "tessera_request_duration_seconds",
            "Time from the request's arrival to its response, by service and operation.",
            ["service", "operation"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.decisions = Counter(
            "tessera_authorization_decisions",
            "Policy engine decisions by result (allowed, explicitDeny, implicitDeny).",
            ["result"],
            registry=self.registry,
        )
        self.backlog = Gauge(
            "tessera_audit_backlog", "Audit events accepted but not yet written.", registry=self.registry
        )
        if audit_backlog is not None:
            self.backlog.set_function(lambda: float(audit_backlog()))
        self._decision_children = {r: self.decisions.labels(r) for r in ("allowed", "explicitDeny", "implicitDeny")}
        self._children: dict[tuple[str, str, str], tuple[Counter, Histogram]] = {}

    def decision(self, result: str) -> None:
        child = self._decision_children.get(result)
        (child or self.decisions.labels(result)).inc()

    def observe(self, service: str, operation: str, outcome: str, seconds: float) -> None:
        key = (service, operation, outcome)
        pair = self._children.get(key)
        if pair is None:
            pair = (self.requests.labels(service, operation, outcome), self.latency.labels(service, operation))
            self._children[key] = pair
        pair[0].inc()
        pair[1].observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)
