"""The Helm chart examples/kubernetes/helm/marty-service, rendered and linted by Helm itself
for each of the eight services.

Helm's own engine comes from the PyPI package helm-python-sdk (pinned in requirements.txt):
its wheel carries libhelm_c, Helm's Go SDK (helm.sh/helm/v4) built as a shared library, which
the package calls through ctypes; no helm binary, no cluster and no network are involved. So
the chart is rendered as `helm template` renders it (the chart's values.yaml coalesced with
the values files and the --set-json overrides, parsed by Helm's own parsers), and linted as
`helm lint --strict` lints it, with the same values. The rendered objects are checked against
the Kubernetes API schemas by kubernetes-validate (strict: unknown fields are errors), and
their structure (named ports, probes, annotations, selectors, resources) by the assertions
here.

The optional prometheus-operator ServiceMonitor (serviceMonitor.enabled) is a custom resource,
outside kubernetes-validate's schemas: it is validated by the ServiceMonitor model of the PyPI
package cloudcoil-models-prometheus-operator (pinned in requirements.txt; pydantic models
generated from the operator's CRDs, v0.80.1: the CRD's required fields, types, enums and
duration patterns), in pydantic's strict mode on the JSON of the object (a quoted boolean or a
number for a string is an error, as the API server's schema check makes it) and with unknown
fields forbidden, as the API server's strict field validation does; its metadata also against
Kubernetes' ObjectMeta. No copy of the CRD is kept in this repository.
"""

import copy
import json
import re

import pytest
import yaml

from deploy_support import CHART_DIR, SEED_PORTS, VALUES_DIR, load_yaml, unavailable

KUBERNETES_VERSION = "1.29.0"
NAMESPACE = "marty"

# The severities of helm lint's messages (helm.sh/helm/v4/pkg/lint/support).
INFO, WARNING, ERROR = 1, 2, 3


def helm():
    """The helm_python module (Helm's engine), or a skip (a failure under CI)."""
    try:
        import helm_python
    except ImportError:
        unavailable("helm-python-sdk is not installed (pip install -r Tests/deploy/requirements.txt)")
    return helm_python


def merge(base, override):
    """Helm's rule for combining -f files and --set values: maps merge key by key, anything
    else (lists included) is replaced by the later value."""
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def user_values(values_files=(), overrides=None):
    """What `-f file ... --set-json key=value ...` gives Helm, parsed by Helm's parsers."""
    h = helm()
    values = {}
    for path in values_files:
        values = merge(values, h.values_from_yaml(path.read_text()))
    for key, value in (overrides or {}).items():
        values = merge(values, h.parse_set_json(f"{key}={json.dumps(value)}"))
    return values


def lint(values):
    """`helm lint --strict --namespace marty` with these values: its messages."""
    report = helm().lint(CHART_DIR, values, strict=True, namespace=NAMESPACE)
    assert report["total_charts_linted"] == 1
    return report


def render(values_files=(), overrides=None, release="release"):
    """{kind: object} of the chart as `helm template` renders it; `helm lint --strict` with
    the same values must find no warning and no error."""
    values = user_values(values_files, overrides)
    report = lint(values)
    problems = [m for m in report["messages"] if m["severity"] >= WARNING]
    assert not problems and not report["errors"], f"helm lint --strict: {report}"
    with helm().Chart.load(CHART_DIR) as chart:
        texts = chart.render(values, name=release, namespace=NAMESPACE, is_install=True)
    assert set(texts) == {f"marty-service/templates/{t}" for t in
                          ("NOTES.txt", "deployment.yaml", "service.yaml", "servicemonitor.yaml")}
    for name, text in texts.items():
        assert "<no value>" not in text, f"{name} prints a missing value"
    documents = [d for name, text in sorted(texts.items()) if name.endswith(".yaml")
                 for d in yaml.safe_load_all(text) if d]
    objects = {d["kind"]: d for d in documents}
    assert len(objects) == len(documents), "one object of each kind expected"
    return objects


def container(objects):
    containers = objects["Deployment"]["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return containers[0]


def env_of(container_spec):
    return {e["name"]: e.get("value") for e in container_spec.get("env", [])}


def test_chart_metadata():
    chart = load_yaml(CHART_DIR / "Chart.yaml")
    assert chart["apiVersion"] == "v2"
    assert chart["name"] == "marty-service"
    assert re.fullmatch(r"\d+\.\d+\.\d+", chart["version"])
    assert chart["type"] == "application"


def test_a_values_file_per_seed_service():
    files = {p.stem: load_yaml(p) for p in VALUES_DIR.glob("*.yaml")}
    assert set(files) == set(SEED_PORTS)
    for service, values in files.items():
        grpc, health, metrics = SEED_PORTS[service]
        assert values["service"]["name"] == service
        assert values["ports"] == {"grpc": grpc, "health": health, "metrics": metrics}, service
        # The seed's rule: health = gRPC + 1, metrics = gRPC + 1000.
        assert (health, metrics) == (grpc + 1, grpc + 1000)


@pytest.mark.parametrize("service", sorted(SEED_PORTS))
def test_rendered_for_each_service(service):
    grpc, health, metrics = SEED_PORTS[service]
    objects = render([VALUES_DIR / f"{service}.yaml"], release=service)
    assert set(objects) == {"Deployment", "Service"}
    deployment, svc = objects["Deployment"], objects["Service"]
    spec = container(objects)

    # Names: the release, in the release's namespace (the kubernetes_sd job watches `marty`).
    for obj in (deployment, svc):
        assert obj["metadata"]["name"] == service
        assert obj["metadata"]["namespace"] == NAMESPACE

    # Named container ports from the values, and the library told the same ports.
    assert {p["name"]: p["containerPort"] for p in spec["ports"]} == {
        "grpc": grpc, "health": health, "metrics": metrics}
    assert all(p["protocol"] == "TCP" for p in spec["ports"])
    env = env_of(spec)
    assert env["MARTY_METRICS_PORT"] == str(metrics)
    assert env["MARTY_HEALTH_PORT"] == str(health)
    assert env["MARTY_METRICS_BIND"] == "0.0.0.0"
    assert env["MARTY_METRICS_ENABLED"] == "true"
    assert spec["args"] == [service]
    assert spec["image"] == f"marty/{service}:latest"

    # The seed's probes, on the named port `health`.
    assert spec["livenessProbe"]["httpGet"] == {"path": "/health/live", "port": "health"}
    assert spec["livenessProbe"]["initialDelaySeconds"] == 30
    assert spec["livenessProbe"]["periodSeconds"] == 10
    assert spec["readinessProbe"]["httpGet"] == {"path": "/health/ready", "port": "health"}
    assert spec["readinessProbe"]["initialDelaySeconds"] == 5
    assert spec["readinessProbe"]["periodSeconds"] == 5

    # The Service: the prometheus.io annotations (strings, as annotations must be), and the
    # three named ports pointing at the container's named ports.
    annotations = svc["metadata"]["annotations"]
    assert annotations == {"prometheus.io/scrape": "true", "prometheus.io/port": str(metrics),
                           "prometheus.io/path": "/metrics"}
    assert {p["name"]: (p["port"], p["targetPort"]) for p in svc["spec"]["ports"]} == {
        "grpc": (grpc, "grpc"), "health": (health, "health"), "metrics": (metrics, "metrics")}

    # Selectors select the pods.
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    selector = deployment["spec"]["selector"]["matchLabels"]
    assert selector.items() <= pod_labels.items()
    assert svc["spec"]["selector"].items() <= pod_labels.items()
    assert pod_labels["app.kubernetes.io/component"] == service

    # Resources: requests for CPU and memory, a memory limit at least the request.
    resources = spec["resources"]
    assert set(resources["requests"]) == {"cpu", "memory"}
    assert mebibytes(resources["limits"]["memory"]) >= mebibytes(resources["requests"]["memory"])


def test_ports_and_name_from_set_alone():
    """The documented way for any service without a values file: --set."""
    objects = render(overrides={"service.name": "pkd-service", "ports.grpc": 9090,
                                "ports.health": 9091, "ports.metrics": 10090},
                     release="pkd-service")
    spec = container(objects)
    assert {p["name"]: p["containerPort"] for p in spec["ports"]} == {
        "grpc": 9090, "health": 9091, "metrics": 10090}
    assert objects["Service"]["metadata"]["annotations"]["prometheus.io/port"] == "10090"
    assert spec["args"] == ["pkd-service"]


def test_metrics_disabled():
    objects = render([VALUES_DIR / "csca-service.yaml"], {"metrics.enabled": False},
                     release="csca-service")
    spec = container(objects)
    assert env_of(spec)["MARTY_METRICS_ENABLED"] == "false"
    assert "metrics" not in {p["name"] for p in spec["ports"]}
    assert "metrics" not in {p["name"] for p in objects["Service"]["spec"]["ports"]}
    assert "annotations" not in objects["Service"]["metadata"]


def render_with_optional_blocks():
    return render([VALUES_DIR / "mdl-engine.yaml"], {
        "podAnnotations": {"example.com/team": "marty"},
        "nodeSelector": {"kubernetes.io/os": "linux"},
        "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "marty",
                         "effect": "NoSchedule"}],
        "extraEnv": [{"name": "MARTY_RESILIENCE_ENABLED", "value": "true"}],
        "args": ["mdl-engine", "--verbose"],
        "fullnameOverride": "mdl",
    }, release="mdl-engine")


def test_optional_blocks_render():
    objects = render_with_optional_blocks()
    pod = objects["Deployment"]["spec"]["template"]
    assert pod["metadata"]["annotations"] == {"example.com/team": "marty"}
    assert pod["spec"]["nodeSelector"] == {"kubernetes.io/os": "linux"}
    assert pod["spec"]["tolerations"][0]["key"] == "dedicated"
    assert env_of(container(objects))["MARTY_RESILIENCE_ENABLED"] == "true"
    assert container(objects)["args"] == ["mdl-engine", "--verbose"]
    assert objects["Deployment"]["metadata"]["name"] == "mdl"
    assert objects["Service"]["metadata"]["name"] == "mdl"


def test_rendered_objects_pass_the_kubernetes_schemas():
    try:
        import kubernetes_validate
    except ImportError:
        unavailable("kubernetes-validate is not installed (pip install -r Tests/deploy/requirements.txt)")
    renders = [render([VALUES_DIR / f"{s}.yaml"], release=s) for s in sorted(SEED_PORTS)]
    renders.append(render_with_optional_blocks())
    renders.append(render(overrides={"metrics.enabled": False}))
    # (The ServiceMonitor, a custom resource, is checked by validate_servicemonitor.)
    renders.append(render_with_web_config(**{"serviceMonitor.enabled": False}))
    for objects in renders:
        for obj in objects.values():
            # strict: a misspelt or misplaced field is an error, not ignored.
            kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)


def test_the_engine_is_helms():
    h = helm()
    assert h.helm_sdk_version().startswith("v4."), h.helm_sdk_version()
    with h.Chart.load(CHART_DIR) as chart:
        assert chart.name == "marty-service"
        assert chart.metadata["apiVersion"] == "v2"
        assert chart.values == load_yaml(CHART_DIR / "values.yaml")


def test_lint_is_clean_for_every_values_file():
    """`helm lint --strict -f values/<service>.yaml` for each service, and with no -f: only
    information (Helm recommends an icon), no warning, no error."""
    for values_files in [()] + [(p,) for p in sorted(VALUES_DIR.glob("*.yaml"))]:
        report = lint(user_values(values_files))
        assert {m["severity"] for m in report["messages"]} <= {INFO}, (values_files, report)
        assert not report["errors"], (values_files, report)


def test_lint_finds_a_broken_value():
    """The lint is not a formality: ports given as a string leaves .Values.ports.metrics
    unevaluable, and helm lint reports the template and the field as an error."""
    report = lint(user_values(overrides={"ports": "9090"}))
    errors = [m for m in report["messages"] if m["severity"] == ERROR]
    assert errors and report["errors"], report
    assert any("ports" in m["error"] for m in errors), report


def test_render_fails_on_a_broken_value():
    h = helm()
    with h.Chart.load(CHART_DIR) as chart, pytest.raises(h.HelmRenderError):
        chart.render(user_values(overrides={"ports": "9090"}), name="x", namespace=NAMESPACE)


def test_notes():
    h = helm()
    with h.Chart.load(CHART_DIR) as chart:
        notes = chart.render(user_values([VALUES_DIR / "pkd-service.yaml"]), name="pkd-service",
                             namespace=NAMESPACE)["marty-service/templates/NOTES.txt"]
    assert notes.startswith("pkd-service is deployed as pkd-service in namespace marty.\n")
    assert "kubectl port-forward -n marty svc/pkd-service 10090:10090" in notes
    assert "curl http://localhost:10090/metrics" in notes


def mebibytes(quantity):
    units = {"Ki": 1 / 1024, "Mi": 1, "Gi": 1024}
    match = re.fullmatch(r"(\d+)(Ki|Mi|Gi)", str(quantity))
    assert match, f"memory quantity {quantity!r}: use Ki/Mi/Gi"
    return int(match.group(1)) * units[match.group(2)]


# ---- The prometheus-operator ServiceMonitor ------------------------------------------------

def servicemonitor_model():
    """cloudcoil's ServiceMonitor model (monitoring.coreos.com/v1), generated from the
    operator's CRD, or a skip (a failure under CI)."""
    try:
        from cloudcoil.models.prometheus_operator.v1 import ServiceMonitor
    except ImportError:
        unavailable("cloudcoil-models-prometheus-operator is not installed "
                    "(pip install -r Tests/deploy/requirements.txt)")
    return ServiceMonitor


def servicemonitor_errors(obj):
    """[(location, pydantic error type, input)] of the object as the API server would check it:
    the JSON it is sent as, strict types (no "true" for a boolean, no number for a string),
    field names exactly as the API spells them (not the models' snake_case), and unknown fields
    forbidden (strict field validation), in nested objects too."""
    import pydantic

    try:
        servicemonitor_model().model_validate_json(json.dumps(obj), strict=True, extra="forbid",
                                                   by_alias=True, by_name=False)
    except pydantic.ValidationError as error:
        return [(".".join(map(str, e["loc"])), e["type"], e["input"]) for e in error.errors()]
    return []


def validate_servicemonitor(obj):
    """Raises AssertionError (or kubernetes-validate's error for the metadata)."""
    import kubernetes_validate

    assert obj["apiVersion"] == "monitoring.coreos.com/v1" and obj["kind"] == "ServiceMonitor"
    errors = servicemonitor_errors(obj)
    assert not errors, errors
    # ObjectMeta as the API server checks it, by the Kubernetes schemas as well.
    kubernetes_validate.validate({"apiVersion": "v1", "kind": "ConfigMap", "metadata": obj["metadata"]},
                                 KUBERNETES_VERSION, strict=True)


def test_the_servicemonitor_model_is_the_operators():
    """The model checked against is the operator's ServiceMonitor, with the constraints that
    the tests below rely on (so an upgrade of the package that loosened them would show)."""
    from importlib.metadata import version

    assert version("cloudcoil-models-prometheus-operator") == "0.80.1.0"
    model = servicemonitor_model()
    fields = model.model_fields
    assert fields["api_version"].alias == "apiVersion" and fields["kind"].default == "ServiceMonitor"
    assert fields["spec"].is_required()
    assert model.model_fields["spec"].annotation.model_fields["selector"].is_required()


def test_no_servicemonitor_by_default():
    assert load_yaml(CHART_DIR / "values.yaml")["serviceMonitor"]["enabled"] is False
    for service in sorted(SEED_PORTS):
        assert "ServiceMonitor" not in render([VALUES_DIR / f"{service}.yaml"], release=service)


@pytest.mark.parametrize("service", sorted(SEED_PORTS))
def test_servicemonitor_for_each_service(service):
    objects = render([VALUES_DIR / f"{service}.yaml"], {
        "serviceMonitor.enabled": True,
        "serviceMonitor.labels": {"release": "kube-prometheus-stack"},
        "serviceMonitor.interval": "15s",
        "serviceMonitor.scrapeTimeout": "10s",
    }, release=service)
    assert set(objects) == {"Deployment", "Service", "ServiceMonitor"}
    monitor, svc = objects["ServiceMonitor"], objects["Service"]
    validate_servicemonitor(monitor)

    assert monitor["metadata"]["name"] == service
    assert monitor["metadata"]["namespace"] == NAMESPACE
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    assert monitor["metadata"]["labels"]["app.kubernetes.io/component"] == service
    # It selects this release's Service, in the Service's namespace...
    spec = monitor["spec"]
    assert spec["selector"]["matchLabels"].items() <= svc["metadata"]["labels"].items()
    assert spec["selector"]["matchLabels"]["app.kubernetes.io/instance"] == service
    assert spec["namespaceSelector"] == {"matchNames": [svc["metadata"]["namespace"]]}
    # ...and scrapes its metrics port by name, on the path the annotations give.
    (endpoint,) = spec["endpoints"]
    service_ports = {p["name"]: p["port"] for p in svc["spec"]["ports"]}
    assert endpoint["port"] == "metrics" and service_ports["metrics"] == SEED_PORTS[service][2]
    assert endpoint["path"] == svc["metadata"]["annotations"]["prometheus.io/path"] == "/metrics"
    assert endpoint["scheme"] == "http"
    assert endpoint["interval"] == "15s" and endpoint["scrapeTimeout"] == "10s"
    # The metrics' own `service` label wins over the operator's `service` target label.
    assert endpoint["honorLabels"] is True


def test_servicemonitor_options():
    relabelings = [{"action": "replace", "targetLabel": "cluster", "replacement": "eu-west-1"}]
    metric_relabelings = [{"action": "drop", "sourceLabels": ["__name__"], "regex": "process_.*"}]
    objects = render([VALUES_DIR / "trust-anchor.yaml"], {
        "serviceMonitor.enabled": True,
        "serviceMonitor.namespace": "monitoring",
        "serviceMonitor.interval": "",
        "serviceMonitor.honorLabels": False,
        "serviceMonitor.relabelings": relabelings,
        "serviceMonitor.metricRelabelings": metric_relabelings,
    }, release="trust-anchor")
    monitor = objects["ServiceMonitor"]
    validate_servicemonitor(monitor)
    assert monitor["metadata"]["namespace"] == "monitoring"
    # The Service stays in the release's namespace, and that is where it is looked for.
    assert monitor["spec"]["namespaceSelector"] == {"matchNames": [NAMESPACE]}
    (endpoint,) = monitor["spec"]["endpoints"]
    assert "interval" not in endpoint and "scrapeTimeout" not in endpoint
    assert endpoint["honorLabels"] is False
    assert endpoint["relabelings"] == relabelings
    assert endpoint["metricRelabelings"] == metric_relabelings


def test_the_servicemonitor_check_rejects_what_the_api_server_would():
    """The check is not a formality: values the operator's CRD forbids are caught."""
    def rendered(**overrides):
        values = {"serviceMonitor.enabled": True}
        values.update({f"serviceMonitor.{k}": v for k, v in overrides.items()})
        return render([VALUES_DIR / "pkd-service.yaml"], values, release="pkd-service")["ServiceMonitor"]

    def kinds(errors):
        return {(location, kind) for location, kind, _ in errors}

    good = rendered()
    assert servicemonitor_errors(good) == []
    # Not a Prometheus duration.
    errors = servicemonitor_errors(rendered(interval="30 seconds"))
    assert ("spec.endpoints.0.interval", "string_pattern_mismatch") in kinds(errors), errors
    # A snake_case field the API does not have (strict: unknown fields are errors).
    errors = servicemonitor_errors(rendered(relabelings=[{"action": "replace", "target_label": "x"}]))
    assert ("spec.endpoints.0.relabelings.0.target_label", "extra_forbidden") in kinds(errors), errors
    # A relabel action that does not exist.
    errors = servicemonitor_errors(rendered(metricRelabelings=[{"action": "explode"}]))
    assert ("spec.endpoints.0.metricRelabelings.0.action", "literal_error", "explode") in errors, errors
    # A wrong type: a quoted boolean, and a port number where the port's name belongs.
    broken = copy.deepcopy(good)
    broken["spec"]["endpoints"][0]["honorLabels"] = "true"
    broken["spec"]["endpoints"][0]["port"] = 10090
    errors = servicemonitor_errors(broken)
    assert ("spec.endpoints.0.honorLabels", "bool_type") in kinds(errors), errors
    assert ("spec.endpoints.0.port", "string_type") in kinds(errors), errors
    # A field in the wrong place, and a required one missing.
    broken = copy.deepcopy(good)
    broken["spec"]["port"] = "metrics"
    del broken["spec"]["selector"]
    errors = servicemonitor_errors(broken)
    assert ("spec.port", "extra_forbidden") in kinds(errors), errors
    assert ("spec.selector", "missing") in kinds(errors), errors
    # An unknown field in the metadata, and the wrong kind.
    broken = copy.deepcopy(good)
    broken["metadata"]["lables"] = {}
    broken["kind"] = "PodMonitor"
    assert {("metadata.lables", "extra_forbidden"), ("kind", "literal_error")} <= kinds(
        servicemonitor_errors(broken))


def test_servicemonitor_needs_the_metrics_port():
    h = helm()
    values = user_values(overrides={"serviceMonitor.enabled": True, "metrics.enabled": False})
    with h.Chart.load(CHART_DIR) as chart, pytest.raises(h.HelmRenderError, match="needs metrics.enabled"):
        chart.render(values, name="x", namespace=NAMESPACE)


# ---- The web config: TLS and basic auth on the metrics port --------------------------------

WEB_SECRET = "pkd-service-web"
SCRAPE_TLS = {"ca": {"secret": {"name": WEB_SECRET, "key": "ca.crt"}},
              "serverName": "pkd-service.marty.svc", "minVersion": "TLS12"}
SCRAPE_BASIC_AUTH = {"username": {"name": "metrics-scrape", "key": "username"},
                     "password": {"name": "metrics-scrape", "key": "password"}}


def render_with_web_config(**overrides):
    """pkd-service with its web config in a Secret, TLS on, and a ServiceMonitor that scrapes it
    with a CA, a server name and basic auth."""
    values = {
        "metrics.webConfig.secretName": WEB_SECRET,
        "metrics.webConfig.tls": True,
        "serviceMonitor.enabled": True,
        "serviceMonitor.tlsConfig": SCRAPE_TLS,
        "serviceMonitor.basicAuth": SCRAPE_BASIC_AUTH,
    }
    values.update(overrides)
    return render([VALUES_DIR / "pkd-service.yaml"], values, release="pkd-service")


def web_config_parts(objects):
    """(volumes, volumeMounts, MARTY_METRICS_WEB_CONFIG) of the Deployment."""
    pod = objects["Deployment"]["spec"]["template"]["spec"]
    spec = container(objects)
    return pod.get("volumes"), spec.get("volumeMounts"), env_of(spec).get("MARTY_METRICS_WEB_CONFIG")


def test_no_web_config_by_default():
    defaults = load_yaml(CHART_DIR / "values.yaml")
    assert defaults["metrics"]["webConfig"] == {"secretName": "", "fileName": "web.yml",
                                                "mountPath": "/etc/marty/web", "tls": False}
    assert defaults["serviceMonitor"]["tlsConfig"] == {} and defaults["serviceMonitor"]["basicAuth"] == {}
    for service in sorted(SEED_PORTS):
        objects = render([VALUES_DIR / f"{service}.yaml"], {"serviceMonitor.enabled": True},
                         release=service)
        assert web_config_parts(objects) == (None, None, None), service
        assert "prometheus.io/scheme" not in objects["Service"]["metadata"]["annotations"]
        (endpoint,) = objects["ServiceMonitor"]["spec"]["endpoints"]
        assert endpoint["scheme"] == "http"
        assert "tlsConfig" not in endpoint and "basicAuth" not in endpoint


def test_web_config_with_tls_and_basic_auth():
    objects = render_with_web_config()
    assert set(objects) == {"Deployment", "Service", "ServiceMonitor"}
    volumes, mounts, path = web_config_parts(objects)
    # The Secret as a volume (the whole of it, so its updates reach the files), mounted
    # read-only where the variable points.
    assert volumes == [{"name": "metrics-web-config", "secret": {"secretName": WEB_SECRET}}]
    assert mounts == [{"name": "metrics-web-config", "mountPath": "/etc/marty/web", "readOnly": True}]
    assert "subPath" not in mounts[0]
    assert path == "/etc/marty/web/web.yml"
    # The root filesystem stays read-only: a Secret volume is a mount of its own.
    assert container(objects)["securityContext"]["readOnlyRootFilesystem"] is True

    annotations = objects["Service"]["metadata"]["annotations"]
    assert annotations == {"prometheus.io/scrape": "true", "prometheus.io/port": "10090",
                           "prometheus.io/path": "/metrics", "prometheus.io/scheme": "https"}

    monitor = objects["ServiceMonitor"]
    validate_servicemonitor(monitor)
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["port"] == "metrics" and endpoint["path"] == "/metrics"
    assert endpoint["scheme"] == "https"
    assert endpoint["tlsConfig"] == SCRAPE_TLS
    assert endpoint["basicAuth"] == SCRAPE_BASIC_AUTH


def test_web_config_keeps_the_probes_on_the_plain_health_port():
    plain = container(render([VALUES_DIR / "pkd-service.yaml"], release="pkd-service"))
    spec = container(render_with_web_config())
    for probe in ("livenessProbe", "readinessProbe"):
        assert spec[probe] == plain[probe], probe
        assert spec[probe]["httpGet"]["port"] == "health"
        assert spec[probe]["httpGet"].get("scheme", "HTTP") == "HTTP"
    assert spec["ports"] == plain["ports"]
    assert env_of(spec)["MARTY_HEALTH_PORT"] == env_of(plain)["MARTY_HEALTH_PORT"] == "9091"


def test_web_config_without_tls():
    """Basic auth (or headers) over plain HTTP: the web config is mounted, the scheme stays
    http, and a tlsConfig is not rendered for it."""
    objects = render_with_web_config(**{"metrics.webConfig.tls": False})
    volumes, mounts, path = web_config_parts(objects)
    assert volumes[0]["secret"] == {"secretName": WEB_SECRET}
    assert mounts[0]["readOnly"] is True and path == "/etc/marty/web/web.yml"
    assert "prometheus.io/scheme" not in objects["Service"]["metadata"]["annotations"]
    monitor = objects["ServiceMonitor"]
    validate_servicemonitor(monitor)
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["scheme"] == "http" and "tlsConfig" not in endpoint
    assert endpoint["basicAuth"] == SCRAPE_BASIC_AUTH


def test_web_config_file_name_and_mount_path():
    objects = render_with_web_config(**{"metrics.webConfig.mountPath": "/var/run/marty/",
                                        "metrics.webConfig.fileName": "web-config.yaml",
                                        "serviceMonitor.enabled": False})
    volumes, mounts, path = web_config_parts(objects)
    assert mounts[0]["mountPath"] == "/var/run/marty/"
    assert path == "/var/run/marty/web-config.yaml"


def test_web_config_needs_metrics():
    objects = render([VALUES_DIR / "pkd-service.yaml"], {
        "metrics.enabled": False, "metrics.webConfig.secretName": WEB_SECRET,
        "metrics.webConfig.tls": True}, release="pkd-service")
    assert web_config_parts(objects) == (None, None, None)
    assert "annotations" not in objects["Service"]["metadata"]


def test_tls_needs_a_web_config():
    h = helm()
    values = user_values([VALUES_DIR / "pkd-service.yaml"], {"metrics.webConfig.tls": True})
    with h.Chart.load(CHART_DIR) as chart, pytest.raises(
            h.HelmRenderError, match="metrics.webConfig.tls needs metrics.webConfig.secretName"):
        chart.render(values, name="x", namespace=NAMESPACE)


def test_web_config_notes():
    h = helm()
    values = user_values([VALUES_DIR / "pkd-service.yaml"], {
        "metrics.webConfig.secretName": WEB_SECRET, "metrics.webConfig.tls": True})
    with h.Chart.load(CHART_DIR) as chart:
        notes = chart.render(values, name="pkd-service", namespace=NAMESPACE)[
            "marty-service/templates/NOTES.txt"]
    assert "curl https://localhost:10090/metrics" in notes
    assert f"Secret {WEB_SECRET}" in notes
    assert "MARTY_METRICS_WEB_CONFIG=/etc/marty/web/web.yml" in notes
    assert "plain HTTP health port 9091" in notes


def test_the_servicemonitor_check_covers_tls_and_basic_auth():
    """tlsConfig and basicAuth are copied in as given: the CRD check is what catches a
    misspelt field, a quoted boolean or a plain string where a Secret key selector belongs."""
    def errors(**overrides):
        monitor = render_with_web_config(**overrides)["ServiceMonitor"]
        return {(location, kind) for location, kind, _ in servicemonitor_errors(monitor)}

    assert ("spec.endpoints.0.tlsConfig.server_name", "extra_forbidden") in errors(
        **{"serviceMonitor.tlsConfig": {"server_name": "pkd-service.marty.svc"}})
    assert ("spec.endpoints.0.tlsConfig.insecureSkipVerify", "bool_type") in errors(
        **{"serviceMonitor.tlsConfig": {"insecureSkipVerify": "true"}})
    assert ("spec.endpoints.0.basicAuth.username", "model_type") in errors(
        **{"serviceMonitor.basicAuth": {"username": "prometheus"}})
