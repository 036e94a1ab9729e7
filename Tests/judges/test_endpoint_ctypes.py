"""The embedded endpoint started from Python through ctypes, read back by real HTTP clients
(urllib) and judged by prometheus_client's parsers and a JSON parser."""

import ctypes
import gzip
import json
import os
import time
import urllib.error
import urllib.request

import pytest
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_openmetrics
from prometheus_client.parser import text_string_to_metric_families as parse_text

from conftest import MARTY_OK

MARTY_ERR_ADDRESS_IN_USE = 12
MARTY_PORT_DEFAULT = -1


class EndpointOptions(ctypes.Structure):
    _fields_ = [
        ("struct_size", ctypes.c_size_t),
        ("service", ctypes.c_char_p),
        ("bind_address", ctypes.c_char_p),
        ("metrics_port", ctypes.c_int),
        ("health_port", ctypes.c_int),
        ("separate_health_listener", ctypes.c_int),
        ("registry", ctypes.c_void_p),
        ("idle_timeout_seconds", ctypes.c_double),
        ("max_connections", ctypes.c_int),
    ]


@pytest.fixture(scope="module")
def dll(lib):
    d = lib.dll
    d.marty_endpoint_options_init.argtypes = [ctypes.POINTER(EndpointOptions)]
    d.marty_endpoint_options_init.restype = None
    d.marty_endpoint_start.argtypes = [ctypes.POINTER(EndpointOptions), ctypes.POINTER(ctypes.c_void_p)]
    d.marty_endpoint_start.restype = ctypes.c_int
    for name in ("marty_endpoint_metrics_port", "marty_endpoint_health_port"):
        getattr(d, name).argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_int)]
        getattr(d, name).restype = ctypes.c_int
    for name in ("marty_endpoint_stop", "marty_endpoint_free"):
        getattr(d, name).argtypes = [ctypes.c_void_p]
        getattr(d, name).restype = ctypes.c_int
    d.marty_health_set.argtypes = [ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_double]
    d.marty_health_set.restype = ctypes.c_int
    d.marty_health_remove.argtypes = [ctypes.c_char_p]
    d.marty_health_remove.restype = ctypes.c_int
    return d


def start(dll, registry, metrics_port=0, health_port=0):
    options = EndpointOptions()
    dll.marty_endpoint_options_init(ctypes.byref(options))
    options.service = b"py-service"
    options.bind_address = b"127.0.0.1"
    options.metrics_port = metrics_port
    options.health_port = health_port
    options.registry = registry
    endpoint = ctypes.c_void_p()
    status = dll.marty_endpoint_start(ctypes.byref(options), ctypes.byref(endpoint))
    return status, endpoint


def port_of(dll, endpoint, health=False):
    port = ctypes.c_int(-1)
    getter = dll.marty_endpoint_health_port if health else dll.marty_endpoint_metrics_port
    assert getter(endpoint, ctypes.byref(port)) == MARTY_OK
    return port.value


def fetch(port, path, headers=None):
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


@pytest.fixture
def served(lib, dll, new_model):
    model = new_model()
    requests = model.counter("py_requests", "Requests served.", ["method"])
    for _ in range(5):
        requests.get("GET").inc()
    model.gauge("py_temperature", "Temperature.").get().set(21.5)
    status, endpoint = start(dll, model.registry)
    assert status == MARTY_OK, lib.errmsg()
    yield model, endpoint
    assert dll.marty_endpoint_free(endpoint) == MARTY_OK


def test_python_starts_the_endpoint_and_reads_its_own_metrics(dll, served):
    _, endpoint = served
    status, headers, body = fetch(port_of(dll, endpoint), "/metrics")
    assert status == 200
    assert headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    families = {f.name: f for f in parse_text(body.decode())}
    assert [s.value for s in families["py_requests"].samples] == [5.0]
    assert families["py_temperature"].samples[0].value == 21.5


def test_prometheus_scrape_headers_get_openmetrics_gzipped(dll, served):
    _, endpoint = served
    status, headers, body = fetch(port_of(dll, endpoint), "/metrics", {
        "Accept": "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,"
                  "text/plain;version=0.0.4;q=0.5,*/*;q=0.1",
        "Accept-Encoding": "gzip",
    })
    assert status == 200
    assert headers["Content-Encoding"] == "gzip"
    assert headers["Content-Type"].startswith("application/openmetrics-text; version=1.0.0")
    text = gzip.decompress(body).decode()
    families = {f.name: f for f in parse_openmetrics(text)}
    assert families["py_requests"].type == "counter"
    assert families["py_requests"].samples[0].value == 5.0


def test_health_json_has_the_seeds_fields(dll, served):
    _, endpoint = served
    assert dll.marty_health_set(b"py_database", 0, b"down", 2, 0.0) == MARTY_OK
    try:
        for port in (port_of(dll, endpoint), port_of(dll, endpoint, health=True)):
            status, headers, body = fetch(port, "/health")
            document = json.loads(body)
            assert status == 200 and headers["Content-Type"] == "application/json"
            assert {"service", "healthy", "ready", "live", "uptime_seconds", "checks", "timestamp"} <= set(document)
            assert document["service"] == "py-service"
            assert document["checks"]["py_database"] is False
            assert fetch(port, "/health/ready")[0] == 503
            assert fetch(port, "/health/live")[0] == 200
    finally:
        assert dll.marty_health_remove(b"py_database") == MARTY_OK


def test_a_taken_port_raises_a_clear_error(lib, dll, served):
    model, endpoint = served
    taken = port_of(dll, endpoint)
    status, _ = start(dll, model.registry, metrics_port=taken)
    assert status == MARTY_ERR_ADDRESS_IN_USE
    assert f"port {taken} on 127.0.0.1 is already in use" in lib.errmsg().decode()


def test_fork_after_start_child_stops_at_once_parent_keeps_serving(dll, served):
    _, endpoint = served
    port = port_of(dll, endpoint)
    pid = os.fork()
    if pid == 0:
        started = time.monotonic()
        dll.marty_endpoint_stop(endpoint)
        os._exit(0 if time.monotonic() - started < 0.5 else 1)
    _, wait_status = os.waitpid(pid, 0)
    assert os.WIFEXITED(wait_status) and os.WEXITSTATUS(wait_status) == 0, "the child's stop did not return at once"
    assert fetch(port, "/metrics")[0] == 200
