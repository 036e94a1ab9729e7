"""Shared helpers of the marty_metrics tests: they run against the real library (the
package's bundled copy, or MARTY_METRICS_LIBRARY), with servers on 127.0.0.1 only, on
ephemeral ports, stopped by the test that started them."""

import os
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

PACKAGE_ROOT = Path(__file__).resolve().parents[1]

try:
    import marty_metrics  # noqa: F401  (the installed package)
except ModuleNotFoundError:
    # Not installed: test the source tree (the library then comes from MARTY_METRICS_LIBRARY).
    sys.path.insert(0, str(PACKAGE_ROOT))
    import marty_metrics  # noqa: F401

from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_openmetrics
from prometheus_client.parser import text_string_to_metric_families as parse_text

import marty_metrics as mm


def pytest_report_header(config):
    from marty_metrics import _native
    return "marty_metrics %s from %s; library %s at %s" % (
        mm.__version__, os.path.dirname(mm.__file__), _native.VERSION, _native.library_path)


def samples(registry=None, text=None):
    """{(sample name, frozenset(labels.items())): value} of the registry's text exposition,
    read by prometheus_client's parser."""
    if text is None:
        text = mm.generate_latest(registry if registry is not None else mm.REGISTRY).decode("utf-8")
    out = {}
    for family in parse_text(text):
        for sample in family.samples:
            out[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return out


def value(registry, name, **labels):
    return samples(registry).get((name, frozenset(labels.items())))


def families(registry):
    return {family.name: family for family in parse_text(mm.generate_latest(registry).decode("utf-8"))}


def openmetrics_families(registry):
    return {family.name: family for family in parse_openmetrics(mm.generate_openmetrics(registry).decode("utf-8"))}


def fetch(port, path, headers=None, timeout=5):
    request = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path), headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


@pytest.fixture
def registry():
    return mm.CollectorRegistry()


@pytest.fixture
def server():
    """A metrics server for "test-service" on ephemeral ports with its own registry."""
    registry = mm.CollectorRegistry()
    started = mm.start_metrics_server(service="test-service", metrics_port=0, health_port=0,
                                      bind_address="127.0.0.1", version="9.9.9", registry=registry)
    try:
        yield started
    finally:
        started.stop()


def python_env(**overrides):
    """The environment for a child Python process that imports the same marty_metrics."""
    env = dict(os.environ)
    paths = [str(Path(mm.__file__).resolve().parents[1])]
    if env.get("PYTHONPATH"):
        paths.append(env["PYTHONPATH"])
    env["PYTHONPATH"] = os.pathsep.join(paths)
    for key, val in overrides.items():
        if val is None:
            env.pop(key, None)
        else:
            env[key] = val
    return env
