"""Exemplars end to end: a Python gRPC service whose calls carry W3C trace context, scraped by a
real Prometheus (Debian's 2.42 with --enable-feature=exemplar-storage); its
/api/v1/query_exemplars must return the trace ids the calls carried."""

import os
import sys
import time
from pathlib import Path

import pytest

from deploy_support import Prometheus, Service, free_port, http_get, wait_until

pytest.importorskip("grpc")
pytest.importorskip("marty_metrics")

HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="module")
def traced(prometheus_binary, tmp_path_factory):
    work_dir = tmp_path_factory.mktemp("exemplars")
    trace_file = work_dir / "traces.txt"
    port = free_port()
    env = dict(os.environ, SWIFT_BACKTRACE="enable=no")
    env.pop("MARTY_METRICS_ENABLED", None)
    service = Service("traced-service", [sys.executable, HERE / "traced_service.py", port, trace_file], env, work_dir)
    try:
        wait_until(lambda: http_get(f"http://127.0.0.1:{port}/metrics", 2)[0] == 200, 30,
                   what="traced_service.py to serve /metrics")
    except AssertionError:
        service.stop()
        raise AssertionError(f"traced_service.py did not start:\n{service.log()[-3000:]}")
    config = {
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s"},
        "scrape_configs": [{"job_name": "traced", "static_configs": [{"targets": [f"127.0.0.1:{port}"]}]}],
    }
    prometheus = Prometheus(prometheus_binary, config, work_dir, features=("exemplar-storage",))
    yield prometheus, trace_file, service
    prometheus.stop()
    service.stop()


def exemplar_trace_ids(prometheus, query):
    now = time.time()
    data = prometheus.api("query_exemplars", query=query, start=now - 300, end=now + 60)
    return {e["labels"]["trace_id"] for series in data for e in series["exemplars"]}


def test_prometheus_stores_the_trace_ids_grpc_calls_carried(traced):
    prometheus, trace_file, service = traced
    seen = {}

    def have_exemplars():
        assert service.alive(), service.log()[-3000:]
        seen["requests"] = exemplar_trace_ids(prometheus, 'marty_grpc_requests_total{status="OK"}')
        seen["buckets"] = exemplar_trace_ids(prometheus, "marty_grpc_request_duration_seconds_bucket")
        return len(seen["requests"]) >= 3 and len(seen["buckets"]) >= 3

    wait_until(have_exemplars, 60, what="exemplars in Prometheus")
    carried = set(trace_file.read_text().split())
    assert seen["requests"] <= carried, seen["requests"] - carried
    assert seen["buckets"] <= carried, seen["buckets"] - carried
    # Each exemplar points at a real series of the right service and method.
    now = time.time()
    data = prometheus.api("query_exemplars", query="marty_grpc_requests_total", start=now - 300, end=now + 60)
    labels = {(s["seriesLabels"]["service"], s["seriesLabels"]["method"]) for s in data}
    assert labels == {("document-signer", "/marty.e2e.Signer/Sign")}
    span_ids = {e["labels"]["span_id"] for s in data for e in s["exemplars"]}
    assert all(len(span) == 16 for span in span_ids)
