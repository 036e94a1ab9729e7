"""The Helm chart examples/kubernetes/helm/marty-service, rendered for each of the eight
services.

Rendering: with `helm template` when a `helm` binary is on PATH (and then our renderer's
output must parse to the same objects), else with gotemplate.py, a renderer of the Go
template subset the chart uses (Debian 12 has no helm package). The rendered objects are
checked against the Kubernetes API schemas by kubernetes-validate (strict: unknown fields
are errors), and their structure (named ports, probes, annotations, selectors, resources)
by the assertions here.
"""

import re
import shutil
import subprocess

import pytest
import yaml

import gotemplate
from deploy_support import CHART_DIR, SEED_PORTS, VALUES_DIR, load_yaml, unavailable

KUBERNETES_VERSION = "1.29.0"
NAMESPACE = "marty"


def render(values_files=(), overrides=None, release="release"):
    """{kind: object} of the chart rendered by gotemplate (and by helm when present)."""
    texts = gotemplate.render_chart(CHART_DIR, values_files, overrides, release_name=release,
                                    namespace=NAMESPACE)
    for name, text in texts.items():
        assert "<no value>" not in text, f"{name} prints a missing value"
    documents = [d for name, text in sorted(texts.items()) if name.endswith(".yaml")
                 for d in yaml.safe_load_all(text) if d]
    objects = {d["kind"]: d for d in documents}
    assert len(objects) == len(documents), "one object of each kind expected"
    helm = shutil.which("helm")
    if helm:
        command = [helm, "template", release, str(CHART_DIR), "--namespace", NAMESPACE]
        for path in values_files:
            command += ["-f", str(path)]
        for key, value in (overrides or {}).items():
            command += ["--set-json", f"{key}={yaml.safe_dump(value, default_flow_style=True).strip()}"]
        output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
        by_helm = {d["kind"]: d for d in yaml.safe_load_all(output) if d}
        assert by_helm == objects, "gotemplate.py and helm render the chart differently"
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
    for objects in renders:
        for obj in objects.values():
            # strict: a misspelt or misplaced field is an error, not ignored.
            kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)


def test_renderer_refuses_what_it_does_not_know():
    """The renderer must fail loudly outside its subset, never render something else."""
    with pytest.raises(gotemplate.TemplateError, match="outside the supported subset"):
        gotemplate.Template({"t.yaml": "{{ sha256sum .Values.x }}"}).render("t.yaml", {"Values": {}})
    with pytest.raises(gotemplate.TemplateError, match="nil pointer"):
        gotemplate.Template({"t.yaml": "{{ .Values.a.b }}"}).render("t.yaml", {"Values": {}})
    with pytest.raises(gotemplate.TemplateError, match="missing"):
        gotemplate.Template({"t.yaml": "{{ if .Values.a }}x"}).render("t.yaml", {"Values": {}})


def test_renderer_follows_go_template_rules():
    template = gotemplate.Template({
        "_h.tpl": '{{- define "n" -}}{{ .a | default "d" | quote }}{{- end -}}',
        "t.yaml": "a:\n  {{- include \"n\" .Values | nindent 2 }}\nb: {{ .Values.b | quote }}\n"
                  "{{- with .Values.c }}\nc:\n  {{- toYaml . | nindent 2 }}\n{{- end }}\n"
                  "{{- if .Values.d }}\nd: yes\n{{- else if .Values.e }}\ne: {{ .Values.e }}\n{{- end }}\n"
                  "{{- range $k, $v := .Values.m }}\n{{ $k }}: {{ $v }}\n{{- end }}\n"
                  "{{/* a comment */ -}}\nf: {{ printf \"%s-%d\" \"x\" 3 | trunc 3 | trimSuffix \"-\" }}\n",
    })
    text = template.render("t.yaml", {"Values": {"b": 8081, "c": {"z": 1, "y": [1, 2]}, "e": "E",
                                                 "m": {"q": 2, "p": 1}}})
    assert text == ('a:\n  "d"\nb: "8081"\nc:\n  y:\n  - 1\n  - 2\n  z: 1\ne: E\np: 1\nq: 2\n'
                    "f: x-3\n")


def mebibytes(quantity):
    units = {"Ki": 1 / 1024, "Mi": 1, "Gi": 1024}
    match = re.fullmatch(r"(\d+)(Ki|Mi|Gi)", str(quantity))
    assert match, f"memory quantity {quantity!r}: use Ki/Mi/Gi"
    return int(match.group(1)) * units[match.group(2)]
