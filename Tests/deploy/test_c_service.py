"""The C example service examples/c/marty_c_service.c: built by the one-line cc command of
its README through pkg-config (against an install of the CMake build), and, as CMake built
it, serving the Marty catalog, health checks that flip, and a clean stop.
"""

import json
import os
import re
import shutil
import signal
import subprocess
from pathlib import Path

import pytest

from deploy_support import (CATALOG_METRICS, EXAMPLES, PROCESS_METRICS, REPO_ROOT, Service, free_port,
                      http_get, service_env, unavailable, wait_until)

C_DIR = EXAMPLES / "c"


def readme_cc_command():
    text = (C_DIR / "README.md").read_text()
    lines = [l.strip() for l in text.splitlines() if l.strip().startswith("cc marty_c_service.c")]
    assert len(lines) == 1, "the README gives one cc command for the service"
    return lines[0]


def cmake_build_dir():
    explicit = os.environ.get("MARTY_CMAKE_BUILD_DIR")
    if explicit:
        return Path(explicit)
    candidates = [p.parent.parent for p in REPO_ROOT.glob("build*/lib/libmarty_metrics.so.0")
                  if (p.parent.parent / "CMakeCache.txt").exists()]
    if not candidates:
        unavailable("no built CMake folder (set MARTY_CMAKE_BUILD_DIR)")
    return max(candidates, key=lambda p: (p / "lib" / "libmarty_metrics.so.0").stat().st_mtime)


def start(binary, tmp_path, name="c-service", service="document-signer", **env):
    metrics_port, health_port = free_port(), free_port()
    process = Service(name, [binary, service], service_env(metrics_port, health_port, **env), tmp_path)
    process.metrics_url = f"http://127.0.0.1:{metrics_port}"
    process.health_url = f"http://127.0.0.1:{health_port}"
    wait_until(lambda: http_get(process.metrics_url + "/metrics", timeout=2)[0] == 200, 20,
               what=f"{name} to serve /metrics")
    return process


def metric_names_in(text):
    return {m.group(1) for m in re.finditer(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)[{ ]", text, re.M)}


def test_readme_one_line_build_through_pkg_config(tmp_path):
    if not shutil.which("pkg-config") or not shutil.which("cc"):
        unavailable("pkg-config and cc are needed")
    build = cmake_build_dir()
    prefix = tmp_path / "prefix"
    subprocess.run(["cmake", "--install", str(build), "--prefix", str(prefix)], check=True,
                   capture_output=True, timeout=120)
    (pc,) = prefix.glob("**/pkgconfig/marty_metrics.pc")
    work = tmp_path / "src"
    work.mkdir()
    shutil.copy(C_DIR / "marty_c_service.c", work)
    env = dict(os.environ, PKG_CONFIG_PATH=str(pc.parent))
    command = readme_cc_command() + " -Wall -Wextra -Werror"
    result = subprocess.run(command, shell=True, cwd=work, env=env, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, f"{command}\n{result.stdout}{result.stderr}"
    binary = work / "marty_c_service"
    # Runs from the installed library alone: no LD_LIBRARY_PATH, an almost empty environment.
    metrics_port, health_port = free_port(), free_port()
    run = subprocess.run(
        ["env", "-i", f"MARTY_METRICS_PORT={metrics_port}", f"MARTY_HEALTH_PORT={health_port}",
         "MARTY_METRICS_BIND=127.0.0.1", "MARTY_RUN_SECONDS=0.5", str(binary), "pkd-service"],
        capture_output=True, text=True, timeout=30)
    assert run.returncode == 0, run.stdout + run.stderr
    assert f"metrics on http://127.0.0.1:{metrics_port}/metrics" in run.stdout
    assert "stopping" in run.stdout
    assert str(prefix) in subprocess.run(["ldd", str(binary)], capture_output=True, text=True).stdout


def test_serves_the_catalog(c_service_binary, tmp_path, promtool):
    service = start(c_service_binary, tmp_path)
    try:
        # Let it record a few ticks (every 100 ms), errors (5 % of calls) included.
        wait_until(lambda: all(name in http_get(service.metrics_url + "/metrics")[1] for name in
                               (b"marty_last_successful_operation_timestamp{", b"marty_grpc_errors_total{")),
                   10, what="recorded calls and errors")
        status, body = http_get(service.metrics_url + "/metrics")
        assert status == 200
        text = body.decode()
        names = metric_names_in(text)
        assert CATALOG_METRICS <= names, sorted(CATALOG_METRICS - names)
        assert PROCESS_METRICS <= names, sorted(PROCESS_METRICS - names)
        for method in ("Get", "List", "Process"):
            assert f'method="/marty.DocumentSigner/{method}"' in text
        assert 'marty_service_info{service="document-signer",version="1.0.0"} 1' in text
        assert 'marty_service_health_status{service="document-signer"} 1' in text
        assert 'marty_database_connections_active{service="document-signer",database="postgres"}' in text
        # Prometheus' own parser and linter accept it.
        lint = subprocess.run([promtool, "check", "metrics"], input=body, capture_output=True,
                              timeout=30)
        assert lint.returncode == 0, lint.stdout + lint.stderr

        status, body = http_get(service.health_url + "/health")
        report = json.loads(body)
        assert status == 200
        assert report["service"] == "document-signer"
        assert report["checks"] == {"dependencies": True, "grpc_server": True}
    finally:
        assert service.stop() == 0, service.log()
    assert "stopping" in service.log()


def test_health_flips_with_the_control_file_and_sigusr1(c_service_binary, tmp_path):
    control = tmp_path / "health"
    service = start(c_service_binary, tmp_path, MARTY_HEALTH_CONTROL_FILE=control)
    try:
        assert http_get(service.health_url + "/health/ready")[0] == 200
        control.write_text("unhealthy: database unreachable\n")
        status, body = http_get(service.health_url + "/health/ready")
        assert status == 503
        assert b"dependencies" in body
        report = json.loads(http_get(service.health_url + "/health")[1])
        assert report["healthy"] is False and report["checks"]["dependencies"] is False
        assert "database unreachable" in report["details"]["dependencies"]["message"]
        assert http_get(service.health_url + "/health/live")[0] == 503
        metrics = http_get(service.metrics_url + "/metrics")[1].decode()
        assert 'marty_service_health_status{service="document-signer"} 0' in metrics

        control.unlink()
        assert http_get(service.health_url + "/health/ready")[0] == 200
        metrics = http_get(service.metrics_url + "/metrics")[1].decode()
        assert 'marty_service_health_status{service="document-signer"} 1' in metrics

        os.kill(service.pid, signal.SIGUSR1)
        wait_until(lambda: http_get(service.health_url + "/health/ready")[0] == 503, 5,
                   what="SIGUSR1 to fail the check")
        os.kill(service.pid, signal.SIGUSR1)
        wait_until(lambda: http_get(service.health_url + "/health/ready")[0] == 200, 5,
                   what="a second SIGUSR1 to heal it")
    finally:
        assert service.stop() == 0, service.log()


def test_taken_port_is_an_error_naming_it(c_service_binary, tmp_path):
    first = start(c_service_binary, tmp_path, name="first")
    try:
        port = int(first.metrics_url.rsplit(":", 1)[1])
        env = service_env(port, free_port())
        result = subprocess.run([c_service_binary, "document-signer"], env=env,
                                capture_output=True, text=True, timeout=30)
        assert result.returncode == 1
        assert str(port) in result.stderr and "in use" in result.stderr, result.stderr
    finally:
        first.stop()
