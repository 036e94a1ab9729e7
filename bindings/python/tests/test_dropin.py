"""The prometheus_client surface of marty_metrics: custom collectors rendered by the library,
Summary, Enum, labelled Info, set_function, restricted registries, target_info, the import
alias, and exposition over real sockets (WSGI via wsgiref, start_http_server, the native
endpoint), ASGI driven directly, the textfile, and a real Pushgateway. Servers listen on
127.0.0.1, on free ports, and are stopped by the test that started them."""

import asyncio
import gzip
import os
import shutil
import socket
import subprocess
import sys
import textwrap
import time
import urllib.request

import pytest

import marty_metrics as mm
from marty_metrics import core, exposition
from marty_metrics.asgi import make_asgi_app
from marty_metrics.openmetrics import exposition as openmetrics
from conftest import fetch, python_env

PUSHGATEWAY = shutil.which("prometheus-pushgateway") or "/usr/bin/prometheus-pushgateway"


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Collector:
    def __init__(self, *families):
        self.families = families
        self.calls = 0

    def collect(self):
        self.calls += 1
        return list(self.families)


# ---- custom collectors ---------------------------------------------------------------------


def test_custom_collector_families_are_rendered_by_the_library_in_every_format(registry):
    counter = core.CounterMetricFamily("jobs", "Jobs done", labels=["queue"])
    counter.add_metric(["a"], 3, exemplar=core.Exemplar({"trace_id": "t1"}, 1.0, 10.0))
    histogram = core.HistogramMetricFamily("lat", "Latency", buckets=[("1.0", 2), ("+Inf", 3)], sum_value=4.5)
    gauge_histogram = core.GaugeHistogramMetricFamily("q", "Queue", buckets=[("1.0", 1), ("+Inf", 2)], gsum_value=3)
    stateset = core.StateSetMetricFamily("mode", "Mode", value={"on": True, "off": False})
    collector = Collector(counter, histogram, gauge_histogram, stateset,
                          core.InfoMetricFamily("build", "Build", value={"version": "1"}))
    registry.register(collector)
    text = mm.generate_latest(registry).decode()
    assert "# TYPE jobs_total counter\njobs_total{queue=\"a\"} 3" in text
    assert "# TYPE q histogram" in text and "# TYPE q_gsum gauge" in text  # prometheus_client's renames
    assert "# TYPE mode gauge" in text and "# TYPE build_info gauge" in text
    om = openmetrics.generate_latest(registry).decode()
    assert 'jobs_total{queue="a"} 3 # {trace_id="t1"} 1 10' in om.replace(".0 ", " ")
    assert "# TYPE q gaugehistogram" in om and "# TYPE mode stateset" in om and "# TYPE build info" in om
    assert om.endswith("# EOF\n")
    assert collector.calls == 2
    assert registry.get_sample_value("lat_count") == 3 and registry.get_sample_value("lat_sum") == 4.5


@pytest.mark.parametrize("value,error", [(None, TypeError), ("x", ValueError), ([], TypeError)])
def test_a_bad_collected_value_is_refused_with_the_metric_attached(registry, value, error):
    family = core.GaugeMetricFamily("bad", "b")
    family.add_metric([], value)
    registry.register(Collector(family))
    with pytest.raises(error) as caught:
        mm.generate_latest(registry)
    assert caught.value.args[-1] is family
    mm.Gauge("still_fine", "f", registry=registry).set(1)  # the registry keeps working
    registry.unregister(next(iter(registry._python_collectors)))
    assert b"still_fine 1" in mm.generate_latest(registry)


def test_a_label_value_that_is_not_a_str_never_reaches_c(registry):
    family = core.GaugeMetricFamily("bad_label", "b", labels=["l"])
    family.add_metric([None], 1)
    registry.register(Collector(family))
    with pytest.raises(AttributeError):
        mm.generate_latest(registry)


def test_exemplars_only_on_counter_totals_and_buckets_in_openmetrics(registry):
    metric = core.Metric("g", "help", "gauge")
    metric.add_sample("g", {}, 1, None, core.Exemplar({"a": "b"}, 1))
    registry.register(Collector(metric))
    assert b"g 1" in mm.generate_latest(registry)  # text 0.0.4 shows no exemplars: no check
    with pytest.raises(ValueError, match="exemplars"):
        openmetrics.generate_latest(registry)


def test_duplicate_names_auto_describe_and_unregister():
    registry = mm.CollectorRegistry(auto_describe=True)
    registry.register(Collector(core.CounterMetricFamily("c", "h", value=1)))
    with pytest.raises(ValueError, match="Duplicated timeseries"):
        registry.register(Collector(core.GaugeMetricFamily("c_total", "h", value=1)))
    with pytest.raises(ValueError, match="Duplicated timeseries"):
        mm.Counter("c", "native, same names", registry=registry)
    with pytest.raises(TypeError):
        registry.register(object())


def test_native_endpoint_scrapes_call_the_custom_collectors():
    registry = mm.CollectorRegistry()
    collector = Collector(core.GaugeMetricFamily("from_python", "p", value=7))
    registry.register(collector)
    server = mm.start_metrics_server(service="test-service", metrics_port=0, health_port=0,
                                     bind_address="127.0.0.1", registry=registry)
    try:
        status, _, body = fetch(server.metrics_port, "/metrics")
    finally:
        server.stop()
    assert status == 200 and b"from_python 7" in body and collector.calls == 1


def test_native_endpoint_scrapes_see_set_function_values_in_registration_order():
    registry = mm.CollectorRegistry()
    readings = []
    first = mm.Gauge("first_gauge", "set_function", registry=registry)
    first.set_function(lambda: len(readings))
    registry.register(Collector(core.GaugeMetricFamily("middle", "p", value=7)))
    mm.Counter("last", "native", registry=registry).inc()
    readings.extend("abc")
    server = mm.start_metrics_server(service="test-service", metrics_port=0, health_port=0,
                                     bind_address="127.0.0.1", registry=registry)
    try:
        status, _, body = fetch(server.metrics_port, "/metrics")
    finally:
        server.stop()
    assert status == 200
    # The library called the function before writing anything (no Python render ran).
    assert b"\nfirst_gauge 3.0\n" in body
    assert body.index(b"first_gauge 3.0") < body.index(b"middle 7.0") < body.index(b"last_total 1.0")


# ---- metrics held in Python, Summary, set_function, reset -------------------------------------


def test_summary_enum_labelled_info_and_set_function(registry):
    summary = mm.Summary("s", "s", ["k"], registry=registry)
    summary.labels("a").observe(2)
    summary.labels(k="a").observe(3)
    assert registry.get_sample_value("s_count", {"k": "a"}) == 2
    assert registry.get_sample_value("s_sum", {"k": "a"}) == 5
    assert [m.type for m in registry.collect() if m.name == "s"] == ["summary"]

    enum = mm.Enum("e", "e", ["k"], states=["a", "b"], registry=registry)
    enum.labels("x").state("b")
    assert registry.get_sample_value("e", {"k": "x", "e": "b"}) == 1
    with pytest.raises(ValueError):
        enum.labels("x").state("c")
    with pytest.raises(ValueError, match="missing label values"):
        enum.state("a")

    info = mm.Info("i", "i", ["k"], registry=registry)
    info.labels("x").info({"v": "1"})
    assert isinstance(info, mm.Info) and repr(info) == "marty_metrics.metrics.Info(i)"
    assert b'i_info{k="x",v="1"} 1.0' in mm.generate_latest(registry)

    data = []
    gauge = mm.Gauge("g", "g", registry=registry)
    gauge.set_function(lambda: len(data))
    data.extend([1, 2])
    assert b"\ng 2.0\n" in mm.generate_latest(registry)

    counter = mm.Counter("c", "c", registry=registry)
    counter.inc(5)
    created = registry.get_sample_value("c_created")
    time.sleep(0.01)
    counter.reset()
    assert registry.get_sample_value("c_total") == 0 and registry.get_sample_value("c_created") > created


def test_created_switch_and_remove_by_labels(registry):
    counter = mm.Counter("r", "r", ["a", "b"], registry=registry)
    for a, b in (("1", "x"), ("1", "y"), ("2", "x")):
        counter.labels(a, b).inc()
    counter.remove_by_labels({"a": "1"})
    assert registry.get_sample_value("r_total", {"a": "2", "b": "x"}) == 1
    assert registry.get_sample_value("r_total", {"a": "1", "b": "x"}) is None
    with pytest.raises(ValueError, match="Unknown label names"):
        counter.remove_by_labels({"c": "1"})
    mm.disable_created_metrics()
    try:
        assert registry.get_sample_value("r_created", {"a": "2", "b": "x"}) is None
    finally:
        mm.enable_created_metrics()
    assert registry.get_sample_value("r_created", {"a": "2", "b": "x"}) is not None


def test_restricted_registry_and_target_info():
    registry = mm.CollectorRegistry(target_info={"service": "x"})
    mm.Summary("s", "help", registry=registry).observe(7)
    mm.Gauge("other", "o", registry=registry)
    restricted = registry.restricted_registry(["s_sum", "target_info"])
    names = {(m.name, tuple(s.name for s in m.samples)) for m in restricted.collect()}
    assert names == {("s", ("s_sum",)), ("target", ("target_info",))}
    text = mm.generate_latest(restricted).decode()
    assert "s_sum 7" in text and "other" not in text and 'target_info{service="x"} 1' in text
    with pytest.raises(ValueError):
        mm.Info("target", "clash", registry=registry)


# ---- the import alias -------------------------------------------------------------------------


def test_install_as_prometheus_client_aliases_the_modules():
    code = textwrap.dedent("""
        import marty_metrics, marty_metrics.compat
        marty_metrics.compat.install_as_prometheus_client()
        import prometheus_client
        from prometheus_client.core import GaugeMetricFamily
        from prometheus_client.openmetrics.exposition import generate_latest
        import prometheus_client.exposition as exposition
        assert prometheus_client is marty_metrics
        assert GaugeMetricFamily is marty_metrics.metrics_core.GaugeMetricFamily
        assert exposition is marty_metrics.exposition
        try:
            import prometheus_client.twisted
        except ModuleNotFoundError as error:
            assert "twisted" in str(error)
        else:
            raise SystemExit("no ModuleNotFoundError")
        # A metric names the module it is imported by, as prometheus_client's repr does.
        assert repr(prometheus_client.Counter("c", "c", registry=None)) == "prometheus_client.metrics.Counter(c)"
        marty_metrics.compat.uninstall_as_prometheus_client()
        assert repr(marty_metrics.Gauge("g", "g", registry=None)) == "marty_metrics.metrics.Gauge(g)"
        print("ok")
    """)
    result = subprocess.run([sys.executable, "-c", code], env=python_env(), capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == "ok", result.stderr


# ---- exposition over real sockets --------------------------------------------------------------


def test_wsgi_app_over_wsgiref_with_formats_gzip_filter_and_methods(registry):
    mm.Gauge("served", "s", registry=registry).set(3)
    mm.Gauge("hidden", "h", registry=registry).set(4)
    server, thread = exposition.start_wsgi_server(0, addr="127.0.0.1", registry=registry)
    port = server.server_address[1]
    try:
        status, headers, body = fetch(port, "/metrics")
        assert status == 200 and headers["Content-Type"] == exposition.CONTENT_TYPE_PLAIN_0_0_4 and b"served 3" in body
        status, headers, body = fetch(port, "/", {"Accept": "application/openmetrics-text; version=1.0.0"})
        # An OpenMetrics version named: the answer names the escaping too (prometheus_client 0.26).
        assert headers["Content-Type"] == openmetrics.CONTENT_TYPE_LATEST + "; escaping=underscores"
        assert body.endswith(b"# EOF\n")
        status, headers, body = fetch(port, "/metrics", {"Accept-Encoding": "gzip"})
        assert headers["Content-Encoding"] == "gzip" and b"served 3" in gzip.decompress(body)
        status, _, body = fetch(port, "/metrics?name[]=served")
        assert b"served 3" in body and b"hidden" not in body
        request = urllib.request.Request("http://127.0.0.1:%d/metrics" % port, method="POST", data=b"")
        with pytest.raises(urllib.error.HTTPError) as caught:
            urllib.request.urlopen(request, timeout=5)
        assert caught.value.code == 405
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def test_metrics_handler_factory_serves_its_registry(registry):
    from http.server import HTTPServer
    import threading

    mm.Counter("handled", "h", registry=registry).inc()
    httpd = HTTPServer(("127.0.0.1", 0), exposition.MetricsHandler.factory(registry))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        status, _, body = fetch(httpd.server_address[1], "/metrics")
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert status == 200 and b"handled_total 1" in body


def test_asgi_app_driven_directly(registry):
    mm.Gauge("asgi_value", "a", registry=registry).set(5)
    app = make_asgi_app(registry)
    sent = []

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "method": "GET", "path": "/metrics", "query_string": b"",
             "headers": [(b"accept", b"application/openmetrics-text"), (b"accept-encoding", b"gzip")]}
    asyncio.run(app(scope, receive, send))
    start, body = sent
    headers = dict(start["headers"])
    assert start["status"] == 200 and headers[b"content-type"] == openmetrics.CONTENT_TYPE_LATEST.encode()
    assert b"asgi_value 5" in gzip.decompress(body["body"])


def test_write_to_textfile(registry, tmp_path):
    mm.Gauge("written", "w", registry=registry).set(2)
    path = tmp_path / "metrics.prom"
    exposition.write_to_textfile(str(path), registry)
    assert b"written 2" in path.read_bytes()
    assert os.listdir(tmp_path) == ["metrics.prom"]  # no temporary file left


@pytest.fixture
def pushgateway(tmp_path):
    if not os.path.exists(PUSHGATEWAY):
        pytest.skip("prometheus-pushgateway is not installed (apt-get install prometheus-pushgateway)")
    port = free_port()
    process = subprocess.Popen([PUSHGATEWAY, "--web.listen-address=127.0.0.1:%d" % port,
                                "--persistence.file=%s" % (tmp_path / "pushgateway.data")],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(200):  # ready within seconds; bounded either way
            try:
                if fetch(port, "/-/ready", timeout=1)[0] == 200:
                    break
            except OSError:
                pass
            time.sleep(0.05)
        else:
            pytest.fail("the Pushgateway did not become ready")
        yield "127.0.0.1:%d" % port
    finally:
        process.terminate()
        process.wait(timeout=10)


def _gateway_metrics(address):
    port = int(address.rsplit(":", 1)[1])
    return fetch(port, "/metrics")[2].decode()


def test_push_pushadd_delete_against_a_real_pushgateway(pushgateway):
    registry = mm.CollectorRegistry()
    mm.Gauge("batch_done", "Batch done", registry=registry).set(42)
    mm.push_to_gateway(pushgateway, job="nightly", registry=registry, grouping_key={"shard": "a/b"})
    text = _gateway_metrics(pushgateway)
    assert 'batch_done{instance="",job="nightly",shard="a/b"} 42' in text

    other = mm.CollectorRegistry()
    mm.Counter("batch_items", "Items", registry=other).inc(3)
    mm.pushadd_to_gateway("http://" + pushgateway + "/", job="nightly", registry=other, grouping_key={"shard": "a/b"})
    text = _gateway_metrics(pushgateway)
    assert 'batch_done{instance="",job="nightly",shard="a/b"} 42' in text and 'batch_items_total{instance="",job="nightly",shard="a/b"} 3' in text

    def with_auth(url, method, timeout, headers, data):
        return exposition.basic_auth_handler(url, method, timeout, headers, data, "user", "pass")

    mm.push_to_gateway(pushgateway, job="nightly", registry=other, grouping_key={"shard": "a/b"}, handler=with_auth)
    assert "batch_done" not in _gateway_metrics(pushgateway)  # PUT replaced the group

    mm.delete_from_gateway(pushgateway, job="nightly", grouping_key={"shard": "a/b"})
    assert "batch_items_total{" not in _gateway_metrics(pushgateway)


def test_push_to_a_refusing_gateway_is_an_error(pushgateway):
    registry = mm.CollectorRegistry()
    mm.Gauge("x", "x", registry=registry)
    with pytest.raises(urllib.error.HTTPError):
        mm.push_to_gateway(pushgateway, job="", registry=registry)  # an empty job is refused


# ---- prometheus_client 0.26's additions -----------------------------------------------------


def test_duplicate_timeseries_from_python_and_from_the_library(registry):
    mm.Counter("taken", "t", registry=registry)
    with pytest.raises(core.DuplicateTimeseries) as caught:
        mm.Gauge("taken_total", "g", registry=registry)  # a clash the library finds
    assert caught.value.duplicates == {"taken_total"} and caught.value.status == 7  # MARTY_ERR_CONFLICT
    assert isinstance(caught.value, mm.MartyError) and "Duplicated timeseries" in str(caught.value)

    class Named:
        def describe(self):
            return [core.GaugeMetricFamily("named", "n", value=1)]

        def collect(self):
            return self.describe()

    registry.register(Named())
    with pytest.raises(core.DuplicateTimeseries) as caught:
        registry.register(Named())  # a clash only Python knows of
    assert caught.value.duplicates == {"named"}


def test_choose_encoder_follows_version_and_escaping(registry):
    mm.Counter("dotted.counter", "d", registry=registry).inc()
    encoder, content_type = exposition.choose_encoder(None)
    assert content_type == exposition.CONTENT_TYPE_PLAIN_0_0_4 and encoder(registry).startswith(b"# HELP")
    encoder, content_type = exposition.choose_encoder("text/plain; version=1.0.0; escaping=allow-utf-8")
    assert content_type == exposition.CONTENT_TYPE_PLAIN_1_0_0 + "; escaping=allow-utf-8"
    assert b'{"dotted.counter_total"} 1.0\n' in encoder(registry)
    encoder, content_type = exposition.choose_encoder("application/openmetrics-text; version=1.0.0; escaping=bogus")
    assert content_type == openmetrics.CONTENT_TYPE_LATEST + "; escaping=underscores"
    assert b"\ndotted_counter_total 1.0\n" in encoder(registry) and encoder(registry).endswith(b"# EOF\n")
    _, content_type = exposition.choose_encoder("application/openmetrics-text")
    assert content_type == openmetrics.CONTENT_TYPE_LATEST


def test_escape_functions():
    assert openmetrics.escape_metric_name("my.metric") == "my_metric"
    assert openmetrics.escape_metric_name("my.metric", mm.DOTS) == "my_dot_metric"
    assert openmetrics.escape_metric_name("a_b", mm.DOTS) == "a__b"
    assert openmetrics.escape_metric_name("花火", mm.VALUES) == "U___82b1__706b_"
    assert openmetrics.escape_metric_name("legacy:name", mm.VALUES) == "legacy:name"
    assert openmetrics.escape_metric_name('say "hi"', mm.ALLOWUTF8) == '"say \\"hi\\""'
    assert openmetrics.escape_label_name("http.status:sum", mm.UNDERSCORES) == "http_status_sum"
    assert openmetrics.escape_label_name("http.status:sum", mm.DOTS) == "http_dot_status__sum"


def test_collectors_without_names_in_restricted_registries():
    calls = []

    class Nameless:
        def collect(self):
            calls.append(1)
            return [core.GaugeMetricFamily("nameless", "n", value=7)]

    plain = mm.CollectorRegistry()
    plain.register(Nameless())
    assert list(plain.restricted_registry(["nameless"]).collect()) == [] and not calls
    supporting = mm.CollectorRegistry(support_collectors_without_names=True)
    collector = Nameless()
    supporting.register(collector)
    [metric] = supporting.restricted_registry(["nameless"]).collect()
    assert metric.samples[0].value == 7 and calls
    supporting.unregister(collector)
    assert list(supporting.restricted_registry(["nameless"]).collect()) == []


def test_timer_duration_and_textfile_tmpdir(registry, tmp_path):
    summary = mm.Summary("timed", "t", registry=registry)
    with summary.time() as timer:
        pass
    assert timer.duration is not None and registry.get_sample_value("timed_sum") == timer.duration
    path = tmp_path / "out.prom"
    exposition.write_to_textfile(str(path), registry, tmpdir=str(tmp_path))
    assert b"timed_count 1.0" in path.read_bytes()
