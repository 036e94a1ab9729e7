"""The recording methods behave the same on both paths: the compiled extension
(marty_metrics._speedups) and ctypes (MARTY_METRICS_PURE_PYTHON=1). The suite runs once each
way (Tests/python/run-both.sh); every test here asserts the behaviour, not the path, except
the first, which checks that the path asked for is the one in use."""

import gc
import math
import os
import threading
import weakref
from decimal import Decimal
from fractions import Fraction

import pytest

import marty_metrics as mm
from marty_metrics import metrics as metrics_module

from conftest import openmetrics_families, value


def _enabled(variable):
    return os.environ.get(variable, "").strip().lower() not in ("", "0", "false", "no")


def test_the_path_asked_for_is_used():
    speedups = metrics_module._speedups
    if _enabled("MARTY_METRICS_PURE_PYTHON"):
        assert speedups is None
        assert issubclass(metrics_module.CounterChild, metrics_module._CtypesCounterSeries)
    elif _enabled("MARTY_METRICS_REQUIRE_SPEEDUPS"):
        assert speedups is not None
        assert issubclass(metrics_module.CounterChild, speedups.CounterSeries)
        assert issubclass(metrics_module.GaugeChild, speedups.GaugeSeries)
        assert issubclass(metrics_module.HistogramChild, speedups.HistogramSeries)
        labelled = mm.Counter("path_check", "p", ["a"], registry=mm.CollectorRegistry())
        assert type(labelled.labels) is speedups.LabelsCache
    else:
        pytest.skip("neither MARTY_METRICS_PURE_PYTHON nor MARTY_METRICS_REQUIRE_SPEEDUPS is set")


class FloatOnly:
    """A number that only converts with __float__ (as numpy scalars and the like do)."""

    def __init__(self, number):
        self.number = number

    def __float__(self):
        return float(self.number)


class BadEquality:
    def __eq__(self, other):
        raise RuntimeError("no comparison for you")

    __hash__ = object.__hash__


# Each recording target twice: a labelled metric's child and an unlabelled metric, whose
# methods are its one child's.

@pytest.fixture(params=["child", "unlabelled"])
def counter(request, registry):
    if request.param == "child":
        target = mm.Counter("jobs", "Jobs", ["queue"], registry=registry).labels("q")
        return target, lambda: value(registry, "jobs_total", queue="q")
    target = mm.Counter("jobs", "Jobs", registry=registry)
    return target, lambda: value(registry, "jobs_total")


@pytest.fixture(params=["child", "unlabelled"])
def gauge(request, registry):
    if request.param == "child":
        target = mm.Gauge("depth", "Depth", ["queue"], registry=registry).labels("q")
        return target, lambda: value(registry, "depth", queue="q")
    target = mm.Gauge("depth", "Depth", registry=registry)
    return target, lambda: value(registry, "depth")


@pytest.fixture(params=["child", "unlabelled"])
def histogram(request, registry):
    if request.param == "child":
        target = mm.Histogram("latency", "Latency", ["queue"], registry=registry, buckets=(1, 2)).labels("q")
        return target, lambda name, **labels: value(registry, name, queue="q", **labels)
    target = mm.Histogram("latency", "Latency", registry=registry, buckets=(1, 2))
    return target, lambda name, **labels: value(registry, name, **labels)


def test_counter_amounts(counter):
    target, read = counter
    assert target.inc() is None
    assert target.inc(2) is None
    target.inc(0.5)
    target.inc(amount=3)
    target.inc(True)       # == 1
    target.inc(False)      # adds 0
    target.inc(Decimal("1.5"))
    target.inc(Fraction(1, 2))
    target.inc(FloatOnly(2))
    target.inc(1, exemplar=None)
    target.inc(exemplar=None)
    assert read() == 1 + 2 + 0.5 + 3 + 1 + 0 + 1.5 + 0.5 + 2 + 1 + 1
    assert target.get() == read()


def test_counter_rejects_what_prometheus_client_rejects(counter):
    target, read = counter
    target.inc(5)
    with pytest.raises(ValueError) as negative:
        target.inc(-1)
    assert isinstance(negative.value, mm.MartyValueError) and negative.value.status is not None
    with pytest.raises(ValueError):
        target.inc(float("nan"))
    with pytest.raises(TypeError, match="^amount must be a real number, not str$"):
        target.inc("1")
    with pytest.raises(TypeError, match="^amount must be a real number, not NoneType$"):
        target.inc(None)
    with pytest.raises(TypeError, match="^amount must be a real number, not int$"):
        target.inc(10 ** 400)  # too large for a double: ctypes refuses it too
    with pytest.raises(RuntimeError, match="no comparison"):
        target.inc(BadEquality())
    for call in (lambda: target.inc(1, None, 3), lambda: target.inc(size=1),
                 lambda: target.inc(1, amount=1)):
        with pytest.raises(TypeError):
            call()
    assert read() == 5


def test_counter_infinity_is_allowed(registry):
    counter = mm.Counter("overflowing", "O", registry=registry)
    counter.inc(float("inf"))
    assert value(registry, "overflowing_total") == math.inf


def test_counter_exemplars(counter, registry):
    target, read = counter
    target.inc(2, exemplar={"trace_id": "abc"})
    target.inc(exemplar={"trace_id": "def"})
    assert read() == 3
    exemplar = [sample.exemplar for sample in openmetrics_families(registry)["jobs"].samples
                if sample.name == "jobs_total"][0]
    assert exemplar.labels == {"trace_id": "def"} and exemplar.value == 1
    with pytest.raises(ValueError):
        target.inc(1, exemplar={"not a name": "x"})
    with pytest.raises(TypeError):
        target.inc(1, exemplar="trace_id=abc")
    with pytest.raises(ValueError):
        target.inc(-1, exemplar={"trace_id": "abc"})
    with pytest.raises(TypeError, match="^amount must be a real number, not str$"):
        target.inc("x", exemplar={"trace_id": "abc"})
    assert read() == 3


def test_gauge_methods(gauge):
    target, read = gauge
    assert target.set(2.5) is None
    assert read() == 2.5
    target.set(value=4)
    target.inc()
    target.inc(2)
    target.inc(amount=-0.5)
    target.dec()
    target.dec(2)
    target.dec(amount=Decimal("0.5"))
    target.dec(Fraction(1, 2))
    target.inc(FloatOnly(1))
    target.dec(True)
    assert read() == 4 + 1 + 2 - 0.5 - 1 - 2 - 0.5 - 0.5 + 1 - 1
    target.set(float("nan"))
    assert math.isnan(read())
    target.set(-math.inf)
    assert read() == -math.inf
    target.set_to_current_time()
    assert read() > 1.6e9  # a Unix time in seconds (after 2020)
    assert target.get() == read()


def test_gauge_rejects_non_numbers(gauge):
    target, read = gauge
    target.set(7)
    with pytest.raises(TypeError, match="^value must be a real number, not str$"):
        target.set("3")
    with pytest.raises(TypeError, match="^amount must be a real number, not str$"):
        target.inc("3")
    with pytest.raises(TypeError, match="^amount must be a real number, not str$"):
        target.dec("3")
    with pytest.raises(TypeError, match="^amount must be a real number, not FloatOnly$"):
        target.dec(FloatOnly(3))  # no negation: the Python method refuses it too
    with pytest.raises(TypeError, match="^amount must be a real number, not NoneType$"):
        target.inc(None)
    for call in (lambda: target.set(), lambda: target.set(1, 2), lambda: target.set(amount=1),
                 lambda: target.inc(1, 2), lambda: target.dec(value=1), lambda: target.set_to_current_time(1)):
        with pytest.raises(TypeError):
            call()
    assert read() == 7


def test_histogram_observe(histogram, registry):
    target, read = histogram
    assert target.observe(0.5) is None
    target.observe(amount=1.5)
    target.observe(3)
    target.observe(math.inf)
    target.observe(Decimal("0.25"))
    target.observe(FloatOnly(2))
    target.observe(1, exemplar=None)
    target.observe(1.5, exemplar={"trace_id": "abc"})
    assert read("latency_count") == 8
    assert read("latency_bucket", le="1.0") == 3
    assert read("latency_bucket", le="2.0") == 6
    assert read("latency_sum") == math.inf
    with pytest.raises(ValueError):
        target.observe(float("nan"))
    with pytest.raises(TypeError, match="^amount must be a real number, not str$"):
        target.observe("1")
    with pytest.raises(TypeError, match="^amount must be a real number, not str$"):
        target.observe("1", exemplar={"trace_id": "abc"})
    with pytest.raises(ValueError):
        target.observe(1, exemplar={"bad name": "x"})
    for call in (lambda: target.observe(), lambda: target.observe(1, None, 3),
                 lambda: target.observe(value=1), lambda: target.observe(1, amount=1)):
        with pytest.raises(TypeError):
            call()
    assert read("latency_count") == 8


def test_timers_and_trackers_record_through_the_same_methods(registry):
    histogram = mm.Histogram("took", "T", registry=registry)
    gauge = mm.Gauge("busy", "B", ["pool"], registry=registry)
    counter = mm.Counter("failures", "F", registry=registry)
    with histogram.time():
        pass
    with gauge.labels("p").track_inprogress():
        assert value(registry, "busy", pool="p") == 1
    with pytest.raises(KeyError):
        with counter.count_exceptions(KeyError):
            raise KeyError("x")
    assert value(registry, "took_count") == 1
    assert value(registry, "busy", pool="p") == 0
    assert value(registry, "failures_total") == 1


# ---- labels() ----------------------------------------------------------------------------


def test_labels_cache_answers_like_the_python_method(registry):
    family = mm.Counter("requests", "R", ["method", "code"], registry=registry)
    child = family.labels("get", "200")
    assert family.labels("get", "200") is child
    assert family.labels(method="get", code="200") is child
    assert family.labels(code="200", method="get") is child

    class Text(str):
        pass

    assert family.labels(Text("get"), "200") is child  # equal str: the same series
    with pytest.raises(ValueError):
        family.labels("get")
    with pytest.raises(ValueError):
        family.labels("get", "200", "extra")
    with pytest.raises(ValueError):
        family.labels("get", code="200")
    with pytest.raises(ValueError):
        family.labels(method="get", status="200")
    # Values are converted with str(), as prometheus_client converts them.
    assert family.labels("get", 200) is child
    with pytest.raises(ValueError):
        family.labels(method="get")
    with pytest.raises(ValueError):
        family.labels(method="get", code="200", extra="x")
    assert family.labels(method="get", code=200) is child
    assert family.labels(**{"code": "200", "method": "get"}) is child
    family.labels("get", "200").inc(3)
    assert value(registry, "requests_total", method="get", code="200") == 3
    # remove() and clear() drop the cached child: the next labels() makes a new series.
    family.remove("get", "200")
    renewed = family.labels("get", "200")
    assert renewed is not child
    renewed.inc()
    assert value(registry, "requests_total", method="get", code="200") == 1
    family.clear()
    assert family.labels("get", "200") is not renewed
    assert family.labels.__doc__ == mm.Counter.labels.__doc__


def test_labels_on_unlabelled_metrics_and_overrides(registry):
    plain = mm.Counter("plain", "P", registry=registry)
    with pytest.raises(ValueError):
        plain.labels("x")

    class Custom(mm.Counter):
        def labels(self, *values, **keywords):
            return super().labels(*(value.lower() for value in values), **keywords)

    custom = Custom("custom", "C", ["who"], registry=registry)
    custom.labels("ABC").inc()
    assert custom.labels("abc") is custom.labels("ABC")  # the override runs every time
    assert value(registry, "custom_total", who="abc") == 1


# ---- Lifetimes and threads -----------------------------------------------------------------


def test_a_child_keeps_its_metric_alive_and_both_are_collected():
    family = mm.Counter("kept", "K", ["a"], registry=None)
    metric_ref = weakref.ref(family)
    child = family.labels("x")
    child_ref = weakref.ref(child)
    del family
    gc.collect()
    assert metric_ref() is not None  # the child's _parent holds it, and so the handle
    child.inc(2)
    assert child.get() == 2
    del child
    gc.collect()
    assert child_ref() is None and metric_ref() is None  # the cycle metric <-> child is collected


def test_recording_from_threads_loses_nothing(registry):
    family = mm.Counter("threaded", "T", ["worker"], registry=registry)
    gauge = mm.Gauge("threaded_gauge", "T", registry=registry)
    histogram = mm.Histogram("threaded_seconds", "T", registry=registry)
    per_thread = 20000

    def work():
        child = family.labels("shared")
        for _ in range(per_thread):
            child.inc()
            family.labels("shared").inc(2)
            gauge.inc()
            histogram.observe(0.1)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert value(registry, "threaded_total", worker="shared") == 4 * per_thread * 3
    assert value(registry, "threaded_gauge") == 4 * per_thread
    assert value(registry, "threaded_seconds_count") == 4 * per_thread


def test_recording_after_remove_and_clear_changes_nothing_visible(registry):
    family = mm.Gauge("removed", "R", ["a"], registry=registry)
    child = family.labels("x")
    family.remove("x")
    child.set(5)  # the handle records nothing once its series is gone, and does not fail
    child.inc()
    assert value(registry, "removed", a="x") is None
