"""The alert rules examples/prometheus/rules/*.yml: promtool checks them and runs their unit
tests (examples/prometheus/tests/*.test.yml); each alert has for:, a severity and a useful
description; the unit tests cover every alert firing and staying quiet, and fail when an
alert is broken.
"""

import re
import subprocess

import pytest
import yaml

from deploy_support import ALLOWED_METRICS, RULE_TESTS_DIR, RULES_DIR, load_yaml
from promql import metric_names

RULE_FILES = sorted(RULES_DIR.glob("*.yml"))
TEST_FILES = sorted(RULE_TESTS_DIR.glob("*.test.yml"))

# What the seed and the issue ask for: a kind of alert -> how to recognise its rule.
REQUIRED = {
    "high error rate": lambda r: "marty_grpc_errors_total" in r["expr"]
                                 and "marty_grpc_requests_total" in r["expr"],
    "high p95 latency": lambda r: re.search(
        r"histogram_quantile\(\s*0\.95\s*,.*rate\(\s*marty_grpc_request_duration_seconds_bucket\[5m\]\)",
        r["expr"], re.S),
    "health failing": lambda r: "marty_service_health_status" in r["expr"],
    "cpu exhaustion": lambda r: "marty_service_cpu_usage_percent" in r["expr"],
    "memory exhaustion": lambda r: "marty_service_memory_usage_bytes" in r["expr"],
    "target down": lambda r: re.search(r"\bup\b", r["expr"]),
}


def alerts():
    found = []
    for path in RULE_FILES:
        for group in load_yaml(path)["groups"]:
            for rule in group["rules"]:
                if "alert" in rule:
                    found.append(rule)
    return found


def run(command, cwd=None):
    return subprocess.run([str(c) for c in command], cwd=cwd, capture_output=True, text=True,
                          timeout=60)


def test_there_are_rule_files_and_tests():
    assert RULE_FILES, f"no rules in {RULES_DIR}"
    assert TEST_FILES, f"no rule unit tests in {RULE_TESTS_DIR}"


@pytest.mark.parametrize("path", RULE_FILES, ids=lambda p: p.name)
def test_promtool_check_rules(promtool, path):
    result = run([promtool, "check", "rules", path])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout
    count = int(re.search(r"SUCCESS: (\d+) rules found", result.stdout).group(1))
    assert count == sum(len(g["rules"]) for g in load_yaml(path)["groups"])


@pytest.mark.parametrize("path", TEST_FILES, ids=lambda p: p.name)
def test_promtool_test_rules(promtool, path):
    result = run([promtool, "test", "rules", path.name], cwd=path.parent)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout and "FAILED" not in result.stdout


def test_the_required_alerts_exist():
    rules = alerts()
    for kind, matches in REQUIRED.items():
        assert any(matches(rule) for rule in rules), f"no alert for {kind}"


@pytest.mark.parametrize("rule", alerts(), ids=lambda r: r["alert"])
def test_each_alert_is_complete(rule):
    assert re.fullmatch(r"Marty[A-Za-z0-9]+", rule["alert"])
    assert re.fullmatch(r"\d+[smh]", str(rule.get("for", ""))), "every alert needs for:"
    assert not re.fullmatch(r"0+[smh]", rule["for"]), "for: must not be zero"
    assert rule["labels"]["severity"] in ("critical", "warning")
    annotations = rule["annotations"]
    assert annotations["summary"].strip()
    description = annotations["description"]
    assert len(description) > 80, "the description must say what is wrong and where to look"
    assert "{{ $value" in description or "{{ $labels" in description, \
        "the description names the series or the value"
    names = metric_names(rule["expr"])
    assert names and names <= ALLOWED_METRICS, f"{rule['alert']} reads {names - ALLOWED_METRICS}"


def unit_tests():
    """[(test file, test case)]"""
    return [(path, case) for path in TEST_FILES for case in load_yaml(path)["tests"]]


@pytest.mark.parametrize("rule", alerts(), ids=lambda r: r["alert"])
def test_each_alert_fires_and_stays_quiet_in_the_unit_tests(rule):
    name = rule["alert"]
    fires = quiet = False
    for _, case in unit_tests():
        for check in case.get("alert_rule_test", []):
            if check["alertname"] != name:
                continue
            if check.get("exp_alerts"):
                fires = True
                # promtool compares the whole list: the input must hold a healthy series that
                # is not in it, or "quiet on a healthy one" proves nothing.
                assert len(case["input_series"]) > len(check["exp_alerts"]), (
                    f"{name}: the test case has no healthy series besides the alerting ones")
                for expected in check["exp_alerts"]:
                    assert expected["exp_labels"]["severity"] == rule["labels"]["severity"]
                    assert expected.get("exp_annotations"), \
                        f"{name}: check the rendered annotations too"
            else:
                quiet = True
    assert fires, f"no unit test shows {name} firing"
    assert quiet, f"no unit test shows {name} quiet (before for: or on healthy series)"


@pytest.mark.parametrize("rule", alerts(), ids=lambda r: r["alert"])
def test_unit_tests_fail_when_the_alert_is_broken(promtool, rule, tmp_path):
    """Replaces one alert's expression by one that never fires: the unit tests must fail."""
    for path in RULE_FILES:
        document = load_yaml(path)
        for group in document["groups"]:
            for candidate in group["rules"]:
                if candidate.get("alert") == rule["alert"]:
                    candidate["expr"] = "vector(1) < 0"
        (tmp_path / "rules").mkdir(exist_ok=True)
        (tmp_path / "rules" / path.name).write_text(yaml.safe_dump(document, sort_keys=False))
    (tmp_path / "tests").mkdir()
    for path in TEST_FILES:
        (tmp_path / "tests" / path.name).write_text(path.read_text())
    failed = False
    for path in TEST_FILES:
        result = run([promtool, "test", "rules", path.name], cwd=tmp_path / "tests")
        if result.returncode != 0:
            output = result.stdout + result.stderr
            assert f"alertname: {rule['alert']}" in output, output
            failed = True
    assert failed, f"the unit tests still pass with {rule['alert']} broken"
