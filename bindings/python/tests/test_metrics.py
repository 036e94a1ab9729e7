"""Counter, Gauge, Histogram, Info, CollectorRegistry and generate_latest against the real
library, read back through prometheus_client's parsers."""

import asyncio
import errno
import math
import threading

import pytest

import marty_metrics as mm
from marty_metrics import _native
from conftest import families, openmetrics_families, samples, value


# ---- Counter ------------------------------------------------------------------------------


def test_unlabelled_counter_starts_at_zero_and_counts(registry):
    counter = mm.Counter("jobs", "Jobs done.", registry=registry)
    assert value(registry, "jobs_total") == 0
    counter.inc()
    counter.inc(2.5)
    counter.inc(0)
    assert value(registry, "jobs_total") == 3.5
    assert counter.get() == 3.5
    family = families(registry)["jobs"]
    assert family.type == "counter" and family.documentation == "Jobs done."


def test_counter_total_suffix_namespace_subsystem_unit(registry):
    mm.Counter("requests_total", "r", namespace="marty", subsystem="http", registry=registry).inc()
    mm.Counter("transfer", "t", unit="bytes", registry=registry).inc(7)
    assert value(registry, "marty_http_requests_total") == 1
    assert value(registry, "transfer_bytes_total") == 7


def test_labelled_counter_positional_and_keyword_labels_share_one_child(registry):
    counter = mm.Counter("calls", "Calls.", ["method", "code"], registry=registry)
    child = counter.labels("get", "200")
    assert counter.labels("get", "200") is child
    assert counter.labels(method="get", code="200") is child
    assert counter.labels(code="200", method="get") is child
    child.inc()
    counter.labels("get", "200").inc(4)
    counter.labels("post", "500").inc()
    assert value(registry, "calls_total", method="get", code="200") == 5
    assert value(registry, "calls_total", method="post", code="500") == 1


def test_counter_count_exceptions_context_manager_and_decorators(registry):
    counter = mm.Counter("failures", "f", registry=registry)
    with pytest.raises(KeyError):
        with counter.count_exceptions():
            raise KeyError("x")
    with counter.count_exceptions():
        pass
    with pytest.raises(ValueError):
        with counter.count_exceptions(KeyError):
            raise ValueError("not counted")

    @counter.count_exceptions(ZeroDivisionError)
    def divide(a, b):
        return a / b

    assert divide(4, 2) == 2
    with pytest.raises(ZeroDivisionError):
        divide(1, 0)

    labelled = mm.Counter("async_failures", "f", ["kind"], registry=registry)

    @labelled.labels("io").count_exceptions()
    async def fails():
        raise OSError("boom")

    with pytest.raises(OSError):
        asyncio.run(fails())
    assert value(registry, "failures_total") == 2
    assert value(registry, "async_failures_total", kind="io") == 1


def test_counter_rejects_negative_nan_and_non_numbers(registry):
    counter = mm.Counter("strict", "s", registry=registry)
    with pytest.raises(ValueError, match="marty_counter_add"):
        counter.inc(-1)
    with pytest.raises(ValueError):
        counter.inc(float("nan"))
    with pytest.raises(TypeError):
        counter.inc("3")
    counter.inc(float("inf"))  # prometheus_client allows +Inf
    assert value(registry, "strict_total") == math.inf


def test_counter_from_many_threads_loses_nothing(registry):
    counter = mm.Counter("threaded", "t", ["t"], registry=registry)

    def work():
        child = counter.labels("x")
        for _ in range(20000):
            child.inc()
            counter.labels("y").inc()

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert value(registry, "threaded_total", t="x") == 80000
    assert value(registry, "threaded_total", t="y") == 80000


# ---- Gauge -------------------------------------------------------------------------------


def test_gauge_inc_dec_set_and_current_time(registry):
    gauge = mm.Gauge("temperature", "t", registry=registry)
    gauge.set(21.5)
    gauge.inc()
    gauge.inc(2)
    gauge.dec()
    gauge.dec(0.5)
    assert value(registry, "temperature") == 23.0
    gauge.set(-4)
    assert gauge.get() == -4
    import time
    before = time.time()
    gauge.set_to_current_time()
    assert before - 1 <= value(registry, "temperature") <= time.time() + 1


def test_gauge_track_inprogress_and_time(registry):
    gauge = mm.Gauge("in_progress", "g", ["queue"], registry=registry)
    child = gauge.labels("a")
    with child.track_inprogress():
        assert value(registry, "in_progress", queue="a") == 1

        @child.track_inprogress()
        def nested():
            return value(registry, "in_progress", queue="a")

        assert nested() == 2
    assert value(registry, "in_progress", queue="a") == 0

    duration = mm.Gauge("last_duration", "g", registry=registry)
    with duration.time():
        import time
        time.sleep(0.02)
    assert 0.015 <= value(registry, "last_duration") < 2

    @duration.time()
    async def quick():
        await asyncio.sleep(0.01)
        return 7

    assert asyncio.run(quick()) == 7
    assert 0.005 <= value(registry, "last_duration") < 2


# ---- Histogram --------------------------------------------------------------------------------


def test_histogram_default_buckets_are_prometheus_clients(registry):
    histogram = mm.Histogram("latency", "l", registry=registry)
    histogram.observe(0.3)
    histogram.observe(7)
    histogram.observe(100)
    bounds = [s.labels["le"] for s in families(registry)["latency"].samples if s.name == "latency_bucket"]
    assert bounds == ["0.005", "0.01", "0.025", "0.05", "0.075", "0.1", "0.25", "0.5", "0.75", "1.0", "2.5",
                      "5.0", "7.5", "10.0", "+Inf"]
    assert value(registry, "latency_count") == 3
    assert value(registry, "latency_sum") == pytest.approx(107.3)
    assert value(registry, "latency_bucket", le="0.5") == 1
    assert value(registry, "latency_bucket", le="7.5") == 2
    assert value(registry, "latency_bucket", le="+Inf") == 3
    counts, count, total = histogram.get()
    assert counts[-1] == count == 3 and total == pytest.approx(107.3)


def test_histogram_custom_buckets_labels_and_time(registry):
    histogram = mm.Histogram("work_seconds", "w", ["op"], buckets=[0.01, 0.1, 1, float("inf")], registry=registry)
    child = histogram.labels(op="sign")
    child.observe(0.05)
    with child.time():
        pass

    @histogram.labels("verify").time()
    def verify():
        return "ok"

    assert verify() == "ok"
    assert value(registry, "work_seconds_count", op="sign") == 2
    assert value(registry, "work_seconds_bucket", op="sign", le="0.01") == 1
    assert value(registry, "work_seconds_bucket", op="sign", le="0.1") == 2
    assert value(registry, "work_seconds_count", op="verify") == 1


def test_histogram_rejects_nan_and_bad_buckets(registry):
    histogram = mm.Histogram("h_nan", "h", registry=registry)
    with pytest.raises(ValueError, match="NaN"):
        histogram.observe(float("nan"))
    histogram.observe(float("inf"))
    histogram.observe(-1)
    assert value(registry, "h_nan_count") == 2
    with pytest.raises(ValueError, match="sorted order"):  # prometheus_client's message
        mm.Histogram("h_bad", "h", buckets=[1, 0.5], registry=registry)
    with pytest.raises(ValueError):
        mm.Histogram("h_nan_bound", "h", buckets=[float("nan"), 1], registry=registry)
    with pytest.raises(ValueError):
        mm.Histogram("h_le", "h", ["le"], registry=registry)
    with pytest.raises(ValueError):
        mm.Histogram("h_none", "h", buckets=[float("inf")], registry=registry)
    with pytest.raises(TypeError):
        mm.Histogram("h_str", "h", buckets=["fast"], registry=registry)
    with pytest.raises(TypeError):
        histogram.observe("1")


# ---- Info -------------------------------------------------------------------------------------


def test_info_sets_and_replaces_its_labels(registry):
    info = mm.Info("build", "Build information.", registry=registry)
    info.info({"version": "1.2.3", "commit": "abc"})
    assert value(registry, "build_info", version="1.2.3", commit="abc") == 1
    info.info({"version": "1.2.4", "commit": "def"})
    assert value(registry, "build_info", version="1.2.4", commit="def") == 1
    assert value(registry, "build_info", version="1.2.3", commit="abc") is None
    info.info({"branch": "main"})  # other keys: a new family of the same name
    assert samples(registry) == {("build_info", frozenset({("branch", "main")})): 1.0}
    with pytest.raises(TypeError):
        info.info({"version": 1})
    with pytest.raises(TypeError):
        info.info([("a", "b")])
    labelled = mm.Info("labelled", "i", ["a"], registry=registry)  # held in Python, per child
    labelled.labels("x").info({"k": "v"})
    assert registry.get_sample_value("labelled_info", {"a": "x", "k": "v"}) == 1
    with pytest.raises(ValueError, match="Overlapping"):
        labelled.labels("x").info({"a": "v"})


# ---- Labels: bad input --------------------------------------------------------------------


def test_wrong_label_count_names_and_types(registry):
    counter = mm.Counter("labelled", "l", ["a", "b"], registry=registry)
    with pytest.raises(ValueError, match="Incorrect label count"):  # prometheus_client's texts
        counter.labels("x")
    with pytest.raises(ValueError):
        counter.labels("x", "y", "z")
    with pytest.raises(ValueError, match="Incorrect label names"):
        counter.labels(a="x", c="y")
    with pytest.raises(ValueError):
        counter.labels("x", b="y")
    # Label values are converted with str(), as prometheus_client converts them.
    assert counter.labels("x", 1) is counter.labels("x", "1")
    assert counter.labels(a=None, b="y") is counter.labels("None", "y")
    assert counter.labels(["x"], "y")._labelvalues == ("['x']", "y")

    class Unprintable:
        __str__ = None

    with pytest.raises(TypeError):
        counter.labels(Unprintable(), "y")
    with pytest.raises(ValueError, match="NUL"):
        counter.labels("x\x00y", "z")
    with pytest.raises(ValueError, match="UTF-8"):
        counter.labels("\udc80", "z")
    with pytest.raises(ValueError, match="missing label values"):
        counter.inc()
    unlabelled = mm.Gauge("unlabelled", "u", registry=registry)
    with pytest.raises(ValueError, match="No label names"):
        unlabelled.labels("x")
    with pytest.raises(ValueError, match="No label names"):
        unlabelled.labels()
    # Nothing of the failed calls shows (the converted ones are there, at 0).
    assert {key for key in samples(registry) if key[0] == "labelled_total"} == {
        ("labelled_total", frozenset({("a", "x"), ("b", "1")})),
        ("labelled_total", frozenset({("a", "None"), ("b", "y")})),
        ("labelled_total", frozenset({("a", "['x']"), ("b", "y")}))}


def test_label_values_are_escaped_and_unicode_survives(registry):
    counter = mm.Counter("escaped", "Help with \\ and\nnewline.", ["path"], registry=registry)
    tricky = 'a"b\\c\nd ü'
    counter.labels(tricky).inc()
    assert value(registry, "escaped_total", path=tricky) == 1
    assert families(registry)["escaped"].documentation == "Help with \\ and\nnewline."
    assert registry.get_sample_value("escaped_total", {"path": tricky}) == 1


def test_utf8_names_are_accepted_and_escaped_as_asked(registry):
    registry.set_created_timestamps(False)
    calls = mm.Counter("my.metric", "Calls.", ["label.name", "code"], registry=registry)
    calls.labels("v", "200").inc()
    assert registry.get_sample_value("my.metric_total", {"label.name": "v", "code": "200"}) == 1
    assert mm.generate_latest(registry) == mm.generate_latest(registry, mm.UNDERSCORES)
    # prometheus_client's style (every registry of the package): "1.0", labels sorted by their
    # names as given (not as written: "label.name" after "code" even when quoted or escaped).
    assert b'\nmy_metric_total{code="200",label_name="v"} 1.0\n' in mm.generate_latest(registry)
    assert b'\n{"my.metric_total",code="200","label.name"="v"} 1.0\n' in mm.generate_latest(registry, mm.ALLOWUTF8)
    # The name escaped and the suffix appended, as client_golang does (prometheus_client escapes
    # them together, my_dot_metric__total, which its own parser reads as another family).
    assert b'\nmy_dot_metric_total{code="200",label_dot_name="v"} 1.0\n' in mm.generate_latest(registry, mm.DOTS)
    assert b'\nU__my_2e_metric_total{code="200",U__label_2e_name="v"} 1.0\n' in mm.generate_latest(
        registry, mm.VALUES)
    assert b'{"my.metric_total",code="200","label.name"="v"} 1.0\n# EOF\n' in mm.generate_openmetrics(
        registry, mm.ALLOWUTF8)
    with pytest.raises(ValueError, match="escaping"):
        mm.generate_latest(registry, "bogus")
    with pytest.raises(ValueError, match="escaping"):
        registry.render(escaping=None)


def test_bad_metric_and_label_names(registry):
    with pytest.raises(ValueError, match="empty"):
        mm.Counter("", "x", registry=registry)
    with pytest.raises(ValueError):  # a lone surrogate is not UTF-8
        mm.Counter("bad\ud800", "x", registry=registry)
    mm.Counter("taken.name", "x", registry=registry)
    with pytest.raises(ValueError, match="taken_name"):  # both written taken_name by default
        mm.Counter("taken_name", "x", registry=registry)
    with pytest.raises(ValueError, match="both written a_b"):
        mm.Gauge("ok_name", "x", ["a.b", "a_b"], registry=registry)
    with pytest.raises(ValueError):
        mm.Gauge("ok_name2", "x", ["__reserved"], registry=registry)
    with pytest.raises(ValueError):
        mm.Gauge("ok_name3", "x", ["a", "a"], registry=registry)
    with pytest.raises(ValueError):
        mm.Counter("", "x", registry=registry)
    with pytest.raises(TypeError):
        mm.Counter("ok_name4", "x", "single_string_label", registry=registry)
    with pytest.raises(TypeError):
        mm.Counter("ok_name5", None, registry=registry)


def test_name_conflicts_are_value_errors_with_the_librarys_message(registry):
    mm.Counter("clash", "c", registry=registry)
    with pytest.raises(ValueError, match="already registered") as caught:
        mm.Gauge("clash", "g", registry=registry)
    assert isinstance(caught.value, mm.MartyError) and caught.value.status == 7
    with pytest.raises(ValueError):
        mm.Gauge("clash_total", "exposes the same sample name", registry=registry)
    histogram = mm.Histogram("dur", "d", registry=registry)
    with pytest.raises(ValueError):
        mm.Gauge("dur_count", "g", registry=registry)
    assert histogram is not None


# ---- remove / clear ---------------------------------------------------------------------------


def test_remove_and_clear(registry):
    counter = mm.Counter("removable", "r", ["k"], registry=registry)
    old = counter.labels("a")
    old.inc(5)
    counter.labels("b").inc()
    counter.remove("a")
    assert value(registry, "removable_total", k="a") is None
    old.inc()  # a removed child's handle stays valid and is invisible
    assert value(registry, "removable_total", k="a") is None
    fresh = counter.labels("a")
    assert fresh is not old
    fresh.inc()
    assert value(registry, "removable_total", k="a") == 1
    counter.remove("never-existed")  # as prometheus_client: no error
    with pytest.raises(ValueError):
        counter.remove("a", "b")
    counter.labels("1").inc()
    counter.remove(1)  # converted with str(), as prometheus_client does
    assert value(registry, "removable_total", k="1") is None
    counter.clear()
    assert not [key for key in samples(registry) if key[0] == "removable_total"]
    counter.labels("c").inc()
    assert value(registry, "removable_total", k="c") == 1

    plain = mm.Counter("plain", "p", registry=registry)
    plain.inc(3)
    plain.clear()  # no label sets to clear: as in prometheus_client, the value stays
    assert value(registry, "plain_total") == 3
    plain.inc()
    assert value(registry, "plain_total") == 4


# ---- Registries and exposition ---------------------------------------------------------------


def test_registry_none_then_register_and_unregister(registry):
    counter = mm.Counter("detached", "d", registry=None)
    counter.inc(2)
    assert value(registry, "detached_total") is None
    registry.register(counter)
    assert value(registry, "detached_total") == 2
    with pytest.raises(ValueError):
        registry.register(counter)
    registry.unregister(counter)
    assert value(registry, "detached_total") is None
    with pytest.raises(LookupError):
        registry.unregister(counter)
    with pytest.raises(TypeError):
        registry.register(object())


def test_default_registry_and_generate_latest():
    counter = mm.Counter("python_test_default_registry", "d", ["k"])
    try:
        counter.labels("v").inc()
        text = mm.generate_latest().decode()
        assert 'python_test_default_registry_total{k="v"} 1' in text
        # As in prometheus_client 0.26: LATEST names text 1.0.0; 0.0.4 keeps its own name.
        assert mm.CONTENT_TYPE_LATEST == "text/plain; version=1.0.0; charset=utf-8"
        assert mm.CONTENT_TYPE_PLAIN_0_0_4 == "text/plain; version=0.0.4; charset=utf-8"
    finally:
        mm.REGISTRY.unregister(counter)
    assert "python_test_default_registry" not in mm.generate_latest().decode()


def test_openmetrics_exposition_parses_strictly(registry):
    mm.Counter("om_requests", "r", ["k"], registry=registry).labels("v").inc(3)
    mm.Histogram("om_latency", "l", registry=registry).observe(0.2)
    mm.Gauge("om_gauge", "g", registry=registry).set(1.5)
    mm.Info("om_build", "b", registry=registry).info({"version": "1"})
    text = mm.generate_openmetrics(registry).decode()
    assert text.endswith("# EOF\n")
    parsed = openmetrics_families(registry)
    assert parsed["om_requests"].type == "counter"
    assert parsed["om_requests"].samples[0].value == 3
    assert parsed["om_latency"].type == "histogram"
    assert parsed["om_build"].type == "info"


def test_a_prometheus_client_registry_is_refused():
    prometheus_client = pytest.importorskip("prometheus_client")
    with pytest.raises(TypeError, match="CollectorRegistry"):
        mm.Counter("foreign", "f", registry=prometheus_client.CollectorRegistry())


def test_errors_carry_status_and_builtin_types(registry):
    counter = mm.Counter("typed_errors", "t", ["a"], registry=registry)
    try:
        counter.labels("\udc80")  # a lone surrogate: the library refuses it as invalid UTF-8
    except mm.MartyValueError as error:
        assert error.status == _native.ERR_INVALID_UTF8 and "marty_counter_get" in str(error)
    else:
        pytest.fail("no error")
    assert issubclass(mm.MartyOSError, OSError)
    assert issubclass(mm.MartyNotFoundError, LookupError)
    assert errno.EADDRINUSE  # the port case is tested in test_server.py


def test_series_cap_overflows_into_one_series_and_warns_once(registry):
    warnings = []
    mm.set_warning_handler(warnings.append)
    try:
        hits = mm.Counter("hits", "Hits.", ["path"], registry=registry)
        assert hits.max_series == 10000  # MARTY_METRICS_MAX_SERIES_PER_FAMILY unset
        assert hits.set_max_series(3) is hits and hits.max_series == 3
        for index in range(100_000):
            hits.labels("/item/%d" % index).inc()
        assert len(hits._children) == 3  # the Python cache stays bounded too
        assert registry.get_sample_value("hits_total", {"path": "/item/0"}) == 1
        assert registry.get_sample_value("hits_total", {"path": "/item/3"}) is None
        assert registry.get_sample_value("hits_total", {"path": "__overflow__"}) == 99_997
        assert registry.get_sample_value("marty_metrics_series_overflow_total", {"metric": "hits"}) == 99_997
        assert len(warnings) == 1 and "hits reached its cap of 3 series" in warnings[0]
        with pytest.raises(ValueError):
            hits.set_max_series(-1)
        with pytest.raises(TypeError):
            hits.set_max_series("10")
        with pytest.raises(TypeError):
            mm.set_warning_handler(42)
    finally:
        mm.set_warning_handler(None)
