"""MARTY_STYLE_PROMETHEUS_CLIENT judged byte for byte: the same metrics recorded through the C
interface (ctypes) and through prometheus_client itself, with the same created timestamps,
render to the same bytes in text 0.0.4 and in OpenMetrics."""

import ctypes
import time

import pytest
import prometheus_client as pc
from prometheus_client.openmetrics.exposition import generate_latest as pc_generate_openmetrics

from conftest import MARTY_FORMAT_OPENMETRICS, MARTY_FORMAT_TEXT, Library, find_library

P = ctypes.POINTER
MARTY_STYLE_PROMETHEUS_CLIENT = 1
CREATED = 1733600519.25
PC_DEFAULT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0)


@pytest.fixture(scope="module")
def lib():
    library = Library(find_library())
    strings_and_out = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p, P(ctypes.c_char_p), ctypes.c_size_t]
    for name, restype, argtypes in (
        ("marty_registry_new", ctypes.c_int, [P(ctypes.c_void_p)]),
        ("marty_registry_free", ctypes.c_int, [ctypes.c_void_p]),
        ("marty_registry_set_style", ctypes.c_int, [ctypes.c_void_p, ctypes.c_int]),
        ("marty_counter_family_new", ctypes.c_int, strings_and_out + [P(ctypes.c_void_p)]),
        ("marty_gauge_family_new", ctypes.c_int, strings_and_out + [P(ctypes.c_void_p)]),
        ("marty_summary_family_new", ctypes.c_int, strings_and_out + [P(ctypes.c_void_p)]),
        ("marty_info_family_new", ctypes.c_int, strings_and_out + [P(ctypes.c_void_p)]),
        ("marty_histogram_family_new", ctypes.c_int, strings_and_out + [P(ctypes.c_double), ctypes.c_size_t,
                                                                        P(ctypes.c_void_p)]),
        ("marty_counter_get", ctypes.c_int, [ctypes.c_void_p, P(ctypes.c_char_p), ctypes.c_size_t, P(ctypes.c_void_p)]),
        ("marty_gauge_get", ctypes.c_int, [ctypes.c_void_p, P(ctypes.c_char_p), ctypes.c_size_t, P(ctypes.c_void_p)]),
        ("marty_histogram_get", ctypes.c_int, [ctypes.c_void_p, P(ctypes.c_char_p), ctypes.c_size_t,
                                               P(ctypes.c_void_p)]),
        ("marty_counter_add", ctypes.c_int, [ctypes.c_void_p, ctypes.c_double]),
        ("marty_gauge_set", ctypes.c_int, [ctypes.c_void_p, ctypes.c_double]),
        ("marty_histogram_observe", ctypes.c_int, [ctypes.c_void_p, ctypes.c_double]),
        ("marty_info_set", ctypes.c_int, [ctypes.c_void_p, P(ctypes.c_char_p), ctypes.c_size_t]),
        ("marty_family_set_created_timestamp", ctypes.c_int, [ctypes.c_void_p, P(ctypes.c_char_p), ctypes.c_size_t,
                                                              ctypes.c_double]),
        ("marty_family_set_unit", ctypes.c_int, [ctypes.c_void_p, ctypes.c_char_p]),
        ("marty_family_release", None, [ctypes.c_void_p]),
    ):
        function = getattr(library.dll, name)
        function.restype, function.argtypes = restype, argtypes
        setattr(library, name[len("marty_"):], function)
    return library


def strings(values):
    return (ctypes.c_char_p * max(1, len(values)))(*[v.encode() for v in values])


class Ours:
    """Families made through the C interface, in one registry in prometheus_client's style."""

    def __init__(self, lib):
        self.lib, self.families = lib, []
        self.registry = ctypes.c_void_p()
        lib.check(lib.registry_new(ctypes.byref(self.registry)), "registry_new")
        lib.check(lib.registry_set_style(self.registry, MARTY_STYLE_PROMETHEUS_CLIENT), "set_style")

    def family(self, kind, name, help_text, labels=(), bounds=None, unit=None):
        out = ctypes.c_void_p()
        args = [self.registry, name.encode(), help_text.encode(), strings(labels), len(labels)]
        if kind == "histogram":
            args += [(ctypes.c_double * len(bounds))(*bounds), len(bounds)]
        self.lib.check(getattr(self.lib, kind + "_family_new")(*args, ctypes.byref(out)), name)
        if unit:
            self.lib.check(self.lib.family_set_unit(out, unit.encode()), "set_unit")
        self.families.append(out)
        return out

    def series(self, kind, family, values=()):
        out = ctypes.c_void_p()
        self.lib.check(getattr(self.lib, kind + "_get")(family, strings(values), len(values), ctypes.byref(out)),
                       "get")
        self.lib.check(self.lib.family_set_created_timestamp(family, strings(values), len(values), CREATED),
                       "set_created_timestamp")
        return out

    def render(self, fmt):
        return self.lib.render(self.registry, fmt)

    def close(self):
        for family in self.families:
            self.lib.family_release(family)
        self.lib.registry_free(self.registry)


@pytest.fixture()
def pair(lib, monkeypatch):
    monkeypatch.setattr(time, "time", lambda: CREATED)
    ours = Ours(lib)
    yield ours, pc.CollectorRegistry()
    ours.close()


def record_the_same(ours, theirs):
    requests = ours.family("counter", "requests", "Requests served.", ("method", "code"))
    for values, amount in ((("GET", "200"), 3), (("POST", "500"), 0.5), (("GET", "404"), 1)):
        ours.lib.check(ours.lib.counter_add(ours.series("counter", requests, values), amount), "add")
    pc_requests = pc.Counter("requests", "Requests served.", ("method", "code"), registry=theirs)
    for values, amount in ((("GET", "200"), 3), (("POST", "500"), 0.5), (("GET", "404"), 1)):
        pc_requests.labels(*values).inc(amount)

    size = ours.family("gauge", "queue_size_bytes", "Queue size.", unit="bytes")
    ours.lib.check(ours.lib.gauge_set(ours.series("gauge", size), 1234567), "set")
    pc.Gauge("queue_size", "Queue size.", unit="bytes", registry=theirs).set(1234567)

    temperature = ours.family("gauge", "temperature", "Temperature\nnow.", ("room",))
    for room, value in (("b", -3.25), ("a", 1e-5)):
        ours.lib.check(ours.lib.gauge_set(ours.series("gauge", temperature, (room,)), value), "set")
    pc_temperature = pc.Gauge("temperature", "Temperature\nnow.", ("room",), registry=theirs)
    pc_temperature.labels("b").set(-3.25)
    pc_temperature.labels("a").set(1e-5)

    latency = ours.family("histogram", "latency_seconds", "Latency.", ("route",), bounds=PC_DEFAULT_BUCKETS)
    route = ours.series("histogram", latency, ("/",))
    pc_latency = pc.Histogram("latency_seconds", "Latency.", ("route",), registry=theirs)
    for value in (0.05, 0.3, 7, 100):
        ours.lib.check(ours.lib.histogram_observe(route, value), "observe")
        pc_latency.labels("/").observe(value)

    rpc = ours.family("summary", "rpc_seconds", "RPC.")
    rpc_series = ours.series("histogram", rpc)
    pc_rpc = pc.Summary("rpc_seconds", "RPC.", registry=theirs)
    for value in (0.25, 1.5):
        ours.lib.check(ours.lib.histogram_observe(rpc_series, value), "observe")
        pc_rpc.observe(value)

    build = ours.family("info", "build", "Build.", ("version", "commit"))
    ours.lib.check(ours.lib.info_set(build, strings(("1.2.3", "cafe")), 2), "info_set")
    pc.Info("build", "Build.", registry=theirs).info({"version": "1.2.3", "commit": "cafe"})


def test_text_is_byte_for_byte_prometheus_clients(pair):
    ours, theirs = pair
    record_the_same(ours, theirs)
    assert ours.render(MARTY_FORMAT_TEXT).decode() == pc.generate_latest(theirs).decode()


def test_openmetrics_is_byte_for_byte_prometheus_clients(pair):
    ours, theirs = pair
    record_the_same(ours, theirs)
    assert ours.render(MARTY_FORMAT_OPENMETRICS).decode() == pc_generate_openmetrics(theirs).decode()
