"""The /metrics exposition: counts kept by ServerMetrics, rendered as Prometheus text."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families

from tessera.server.metrics import ServerMetrics


def samples(metrics: ServerMetrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = metrics.render().decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_requests_are_counted_by_service_operation_and_outcome():
    metrics = ServerMetrics()
    metrics.observe("sts", "AssumeRole", "success", 0.002)
    metrics.observe("sts", "AssumeRole", "success", 0.003)
    metrics.observe("sts", "AssumeRole", "client_error", 0.001)
    found = samples(metrics)
    labels = (("operation", "AssumeRole"), ("outcome", "success"), ("service", "sts"))
    assert found[("tessera_requests_total", labels)] == 2
    denied = (("operation", "AssumeRole"), ("outcome", "client_error"), ("service", "sts"))
    assert found[("tessera_requests_total", denied)] == 1


def test_latency_buckets_are_cumulative_and_their_bounds_inclusive():
    metrics = ServerMetrics()
    for seconds in (0.0005, 0.0007, 0.02, 3.0):
        metrics.observe("iam", "CreateUser", "success", seconds)
    found = samples(metrics)

    def bucket(bound: str) -> float:
        labels = (("le", bound), ("operation", "CreateUser"), ("service", "iam"))
        return found[("tessera_request_duration_seconds_bucket", labels)]

    assert [bucket(b) for b in ("0.0005", "0.001", "0.025", "2.5", "+Inf")] == [1, 2, 3, 3, 4]
    labels = (("operation", "CreateUser"), ("service", "iam"))
    assert found[("tessera_request_duration_seconds_count", labels)] == 4
    assert abs(found[("tessera_request_duration_seconds_sum", labels)] - 3.0212) < 1e-9


def test_decisions_and_audit_backlog_are_exposed():
    metrics = ServerMetrics(audit_backlog=lambda: 7)
    metrics.decision("allowed")
    metrics.decision("explicitDeny")
    metrics.decision("allowed")
    found = samples(metrics)
    assert found[("tessera_authorization_decisions_total", (("result", "allowed"),))] == 2
    assert found[("tessera_authorization_decisions_total", (("result", "explicitDeny"),))] == 1
    assert found[("tessera_authorization_decisions_total", (("result", "implicitDeny"),))] == 0
    assert found[("tessera_audit_backlog", ())] == 7


_observations = st.lists(
    st.tuples(
        st.sampled_from(["sts", "iam"]),
        st.sampled_from(["AssumeRole", "GetCallerIdentity", "Unknown"]),
        st.sampled_from(["success", "client_error", "server_error"]),
        st.floats(0, 5),
    ),
    max_size=30,
)


@settings(max_examples=100, deadline=None)
@given(_observations, st.lists(st.sampled_from(["allowed", "explicitDeny", "implicitDeny"]), max_size=5))
def test_the_exposition_is_every_count_in_the_order_first_seen(observed, decided):
    """The text a scrape gets, series in the order each was first counted, as plain
    dictionaries of counts would give it."""
    metrics = ServerMetrics()
    requests: dict[tuple[str, str, str], int] = {}
    latency: dict[tuple[str, str], list[float]] = {}
    for service, operation, outcome, seconds in observed:
        metrics.observe(service, operation, outcome, seconds)
        requests[(service, operation, outcome)] = requests.get((service, operation, outcome), 0) + 1
        latency.setdefault((service, operation), []).append(seconds)
    for result in decided:
        metrics.decision(result)
    families = list(metrics.families())
    assert [(tuple(s.labels.values()), s.value) for s in families[0].samples] == [
        ((*labels,), float(count)) for labels, count in requests.items()
    ]
    counts = [s for s in families[1].samples if s.name.endswith("_count")]
    assert [(s.labels["service"], s.labels["operation"], s.value) for s in counts] == [
        (*key, float(len(values))) for key, values in latency.items()
    ]
    buckets = [s for s in families[1].samples if s.name.endswith("_bucket") and s.labels["le"] == "0.001"]
    assert [s.value for s in buckets] == [float(sum(v <= 0.001 for v in values)) for values in latency.values()]
    assert {s.labels["result"]: s.value for s in families[2].samples} == {
        result: float(decided.count(result)) for result in ("allowed", "explicitDeny", "implicitDeny")
    }
