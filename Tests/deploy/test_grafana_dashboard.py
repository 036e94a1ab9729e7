"""The Grafana dashboard examples/grafana/marty-services-dashboard.json: every query parses
(promtool here, offline; a running Prometheus' /api/v1/query in test_end_to_end.py, where the
queries also return data) and reads only the catalog's metrics (and process_*, up); the
panels the issue asks for are there, per service and method.
"""

import json
import re
import subprocess

import pytest
import yaml

from deploy_support import ALLOWED_METRICS, DASHBOARD
from promql import grafana_to_promql, metric_names


def dashboard():
    return json.loads(DASHBOARD.read_text())


def panels():
    return [p for p in dashboard()["panels"] if p["type"] != "row"]


def queries():
    """[(panel title, expr)] of every panel target."""
    return [(p["title"], t["expr"]) for p in panels() for t in p["targets"]]


def variable_queries():
    """The metric selectors inside the template variables' label_values(...)."""
    found = []
    for variable in dashboard()["templating"]["list"]:
        if variable["type"] != "query":
            continue
        query = variable["query"]["query"] if isinstance(variable["query"], dict) else variable["query"]
        match = re.fullmatch(r"label_values\((.+),\s*(\w+)\)", query)
        assert match, f"variable {variable['name']}: {query!r}"
        found.append((f"variable {variable['name']}", match.group(1)))
    return found


def test_dashboard_shape():
    board = dashboard()
    assert board["uid"] == "marty-services"
    assert board["title"]
    assert isinstance(board["schemaVersion"], int) and board["schemaVersion"] >= 30
    ids = [p["id"] for p in board["panels"]]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    rectangles = []
    for panel in board["panels"]:
        grid = panel["gridPos"]
        assert 0 <= grid["x"] and grid["x"] + grid["w"] <= 24, panel["title"]
        cells = {(x, y) for x in range(grid["x"], grid["x"] + grid["w"])
                 for y in range(grid["y"], grid["y"] + grid["h"])}
        for title, other in rectangles:
            assert not cells & other, f"{panel['title']!r} overlaps {title!r}"
        rectangles.append((panel["title"], cells))
    names = {v["name"] for v in board["templating"]["list"]}
    assert {"datasource", "service", "method"} <= names
    for panel in panels():
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
        assert panel["targets"], panel["title"]
        assert panel.get("description"), panel["title"]


@pytest.mark.parametrize("title, expr", queries() + variable_queries())
def test_query_reads_only_catalog_metrics(title, expr):
    names = metric_names(grafana_to_promql(expr))
    assert names, f"{title}: no metric found in {expr!r}"
    assert names <= ALLOWED_METRICS, f"{title}: {sorted(names - ALLOWED_METRICS)} not in the catalog"


def test_every_query_parses_with_promtool(promtool, tmp_path):
    """Each query as a recording rule: promtool check rules parses every expression."""
    rules = [{"record": f"dashboard:query_{i}", "expr": grafana_to_promql(expr)}
             for i, (_, expr) in enumerate(queries() + variable_queries())]
    path = tmp_path / "dashboard-queries.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    result = subprocess.run([promtool, "check", "rules", str(path)], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(rules)} rules found" in result.stdout


def test_the_panels_the_issue_asks_for():
    exprs = [expr for _, expr in queries()]

    def has(pattern):
        return [e for e in exprs if re.search(pattern, e)]

    per_service_and_method = r"by \(service, method(, le)?\)"
    request_rate = has(r"^sum by \(service, method\) \(rate\(marty_grpc_requests_total")
    assert request_rate, "request rate per service and method"
    error_rate = has(r"rate\(marty_grpc_errors_total.*\) / sum by \(service, method\) \(rate\(marty_grpc_requests_total")
    assert error_rate, "error rate per service and method"
    for quantile in ("0.5", "0.95", "0.99"):
        latency = has(rf"^histogram_quantile\({quantile}, sum by \(service, method, le\) \(rate\(marty_grpc_request_duration_seconds_bucket")
        assert latency, f"p{quantile} latency per service and method"
    for pattern in ("marty_service_health_status", "marty_service_cpu_usage_percent",
                    "marty_service_memory_usage_bytes", "marty_grpc_active_connections"):
        assert has(pattern), pattern
    for expr in request_rate + error_rate:
        assert re.search(per_service_and_method, expr)
        assert 'service=~"$service"' in expr and 'method=~"$method"' in expr
