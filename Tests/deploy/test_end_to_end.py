"""End to end: a real Prometheus server (Debian's package, run by hand on 127.0.0.1 with a
temporary data folder, scraping every second, evaluating every second) scrapes the demo
service (marty-demo, a simulated csca-service) and the C example service (document-signer);
its HTTP API must show what the services recorded.

Prometheus loads the real alert rules (examples/prometheus/rules/*.yml) and a copy of them
with `for: 0s` and the label stage="e2e", so that an alert can fire within the test while
the real rule is seen pending. The Kubernetes job of examples/prometheus/prometheus.yml runs
too, with its relabel rules unchanged and kubernetes_sd_configs replaced by file_sd_configs
fed with the targets Kubernetes discovery would give for the chart's Service (Debian's
Prometheus has no Kubernetes discovery).

Every process is stopped by its pid at teardown; everything listens on 127.0.0.1 on free
ports.
"""

import copy
import json
import re
import time

import pytest
import yaml

from deploy_support import (DASHBOARD, PROMETHEUS_CONFIG, RULES_DIR, Prometheus, PrometheusError,
                      Service, free_port, http_get, load_yaml, service_env, wait_until)
from promql import grafana_to_promql

WINDOW = "10s"  # rate windows: ten 1 s scrapes
DEMO_JOB = "marty-demo"
C_JOB = "marty-c-service"
K8S_JOB = "marty-microservices"


def e2e_rules(path):
    """The real rules of `path` with for: 0s and the label stage="e2e" (alerts only)."""
    document = load_yaml(path)
    for group in document["groups"]:
        group["name"] += "-e2e"
        group["rules"] = [r for r in group["rules"] if "alert" in r]
        for rule in group["rules"]:
            rule["for"] = "0s"
            rule.setdefault("labels", {})["stage"] = "e2e"
    return document


class Deployment:
    """The two services and Prometheus, with what the tests need to know about them."""

    def __init__(self, demo_binary, c_service_binary, prometheus_binary, work_dir):
        self.work_dir = work_dir
        self.processes = []
        self.control_file = work_dir / "document-signer.health"

        self.demo_metrics, demo_health = free_port(), free_port()
        self.demo = self._start(Service("marty-demo", [demo_binary, "csca-service"],
                                        service_env(self.demo_metrics, demo_health), work_dir))
        self.c_metrics, self.c_health = free_port(), free_port()
        self.c_service = self._start(Service(
            "marty-c-service", [c_service_binary, "document-signer"],
            service_env(self.c_metrics, self.c_health, MARTY_HEALTH_CONTROL_FILE=self.control_file),
            work_dir))
        for name, port, process in (("marty-demo", self.demo_metrics, self.demo),
                                    ("marty_c_service", self.c_metrics, self.c_service)):
            try:
                wait_until(lambda: http_get(f"http://127.0.0.1:{port}/metrics", 2)[0] == 200, 30,
                           what=f"{name} to serve /metrics")
            except AssertionError:
                raise AssertionError(f"{name} did not start:\n{process.log()[-3000:]}")

        # Prometheus: the two services, the Kubernetes job through file_sd, the rules.
        rules_e2e = work_dir / "rules-e2e.yml"
        documents = [e2e_rules(p) for p in sorted(RULES_DIR.glob("*.yml"))]
        rules_e2e.write_text(yaml.safe_dump(
            {"groups": [g for d in documents for g in d["groups"]]}, sort_keys=False))
        self.k8s_targets_file = work_dir / "kubernetes-targets.json"
        self.k8s_targets_file.write_text(json.dumps(self.kubernetes_targets()))
        kubernetes_job = copy.deepcopy(next(j for j in load_yaml(PROMETHEUS_CONFIG)["scrape_configs"]
                                            if "kubernetes_sd_configs" in j))
        del kubernetes_job["kubernetes_sd_configs"]
        kubernetes_job["file_sd_configs"] = [{"files": [str(self.k8s_targets_file)],
                                              "refresh_interval": "1s"}]
        config = {
            "global": {"scrape_interval": "1s", "scrape_timeout": "1s",
                       "evaluation_interval": "1s"},
            "rule_files": [str(RULES_DIR / "*.yml"), str(rules_e2e)],
            "scrape_configs": [
                {"job_name": DEMO_JOB, "static_configs": [
                    {"targets": [f"127.0.0.1:{self.demo_metrics}"]}]},
                {"job_name": C_JOB, "static_configs": [
                    {"targets": [f"127.0.0.1:{self.c_metrics}"]}]},
                kubernetes_job,
            ],
        }
        self.prometheus = self._start(Prometheus(prometheus_binary, config, work_dir))

    def kubernetes_targets(self):
        """What role: service discovery gives for the chart's Service of document-signer (one
        target per port, the C service's ports standing in), and for a Service without the
        scrape annotation."""
        def target(service, port_name, port, annotations):
            labels = {"__meta_kubernetes_namespace": "marty",
                      "__meta_kubernetes_service_name": service,
                      "__meta_kubernetes_service_port_name": port_name,
                      "__meta_kubernetes_service_port_protocol": "TCP"}
            for key, value in annotations.items():
                name = re.sub(r"[^a-zA-Z0-9_]", "_", key)
                labels[f"__meta_kubernetes_service_annotation_{name}"] = value
                labels[f"__meta_kubernetes_service_annotationpresent_{name}"] = "true"
            return {"targets": [f"127.0.0.1:{port}"], "labels": labels}

        annotated = {"prometheus.io/scrape": "true", "prometheus.io/port": str(self.c_metrics),
                     "prometheus.io/path": "/metrics"}
        self.unused_port = free_port()
        return [
            target("document-signer", "grpc", self.unused_port, annotated),
            target("document-signer", "health", self.c_health, annotated),
            target("document-signer", "metrics", self.c_metrics, annotated),
            target("not-annotated", "metrics", self.c_metrics, {"prometheus.io/port": str(self.c_metrics)}),
        ]

    def _start(self, process):
        self.processes.append(process)
        return process

    def stop(self):
        codes = {}
        for process in reversed(self.processes):
            codes[process.name] = process.stop()
        return codes


@pytest.fixture(scope="module")
def deployment(demo_binary, c_service_binary, prometheus_binary, tmp_path_factory):
    work_dir = tmp_path_factory.mktemp("e2e")
    started = Deployment(demo_binary, c_service_binary, prometheus_binary, work_dir)
    try:
        yield started
    finally:
        started.stop()


@pytest.fixture(scope="module")
def prometheus(deployment):
    return deployment.prometheus


def scraped_metrics(port):
    """{(name, frozenset(labels)): value} of a service's own /metrics."""
    from prometheus_client.parser import text_string_to_metric_families

    status, body = http_get(f"http://127.0.0.1:{port}/metrics")
    assert status == 200
    samples = {}
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def total(samples, name, **match):
    return sum(v for (n, labels), v in samples.items()
               if n == name and all((k, val) in labels for k, val in match.items()))


def quantile_from_buckets(q, buckets):
    """Prometheus' histogram_quantile on {upper bound: cumulative count}."""
    bounds = sorted(buckets)
    count = buckets[bounds[-1]]
    rank = q * count
    previous_bound, previous_count = 0.0, 0.0
    for bound in bounds:
        if buckets[bound] >= rank:
            if bound == float("inf"):
                return previous_bound
            return previous_bound + (bound - previous_bound) * (rank - previous_count) / (buckets[bound] - previous_count)
        previous_bound, previous_count = bound, buckets[bound]
    return bounds[-2]


def bucket_totals(samples):
    buckets = {}
    for (name, labels), value in samples.items():
        if name == "marty_grpc_request_duration_seconds_bucket":
            bound = float(dict(labels)["le"])
            buckets[bound] = buckets.get(bound, 0) + value
    return buckets


# ---- The tests (in this order: the last one stops the C service) -----------------------------

def test_every_target_is_up(prometheus):
    def all_up():
        values = prometheus.values("up")
        jobs = {dict(labels)["job"]: value for labels, value in values.items()}
        return jobs if jobs == {DEMO_JOB: 1.0, C_JOB: 1.0, K8S_JOB: 1.0} else None
    wait_until(all_up, 30, what="up == 1 for marty-demo, marty-c-service and marty-microservices")


def test_kubernetes_relabelling_in_a_real_prometheus(deployment, prometheus):
    """The Kubernetes job's relabel rules, run by Prometheus itself: of the four discovered
    targets only the annotated Service's `metrics` port is scraped, on the annotated port."""
    targets = wait_until(
        lambda: (lambda t: t if len(t["activeTargets"]) + len(t["droppedTargets"]) >= 6 else None)(
            prometheus.api("targets")), 20, what="the file_sd targets")
    active = [t for t in targets["activeTargets"] if t["scrapePool"] == K8S_JOB]
    assert len(active) == 1, active
    (target,) = active
    assert target["scrapeUrl"] == f"http://127.0.0.1:{deployment.c_metrics}/metrics"
    assert target["labels"]["kubernetes_service"] == "document-signer"
    assert target["labels"]["kubernetes_namespace"] == "marty"
    assert "service" not in target["labels"]
    dropped = [t["discoveredLabels"] for t in targets["droppedTargets"]
               if t["discoveredLabels"].get("job") == K8S_JOB]
    assert sorted((d["__meta_kubernetes_service_name"], d["__meta_kubernetes_service_port_name"])
                  for d in dropped) == [("document-signer", "grpc"), ("document-signer", "health"),
                                        ("not-annotated", "metrics")]
    # The Marty metrics keep their own service label through that job.
    wait_until(lambda: prometheus.values(
        f'marty_service_health_status{{job="{K8S_JOB}", service="document-signer"}}'), 20,
        what="a sample scraped through the Kubernetes job")


def test_request_rate_matches_what_the_demo_recorded(deployment, prometheus):
    query = f'sum(rate(marty_grpc_requests_total{{job="{DEMO_JOB}"}}[{WINDOW}]))'
    wait_until(lambda: prometheus.values(query), 30, what="a request rate for the demo")
    time.sleep(2)
    before = scraped_metrics(deployment.demo_metrics)
    after_reading_a = time.time()
    count_a = total(before, "marty_grpc_requests_total")
    time.sleep(10)
    before_reading_b = time.time()
    after = scraped_metrics(deployment.demo_metrics)
    count_b = total(after, "marty_grpc_requests_total")
    demo_rate = (count_b - count_a) / (before_reading_b - after_reading_a)
    assert demo_rate > 0

    # Every sample Prometheus scraped between the two readings lies between them.
    matrix = prometheus.api("query", query=f'marty_grpc_requests_total{{job="{DEMO_JOB}"}}[12s]',
                            time=f"{before_reading_b:.3f}")["result"]
    by_time = {}
    for series in matrix:
        for timestamp, value in series["values"]:
            by_time[timestamp] = by_time.get(timestamp, 0.0) + float(value)
    inside = {t: v for t, v in by_time.items() if after_reading_a + 0.05 < t < before_reading_b - 0.5}
    assert len(inside) >= 5, f"expected several scrapes in 10 s, got {sorted(by_time)}"
    for timestamp, value in sorted(inside.items()):
        assert count_a <= value <= count_b, (timestamp, count_a, value, count_b)
    assert list(inside.values()) == sorted(inside.values()), "a counter went down"

    # The rate Prometheus computes agrees with the demo's own count over the same 10 s.
    result = prometheus.api("query", query=query, time=f"{before_reading_b:.3f}")["result"]
    prometheus_rate = float(result[0]["value"][1])
    print(f"demo: {count_b - count_a:.0f} requests in {before_reading_b - after_reading_a:.1f} s "
          f"= {demo_rate:.1f}/s by its /metrics; Prometheus rate[{WINDOW}] {prometheus_rate:.1f}/s; "
          f"{len(inside)} scrapes between the readings, all within [{count_a:.0f}, {count_b:.0f}]")
    assert prometheus_rate == pytest.approx(demo_rate, rel=0.2), (prometheus_rate, demo_rate)
    # Per method and status too: every series the demo shows, Prometheus has a rate for.
    per_series = prometheus.values(f'rate(marty_grpc_requests_total{{job="{DEMO_JOB}"}}[{WINDOW}])')
    statuses = {dict(labels)["status"] for labels in per_series}
    assert "OK" in statuses
    assert all(value >= 0 for value in per_series.values())
    # And the C service's requests are seen as well.
    c_rate = prometheus.values(f'sum(rate(marty_grpc_requests_total{{job="{C_JOB}"}}[{WINDOW}]))')
    assert list(c_rate.values())[0] > 0


def test_p95_latency_matches_the_demo_histogram(deployment, prometheus):
    query = (f'histogram_quantile(0.95, sum by (le) '
             f'(rate(marty_grpc_request_duration_seconds_bucket{{job="{DEMO_JOB}"}}[{WINDOW}])))')
    wait_until(lambda: prometheus.values(query), 30, what="a p95 for the demo")
    before = bucket_totals(scraped_metrics(deployment.demo_metrics))
    after_reading_a = time.time()
    time.sleep(10)
    before_reading_b = time.time()
    after = bucket_totals(scraped_metrics(deployment.demo_metrics))
    expected = quantile_from_buckets(0.95, {b: after[b] - before[b] for b in after})
    result = prometheus.api("query", query=query, time=f"{before_reading_b:.3f}")["result"]
    p95 = float(result[0]["value"][1])
    # The demo's latencies are uniform in [0.5 ms, 300 ms]: 17 % lie above 0.25 s, so the 95th
    # percentile is interpolated in the (0.25, 0.5] bucket (~0.42 s).
    print(f"demo p95: Prometheus {p95:.4f} s, from the demo's own buckets {expected:.4f} s")
    assert 0.25 < p95 <= 0.5, p95
    assert 0.25 < expected <= 0.5, expected
    assert p95 == pytest.approx(expected, abs=0.05), (p95, expected, after_reading_a)

    # The C service, per method: exponential latencies with means 4, 15 and 60 ms.
    per_method = prometheus.values(
        f'histogram_quantile(0.95, sum by (method, le) '
        f'(rate(marty_grpc_request_duration_seconds_bucket{{job="{C_JOB}"}}[{WINDOW}])))')
    by_method = {dict(labels)["method"].rsplit("/", 1)[1]: v for labels, v in per_method.items()}
    print("C service p95 by method:", {m: round(v, 4) for m, v in sorted(by_method.items())})
    assert set(by_method) == {"Get", "List", "Process"}
    assert all(0 < v < 1 for v in by_method.values()), by_method
    assert by_method["Get"] < by_method["Process"], by_method


def test_dashboard_queries_parse_and_return_data(prometheus):
    dashboard = json.loads(DASHBOARD.read_text())
    empty = []
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            expr = grafana_to_promql(target["expr"], rate_interval=WINDOW)
            try:
                result = prometheus.query(expr)
            except PrometheusError as error:
                pytest.fail(f"{panel['title']}: {expr}: {error}")
            if not result:
                empty.append(f"{panel['title']}: {expr}")
    assert not empty, "dashboard queries without data:\n" + "\n".join(empty)


def test_rules_load_and_evaluate(prometheus):
    groups = prometheus.api("rules")["groups"]
    names = {g["name"] for g in groups}
    real = {g["name"] for path in RULES_DIR.glob("*.yml") for g in load_yaml(path)["groups"]}
    assert real <= names and {n + "-e2e" for n in real} <= names
    for group in groups:
        for rule in group["rules"]:
            assert rule["health"] in ("ok", "unknown"), (rule["name"], rule.get("lastError"))
    # The healthy services trip none of the latency, CPU, memory or target-down alerts, even
    # with for: 0s.
    firing = {(a["labels"]["alertname"], a["labels"].get("job")) for a in prometheus.api("alerts")["alerts"]
              if a["state"] == "firing"}
    for alert in ("MartyHighLatencyP95", "MartyHighCpuUsage", "MartyHighMemoryUsage",
                  "MartyTargetDown", "MartyFileDescriptorsExhausted"):
        assert not {f for f in firing if f[0] == alert}, firing


def rule_alerts(prometheus, alertname, group_suffix=""):
    """[(state, labels)] of the rule's alerts in groups ending with group_suffix."""
    found = []
    for group in prometheus.api("rules")["groups"]:
        if group_suffix and not group["name"].endswith(group_suffix):
            continue
        if not group_suffix and group["name"].endswith("-e2e"):
            continue
        for rule in group["rules"]:
            if rule["name"] == alertname:
                found += [(a["state"], a["labels"]) for a in rule.get("alerts", [])]
    return found


def test_failing_health_check_shows_in_prometheus_and_the_rules(deployment, prometheus):
    c_health = f'marty_service_health_status{{job="{C_JOB}", service="document-signer"}}'
    assert list(prometheus.values(c_health).values()) == [1.0]
    deployment.control_file.write_text("unhealthy: postgres unreachable\n")
    try:
        wait_until(lambda: prometheus.values(f"{c_health} == 0"), 20,
                   what="marty_service_health_status == 0 in Prometheus")
        firing = f'ALERTS{{alertname="MartyServiceUnhealthy", alertstate="firing", stage="e2e", job="{C_JOB}"}}'
        wait_until(lambda: prometheus.values(firing), 20, what="the e2e copy of MartyServiceUnhealthy firing")
        # The real rule (for: 1m) sees it too, and is pending.
        real = wait_until(lambda: [s for s, labels in rule_alerts(prometheus, "MartyServiceUnhealthy")
                                   if labels.get("job") == C_JOB], 20, what="the real rule's alert")
        assert real == ["pending"]
        pending = f'ALERTS{{alertname="MartyServiceUnhealthy", alertstate="pending", job="{C_JOB}"}}'
        assert any("stage" not in dict(labels) for labels in prometheus.values(pending))
        (alert,) = [a for a in prometheus.api("alerts")["alerts"]
                    if a["labels"]["alertname"] == "MartyServiceUnhealthy"
                    and a["labels"].get("stage") == "e2e" and a["labels"].get("job") == C_JOB]
        assert alert["state"] == "firing"
        assert alert["labels"]["severity"] == "critical"
        assert alert["annotations"]["summary"] == (
            f"document-signer on 127.0.0.1:{deployment.c_metrics} is unhealthy")
    finally:
        deployment.control_file.unlink()
    wait_until(lambda: prometheus.values(f"{c_health} == 1"), 20, what="healthy again")
    wait_until(lambda: not prometheus.values(
        f'ALERTS{{alertname="MartyServiceUnhealthy", job="{C_JOB}"}}'), 20, what="the alert to resolve")


def test_target_down_when_the_service_stops(deployment, prometheus):
    assert deployment.c_service.stop() == 0, deployment.c_service.log()
    wait_until(lambda: prometheus.values(f'up{{job="{C_JOB}"}} == 0'), 20, what="up == 0")
    wait_until(lambda: prometheus.values(
        f'ALERTS{{alertname="MartyTargetDown", alertstate="firing", stage="e2e", job="{C_JOB}"}}'),
        20, what="the e2e copy of MartyTargetDown firing")
    assert deployment.demo.alive()
