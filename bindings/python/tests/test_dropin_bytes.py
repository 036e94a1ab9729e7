"""The drop-in writes what prometheus_client writes: one program, run once with the real
prometheus_client (the one tests/requirements.txt installs) and once with marty_metrics
installed as prometheus_client, must print the same bytes in text 0.0.4 and OpenMetrics.

The program mixes everything whose order or spelling a scrape shows: native metrics and custom
collectors registered in turn, target_info, labels given out of order, series created out of
order, units, a reset() under a later clock, whole and fractional numbers, a collector
unregistered and registered again (it moves to the end). time.time is
replaced, as prometheus_client's own tests replace it, so _created comes out the same in both."""

import subprocess
import sys
import textwrap

import pytest

from conftest import python_env

PROGRAM = textwrap.dedent("""
    import sys
    import time

    time.time = lambda: 1700000000.25

    from prometheus_client import (CollectorRegistry, Counter, Enum, Gauge, Histogram, Info, Summary,
                                   generate_latest)
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
    from prometheus_client.openmetrics.exposition import generate_latest as generate_openmetrics


    class Queue:
        def collect(self):
            yield GaugeMetricFamily("queue_depth", "Jobs waiting.", value=4)
            family = CounterMetricFamily("jobs_done", "Jobs done.", labels=["worker"])
            family.add_metric(["w2"], 7)
            family.add_metric(["w1"], 2.5)
            yield family


    class Early:
        def collect(self):
            yield GaugeMetricFamily("early", "Unregistered and registered again: written last.", value=0.5)


    registry = CollectorRegistry(target_info={"env": "test", "app": "demo"})
    requests = Counter("requests", "Requests served.", ["path", "code"], registry=registry)
    requests.labels("/b", "200").inc(3)
    requests.labels(code="500", path="/a").inc()
    queue = Queue()
    registry.register(queue)
    early = Early()
    registry.register(early)
    temperature = Gauge("temperature", "Room temperature.", unit="celsius", registry=registry)
    temperature.set(21.5)
    latency = Histogram("latency", "Request latency.", ["route"], unit="seconds", buckets=[0.1, 1, 10],
                        registry=registry)
    latency.labels("z").observe(0.05)
    latency.labels("a").observe(2)
    state = Enum("state", "Service state.", states=["starting", "up", "down"], registry=registry)
    state.state("up")
    size = Summary("payload_bytes", "Payload sizes.", registry=registry)
    size.observe(1e6)
    size.observe(12.5)
    build = Info("build", "Build data.", registry=registry)
    build.info({"version": "1.2.0", "commit": "abc123"})
    restarts = Counter("restarts_total", "Restarts.", registry=registry)
    restarts.inc()
    time.time = lambda: 1700000100.5
    restarts.reset()
    restarts.inc(2)
    registry.unregister(early)
    registry.register(early)
    sys.stdout.write(generate_latest(registry).decode())
    sys.stdout.write("----\\n")
    sys.stdout.write(generate_openmetrics(registry).decode())
""")

ALIAS = "import marty_metrics.compat\nmarty_metrics.compat.install_as_prometheus_client()\n"


def run(code):
    result = subprocess.run([sys.executable, "-c", code], env=python_env(), capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_the_alias_writes_the_bytes_prometheus_client_writes():
    reference = run(PROGRAM)
    ours = run(ALIAS + PROGRAM)
    text_ours, openmetrics_ours = ours.split("----\n")
    text_reference, openmetrics_reference = reference.split("----\n")
    assert text_ours == text_reference
    assert openmetrics_ours == openmetrics_reference


def test_the_reference_run_is_the_real_prometheus_client():
    # The comparison above means something only if the first run is not marty_metrics.
    path = run("import prometheus_client; print(prometheus_client.__file__)").strip()
    assert "marty_metrics" not in path and path.endswith("__init__.py")


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
