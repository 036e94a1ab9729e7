"""Exemplars: ``inc(exemplar=...)`` and ``observe(v, exemplar=...)`` as prometheus_client takes
them, read back through prometheus_client's OpenMetrics parser."""

import time

import pytest

import marty_metrics as mm
from conftest import openmetrics_families


def sample(families, family, name, **labels):
    for s in families[family].samples:
        if s.name == name and s.labels == labels:
            return s
    raise AssertionError("no sample %s%r" % (name, labels))


def test_counter_and_histogram_exemplars_reach_openmetrics(registry):
    requests = mm.Counter("requests", "Requests.", ["code"], registry=registry)
    latency = mm.Histogram("latency_seconds", "Latency.", buckets=(0.1, 1), registry=registry)
    before = time.time()
    requests.labels("200").inc(exemplar={"trace_id": "4bf92f3577b34da6a3ce929d0e0e4736"})
    requests.labels("200").inc(2.5, exemplar={"trace_id": "abc", "span_id": "00f067aa0ba902b7"})
    latency.observe(0.5, exemplar={"trace_id": "slow"})
    latency.observe(0.05)
    after = time.time()

    families = openmetrics_families(registry)
    total = sample(families, "requests", "requests_total", code="200")
    assert total.value == 3.5
    assert total.exemplar.labels == {"trace_id": "abc", "span_id": "00f067aa0ba902b7"}
    assert total.exemplar.value == 2.5
    stamp = total.exemplar.timestamp
    assert before - 1 <= stamp.sec + stamp.nsec / 1e9 <= after + 1

    bucket = sample(families, "latency_seconds", "latency_seconds_bucket", le="1.0")
    assert bucket.value == 2
    assert bucket.exemplar.labels == {"trace_id": "slow"} and bucket.exemplar.value == 0.5
    assert sample(families, "latency_seconds", "latency_seconds_bucket", le="0.1").exemplar is None
    # Text 0.0.4 has no exemplars.
    assert b"slow" not in mm.generate_latest(registry)


def test_exemplar_refusals_match_prometheus_client(registry):
    counter = mm.Counter("c", "C.", registry=registry)
    histogram = mm.Histogram("h", "H.", registry=registry)
    with pytest.raises(ValueError, match="128"):
        counter.inc(exemplar={"trace_id": "x" * 121})
    with pytest.raises(ValueError):
        counter.inc(exemplar={"trace.id": "x"})
    with pytest.raises(ValueError):
        histogram.observe(float("nan"), exemplar={"trace_id": "x"})
    with pytest.raises(ValueError):
        counter.inc(-1, exemplar={"trace_id": "x"})
    with pytest.raises(TypeError):
        counter.inc(exemplar=["trace_id"])
    counter.inc(exemplar={"trace_id": "x" * 120})  # 128 characters: allowed
    assert counter.get() == 1
    assert histogram.get()[1] == 0
