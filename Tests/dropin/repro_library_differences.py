#!/usr/bin/env python3
"""The smallest reproductions of what keeps prometheus_client's exposition tests failing on
marty_metrics, all in the library's rendering (Python only asks it to render). Each prints
what the library writes and what prometheus_client writes for the same metric.

    MARTY_METRICS_LIBRARY=... PYTHONPATH=bindings/python python Tests/dropin/repro_library_differences.py
"""

import time

import marty_metrics as mm
from marty_metrics.metrics_core import GaugeMetricFamily
from marty_metrics.samples import Timestamp


def show(title, got, expected):
    print("== %s\n   library:           %r\n   prometheus_client: %r" % (title, got, expected))


# 1. Numbers: the library writes integral values without ".0"; prometheus_client writes
#    Python's repr of the float (17.0), in text 0.0.4 and OpenMetrics alike.
registry = mm.CollectorRegistry()
mm.Gauge("gg", "A gauge", registry=registry).set(17)
show("integral sample values", mm.generate_latest(registry), b"# HELP gg A gauge\n# TYPE gg gauge\ngg 17.0\n")

# 2. Created times come from the library's clock: prometheus_client takes time.time() when the
#    series is made (its tests replace time.time to get a fixed _created).
time_time = time.time
time.time = lambda: 123.456
try:
    registry = mm.CollectorRegistry()
    mm.Counter("cc", "A counter", registry=registry).inc()
    text = mm.generate_openmetrics(registry)
finally:
    time.time = time_time
show("_created of a native counter (time.time() replaced by 123.456)", text,
     b"# HELP cc A counter\n# TYPE cc counter\ncc_total 1.0\ncc_created 123.456\n# EOF\n")

# 3. Text 0.0.4: prometheus_client writes the _created of counters, histograms and summaries
#    as gauge families of their own (and a counter's HELP/TYPE under <name>_total).
show("text 0.0.4 of the same counter", mm.generate_latest(registry),
     b"# HELP cc_total A counter\n# TYPE cc_total counter\ncc_total 1.0\n"
     b"# HELP cc_created A counter\n# TYPE cc_created gauge\ncc_created 123.456\n")

# 4. A native family has no unit: OpenMetrics' # UNIT line is missing.
registry = mm.CollectorRegistry()
mm.Counter("cc_seconds", "A counter", registry=registry, unit="seconds").inc()
show("unit of a native counter", mm.generate_openmetrics(registry),
     b"# HELP cc_seconds A counter\n# TYPE cc_seconds counter\n# UNIT cc_seconds seconds\ncc_seconds_total 1.0\n...")

# 5. A counter named requests_total (Counter('requests', unit='total')) loses its _total at
#    creation: prometheus_client keeps it (requests_total_total).
registry = mm.CollectorRegistry()
mm.Counter("requests", "Request counter", unit="total", registry=registry).inc()
show("a counter whose unit is total", mm.generate_latest(registry), b"...requests_total_total 1.0\n...")


# 6. Collected timestamps: the library writes them as prometheus_client does; only the values
#    differ (item 1).
class Collector:
    def collect(self):
        family = GaugeMetricFamily("ts", "help", labels=["foo"])
        family.add_metric(["c"], 0, 123)
        family.add_metric(["f"], 0, Timestamp(123, 456))
        yield family


registry = mm.CollectorRegistry()
registry.register(Collector())
show("collected timestamps", mm.generate_openmetrics(registry),
     b'...ts{foo="c"} 0.0 123\nts{foo="f"} 0.0 123.000000456\n# EOF\n')
