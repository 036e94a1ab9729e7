"""UTF-8 metric and label names (Prometheus 3), judged by prometheus_client's own parsers and
escaping, and by promtool.

The same metrics are made in marty_metrics and in prometheus_client; with `allow-utf-8` and
`underscores` (https://prometheus.io/docs/instrumenting/escaping_schemes/), in both text
formats, the two expositions read back by prometheus_client's parsers must hold the same
families, names, labels and values. With `dots` and `values` the two differ on purpose:
marty_metrics escapes a family's name and then adds `_total`, `_bucket`, `_sum`, `_count`, as
client_golang's text writer does, so every sample belongs to the family its `# TYPE` names;
prometheus_client escapes name and suffix together (`lat_dot_ency__sum`), which its own
parsers then read as families of their own. There every family must parse whole, with the
samples the `allow-utf-8` reading has. promtool (Prometheus 2.42, which knows no quoted names)
must accept every escaped output. A scrape negotiates the scheme with the Accept header
Prometheus 3 sends.
"""

import shutil
import subprocess
import urllib.request

import pytest

mm = pytest.importorskip("marty_metrics")
prometheus_client = pytest.importorskip("prometheus_client")
from prometheus_client import openmetrics  # noqa: E402
from prometheus_client.openmetrics import exposition as om_exposition  # noqa: E402
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_openmetrics  # noqa: E402
from prometheus_client.parser import text_string_to_metric_families as parse_text  # noqa: E402

if not hasattr(om_exposition, "ALLOWUTF8"):
    pytest.skip("prometheus_client without escaping schemes (0.22 or later needed)", allow_module_level=True)

SCHEMES = [om_exposition.UNDERSCORES, om_exposition.DOTS, om_exposition.VALUES, om_exposition.ALLOWUTF8]
# What Prometheus 3.x sends by default (scrape/scrape.go, scrape_protocols and escaping).
PROMETHEUS3_ACCEPT = ("application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.5,"
                      "application/openmetrics-text;version=0.0.1;q=0.4,"
                      "text/plain;version=1.0.0;escaping=allow-utf-8;q=0.3,text/plain;version=0.0.4;q=0.2,*/*;q=0.1")


def record(module, registry):
    """The same metrics in marty_metrics or prometheus_client. Legacy label names carry no
    underscore: prometheus_client doubles the underscores of legacy names under `dots`, while
    marty_metrics, like client_golang's EscapeMetricFamily, writes legacy names as they are."""
    calls = module.Counter("my.metric", "Calls.", ["label.name", "code"], registry=registry)
    calls.labels("v", "200").inc(3)
    calls.labels('quote " and \\ backslash', "500").inc()
    module.Gauge("temp.celsius", "Room temperature.", ["room nr", "floor"], registry=registry).labels(
        "1", "x").set(-2.5)
    latency = module.Histogram("lat.ency", "Latency.", ["route.path"], buckets=(0.5, 1), registry=registry)
    latency.labels("/a").observe(0.25)
    latency.labels("/a").observe(3)
    # A label name that starts outside the legacy set would be written "__…" by underscores,
    # which prometheus_client's parser refuses as reserved: this one starts with a letter.
    module.Gauge("日本語", "Unicode.", ["k.ключ"], registry=registry).labels("значение").set(7)
    module.Gauge("legacy", "A legacy name.", ["mode"], registry=registry).labels("x").set(1)


@pytest.fixture(scope="module")
def registries():
    ours = mm.CollectorRegistry()
    ours.set_created_timestamps(False)
    record(mm, ours)
    theirs = prometheus_client.CollectorRegistry()
    # prometheus_client reads the switch when it renders, so it stays off for the module.
    prometheus_client.disable_created_metrics()
    try:
        record(prometheus_client, theirs)
        yield ours, theirs
    finally:
        prometheus_client.enable_created_metrics()


def families(parsed):
    """Families as comparable tuples: name, type, help, and samples (name, labels, value)."""
    return sorted(
        (f.name, f.type, f.documentation,
         sorted((s.name, tuple(sorted(s.labels.items())), s.value) for s in f.samples))
        for f in parsed)


AGREEING = [om_exposition.UNDERSCORES, om_exposition.ALLOWUTF8]


@pytest.mark.parametrize("escaping", AGREEING)
def test_text_reads_back_as_prometheus_clients_own(registries, escaping):
    ours, theirs = registries
    text = mm.generate_latest(ours, escaping).decode("utf-8")
    expected = prometheus_client.generate_latest(theirs, escaping).decode("utf-8")
    assert families(parse_text(text)) == families(parse_text(expected)), text


@pytest.mark.parametrize("escaping", AGREEING)
def test_openmetrics_reads_back_as_prometheus_clients_own(registries, escaping):
    ours, theirs = registries
    text = mm.generate_openmetrics(ours, escaping).decode("utf-8")
    expected = openmetrics.exposition.generate_latest(theirs, escaping=escaping).decode("utf-8")
    assert families(parse_openmetrics(text)) == families(parse_openmetrics(expected)), text


def shape(parsed, names):
    """Families with their names mapped back through `names` (escaped -> UTF-8)."""
    def unescape(name):
        for escaped, original in names.items():
            if name.startswith(escaped) and name[len(escaped):] in ("", "_total", "_bucket", "_sum", "_count"):
                return original + name[len(escaped):]
        return name
    return sorted(
        (unescape(f.name), f.type, f.documentation,
         sorted((unescape(s.name), tuple(sorted((unescape_label(k), v) for k, v in s.labels.items())), s.value)
                for s in f.samples))
        for f in parsed)


LABELS = {"label_dot_name": "label.name", "room__nr": "room nr", "k_dot_________": "k.ключ",
          "route_dot_path": "route.path", "U__route_2e_path": "route.path",
          "U__label_2e_name": "label.name", "U__room_20_nr": "room nr",
          "U__k_2e__43a__43b__44e__447_": "k.ключ"}


def unescape_label(name):
    return LABELS.get(name, name)


NAMES = {
    om_exposition.DOTS: {"my_dot_metric": "my.metric", "temp_dot_celsius": "temp.celsius",
                         "lat_dot_ency": "lat.ency", "______": "日本語"},
    om_exposition.VALUES: {"U__my_2e_metric": "my.metric", "U__temp_2e_celsius": "temp.celsius",
                           "U__lat_2e_ency": "lat.ency", "U___65e5__672c__8a9e_": "日本語"},
}


@pytest.mark.parametrize("escaping", [om_exposition.DOTS, om_exposition.VALUES])
@pytest.mark.parametrize("openmetrics_format", [False, True])
def test_dots_and_values_keep_every_family_whole(registries, escaping, openmetrics_format):
    """Each family parses whole (its samples under the name its TYPE gives) and, with the names
    mapped back, equals the allow-utf-8 reading."""
    ours, _ = registries
    render = mm.generate_openmetrics if openmetrics_format else mm.generate_latest
    parse = parse_openmetrics if openmetrics_format else parse_text
    escaped = list(parse(render(ours, escaping).decode("utf-8")))
    assert all(f.type != "unknown" for f in escaped), [f.name for f in escaped]
    utf8 = list(parse(render(ours, om_exposition.ALLOWUTF8).decode("utf-8")))
    assert shape(escaped, NAMES[escaping]) == shape(utf8, {})


def test_the_names_each_scheme_writes(registries):
    ours, _ = registries
    names = {escaping: {f.name for f in parse_text(mm.generate_latest(ours, escaping).decode("utf-8"))}
             for escaping in SCHEMES}
    assert names[om_exposition.ALLOWUTF8] == {"my.metric", "temp.celsius", "lat.ency", "日本語", "legacy"}
    assert names[om_exposition.UNDERSCORES] == {"my_metric", "temp_celsius", "lat_ency", "___", "legacy"}
    assert names[om_exposition.DOTS] == set(NAMES[om_exposition.DOTS]) | {"legacy"}
    assert names[om_exposition.VALUES] == set(NAMES[om_exposition.VALUES]) | {"legacy"}


PROMTOOL = shutil.which("promtool")


@pytest.mark.skipif(PROMTOOL is None, reason="promtool not on PATH (Debian package prometheus)")
@pytest.mark.parametrize("escaping", [om_exposition.UNDERSCORES, om_exposition.DOTS, om_exposition.VALUES])
def test_escaped_text_passes_promtool(registries, escaping):
    ours, _ = registries
    text = mm.generate_latest(ours, escaping).decode("utf-8")
    assert text
    result = subprocess.run([PROMTOOL, "check", "metrics"], input=text, capture_output=True, text=True,
                            timeout=60)
    output = result.stdout + result.stderr
    # The values scheme starts names with "U__", which promtool's linter calls camelCase;
    # anything else (a parse error is exit 1) fails.
    findings = [line for line in output.splitlines() if line.strip() and "camelCase" not in line]
    assert result.returncode in (0, 3) and not findings, f"{output}\n--- input ---\n{text}"
    if escaping != om_exposition.VALUES:
        assert result.returncode == 0, output


def scrape(port, accept):
    request = urllib.request.Request(f"http://127.0.0.1:{port}/metrics", headers={"Accept": accept})
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.headers["Content-Type"], response.read().decode("utf-8")


def test_a_scrape_negotiates_the_escaping(registries):
    ours, _ = registries
    server = mm.start_metrics_server(service="utf8-judge", metrics_port=0, health_port=0,
                                     bind_address="127.0.0.1", registry=ours)
    try:
        content_type, body = scrape(server.metrics_port, PROMETHEUS3_ACCEPT)
        assert content_type == "application/openmetrics-text; version=1.0.0; charset=utf-8; escaping=allow-utf-8"
        assert "my.metric" in {f.name for f in parse_openmetrics(body)}
        content_type, body = scrape(server.metrics_port, "text/plain;version=1.0.0;escaping=values")
        assert content_type == "text/plain; version=1.0.0; charset=utf-8; escaping=values"
        assert "U__my_2e_metric" in {f.name for f in parse_text(body)}
        # Prometheus 2 names no scheme: underscores, and the type it always got.
        content_type, body = scrape(server.metrics_port, "text/plain;version=0.0.4;q=0.5,*/*;q=0.1")
        assert content_type == "text/plain; version=0.0.4; charset=utf-8"
        assert "my_metric" in {f.name for f in parse_text(body)}
        # An unknown scheme is the documented fallback: underscores, none named.
        content_type, body = scrape(server.metrics_port, "text/plain;version=0.0.4;escaping=bogus")
        assert content_type == "text/plain; version=0.0.4; charset=utf-8"
        assert "my_metric" in {f.name for f in parse_text(body)}
    finally:
        server.stop()
