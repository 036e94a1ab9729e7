"""The protobuf exposition judged by an independent decoder: Debian's protoc compiles the
schema (metrics.proto here, written from client_model's field numbers) and Python's protobuf
runtime reads every family of a real scrape, negotiated with the Accept header that Prometheus
2.42 sends with --enable-feature=native-histograms, plain and gzip-compressed."""

import gzip
import time
import urllib.request

import pytest

from conftest import decode

pytest.importorskip("google.protobuf")

mm = pytest.importorskip("marty_metrics")

# What Prometheus 2.42 sends when native histograms are enabled (scrape/scrape.go).
PROMETHEUS_ACCEPT = ("application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;"
                     "q=0.7,application/openmetrics-text;version=1.0.0;q=0.5,application/openmetrics-text;"
                     "version=0.0.1;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2")
CONTENT_TYPE = "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited"


@pytest.fixture(scope="module")
def scraped():
    registry = mm.CollectorRegistry()
    requests = mm.Counter("requests", "Requests served.", ["method", "code"], registry=registry)
    requests.labels("GET", "200").inc(3)
    requests.labels("POST", "500").inc(0.5, exemplar={"trace_id": "4bf92f3577b34da6a3ce929d0e0e4736"})
    mm.Gauge("temperature_celsius", "Temperature.", registry=registry).set(-3.25)
    latency = mm.Histogram("latency_seconds", "Latency.", ["route"], buckets=(0.1, 1), registry=registry)
    latency.labels("/").observe(0.05)
    latency.labels("/").observe(0.5, exemplar={"trace_id": "slow"})
    latency.labels("/").observe(7)
    mm.Info("build", "Build facts.", registry=registry).info({"version": "1.2.3"})
    mm.Counter("empty_help", "", registry=registry)
    created_after = time.time()
    server = mm.start_metrics_server(service="protobuf-judge", metrics_port=0, health_port=0,
                                     bind_address="127.0.0.1", registry=registry)
    try:
        answers = {}
        for encoding in ("identity", "gzip"):
            request = urllib.request.Request(f"http://127.0.0.1:{server.metrics_port}/metrics", headers={
                "Accept": PROMETHEUS_ACCEPT, "Accept-Encoding": encoding})
            with urllib.request.urlopen(request, timeout=10) as response:
                answers[encoding] = (dict(response.headers), response.read())
    finally:
        server.stop()
    return answers, created_after


def test_content_type_and_gzip(pb, scraped):
    answers, _ = scraped
    headers, body = answers["identity"]
    assert headers["Content-Type"] == CONTENT_TYPE
    gzip_headers, gzip_body = answers["gzip"]
    assert gzip_headers["Content-Encoding"] == "gzip"
    # The same families (the process gauges of the catalog move between the two scrapes).
    def ours(data):
        names = {"requests_total", "temperature_celsius", "latency_seconds", "build_info", "empty_help_total"}
        return [f for f in decode(pb, data) if f.name in names]
    assert ours(gzip.decompress(gzip_body)) == ours(body) and len(ours(body)) == 5


def test_every_family_decodes_with_its_values(pb, scraped):
    answers, created_after = scraped
    families = {f.name: f for f in decode(pb, answers["identity"][1])}
    # The catalog of the service the endpoint was started for comes with it.
    assert {"requests_total", "temperature_celsius", "latency_seconds", "build_info", "empty_help_total"} <= set(
        families)

    requests = families["requests_total"]
    assert requests.type == pb.COUNTER and requests.help == "Requests served."
    by_labels = {tuple((p.name, p.value) for p in m.label): m for m in requests.metric}
    get = by_labels[(("method", "GET"), ("code", "200"))]
    assert get.counter.value == 3 and not get.counter.HasField("exemplar")
    post = by_labels[(("method", "POST"), ("code", "500"))]
    assert post.counter.value == 0.5
    assert [(p.name, p.value) for p in post.counter.exemplar.label] == [
        ("trace_id", "4bf92f3577b34da6a3ce929d0e0e4736")]
    assert post.counter.exemplar.value == 0.5
    stamp = post.counter.exemplar.timestamp
    assert abs(stamp.seconds + stamp.nanos / 1e9 - created_after) < 60
    created = get.counter.created_timestamp
    assert 0 < created_after - (created.seconds + created.nanos / 1e9) < 60
    assert 0 <= created.nanos < 1_000_000_000

    gauge = families["temperature_celsius"]
    assert gauge.type == pb.GAUGE and gauge.metric[0].gauge.value == -3.25 and not gauge.metric[0].label

    histogram = families["latency_seconds"]
    assert histogram.type == pb.HISTOGRAM
    h = histogram.metric[0].histogram
    assert [(p.name, p.value) for p in histogram.metric[0].label] == [("route", "/")]
    assert h.sample_count == 3 and h.sample_sum == pytest.approx(7.55)
    assert [(b.upper_bound, b.cumulative_count) for b in h.bucket] == [(0.1, 1), (1.0, 2)]
    assert [(p.name, p.value) for p in h.bucket[1].exemplar.label] == [("trace_id", "slow")]
    assert h.bucket[1].exemplar.value == 0.5
    assert h.created_timestamp.seconds > 0

    info = families["build_info"]
    assert info.type == pb.GAUGE
    assert [(p.name, p.value) for p in info.metric[0].label] == [("version", "1.2.3")]
    assert info.metric[0].gauge.value == 1
    assert families["empty_help_total"].help == ""


def test_created_timestamps_can_be_switched_off(pb):
    registry = mm.CollectorRegistry()
    mm.Counter("c", "C.", registry=registry).inc()
    registry.set_created_timestamps(False)
    families = {f.name: f for f in decode(pb, registry.render(protobuf=True))}
    assert not families["c_total"].metric[0].counter.HasField("created_timestamp")
    assert b"c_created" not in mm.generate_openmetrics(registry)
    registry.set_created_timestamps(True)
    families = {f.name: f for f in decode(pb, registry.render(protobuf=True))}
    assert families["c_total"].metric[0].counter.HasField("created_timestamp")
    assert b"c_created" in mm.generate_openmetrics(registry)


@pytest.mark.parametrize("escaping, counter, label", [
    ("allow-utf-8", "my.metric_total", "label.name"),
    ("underscores", "my_metric_total", "label_name"),
    ("values", "U__my_2e_metric_total", "U__label_2e_name"),
    (None, "my_metric_total", "label_name"),  # none named: underscores
])
def test_utf8_names_over_protobuf(pb, escaping, counter, label):
    registry = mm.CollectorRegistry()
    mm.Counter("my.metric", "Calls.", ["label.name"], registry=registry).labels("v").inc(2)
    mm.Histogram("lat.ency", "Latency.", buckets=(1,), registry=registry).observe(0.5)
    accept = PROMETHEUS_ACCEPT if escaping is None else (
        "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;"
        f"escaping={escaping}")
    server = mm.start_metrics_server(service="protobuf-utf8-judge", metrics_port=0, health_port=0,
                                     bind_address="127.0.0.1", registry=registry)
    try:
        request = urllib.request.Request(f"http://127.0.0.1:{server.metrics_port}/metrics",
                                         headers={"Accept": accept})
        with urllib.request.urlopen(request, timeout=10) as response:
            content_type, body = response.headers["Content-Type"], response.read()
    finally:
        server.stop()
    assert content_type == CONTENT_TYPE + ("" if escaping is None else f"; escaping={escaping}")
    families = {f.name: f for f in decode(pb, body)}
    assert families[counter].metric[0].counter.value == 2
    assert [(p.name, p.value) for p in families[counter].metric[0].label] == [(label, "v")]
    histogram = {"allow-utf-8": "lat.ency", "values": "U__lat_2e_ency"}.get(escaping, "lat_ency")
    assert families[histogram].metric[0].histogram.sample_count == 1
