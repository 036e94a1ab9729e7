"""Exemplars and native histograms end to end: a Python gRPC service whose calls carry W3C trace
context, scraped by a real Prometheus (Debian's 2.42): with --enable-feature=exemplar-storage
over OpenMetrics, and with native-histograms,exemplar-storage over protobuf. Its
/api/v1/query_exemplars must return the trace ids the calls carried, and histogram_quantile over
the native histograms must agree with the observed values within the schema's error."""

import os
import sys
import time
from pathlib import Path

import pytest

from deploy_support import Prometheus, Service, free_port, http_get, wait_until

pytest.importorskip("grpc")
pytest.importorskip("marty_metrics")

HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="module", params=["openmetrics", "protobuf"])
def traced(request, prometheus_binary, tmp_path_factory):
    work_dir = tmp_path_factory.mktemp("exemplars-" + request.param)
    trace_file = work_dir / "traces.txt"
    port = free_port()
    env = dict(os.environ, SWIFT_BACKTRACE="enable=no")
    env.pop("MARTY_METRICS_ENABLED", None)
    if request.param == "protobuf":
        env["MARTY_METRICS_NATIVE_HISTOGRAM_BUCKET_FACTOR"] = "1.1"
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
    features = ("exemplar-storage",) if request.param == "openmetrics" else ("native-histograms", "exemplar-storage")
    prometheus = Prometheus(prometheus_binary, config, work_dir, features=features)
    yield prometheus, trace_file, service, request.param
    prometheus.stop()
    service.stop()


def exemplar_trace_ids(prometheus, query):
    now = time.time()
    data = prometheus.api("query_exemplars", query=query, start=now - 300, end=now + 60)
    return {e["labels"]["trace_id"] for series in data for e in series["exemplars"]}


def test_prometheus_stores_the_trace_ids_grpc_calls_carried(traced):
    prometheus, trace_file, service, mode = traced
    seen = {}

    def have_exemplars():
        assert service.alive(), service.log()[-3000:]
        seen["requests"] = exemplar_trace_ids(prometheus, 'marty_grpc_requests_total{status="OK"}')
        seen["buckets"] = exemplar_trace_ids(prometheus, "marty_grpc_request_duration_seconds_bucket")
        return len(seen["requests"]) >= 3 and len(seen["buckets"]) >= 3 if mode == "openmetrics" else \
            len(seen["requests"]) >= 3

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


def test_histogram_quantile_over_native_histograms(traced):
    prometheus, _, service, mode = traced
    if mode != "protobuf":
        pytest.skip("native histograms are scraped over protobuf")
    result = {}

    def have_native():
        assert service.alive(), service.log()[-3000:]
        answer = prometheus.query("histogram_quantile(0.5, e2e_known_seconds)")
        if not answer:
            return False
        result["median"] = float(answer[0]["value"][1])
        result["p90"] = float(prometheus.query("histogram_quantile(0.9, e2e_known_seconds)")[0]["value"][1])
        result["count"] = float(prometheus.query("histogram_count(e2e_known_seconds)")[0]["value"][1])
        return True

    wait_until(have_native, 60, what="a native histogram in Prometheus")
    # The values 0.001 ... 1.000: median 0.5, 0.9-quantile 0.9; schema 3 buckets are 2^(1/8)
    # wide (9 %), so an estimate inside the right bucket is within 9 % of the truth.
    assert result["count"] == 1000
    assert abs(result["median"] - 0.5) / 0.5 <= 0.0905, result
    assert abs(result["p90"] - 0.9) / 0.9 <= 0.0905, result
    # The catalog's duration histogram is native too: Prometheus holds it as one series per
    # method (no _bucket series), and its count grows with the calls.
    def durations():
        answer = prometheus.query('histogram_count(marty_grpc_request_duration_seconds{service="document-signer"})')
        return bool(answer) and float(answer[0]["value"][1]) > 0
    wait_until(durations, 30, what="the native duration histogram")
    assert not prometheus.query("marty_grpc_request_duration_seconds_bucket")
