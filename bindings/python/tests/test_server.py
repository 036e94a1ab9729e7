"""start_metrics_server, the Marty catalog, health checks, fork, the disabled mode and the
library-missing ImportError, against the real library and real HTTP."""

import errno
import json
import os
import socket
import subprocess
import sys
import textwrap
import time

import pytest

import marty_metrics as mm
from conftest import fetch, python_env, samples


def scrape(port):
    status, headers, body = fetch(port, "/metrics")
    assert status == 200
    assert headers["Content-Type"] == mm.CONTENT_TYPE_PLAIN_0_0_4  # what a scraper that asks for nothing gets
    return samples(text=body.decode("utf-8"))


def health(port):
    status, _, body = fetch(port, "/health")
    return status, json.loads(body)


def test_server_serves_the_catalog_and_custom_metrics(server):
    assert mm.get_metrics_server() is server
    assert server.running and server.enabled
    assert server.metrics_port > 0 and server.health_port > 0
    documents = mm.Counter("documents_signed", "Documents signed.", ["kind"], registry=server.registry)
    documents.labels("passport").inc(3)
    server.metrics.record_call("/signer.Signer/Sign", "OK", 0.002)
    server.metrics.record_call("/signer.Signer/Sign", "NOT_FOUND", 0.5, error_type="NOT_FOUND")
    server.metrics.record_successful_operation("sign")
    server.metrics.set_database_connections(4)
    server.metrics.set_database_connections(2, database="audit")
    before = time.time()
    got = scrape(server.metrics_port)

    def v(name, **labels):
        return got.get((name, frozenset(labels.items())))

    method = "/signer.Signer/Sign"
    assert v("documents_signed_total", kind="passport") == 3
    assert v("marty_grpc_requests_total", service="test-service", method=method, status="OK") == 1
    assert v("marty_grpc_requests_total", service="test-service", method=method, status="NOT_FOUND") == 1
    assert v("marty_grpc_errors_total", service="test-service", method=method, error_type="NOT_FOUND") == 1
    assert v("marty_grpc_request_duration_seconds_count", service="test-service", method=method) == 2
    assert v("marty_grpc_request_duration_seconds_bucket", service="test-service", method=method, le="0.001") == 0
    assert v("marty_grpc_request_duration_seconds_bucket", service="test-service", method=method, le="0.005") == 1
    assert v("marty_grpc_active_connections", service="test-service") == 0
    assert v("marty_database_connections_active", service="test-service", database="default") == 4
    assert v("marty_database_connections_active", service="test-service", database="audit") == 2
    assert before - 5 < v("marty_last_successful_operation_timestamp", service="test-service",
                          operation="sign") <= time.time() + 1
    assert v("marty_service_info", service="test-service", version="9.9.9") == 1
    for name in ("process_cpu_seconds_total", "process_resident_memory_bytes", "process_open_fds",
                 "process_start_time_seconds"):
        assert (name, frozenset()) in got, name
    assert v("marty_service_memory_usage_bytes", service="test-service") > 0


def test_record_call_accepts_status_codes_and_rejects_bad_input(server):
    class Code:
        name = "ALREADY_EXISTS"

    server.metrics.record_call("/a.B/C", Code(), 0.1, "ALREADY_EXISTS")
    assert scrape(server.metrics_port)[("marty_grpc_requests_total", frozenset(
        {"service": "test-service", "method": "/a.B/C", "status": "ALREADY_EXISTS"}.items()))] == 1
    # The library says "the duration must be a finite number of seconds, got nan".
    with pytest.raises(ValueError, match="finite"):
        server.metrics.record_call("/a.B/C", "OK", float("nan"))
    with pytest.raises(ValueError, match="finite"):
        server.metrics.record_call("/a.B/C", "OK", float("inf"))
    with pytest.raises(TypeError):
        server.metrics.record_call("/a.B/C", "OK", "fast")
    with pytest.raises(TypeError):
        server.metrics.record_call(None, "OK", 0.1)
    with pytest.raises(TypeError):
        server.metrics.record_successful_operation(3)
    with pytest.raises(TypeError):
        server.metrics.set_database_connections("many")


def test_service_metrics_are_registered_once_per_registry_and_service(server):
    assert mm.ServiceMetrics("test-service", registry=server.registry) is server.metrics
    other = mm.ServiceMetrics("other-service", registry=server.registry)
    other.record_call("/x.Y/Z", "OK", 0.01)
    got = scrape(server.metrics_port)
    assert got[("marty_grpc_requests_total", frozenset(
        {"service": "other-service", "method": "/x.Y/Z", "status": "OK"}.items()))] == 1


def test_health_checks_drive_the_probes(server):
    port = server.health_port
    try:
        server.health.add_check("database", True)
        status, document = health(port)
        assert status == 200
        assert {"service", "healthy", "ready", "live", "uptime_seconds", "checks", "timestamp"} <= set(document)
        assert document["service"] == "test-service"
        assert document["checks"]["database"] is True
        assert fetch(port, "/health/ready")[0] == 200 and fetch(port, "/health/live")[0] == 200

        server.health.add_check("database", False, message="connection refused", probe="readiness")
        status, document = health(port)
        assert document["checks"]["database"] is False and document["healthy"] is False
        assert document["ready"] is False and document["live"] is True
        assert fetch(port, "/health/ready")[0] == 503
        assert fetch(port, "/health/live")[0] == 200
        # the metrics port answers the health paths too
        assert fetch(server.metrics_port, "/health/ready")[0] == 503
        assert server.health.status() == {"healthy": False, "live": True, "ready": False}

        server.health.add_check("heartbeat", True, probe="liveness", ttl=0.2)
        assert fetch(port, "/health/live")[0] == 200
        time.sleep(0.5)
        assert fetch(port, "/health/live")[0] == 503  # stale

        server.health.remove_check("heartbeat")
        server.health.remove_check("database")
        assert fetch(port, "/health/ready")[0] == 200
        with pytest.raises(LookupError, match="no health check named database"):
            server.health.remove_check("database")
        server.health.remove_check("database", missing_ok=True)
        with pytest.raises(ValueError):
            server.health.add_check("x", True, probe="sometimes")
        with pytest.raises(ValueError):
            server.health.add_check("x", True, ttl=-1)
        with pytest.raises(ValueError):
            server.health.add_check("", True)
    finally:
        for name in ("database", "heartbeat"):
            server.health.remove_check(name, missing_ok=True)


def test_health_callbacks_run_at_probe_time(server):
    import gc

    port = server.health_port
    state = {"ok": True, "calls": 0}

    def make_database_check():
        def database():
            state["calls"] += 1
            return state["ok"]
        return database

    database = make_database_check()

    def cache():
        raise ConnectionError("cache is down")

    def slow():
        time.sleep(2)
        return True

    try:
        server.health.add_callback("database", make_database_check(), timeout=1.0)
        gc.collect()  # the package keeps the function and its ctypes thunk alive
        assert fetch(port, "/health/ready")[0] == 200
        assert state["calls"] >= 1
        state["ok"] = False
        assert fetch(port, "/health/ready")[0] == 503
        state["ok"] = True
        assert fetch(port, "/health/ready")[0] == 200

        server.health.add_callback("cache", cache, probe="readiness")
        status, document = health(port)
        assert document["checks"]["cache"] is False and document["live"] is True
        assert "ConnectionError: cache is down" in json.dumps(document)
        server.health.remove_check("cache")

        server.health.add_callback("message", lambda: (False, "ü" * 400), probe="liveness")
        status, document = health(port)
        assert document["checks"]["message"] is False
        assert fetch(port, "/health/live")[0] == 503
        server.health.remove_check("message")

        server.health.add_callback("slow", slow, timeout=0.2)
        started = time.monotonic()
        assert fetch(port, "/health/ready")[0] == 503
        assert time.monotonic() - started < 1.5
        # a run that timed out and still goes is not started again
        assert "still running" in json.dumps(health(port)[1])
        assert server.health.status()["healthy"] is False  # evaluated from Python, GIL released
        server.health.remove_check("slow")
        with pytest.raises(TypeError):
            server.health.add_callback("not-callable", 42)
        with pytest.raises(ValueError):
            server.health.add_callback("bad-timeout", database, timeout=0)
    finally:
        for name in ("database", "cache", "message", "slow"):
            server.health.remove_check(name, missing_ok=True)


def test_second_start_raises_runtime_error_naming_the_running_server(server):
    with pytest.raises(RuntimeError) as caught:
        mm.start_metrics_server(service="another", metrics_port=0, health_port=0, bind_address="127.0.0.1")
    message = str(caught.value)
    assert "test-service" in message and str(server.metrics_port) in message
    assert mm.get_metrics_server() is server


def test_stop_frees_the_ports_and_a_new_server_may_start():
    first = mm.start_metrics_server(service="first", metrics_port=0, health_port=0, bind_address="127.0.0.1",
                                    registry=mm.CollectorRegistry())
    port = first.metrics_port
    first.stop()
    first.stop()  # idempotent
    assert not first.running and mm.get_metrics_server() is None
    with pytest.raises(OSError):
        fetch(port, "/metrics", timeout=1)
    second = mm.start_metrics_server(service="second", metrics_port=port, health_port=0,
                                     bind_address="127.0.0.1", registry=mm.CollectorRegistry())
    try:
        assert second.metrics_port == port
        assert fetch(port, "/metrics")[0] == 200
    finally:
        second.stop()


def test_a_port_in_use_is_an_oserror_eaddrinuse():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(OSError) as caught:
            mm.start_metrics_server(service="csca-service", metrics_port=port, health_port=0,
                                    bind_address="127.0.0.1", registry=mm.CollectorRegistry())
    assert caught.value.errno == errno.EADDRINUSE
    assert "port %d" % port in str(caught.value)
    assert mm.get_metrics_server() is None


def test_bad_ports_are_refused():
    with pytest.raises(ValueError):
        mm.start_metrics_server(service="x", metrics_port=70000)
    with pytest.raises(TypeError):
        mm.start_metrics_server(service="x", metrics_port="9090")
    with pytest.raises(ValueError):
        mm.start_metrics_server(service="x", metrics_port=0, health_port=0, bind_address="not an address")
    assert mm.get_metrics_server() is None


def test_fork_after_start_child_stops_at_once_and_records_parent_keeps_serving(server):
    counter = mm.Counter("forked", "f", registry=server.registry)
    counter.inc()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never return into pytest
        code = 1
        try:
            os.close(read)
            started = time.monotonic()
            server.stop()
            took = time.monotonic() - started
            counter.inc(41)
            server.metrics.record_call("/fork.Child/Call", "OK", 0.01)
            text = mm.generate_latest(server.registry).decode()
            ok = took < 0.5 and "forked_total 42" in text and "/fork.Child/Call" in text
            os.write(write, b"ok" if ok else ("took %.3f\n%s" % (took, text)).encode())
            code = 0
        finally:
            os._exit(code)
    os.close(write)
    _, wait_status = os.waitpid(pid, 0)
    with os.fdopen(read, "rb") as pipe:
        report = pipe.read().decode()
    assert os.WIFEXITED(wait_status) and os.WEXITSTATUS(wait_status) == 0
    assert report == "ok", report
    # The parent still serves, and its values are its own.
    assert server.running
    got = scrape(server.metrics_port)
    assert got[("forked_total", frozenset())] == 1
    assert fetch(server.health_port, "/health/live")[0] == 200


def run_python(code, **env):
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=python_env(**env),
                          capture_output=True, text=True, timeout=60)


def test_disabled_by_environment_starts_with_ports_zero_and_records():
    result = run_python("""
        import marty_metrics as mm
        server = mm.start_metrics_server(service="pkd-service", version="1")
        assert server.metrics_port == 0 and server.health_port == 0, server
        assert not server.enabled and mm.get_metrics_server() is server
        server.metrics.record_call("/pkd.Pkd/Get", "OK", 0.01)
        server.metrics.record_successful_operation("sync")
        server.health.add_check("database", True)
        counter = mm.Counter("disabled_counter", "c")
        counter.inc()
        print(mm.generate_latest().decode())
        server.stop()
    """, MARTY_METRICS_ENABLED="false")
    assert result.returncode == 0, result.stderr
    # The default registry renders in prometheus_client's style once the package is imported.
    assert 'marty_grpc_requests_total{method="/pkd.Pkd/Get",service="pkd-service",status="OK"} 1.0' in result.stdout


def test_exit_with_a_running_server_and_callbacks_is_clean():
    result = run_python("""
        import json, urllib.request
        import marty_metrics as mm
        server = mm.start_metrics_server(service="exiting", metrics_port=0, health_port=0,
                                         bind_address="127.0.0.1")
        server.health.add_callback("database", lambda: (True, "fine"))
        server.health.add_check("static", True)
        with urllib.request.urlopen("http://127.0.0.1:%d/health" % server.health_port) as response:
            assert json.load(response)["checks"] == {"database": True, "static": True}
        counter = mm.Counter("exiting_counter", "c", ["k"])
        counter.labels("v").inc()
        print("bye")
        # no stop(): the package stops the server at exit
    """)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "bye"
    assert "Traceback" not in result.stderr


def test_missing_library_is_a_clear_import_error():
    result = run_python("import marty_metrics", MARTY_METRICS_LIBRARY="/nonexistent/libmarty_metrics.so")
    assert result.returncode != 0
    assert "ImportError" in result.stderr
    assert "MARTY_METRICS_LIBRARY='/nonexistent/libmarty_metrics.so' cannot be loaded" in result.stderr
    assert "swift build -c release --product marty_metrics" in result.stderr


def test_no_library_anywhere_is_a_clear_import_error(tmp_path):
    # A copy of the package without the bundled library, and no override.
    import shutil
    source = os.path.dirname(mm.__file__)
    shutil.copytree(source, tmp_path / "marty_metrics", ignore=shutil.ignore_patterns("_lib", "__pycache__"))
    env = python_env(MARTY_METRICS_LIBRARY=None, LD_LIBRARY_PATH=None)
    env["PYTHONPATH"] = str(tmp_path)
    result = subprocess.run([sys.executable, "-c", "import marty_metrics"], env=env, capture_output=True,
                            text=True, timeout=60, cwd=str(tmp_path))
    if result.returncode == 0:
        pytest.skip("a libmarty_metrics.so.0 is installed system-wide")
    assert "ImportError: marty_metrics cannot find libmarty_metrics" in result.stderr
    assert "no bundled copy" in result.stderr and "MARTY_METRICS_LIBRARY" in result.stderr
