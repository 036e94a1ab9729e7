"""Render-time collectors and summaries judged by independent readers.

A C collector (through ctypes, as a C program would register one) adds families of every
OpenMetrics type, shaped as prometheus_client's custom collectors shape them. The same
families are built with prometheus_client's own core classes in its own registry, so that:
  * prometheus_client's parsers read our text 0.0.4 and OpenMetrics renderings as they read
    prometheus_client's own (same families, same samples; numbers are compared as numbers,
    their spelling may differ: 1 against 1.0);
  * `promtool check metrics` accepts our text rendering;
  * Python's protobuf runtime, with Debian protoc's metrics.proto, reads every family.
"""

import ctypes
import math
import shutil
import subprocess

import pytest
from prometheus_client import CollectorRegistry as PCRegistry
from prometheus_client import generate_latest as pc_generate_latest
from prometheus_client import core as pc_core
from prometheus_client.openmetrics.exposition import generate_latest as pc_generate_openmetrics
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_openmetrics
from prometheus_client.parser import text_string_to_metric_families as parse_text

from conftest import MARTY_FORMAT_OPENMETRICS, MARTY_FORMAT_TEXT, Library, decode, find_library

MARTY_FORMAT_PROTOBUF = 2
P = ctypes.POINTER
COLLECT = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p)
TYPES = {"unknown": 0, "counter": 1, "gauge": 2, "histogram": 3, "summary": 4, "info": 5, "stateset": 6,
         "gaugehistogram": 7}


@pytest.fixture(scope="module")
def lib():
    library = Library(find_library())
    for name, restype, argtypes in (
        ("marty_registry_new", ctypes.c_int, [P(ctypes.c_void_p)]),
        ("marty_registry_free", ctypes.c_int, [ctypes.c_void_p]),
        ("marty_registry_set_created_timestamps", ctypes.c_int, [ctypes.c_void_p, ctypes.c_int]),
        ("marty_registry_add_collector", ctypes.c_int, [ctypes.c_void_p, COLLECT, ctypes.c_void_p,
                                                        P(ctypes.c_void_p)]),
        ("marty_registry_remove_collector", ctypes.c_int, [ctypes.c_void_p, ctypes.c_void_p]),
        ("marty_collection_add_family", ctypes.c_int, [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p,
                                                       ctypes.c_int, ctypes.c_char_p]),
        ("marty_collection_add_sample", ctypes.c_int, [ctypes.c_void_p, ctypes.c_char_p, P(ctypes.c_char_p),
                                                       P(ctypes.c_char_p), ctypes.c_size_t, ctypes.c_double,
                                                       ctypes.c_double]),
        ("marty_collection_set_exemplar", ctypes.c_int, [ctypes.c_void_p, P(ctypes.c_char_p), P(ctypes.c_char_p),
                                                         ctypes.c_size_t, ctypes.c_double, ctypes.c_double]),
        ("marty_summary_family_new", ctypes.c_int, [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p,
                                                    P(ctypes.c_char_p), ctypes.c_size_t, P(ctypes.c_void_p)]),
        ("marty_histogram_get", ctypes.c_int, [ctypes.c_void_p, P(ctypes.c_char_p), ctypes.c_size_t,
                                               P(ctypes.c_void_p)]),
        ("marty_histogram_observe", ctypes.c_int, [ctypes.c_void_p, ctypes.c_double]),
        ("marty_family_release", None, [ctypes.c_void_p]),
    ):
        function = getattr(library.dll, name)
        function.restype, function.argtypes = restype, argtypes
        setattr(library, name[len("marty_"):], function)
    return library


def reference_families():
    """Families of every type, as prometheus_client's core classes build them."""
    counter = pc_core.CounterMetricFamily("jobs", "Jobs done.", labels=["queue"], created=1700000000.25)
    counter.add_metric(["fast"], 7, created=1700000000.25)
    counter.add_metric(["slow"], 2.5, created=1700000001.5)
    gauge = pc_core.GaugeMetricFamily("temperature_celsius", "Temperature.", unit="celsius")
    gauge.add_metric([], -3.25, timestamp=1700000002.5)
    histogram = pc_core.HistogramMetricFamily("latency_seconds", "Latency.", labels=["route"])
    histogram.add_metric(["/"], [("0.1", 1), ("1.0", 3), ("+Inf", 4)], sum_value=7.25)
    summary = pc_core.SummaryMetricFamily("rpc_seconds", "RPC.", count_value=10, sum_value=2.5)
    info = pc_core.InfoMetricFamily("build", "Build.", value={"version": "1.2.3", "commit": "cafe"})
    stateset = pc_core.StateSetMetricFamily("door", "Door state.", value={"open": True, "closed": False})
    gauge_histogram = pc_core.GaugeHistogramMetricFamily("queue_bytes", "Queue.", buckets=[("10.0", 2), ("+Inf", 5)],
                                                         gsum_value=30)
    unknown = pc_core.UnknownMetricFamily("mystery", "Who knows.", value=42)
    return [counter, gauge, histogram, summary, info, stateset, gauge_histogram, unknown]


def strings(values):
    return (ctypes.c_char_p * max(1, len(values)))(*[v.encode() for v in values])


@pytest.fixture(scope="module")
def rendered(lib):
    families = reference_families()
    errors = []

    def collect(_user_data, collection):
        try:
            for family in families:
                lib.check(lib.collection_add_family(collection, family.name.encode(), family.documentation.encode(),
                                                    TYPES[family.type], family.unit.encode()), family.name)
                for sample in family.samples:
                    names, values = list(sample.labels), list(sample.labels.values())
                    timestamp = float(sample.timestamp) if sample.timestamp is not None else math.nan
                    lib.check(lib.collection_add_sample(collection, sample.name.encode(), strings(names),
                                                        strings(values), len(names), sample.value, timestamp),
                              sample.name)
        except Exception as error:  # a ctypes callback cannot raise: report it to the test
            errors.append(error)

    callback = COLLECT(collect)
    registry = ctypes.c_void_p()
    lib.check(lib.registry_new(ctypes.byref(registry)), "marty_registry_new")
    collector = ctypes.c_void_p()
    lib.check(lib.registry_add_collector(registry, callback, None, ctypes.byref(collector)), "add_collector")
    try:
        out = {fmt: lib.render(registry, fmt) for fmt in (MARTY_FORMAT_TEXT, MARTY_FORMAT_OPENMETRICS)}
        out[MARTY_FORMAT_PROTOBUF] = render_binary(lib, registry)
    finally:
        lib.check(lib.registry_remove_collector(registry, collector), "remove_collector")
        lib.registry_free(registry)
    assert not errors, errors
    return out


def render_binary(lib, registry):
    out = ctypes.c_void_p()
    length = ctypes.c_size_t()
    lib.check(lib.registry_render(registry, MARTY_FORMAT_PROTOBUF, ctypes.byref(out), ctypes.byref(length)), "render")
    try:
        return ctypes.string_at(out.value, length.value)
    finally:
        lib.free(out)


def reference_registry():
    registry = PCRegistry()

    class Collector:
        def collect(self):
            return reference_families()

    registry.register(Collector())
    return registry


def as_comparable(families):
    return [(f.name, f.type, f.documentation, f.unit,
             [(s.name, s.labels, float(s.value), None if s.timestamp is None else float(s.timestamp))
              for s in f.samples]) for f in families]


def test_text_reads_as_prometheus_clients_own(rendered):
    ours = as_comparable(parse_text(rendered[MARTY_FORMAT_TEXT].decode()))
    theirs = as_comparable(parse_text(pc_generate_latest(reference_registry()).decode()))
    assert ours == theirs


def test_openmetrics_reads_as_prometheus_clients_own(rendered):
    ours = as_comparable(parse_openmetrics(rendered[MARTY_FORMAT_OPENMETRICS].decode()))
    theirs = as_comparable(parse_openmetrics(pc_generate_openmetrics(reference_registry()).decode()))
    assert ours == theirs
    assert len(ours) == 8


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool not found (apt-get install prometheus)")
def test_promtool_accepts_the_text(rendered):
    result = subprocess.run(["promtool", "check", "metrics"], input=rendered[MARTY_FORMAT_TEXT],
                            capture_output=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def labels(metric):
    return {pair.name: pair.value for pair in metric.label}


def test_protobuf_decodes_every_collected_family(pb, rendered):
    families = {f.name: f for f in decode(pb, rendered[MARTY_FORMAT_PROTOBUF])}
    assert set(families) == {"jobs_total", "temperature_celsius", "latency_seconds", "rpc_seconds", "build_info",
                             "door", "queue_bytes", "mystery"}
    jobs = families["jobs_total"]
    assert jobs.type == pb.COUNTER and jobs.help == "Jobs done."
    assert [(labels(m), m.counter.value) for m in jobs.metric] == [({"queue": "fast"}, 7), ({"queue": "slow"}, 2.5)]
    created = jobs.metric[1].counter.created_timestamp
    assert (created.seconds, created.nanos) == (1700000001, 500000000)
    temperature = families["temperature_celsius"].metric[0]
    assert families["temperature_celsius"].type == pb.GAUGE
    assert temperature.gauge.value == -3.25 and temperature.timestamp_ms == 1700000002500
    latency = families["latency_seconds"]
    assert latency.type == pb.HISTOGRAM and labels(latency.metric[0]) == {"route": "/"}
    histogram = latency.metric[0].histogram
    assert (histogram.sample_count, histogram.sample_sum) == (4, 7.25)
    assert [(b.upper_bound, b.cumulative_count) for b in histogram.bucket] == [(0.1, 1), (1.0, 3)]
    rpc = families["rpc_seconds"]
    assert rpc.type == pb.SUMMARY
    assert (rpc.metric[0].summary.sample_count, rpc.metric[0].summary.sample_sum) == (10, 2.5)
    build = families["build_info"].metric[0]
    assert labels(build) == {"version": "1.2.3", "commit": "cafe"} and build.gauge.value == 1
    door = families["door"]
    assert door.type == pb.GAUGE
    assert sorted((labels(m)["door"], m.gauge.value) for m in door.metric) == [("closed", 0), ("open", 1)]
    queue = families["queue_bytes"]
    assert queue.type == pb.GAUGE_HISTOGRAM
    assert (queue.metric[0].histogram.sample_count, queue.metric[0].histogram.sample_sum) == (5, 30)
    assert families["mystery"].type == pb.UNTYPED and families["mystery"].metric[0].untyped.value == 42


def test_native_summary_reads_as_prometheus_clients_summary(lib):
    registry = ctypes.c_void_p()
    lib.check(lib.registry_new(ctypes.byref(registry)), "marty_registry_new")
    family = ctypes.c_void_p()
    lib.check(lib.summary_family_new(registry, b"rpc_seconds", b"RPC.", strings(["method"]), 1,
                                     ctypes.byref(family)), "summary_family_new")
    series = ctypes.c_void_p()
    lib.check(lib.histogram_get(family, strings(["get"]), 1, ctypes.byref(series)), "histogram_get")
    for value in (0.5, 1.5, 4):
        lib.check(lib.histogram_observe(series, value), "observe")
    try:
        text = lib.render(registry, MARTY_FORMAT_OPENMETRICS).decode()
    finally:
        lib.family_release(family)
        lib.registry_free(registry)
    [summary] = parse_openmetrics(text)
    assert summary.type == "summary" and summary.name == "rpc_seconds"
    values = {s.name: s.value for s in summary.samples}
    assert values["rpc_seconds_count"] == 3 and values["rpc_seconds_sum"] == 6
    assert values["rpc_seconds_created"] > 1.7e9
