"""Shared machinery of the deployment tests (Tests/deploy): where the files and the
binaries are, real tools (promtool, prometheus), processes started and stopped by pid, free
ports on 127.0.0.1, and a Prometheus server run by hand. (A module name of its own, imported
by conftest.py and the tests: `from conftest import` could find another folder's conftest
when several test folders run in one pytest.)

Binaries are found through environment variables first (what Tests/run-all.sh sets), then
in the usual build folders:
  MARTY_DEMO_BINARY       the demo service (swift build --product marty-demo)
  MARTY_C_SERVICE_BINARY  the C example service (CMake target marty_c_service)
  MARTY_CMAKE_BUILD_DIR   a configured and built CMake folder (for the pkg-config build test)
  PROMETHEUS, PROMTOOL    the Prometheus server and promtool (default: from PATH)
A missing binary or tool skips the tests that need it, except under CI=true, where it fails
them: CI must run everything.
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = REPO_ROOT / "examples"
CHART_DIR = EXAMPLES / "kubernetes" / "helm" / "marty-service"
VALUES_DIR = EXAMPLES / "kubernetes" / "helm" / "values"
PROMETHEUS_DIR = EXAMPLES / "prometheus"
PROMETHEUS_CONFIG = PROMETHEUS_DIR / "prometheus.yml"
RULES_DIR = PROMETHEUS_DIR / "rules"
RULE_TESTS_DIR = PROMETHEUS_DIR / "tests"
DASHBOARD = EXAMPLES / "grafana" / "marty-services-dashboard.json"

# The seed's port table: service -> (grpc, health, metrics).
SEED_PORTS = {
    "csca-service": (8081, 8082, 9081),
    "document-signer": (8082, 8083, 9082),
    "inspection-system": (8083, 8084, 9083),
    "passport-engine": (8084, 8085, 9084),
    "mdl-engine": (8085, 8086, 9085),
    "mdoc-engine": (8086, 8087, 9086),
    "trust-anchor": (9080, 9081, 10080),
    "pkd-service": (9090, 9091, 10090),
}

# Every metric name the Marty catalog defines, as exposed (samples of histograms included),
# and the standard process_* metrics.
CATALOG_METRICS = {
    "marty_grpc_requests_total",
    "marty_grpc_request_duration_seconds_bucket",
    "marty_grpc_request_duration_seconds_sum",
    "marty_grpc_request_duration_seconds_count",
    "marty_grpc_errors_total",
    "marty_grpc_active_connections",
    "marty_service_health_status",
    "marty_last_successful_operation_timestamp",
    "marty_service_cpu_usage_percent",
    "marty_service_memory_usage_bytes",
    "marty_database_connections_active",
    "marty_service_info",
}
PROCESS_METRICS = {
    "process_cpu_seconds_total",
    "process_resident_memory_bytes",
    "process_virtual_memory_bytes",
    "process_open_fds",
    "process_max_fds",
    "process_start_time_seconds",
}
ALLOWED_METRICS = CATALOG_METRICS | PROCESS_METRICS | {"up"}

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def unavailable(message):
    """Skips locally; fails under CI (where every test must run)."""
    if IN_CI:
        pytest.fail(f"{message} (CI=true: nothing may be skipped)")
    pytest.skip(message)


def tool(name, env_var=None):
    path = os.environ.get(env_var) if env_var else None
    path = path or shutil.which(name)
    if not path:
        unavailable(f"{name} not found (apt-get install prometheus)")
    return path


def _newest(paths):
    paths = [p for p in paths if p.is_file() and os.access(p, os.X_OK)]
    return str(max(paths, key=lambda p: p.stat().st_mtime)) if paths else None


def find_binary(env_var, candidates, what):
    explicit = os.environ.get(env_var)
    if explicit:
        if not os.access(explicit, os.X_OK):
            pytest.fail(f"{env_var}={explicit!r} is not an executable file")
        return explicit
    found = _newest(candidates)
    if not found:
        unavailable(f"{what} not found: build it or set {env_var}")
    return found


def load_yaml(path):
    return yaml.safe_load(Path(path).read_text())


# ---- Ports and HTTP ------------------------------------------------------------------------

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(url, timeout=5.0, headers=None):
    """(status, body bytes); HTTP errors are answers, not exceptions."""
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def wait_until(predicate, timeout, interval=0.25, what="condition"):
    """Polls until predicate() returns a truthy value, which is returned."""
    deadline = time.monotonic() + timeout
    last_error = None
    while time.monotonic() < deadline:
        try:
            value = predicate()
            if value:
                return value
        except Exception as error:  # keep polling; report the last error on time-out
            last_error = error
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}"
                         + (f" (last error: {last_error!r})" if last_error else ""))


# ---- Processes -----------------------------------------------------------------------------

class Service:
    """A process started here, with its output in a file; stopped by its pid."""

    def __init__(self, name, command, env, log_dir):
        self.name = name
        self.command = [str(c) for c in command]
        self.log_path = Path(log_dir) / f"{name}.log"
        self._log = open(self.log_path, "wb")
        self.process = subprocess.Popen(self.command, env=env, stdout=self._log,
                                        stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        self.pid = self.process.pid

    def log(self):
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text(errors="replace")

    def alive(self):
        return self.process.poll() is None

    def stop(self, timeout=10):
        """SIGTERM to our pid, then SIGKILL if it does not end. Returns the exit code."""
        if self.process.poll() is None:
            os.kill(self.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                os.kill(self.pid, signal.SIGKILL)
                self.process.wait()
        self._log.close()
        return self.process.returncode


def service_env(metrics_port, health_port, **extra):
    env = dict(os.environ)
    env.update(MARTY_METRICS_PORT=str(metrics_port), MARTY_HEALTH_PORT=str(health_port),
               MARTY_METRICS_BIND="127.0.0.1", SWIFT_BACKTRACE="enable=no")
    env.pop("MARTY_METRICS_ENABLED", None)
    env.update({k: str(v) for k, v in extra.items()})
    return env


# ---- Prometheus ----------------------------------------------------------------------------

class Prometheus(Service):
    """A real Prometheus server on 127.0.0.1 with a temporary data folder."""

    def __init__(self, binary, config, work_dir, features=(), args=()):
        """`config`: the configuration as a dict, or a function of the server's port that
        returns it. `args`: more command-line flags."""
        work_dir = Path(work_dir)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        if callable(config):
            config = config(self.port)
        self.config_path = work_dir / "prometheus.yml"
        self.config_path.write_text(yaml.safe_dump(config, sort_keys=False))
        (work_dir / "data").mkdir(exist_ok=True)
        super().__init__("prometheus", [
            binary, f"--config.file={self.config_path}",
            f"--storage.tsdb.path={work_dir / 'data'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            "--storage.tsdb.retention.time=1h", "--log.level=info",
        ] + ([f"--enable-feature={','.join(features)}"] if features else []) + list(args),
            dict(os.environ), work_dir)
        try:
            wait_until(self._ready, 30, what="Prometheus /-/ready")
        except AssertionError:
            self.stop()
            raise AssertionError(f"Prometheus did not become ready:\n{self.log()[-3000:]}")

    def _ready(self):
        if not self.alive():
            raise AssertionError(f"Prometheus exited:\n{self.log()[-3000:]}")
        status, _ = http_get(self.url + "/-/ready", timeout=2)
        return status == 200

    def api(self, path, **params):
        url = f"{self.url}/api/v1/{path}"
        if params:
            url += "?" + urllib.parse.urlencode(params)
        status, body = http_get(url, timeout=10)
        answer = json.loads(body)
        if status != 200 or answer.get("status") != "success":
            raise PrometheusError(status, answer)
        return answer["data"]

    def query(self, expr, **params):
        """The result of an instant query: [{'metric': {...}, 'value': [ts, 'v']}]."""
        data = self.api("query", query=expr, **params)
        return data["result"]

    def values(self, expr, **params):
        """{frozenset(labels): float} of an instant vector query (params: e.g. time=)."""
        return {frozenset(r["metric"].items()): float(r["value"][1]) for r in self.query(expr, **params)}


class PrometheusError(AssertionError):
    def __init__(self, status, answer):
        super().__init__(f"HTTP {status}: {answer.get('errorType')}: {answer.get('error')}")
        self.status = status
        self.answer = answer
