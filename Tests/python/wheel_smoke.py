"""Run by Tests/python/wheel.sh with a fresh venv's interpreter, from an empty directory, after
installing the wheel alone: the package must work from the wheel's own files (no repository,
no Swift, no MARTY_METRICS_LIBRARY). Prints what it checked; any failure raises.

    python wheel_smoke.py extension|ctypes
"""

import os
import sys
import urllib.request

expected_path = sys.argv[1]
assert "MARTY_METRICS_LIBRARY" not in os.environ, "the wheel must work without MARTY_METRICS_LIBRARY"

import marty_metrics as mm  # noqa: E402
from marty_metrics import metrics  # noqa: E402

package = os.path.dirname(os.path.abspath(mm.__file__))
assert os.path.realpath(mm.LIBRARY_PATH) == os.path.realpath(os.path.join(package, "_lib", "libmarty_metrics.so.0")), (
    "the library was not loaded from the wheel's copy: %s" % mm.LIBRARY_PATH)
if expected_path == "extension":
    assert metrics._speedups is not None, "the compiled extension is not in use"
    assert os.path.dirname(os.path.abspath(metrics._speedups.__file__)) == package
else:
    assert metrics._speedups is None, "this wheel should have no compiled extension"
print("library %s from %s; recording through %s" % (mm.LIBRARY_VERSION, mm.LIBRARY_PATH,
                                                      "the extension" if metrics._speedups else "ctypes"))

registry = mm.CollectorRegistry()
requests = mm.Counter("wheel_requests", "Requests served.", ["method"], registry=registry)
requests.labels("get").inc()
requests.labels(method="get").inc(2)
depth = mm.Gauge("wheel_queue_depth", "Queue depth.", registry=registry)
depth.set(7)
latency = mm.Histogram("wheel_latency_seconds", "Latency.", registry=registry)
latency.observe(0.3)



def sample(text, name):
    """The value of the sample line that starts with `name` (name and labels as written)."""
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line[len(name) + 1:].split()[0])
    raise AssertionError("no sample %s in:\n%s" % (name, text))


text = mm.generate_latest(registry).decode()
assert sample(text, 'wheel_requests_total{method="get"}') == 3
assert sample(text, "wheel_queue_depth") == 7
assert sample(text, "wheel_latency_seconds_count") == 1
print("rendered %d bytes" % len(text))

server = mm.start_metrics_server(service="wheel-smoke", metrics_port=0, health_port=0, bind_address="127.0.0.1",
                                 registry=registry)
try:
    url = "http://127.0.0.1:%d/metrics" % server.metrics_port
    with urllib.request.urlopen(url, timeout=10) as response:
        body = response.read().decode()
        assert response.status == 200
    assert sample(body, 'wheel_requests_total{method="get"}') == 3
    print("fetched %s: %d bytes" % (url, len(body)))
finally:
    server.stop()
print("wheel smoke test passed (%s)" % expected_path)
