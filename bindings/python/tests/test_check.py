"""python -m marty_metrics.check against servers started in the test: a real marty_metrics
server (pass, and fail once a check fails), a server answering garbage, and nothing."""

import http.server
import json
import socket
import subprocess
import sys
import threading

import pytest

import marty_metrics as mm
from marty_metrics import check
from conftest import python_env


def run_check(*arguments):
    result = subprocess.run([sys.executable, "-m", "marty_metrics.check", "--timeout", "5", *arguments],
                            env=python_env(), capture_output=True, text=True, timeout=120)
    return result.returncode, result.stdout, result.stderr


def row(stdout, name):
    for line in stdout.splitlines():
        if line.startswith(name):
            return line
    raise AssertionError("no row for %s in:\n%s" % (name, stdout))


def test_a_healthy_server_passes(server):
    server.health.add_check("database", True)
    try:
        code, stdout, stderr = run_check("--url", "http://127.0.0.1:%d" % server.metrics_port)
    finally:
        server.health.remove_check("database")
    assert code == 0, stdout + stderr
    line = row(stdout, "http://127.0.0.1:%d" % server.metrics_port)
    assert line.count("PASS") == 4 and "FAIL" not in line
    assert "marty_" in line
    assert "4 of 4 checks passed on 1 target(s)" in stdout


def test_a_failing_readiness_check_fails_with_exit_1(server):
    server.health.add_check("database", False, message="refused", probe="readiness")
    try:
        code, stdout, _ = run_check("--url", "http://127.0.0.1:%d/" % server.health_port,
                                    "--url", "http://127.0.0.1:%d" % server.metrics_port)
    finally:
        server.health.remove_check("database")
    assert code == 1
    metrics_row = row(stdout, "http://127.0.0.1:%d " % server.metrics_port)
    assert "FAIL unhealthy: database" in metrics_row
    assert metrics_row.rstrip().endswith("FAIL 503")  # /health/ready
    health_row = row(stdout, "http://127.0.0.1:%d " % server.health_port)
    assert "FAIL HTTP 404" in health_row  # the health port serves no /metrics


def test_nothing_listening_fails(tmp_path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    code, stdout, _ = run_check("--url", "http://127.0.0.1:%d" % port)
    assert code == 1
    assert row(stdout, "http://127.0.0.1:%d" % port).count("FAIL unreachable") == 4


class GarbageHandler(http.server.BaseHTTPRequestHandler):
    bodies = {
        "/metrics": (200, "text/plain; version=0.0.4", b"# TYPE x counter\nx_total{a=\"unterminated} 1\n"),
        "/health": (200, "application/json", json.dumps({"service": "x", "healthy": "yes", "checks": {"db": 1}}).encode()),
        "/health/live": (200, "text/plain", b"ok"),
        "/health/ready": (500, "text/plain", b"no"),
    }

    def do_GET(self):
        status, content_type, body = self.bodies.get(self.path, (404, "text/plain", b""))
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *arguments):
        pass


def test_a_server_answering_garbage_fails_each_check():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), GarbageHandler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        code, stdout, _ = run_check("--url", "127.0.0.1:%d" % httpd.server_port)
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert code == 1
    line = row(stdout, "http://127.0.0.1:%d" % httpd.server_port)
    assert "FAIL text format" in line
    assert "healthy is str" in line and "missing ready" in line and "checks.db is int" in line
    assert "PASS 200" in line and "FAIL 500" in line


def test_service_names_use_the_port_table():
    registry = mm.CollectorRegistry()
    try:
        server = mm.start_metrics_server(service="pkd-service", bind_address="127.0.0.1", registry=registry)
    except OSError as error:
        pytest.skip("pkd-service's ports are taken here: %s" % error)
    try:
        assert (server.metrics_port, server.health_port) == (10090, 9091)
        code, stdout, _ = run_check("--service", "pkd-service", "--host", "127.0.0.1")
    finally:
        server.stop()
    assert code == 0, stdout
    assert row(stdout, "pkd-service").count("PASS") == 4


def test_all_services_are_the_default_and_bad_arguments_exit_2():
    targets, _ = check.parse_arguments([])
    assert [t.name for t in targets] == list(check.SERVICES)
    assert targets[0].metrics_base == "http://127.0.0.1:9081" and targets[0].health_base == "http://127.0.0.1:8082"
    targets, _ = check.parse_arguments(["--url", "http://h:1", "--all", "--host", "10.1.2.3"])
    assert len(targets) == 9 and targets[-1].metrics_base == "http://h:1"
    assert targets[-2].health_base == "http://10.1.2.3:9091"
    code, _, stderr = run_check("--service", "no-such-service")
    assert code == 2 and "unknown service" in stderr
    code, _, stderr = run_check("--url", "ftp://x")
    assert code == 2


def test_health_document_validation():
    good = {"service": "s", "healthy": True, "ready": True, "live": True, "uptime_seconds": 3,
            "checks": {"db": True}, "timestamp": 1.5, "extra": "allowed"}
    assert check.validate_health(good) == []
    assert check.validate_health([]) == ["not a JSON object"]
    bad = dict(good, uptime_seconds=True, timestamp="now", checks={"db": "yes"})
    del bad["live"]
    assert sorted(check.validate_health(bad)) == sorted([
        "missing live", "uptime_seconds is a boolean", "timestamp is str", "checks.db is str, not a boolean"])
