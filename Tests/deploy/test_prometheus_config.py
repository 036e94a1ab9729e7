"""examples/prometheus/prometheus.yml: promtool checks it with the Kubernetes job cut out
(Debian's promtool is built without Kubernetes discovery and rejects the key itself); the
Kubernetes job's structure is checked here, and its relabel rules are applied to the targets
Kubernetes discovery would give (the same rules run in a real Prometheus in
test_end_to_end.py, fed through file_sd).
"""

import re
import subprocess

import yaml

from deploy_support import PROMETHEUS_CONFIG, RULES_DIR, SEED_PORTS, load_yaml

K8S_JOB = "marty-microservices"


def config():
    return load_yaml(PROMETHEUS_CONFIG)


def kubernetes_job():
    jobs = [j for j in config()["scrape_configs"] if "kubernetes_sd_configs" in j]
    assert [j["job_name"] for j in jobs] == [K8S_JOB]
    return jobs[0]


def without_kubernetes_jobs(document):
    """The configuration with every kubernetes_sd job cut out, rule files made absolute."""
    cut = dict(document)
    cut["scrape_configs"] = [j for j in document["scrape_configs"] if "kubernetes_sd_configs" not in j]
    cut["rule_files"] = [str(PROMETHEUS_CONFIG.parent / f) for f in document["rule_files"]]
    return cut


def promtool_check_config(promtool, document, tmp_path):
    path = tmp_path / "prometheus.yml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return subprocess.run([promtool, "check", "config", str(path)], capture_output=True,
                          text=True, timeout=60)


def test_promtool_accepts_the_config_without_the_kubernetes_job(promtool, tmp_path):
    document = config()
    cut = without_kubernetes_jobs(document)
    assert len(cut["scrape_configs"]) == len(document["scrape_configs"]) - 1
    result = promtool_check_config(promtool, cut, tmp_path)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "SUCCESS" in output
    rule_files = len(list(RULES_DIR.glob("*.yml")))
    assert f"SUCCESS: {rule_files} rule files found" in output, output


def test_the_whole_config_fails_only_on_kubernetes_sd(promtool, tmp_path):
    """Either this promtool knows Kubernetes discovery and accepts the whole file, or its one
    complaint is the kubernetes_sd_configs key (Debian's 2.42 build)."""
    document = config()
    document["rule_files"] = [str(PROMETHEUS_CONFIG.parent / f) for f in document["rule_files"]]
    result = promtool_check_config(promtool, document, tmp_path)
    output = result.stdout + result.stderr
    if result.returncode != 0:
        assert "field kubernetes_sd_configs not found" in output, output
        # "yaml: unmarshal errors:" then one "line N: ..." per error: all about that key.
        errors = re.findall(r"line \d+: .*", output)
        assert errors and all("kubernetes_sd_configs" in line for line in errors), output


def test_global_settings_and_rule_files():
    document = config()
    assert document["rule_files"] == ["rules/*.yml"]
    assert list((PROMETHEUS_CONFIG.parent).glob(document["rule_files"][0]))
    assert document["global"]["scrape_interval"]
    assert document["global"]["evaluation_interval"]


def test_kubernetes_job_structure():
    job = kubernetes_job()
    (sd,) = job["kubernetes_sd_configs"]
    assert sd["role"] == "service"
    assert sd["namespaces"] == {"names": ["marty"]}
    rules = job["relabel_configs"]
    annotation = "__meta_kubernetes_service_annotation_prometheus_io_"

    # The first rule keeps only Services annotated prometheus.io/scrape: "true".
    assert rules[0]["source_labels"] == [annotation + "scrape"]
    assert rules[0]["action"] == "keep"
    assert rules[0]["regex"] == "true"

    by_target = {r.get("target_label"): r for r in rules if r.get("action", "replace") == "replace"}
    path_rule = by_target["__metrics_path__"]
    assert path_rule["source_labels"] == [annotation + "path"]
    address_rule = by_target["__address__"]
    assert address_rule["source_labels"] == ["__address__", annotation + "port"]
    assert "service" not in by_target, \
        "a target label `service` would rename every metric's own service label"
    for rule in rules:
        assert rule.get("action", "replace") in ("keep", "drop", "replace", "labelmap")
        re.compile(rule.get("regex", "(.*)"))


# ---- The relabel rules applied to what Kubernetes discovery gives for the chart's Service ----

def relabel(labels, rules):
    """Prometheus' relabelling (keep, drop, replace) for one target; None when dropped."""
    labels = dict(labels)
    for rule in rules:
        action = rule.get("action", "replace")
        separator = rule.get("separator", ";")
        value = separator.join(labels.get(name, "") for name in rule.get("source_labels", []))
        regex = re.compile(rule.get("regex", "(.*)"))
        match = regex.fullmatch(value)
        if action == "keep" and not match:
            return None
        if action == "drop" and match:
            return None
        if action == "replace" and match:
            replacement = re.sub(r"\$(\d+)|\$\{(\d+)\}",
                                 lambda m: match.group(int(m.group(1) or m.group(2))) or "",
                                 rule.get("replacement", "$1"))
            if replacement:
                labels[rule["target_label"]] = replacement
            else:
                labels.pop(rule["target_label"], None)
    return {k: v for k, v in labels.items() if not k.startswith("__meta_")}


def discovered(service, namespace, annotations, ports):
    """The targets of Kubernetes' role: service for one Service: one per port."""
    targets = []
    for port_name, port in ports.items():
        labels = {
            "__address__": f"{service}.{namespace}.svc:{port}",
            "__metrics_path__": "/metrics",
            "__scheme__": "http",
            "__meta_kubernetes_namespace": namespace,
            "__meta_kubernetes_service_name": service,
            "__meta_kubernetes_service_port_name": port_name,
            "__meta_kubernetes_service_port_protocol": "TCP",
        }
        for key, value in annotations.items():
            name = re.sub(r"[^a-zA-Z0-9_]", "_", key)
            labels[f"__meta_kubernetes_service_annotation_{name}"] = value
            labels[f"__meta_kubernetes_service_annotationpresent_{name}"] = "true"
        targets.append(labels)
    return targets


def test_kubernetes_relabelling_finds_each_annotated_service_once():
    rules = kubernetes_job()["relabel_configs"]
    for service, (grpc, health, metrics) in SEED_PORTS.items():
        annotations = {"prometheus.io/scrape": "true", "prometheus.io/port": str(metrics),
                       "prometheus.io/path": "/metrics"}
        targets = discovered(service, "marty", annotations,
                             {"grpc": grpc, "health": health, "metrics": metrics})
        kept = [t for t in (relabel(t, rules) for t in targets) if t]
        assert len(kept) == 1, kept
        (target,) = kept
        assert target["__address__"] == f"{service}.marty.svc:{metrics}"
        assert target["__metrics_path__"] == "/metrics"
        assert target["kubernetes_namespace"] == "marty"
        assert target["kubernetes_service"] == service


def test_kubernetes_relabelling_follows_the_annotations():
    rules = kubernetes_job()["relabel_configs"]
    custom = discovered("pkd-service", "marty", {"prometheus.io/scrape": "true",
                                                 "prometheus.io/port": "19090",
                                                 "prometheus.io/path": "/custom/metrics"},
                        {"metrics": 10090})
    (target,) = [relabel(t, rules) for t in custom]
    assert target["__address__"] == "pkd-service.marty.svc:19090"
    assert target["__metrics_path__"] == "/custom/metrics"
    for scrape in ("false", None):
        annotations = {"prometheus.io/port": "9081"}
        if scrape is not None:
            annotations["prometheus.io/scrape"] = scrape
        targets = discovered("csca-service", "marty", annotations, {"metrics": 9081})
        assert [relabel(t, rules) for t in targets] == [None]


def test_static_targets_cover_the_eight_services():
    jobs = [j for j in config()["scrape_configs"] if j["job_name"] == "marty-static"]
    assert len(jobs) == 1
    seen = {}
    for static in jobs[0]["static_configs"]:
        for target in static["targets"]:
            host, port = target.rsplit(":", 1)
            seen[static["labels"]["marty_service"]] = (host, int(port))
    assert seen == {service: (service, ports[2]) for service, ports in SEED_PORTS.items()}
    assert jobs[0].get("metrics_path", "/metrics") == "/metrics"
