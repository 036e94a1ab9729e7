#!/usr/bin/env python3
"""The smallest reproductions of what still keeps prometheus_client's tests (and its bytes)
apart from marty_metrics, all in the library's rendering or its C API (Python only asks it to
render, in its prometheus_client style). Each prints what the library writes and what
prometheus_client writes for the same program.

    MARTY_METRICS_LIBRARY=... PYTHONPATH=bindings/python python Tests/dropin/repro_library_differences.py
"""

import marty_metrics as mm
from marty_metrics.metrics_core import Metric
from marty_metrics.samples import Timestamp


def show(title, got, expected):
    print("== %s\n   library:           %r\n   prometheus_client: %r" % (title, got, expected))


# 1. Sample timestamps of collected families are doubles in the C API
#    (marty_collection_add_sample), written as the shortest double: an int timestamp comes out
#    as 123.0, Timestamp(123, 456000000) as 123.456, where prometheus_client writes an int as
#    given and a Timestamp with all nine digits of its nanoseconds (123.456000000).
#    openmetrics test_timestamp.


class Collector:
    def collect(self):
        metric = Metric("ts", "help", "unknown")
        metric.add_sample("ts", {"foo": "c"}, 0, 123)
        metric.add_sample("ts", {"foo": "d"}, 0, Timestamp(123, 456000000))
        yield metric


registry = mm.CollectorRegistry()
registry.register(Collector())
show("collected sample timestamps", mm.generate_openmetrics(registry),
     b'# HELP ts help\n# TYPE ts unknown\nts{foo="c"} 0.0 123\nts{foo="d"} 0.0 123.456000000\n# EOF\n')

# 2. A counter named requests_total (Counter('requests', unit='total')) loses its _total at
#    creation (marty_counter_family_new strips it): prometheus_client keeps it
#    (requests_total_total). test_counter_name_unit_append.
registry = mm.CollectorRegistry()
registry.set_created_timestamps(False)
mm.Counter("requests", "Request counter", unit="total", registry=registry).inc()
show("a counter whose unit is total", mm.generate_latest(registry),
     b"# HELP requests_total_total Request counter\n# TYPE requests_total_total counter\n"
     b"requests_total_total 1.0\n")

# 3. Exemplar label names outside [a-zA-Z_][a-zA-Z0-9_]* when UTF-8 names are allowed (the
#    default of prometheus_client 0.26): prometheus_client takes them (and writes them
#    unquoted, `# {:o)="smile"} 1.0`, which no OpenMetrics parser reads back); the library
#    refuses them (marty_counter_add_exemplar, marty_histogram_observe_exemplar: invalid label).
#    test_core's TestCounter/TestHistogram::test_exemplar_invalid_label_name.
registry = mm.CollectorRegistry()
counter = mm.Counter("cc", "A counter", registry=registry)
try:
    counter.inc(exemplar={":o)": "smile"})
    got = "accepted"
except ValueError as error:
    got = "ValueError: %s" % error
show("an exemplar label named ':o)'", got, "accepted")
