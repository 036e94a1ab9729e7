"""The process-wide series cap (a subprocess: the cap is the process') and exemplar times taken
from Python's time.time(), as prometheus_client takes them."""

import os
import subprocess
import sys
import textwrap
import time

import marty_metrics as mm


def test_exemplars_carry_pythons_time(monkeypatch):
    monkeypatch.setattr(time, "time", lambda: 1234.5)
    registry = mm.CollectorRegistry()
    mm.Counter("jobs", "Jobs.", registry=registry).inc(2, exemplar={"trace_id": "abc"})
    mm.Histogram("latency", "Latency.", buckets=(1,), registry=registry).observe(0.5, exemplar={"trace_id": "def"})
    text = mm.generate_openmetrics(registry).decode()
    assert 'jobs_total 2.0 # {trace_id="abc"} 2.0 1234.5\n' in text
    assert 'latency_bucket{le="1.0"} 1.0 # {trace_id="def"} 0.5 1234.5\n' in text


PROCESS_CAP_PROGRAM = textwrap.dedent("""
    import marty_metrics as mm
    series, cap = mm.process_series()
    assert cap == 100000, cap
    mm.set_process_max_series(series + 2)
    registry = mm.CollectorRegistry()
    registry.set_created_timestamps(False)
    pages = mm.Counter("pages", "Pages.", ["path"], registry=registry)
    for path in ("/a", "/b", "/c", "/d"):
        pages.labels(path).inc()
    text = mm.generate_latest(registry).decode()
    assert 'pages_total{path="/b"} 1.0' in text, text
    assert 'pages_total{path="/c"}' not in text, text
    assert 'pages_total{path="__overflow__"} 2.0' in text, text
    mm.set_process_max_series(0)
    pages.labels("/e").inc()
    assert 'pages_total{path="/e"} 1.0' in mm.generate_latest(registry).decode()
    for bad, error in ((-1, ValueError), ("3", TypeError), (True, TypeError)):
        try:
            mm.set_process_max_series(bad)
        except error:
            pass
        else:
            raise AssertionError("%r was accepted" % (bad,))
    print("ok")
""")


def test_process_wide_cap_in_its_own_process():
    environment = dict(os.environ, MARTY_METRICS_MAX_SERIES="100000")
    result = subprocess.run([sys.executable, "-c", PROCESS_CAP_PROGRAM], env=environment, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stdout + result.stderr
