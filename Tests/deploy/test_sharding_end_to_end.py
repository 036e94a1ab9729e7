"""Past one Prometheus, end to end: the sharded setup of examples/prometheus/sharded/ and the
federation of examples/prometheus/federation/, with real servers (Debian's Prometheus 2.42).

Eight Marty service processes (steady_service.py: the Python binding's endpoint serving the
Marty catalog of one of the seed's eight services) each record a known number of
marty_grpc_requests_total increments at a known steady rate (4, 8, ..., 32 calls/s for 20 s).
Two shard servers run shard-0.yml and shard-1.yml, and a central server central.yml with
--web.enable-remote-write-receiver; a global server runs federation/global.yml against the
two shards. The configs are the example files, rendered with this test's addresses: the
static targets on the services' free ports, the remote-write URL of the central server,
the shards as the global server's targets, and 1 s scrape and evaluation intervals (plus a
1 s remote-write batch deadline, 5 s by default). Their relabel rules, external labels,
federation parameters and rule files are used unchanged.

Checked through the servers' HTTP APIs: the shards' target sets are disjoint, cover the
eight services and are the ones `hashmod` predicts; every service's series reach the central
server through exactly one shard; the central rate of marty_grpc_requests_total matches the
rates the services recorded, and its totals equal the recorded counts exactly; the global
server sees all eight through federation, with the same totals. The library itself emits no
job, instance or cluster label (read on the services' own /metrics).

Everything listens on 127.0.0.1 on free ports, keeps its data in temporary folders, and is
stopped by its pid at the end, also when a step fails.
"""

import hashlib
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from deploy_support import (PROMETHEUS_DIR, SEED_PORTS, Prometheus, Service, free_port, http_get,
                            load_yaml, unavailable, wait_until)

HERE = Path(__file__).resolve().parent
SHARDED_DIR = PROMETHEUS_DIR / "sharded"
SHARD_CONFIGS = [SHARDED_DIR / "shard-0.yml", SHARDED_DIR / "shard-1.yml"]
CENTRAL_CONFIG = SHARDED_DIR / "central.yml"
GLOBAL_CONFIG = PROMETHEUS_DIR / "federation" / "global.yml"
EXAMPLE_CONFIGS = SHARD_CONFIGS + [CENTRAL_CONFIG, GLOBAL_CONFIG]

JOB = "marty-static"
SERVICES = list(SEED_PORTS)  # the seed's eight
# What each service records: RATES[s] calls per second for RECORD_SECONDS seconds.
RECORD_SECONDS = 20
RATES = {service: 4.0 * (i + 1) for i, service in enumerate(SERVICES)}  # 4 ... 32 calls/s
COUNTS = {service: int(rate * RECORD_SECONDS) for service, rate in RATES.items()}
TOTAL = sum(COUNTS.values())  # 2880
# The split the shard configs' comment documents: md5(marty_service) mod 2.
DOCUMENTED_SHARDS = [{"document-signer", "inspection-system", "trust-anchor", "pkd-service"},
                     {"csca-service", "passport-engine", "mdl-engine", "mdoc-engine"}]
# The rate check: rate()[RATE_WINDOW] evaluated RATE_AT seconds after recording began, so the
# window [4 s, 16 s] lies inside the 20 s of steady recording.
RATE_WINDOW, RATE_AT = 12, 16


def hashmod(value, modulus):
    """Prometheus' `hashmod` relabel action on one source label: the md5 sum's low 64 bits
    (big-endian) modulo `modulus`."""
    return int.from_bytes(hashlib.md5(value.encode()).digest()[8:], "big") % modulus


# ---- Rendering the example configs with the test's addresses --------------------------------

def render_shard(path, addresses, central_url):
    document = load_yaml(path)
    document["global"].update(scrape_interval="1s", scrape_timeout="1s")
    (job,) = document["scrape_configs"]
    assert job["job_name"] == JOB
    listed = []
    for static in job["static_configs"]:
        service = static["labels"]["marty_service"]
        listed.append(service)
        static["targets"] = [addresses[service]]
    assert sorted(listed) == sorted(SERVICES), f"{path.name} lists {listed}"
    (remote,) = document["remote_write"]
    assert remote["url"].endswith("/api/v1/write")
    remote["url"] = central_url + "/api/v1/write"
    remote["queue_config"] = {"batch_send_deadline": "1s"}
    return document


def render_central(port):
    document = load_yaml(CENTRAL_CONFIG)
    document["global"]["evaluation_interval"] = "1s"
    document["rule_files"] = [os.path.normpath(CENTRAL_CONFIG.parent / f) for f in document["rule_files"]]
    (own,) = document["scrape_configs"]
    own.update(scrape_interval="1s", scrape_timeout="1s")
    own["static_configs"] = [{"targets": [f"127.0.0.1:{port}"]}]
    return document


def render_global(shard_addresses):
    document = load_yaml(GLOBAL_CONFIG)
    document["global"].update(scrape_interval="1s", scrape_timeout="1s")
    (job,) = document["scrape_configs"]
    assert job["metrics_path"] == "/federate" and job["honor_labels"] is True
    (static,) = job["static_configs"]
    assert len(static["targets"]) == len(SHARD_CONFIGS)
    static["targets"] = list(shard_addresses)
    return document


# ---- The deployment ----------------------------------------------------------------------

class ShardedDeployment:
    def __init__(self, prometheus_binary, tmp_path_factory):
        self.processes = []
        try:
            self._start(prometheus_binary, tmp_path_factory)
        except BaseException:
            self.stop()
            raise

    def _start(self, prometheus_binary, tmp_path_factory):
        work_dir = tmp_path_factory.mktemp("sharding")
        self.go_file = work_dir / "go"
        env = dict(os.environ, SWIFT_BACKTRACE="enable=no")
        env.pop("MARTY_METRICS_ENABLED", None)
        self.ports, self.services = {}, {}
        for service in SERVICES:
            port = self.ports[service] = free_port()
            self.services[service] = self._add(Service(
                service, [sys.executable, HERE / "steady_service.py", service, port, COUNTS[service],
                          RATES[service], self.go_file], env, work_dir))
        self.addresses = {s: f"127.0.0.1:{p}" for s, p in self.ports.items()}
        for service, port in self.ports.items():
            process = self.services[service]
            try:
                wait_until(lambda: http_get(f"http://127.0.0.1:{port}/metrics", 2)[0] == 200, 30,
                           what=f"{service} to serve /metrics")
            except AssertionError:
                raise AssertionError(f"{service} did not start:\n{process.log()[-3000:]}")

        def server(name, config, **kwargs):
            return self._add(Prometheus(prometheus_binary, config, tmp_path_factory.mktemp(name), **kwargs))

        self.central = server("central", render_central, args=["--web.enable-remote-write-receiver"])
        self.shards = [server(f"shard-{k}", render_shard(path, self.addresses, self.central.url))
                       for k, path in enumerate(SHARD_CONFIGS)]
        self.shard_addresses = [shard.url.removeprefix("http://") for shard in self.shards]
        self.global_ = server("global", render_global(self.shard_addresses))

        # Every service is scraped by a shard and its `up` written to the central server.
        wait_until(lambda: self.central.values(f'count(up{{job="{JOB}"}} == 1)') == {frozenset(): 8.0},
                   30, what="up == 1 for the eight services in the central server")
        self.go_file.write_text("go\n")

    def _add(self, process):
        self.processes.append(process)
        return process

    def recorded(self):
        """{service: (start, end)} (unix times) once every service has recorded its calls."""
        def read():
            spans = {}
            for service, process in self.services.items():
                assert process.alive(), f"{service} exited:\n{process.log()[-3000:]}"
                log = process.log()
                start = re.search(r"^recording: start=([\d.]+) count=(\d+)", log, re.M)
                end = re.search(r"^recorded: (\d+) calls, end=([\d.]+)", log, re.M)
                if not (start and end):
                    return None
                assert int(start.group(2)) == int(end.group(1)) == COUNTS[service]
                spans[service] = (float(start.group(1)), float(end.group(2)))
            return spans
        return wait_until(read, RECORD_SECONDS + 30, what="the services to record their calls")

    def stop(self):
        codes = {}
        for process in reversed(self.processes):
            codes[process.name] = process.stop()
        return codes


@pytest.fixture(scope="module")
def deployment(prometheus_binary, tmp_path_factory):
    try:
        import marty_metrics  # noqa: F401  (steady_service.py runs on the Python binding)
    except ImportError:
        unavailable("the marty_metrics Python binding is not installed")
    started = ShardedDeployment(prometheus_binary, tmp_path_factory)
    try:
        yield started
    finally:
        codes = started.stop()
        print("exit codes:", codes)


def by_service(prometheus, expr, **params):
    """{service label: value} of an instant query whose result has one series per service."""
    values = {}
    for labels, value in prometheus.values(expr, **params).items():
        service = dict(labels)["service"]
        assert service not in values, f"{expr}: two series for {service}"
        values[service] = value
    return values


def shards_per_service(prometheus):
    """{service: {shard labels}} of marty_grpc_requests_total in `prometheus`."""
    found = {}
    for labels in prometheus.values("count by (service, shard) (marty_grpc_requests_total)"):
        labels = dict(labels)
        found.setdefault(labels["service"], set()).add(labels.get("shard"))
    return found


# ---- The tests ---------------------------------------------------------------------------

@pytest.mark.parametrize("path", EXAMPLE_CONFIGS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_promtool_accepts_the_example_config(promtool, path):
    result = subprocess.run([promtool, "check", "config", str(path)], capture_output=True, text=True,
                            timeout=60)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert f"SUCCESS: {path} is valid prometheus config file syntax" in output, output


def test_the_shard_configs_differ_only_in_their_shard():
    shard_0, shard_1 = (load_yaml(p) for p in SHARD_CONFIGS)
    assert shard_0["global"]["external_labels"]["shard"] == "0"
    assert shard_1["global"]["external_labels"]["shard"] == "1"
    for k, document in enumerate((shard_0, shard_1)):
        hashing, keeping = document["scrape_configs"][0]["relabel_configs"]
        assert hashing == {"source_labels": ["marty_service"], "modulus": 2, "target_label": "__tmp_hash",
                           "action": "hashmod"}
        assert keeping == {"source_labels": ["__tmp_hash"], "regex": str(k), "action": "keep"}
        document["global"]["external_labels"]["shard"] = "k"
        keeping["regex"] = "k"
    assert shard_0 == shard_1


def test_the_library_emits_no_job_instance_or_cluster_label(deployment):
    """Those are the scraper's labels: the library's own exposition has none of them (a
    `job` of its own would be renamed exported_job by Prometheus, and clash across shards)."""
    from prometheus_client.parser import text_string_to_metric_families

    for service, port in deployment.ports.items():
        status, body = http_get(f"http://127.0.0.1:{port}/metrics")
        assert status == 200
        label_names = set()
        samples = 0
        for family in text_string_to_metric_families(body.decode()):
            for sample in family.samples:
                label_names |= set(sample.labels)
                samples += 1
        assert samples > 10 and "service" in label_names, (service, samples, label_names)
        assert not label_names & {"job", "instance", "cluster"}, (service, sorted(label_names))
    # Nor did any reach the central server under Prometheus' renaming of clashing labels.
    for name in ("exported_job", "exported_instance", "cluster", "exported_cluster"):
        assert not deployment.central.query(f'{{{name}=~".+"}}'), name


def test_the_shards_split_the_eight_services_as_hashmod_says(deployment):
    active, dropped = [], []
    for k, shard in enumerate(deployment.shards):
        targets = shard.api("targets")
        mine = {t["labels"]["marty_service"]: t for t in targets["activeTargets"] if t["scrapePool"] == JOB}
        assert all(t["health"] == "up" for t in mine.values()), mine
        for service, target in mine.items():
            assert target["scrapeUrl"] == f"http://{deployment.addresses[service]}/metrics"
            assert "__tmp_hash" not in target["labels"]
        active.append(set(mine))
        dropped.append({t["discoveredLabels"]["marty_service"] for t in targets["droppedTargets"]})
        assert active[k] == {s for s in SERVICES if hashmod(s, 2) == k}, (k, active[k])
        assert active[k] == DOCUMENTED_SHARDS[k]
        assert dropped[k] == set(SERVICES) - active[k]
    print("shard targets:", [sorted(a) for a in active])
    assert not active[0] & active[1]
    assert active[0] | active[1] == set(SERVICES)


def test_every_service_reaches_the_central_server_through_exactly_one_shard(deployment):
    central = deployment.central
    found = wait_until(lambda: (lambda f: f if set(f) == set(SERVICES) else None)(shards_per_service(central)),
                       30, what="marty_grpc_requests_total of all eight services in the central server")
    assert all(len(shards) == 1 for shards in found.values()), found
    for service, (shard,) in found.items():
        assert service in DOCUMENTED_SHARDS[int(shard)], (service, shard)
    # Each series carries the labels of the target that scraped it, and its shard's.
    for result in central.query("marty_grpc_requests_total"):
        labels = result["metric"]
        service = labels["service"]
        assert labels["job"] == JOB
        assert labels["instance"] == deployment.addresses[service]
        assert labels["marty_service"] == service
        assert labels["platform"] == "marty"
        assert labels["shard"] == str(hashmod(service, 2))


def test_central_rates_and_totals_match_what_the_services_recorded(deployment):
    spans = deployment.recorded()
    central = deployment.central
    # Totals: exact, once the shards' last writes are in (the services have stopped counting).
    last = {}

    def totals_complete():
        last["sum"] = central.values("sum(marty_grpc_requests_total)")
        return last["sum"] == {frozenset(): float(TOTAL)}
    try:
        wait_until(totals_complete, 30, what=f"sum(marty_grpc_requests_total) == {TOTAL}")
    except AssertionError as error:
        raise AssertionError(f"{error}; last: {last.get('sum')}")
    assert by_service(central, "sum by (service) (marty_grpc_requests_total)") == \
        {s: float(c) for s, c in COUNTS.items()}
    # NOT_FOUND every tenth call: the status split is exact too.
    not_found = by_service(central, 'sum by (service) (marty_grpc_requests_total{status="NOT_FOUND"})')
    assert not_found == {s: float(c // 10) for s, c in COUNTS.items()}

    # Rates: rate()[12s] at 16 s after the last service started, a window inside every
    # service's 20 s of steady recording.
    first_start = min(start for start, _ in spans.values())
    last_start = max(start for start, _ in spans.values())
    assert last_start - first_start < 1.0, spans
    at = last_start + RATE_AT
    assert at <= min(end for _, end in spans.values())
    window = f"{RATE_WINDOW}s"
    total_rate = central.values(f"sum(rate(marty_grpc_requests_total[{window}]))", time=f"{at:.3f}")
    (total_rate,) = total_rate.values()
    rates = by_service(central, f"sum by (service) (rate(marty_grpc_requests_total[{window}]))", time=f"{at:.3f}")
    expected_total = sum(RATES.values())
    print(f"central: sum(rate[{window}]) {total_rate:.3f}/s, recorded {expected_total:.0f}/s "
          f"({100 * (total_rate / expected_total - 1):+.2f} %); per service "
          + ", ".join(f"{s} {rates[s]:.3f}/{RATES[s]:.0f}" for s in SERVICES)
          + f"; totals {TOTAL} exact")
    # Tolerance: the services count on a monotonic schedule, so the counter is a line of slope
    # RATES[s] up to one call (a 1/RATE step). rate() takes the increase between the first and
    # last scrapes in the window (~11 s apart) and extrapolates it to the window's edges. Its
    # error comes from (1) the step: at most one call per service over ~11 s, 1/(4*11) = 2.3 %
    # for the slowest service, 8 calls in ~1580 for the sum (0.5 %); (2) the time between a
    # scrape's timestamp and the moment the service renders its counter, which differs from
    # scrape to scrape by a few ms (tens of ms on a loaded machine): 50 ms of skew is 0.5 % of
    # 11 s; (3) a scrape that comes more than 1.1 s from a window edge (late, on a loaded
    # machine), which limits the extrapolation to half an interval: up to ~5 % less.
    # So the sum must agree within 5 %, each service within 10 %.
    assert total_rate == pytest.approx(expected_total, rel=0.05), (total_rate, expected_total)
    assert set(rates) == set(SERVICES)
    for service in SERVICES:
        assert rates[service] == pytest.approx(RATES[service], rel=0.10), (service, rates[service])


def test_the_global_server_federates_every_service_from_the_shards(deployment):
    deployment.recorded()
    global_ = deployment.global_
    last = {}

    def complete():
        last["sum"] = global_.values("sum(marty_grpc_requests_total)")
        return last["sum"] == {frozenset(): float(TOTAL)}
    try:
        wait_until(complete, 30, what=f"the global sum(marty_grpc_requests_total) == {TOTAL}")
    except AssertionError as error:
        raise AssertionError(f"{error}; last: {last.get('sum')}")
    found = shards_per_service(global_)
    assert set(found) == set(SERVICES), found
    for service, shards in found.items():
        assert shards == {str(hashmod(service, 2))}, (service, shards)
    assert by_service(global_, "sum by (service) (marty_grpc_requests_total)") == \
        {s: float(c) for s, c in COUNTS.items()}
    # honor_labels: the shards' job and instance labels, not the federation job's.
    for result in global_.query("marty_grpc_requests_total"):
        labels = result["metric"]
        assert labels["job"] == JOB and labels["instance"] == deployment.addresses[labels["service"]], labels
    # match[] took the marty_* series only; the two shards are the federation job's targets.
    names = {dict(labels)["__name__"] for labels in global_.values('count by (__name__) ({__name__=~".+"})')}
    assert "marty_service_info" in names and "marty_grpc_requests_total" in names
    assert {n for n in names if not n.startswith("marty_")} == {
        "up", "scrape_duration_seconds", "scrape_samples_scraped", "scrape_samples_post_metric_relabeling",
        "scrape_series_added"}, names
    up = global_.values("up")
    assert {dict(labels)["instance"]: value for labels, value in up.items()} == \
        {address: 1.0 for address in deployment.shard_addresses}


def test_the_central_server_evaluates_the_alert_rules_over_what_the_shards_wrote(deployment):
    central = deployment.central
    expected = {r["alert"] for path in (PROMETHEUS_DIR / "rules").glob("*.yml")
                for g in load_yaml(path)["groups"] for r in g["rules"] if "alert" in r}

    def evaluated():
        rules = [r for g in central.api("rules")["groups"] for r in g["rules"]]
        return rules if rules and all(r["health"] == "ok" for r in rules) else None
    rules = wait_until(evaluated, 20, what="the central server to evaluate the alert rules")
    assert {r["name"] for r in rules} == expected
    # MartyTargetDown's input (up{job=~"marty.*"}) came from both shards, all eight up.
    up = central.values('up{job=~"marty.*"}')
    assert sorted(dict(labels)["marty_service"] for labels in up) == sorted(SERVICES)
    assert set(up.values()) == {1.0}
    assert {dict(labels)["shard"] for labels in up} == {"0", "1"}
    assert not [a for a in central.api("alerts")["alerts"] if a["labels"]["alertname"] == "MartyTargetDown"]
