"""Pre-fork workers sharing the default registry (MARTY_METRICS_MULTIPROCESS=1): each test runs
its processes in a fresh interpreter, since the segment is made once per process tree, and real
gunicorn recycles real workers under load while the master's /metrics must show exact totals."""

import os
import socket
import subprocess
import sys
import textwrap
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families as parse_text

REPO = Path(__file__).resolve().parents[3]
GUNICORN_EXAMPLE = REPO / "examples" / "python" / "gunicorn"


def run_script(code, multiprocess=True, timeout=60, **env):
    environment = dict(os.environ)
    environment.pop("MARTY_METRICS_MULTIPROCESS", None)
    if multiprocess:
        environment["MARTY_METRICS_MULTIPROCESS"] = "1"
    environment.update(env)
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=environment, capture_output=True,
                          text=True, timeout=timeout)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def samples_of(text):
    out = {}
    for family in parse_text(text):
        for sample in family.samples:
            out[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return out


FORKING = """
    import os, sys, time
    import marty_metrics as mm
    from marty_metrics import multiprocess

    def fork(body):
        pid = os.fork()
        if pid == 0:
            try:
                body()
            except BaseException as error:
                print("child failed:", repr(error), file=sys.stderr)
                os._exit(1)
            os._exit(0)
        return pid

    def wait(pid):
        _, status = os.waitpid(pid, 0)
        assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, status
"""


def test_workers_merge_into_the_parents_rendering():
    out = run_script(FORKING + """
    assert multiprocess.enabled()
    jobs = mm.Counter("jobs", "Jobs.", ["queue"])
    seconds = mm.Histogram("job_seconds", "Job time.", buckets=(1, 2))
    summary = mm.Summary("job_bytes", "Job size.")

    def work():
        again = mm.Counter("defined_in_each_worker", "Made after the fork.")
        for _ in range(500):
            jobs.labels("a").inc()
            again.inc(2)
            seconds.observe(1.5)
            summary.observe(10)

    for pid in [fork(work) for _ in range(4)]:
        wait(pid)
    jobs.labels("a").inc()
    print(mm.generate_latest().decode())
    """)
    values = samples_of(out)
    assert values[("jobs_total", frozenset({("queue", "a")}))] == 2001
    assert values[("defined_in_each_worker_total", frozenset())] == 4000
    assert values[("job_seconds_count", frozenset())] == 2000
    assert values[("job_seconds_bucket", frozenset({("le", "1.0")}))] == 0
    assert values[("job_seconds_bucket", frozenset({("le", "2.0")}))] == 2000
    assert values[("job_seconds_sum", frozenset())] == 3000
    assert values[("job_bytes_sum", frozenset())] == 20000
    assert out.count("# TYPE defined_in_each_worker_total counter") == 1


def test_gauge_modes_follow_prometheus_client():
    out = run_script(FORKING + """
    import signal
    modes = ["all", "liveall", "min", "livemin", "max", "livemax", "sum", "livesum", "mostrecent"]
    gauges = {mode: mm.Gauge("g_" + mode, mode, multiprocess_mode=mode) for mode in modes}
    labelled = mm.Gauge("g_labelled", "by label", ["shard"], multiprocess_mode="livesum")
    read, write = os.pipe()
    ready_read, ready_write = os.pipe()

    def worker(value, stay):
        def body():
            for gauge in gauges.values():
                gauge.set(value)
            labelled.labels("x").set(value)
            if stay:
                os.write(ready_write, b"r")
                os.read(read, 1)
        return body

    finished = [fork(worker(v, False)) for v in (1, 2)]
    for pid in finished:
        wait(pid)
    staying = [fork(worker(v, True)) for v in (10, 20)]
    for _ in staying:
        os.read(ready_read, 1)
    text = mm.generate_latest().decode()
    print(text)
    print("PIDS", os.getpid(), *finished, *staying)
    os.write(write, b"xx")
    for pid in staying:
        wait(pid)
    """)
    text, pids = out.rsplit("PIDS", 1)
    parent, done_one, done_two, alive_one, alive_two = pids.split()
    values = samples_of(text)

    def value(name, **labels):
        return values[(name, frozenset(labels.items()))]

    # all: the parent (its unlabelled series at 0) and every worker, dead or alive.
    assert {dict(labels)["pid"] for (name, labels) in values if name == "g_all"} == {
        parent, done_one, done_two, alive_one, alive_two}
    assert value("g_all", pid=done_one) == 1
    # liveall: the living only.
    assert {dict(labels)["pid"] for (name, labels) in values if name == "g_liveall"} == {parent, alive_one, alive_two}
    assert value("g_min") == 0 and value("g_livemin") == 0  # the parent's 0
    assert value("g_max") == 20 and value("g_livemax") == 20
    assert value("g_sum") == 33 and value("g_livesum") == 30
    assert value("g_mostrecent") in (10, 20)
    assert value("g_labelled", shard="x") == 30


def test_mark_process_dead_drops_a_living_worker_from_live_modes():
    out = run_script(FORKING + """
    gauge = mm.Gauge("busy", "Busy.", multiprocess_mode="livesum")
    read, write = os.pipe()
    ready_read, ready_write = os.pipe()

    def body():
        gauge.inc(7)
        os.write(ready_write, b"r")
        os.read(read, 1)

    pid = fork(body)
    os.read(ready_read, 1)
    before = mm.REGISTRY.get_sample_value("busy")
    multiprocess.mark_process_dead(pid)
    after = mm.REGISTRY.get_sample_value("busy")
    os.write(write, b"x")
    wait(pid)
    print(before, after)
    """)
    assert out.split() == ["7.0", "0.0"]


def test_an_inherited_unlabelled_gauge_records_for_the_child():
    # The parent made the gauge before forking: the child's set must be the child's own value.
    out = run_script(FORKING + """
    gauge = mm.Gauge("temperature", "T.", multiprocess_mode="all")
    gauge.set(1)
    child = fork(lambda: gauge.set(2))
    wait(child)
    print(mm.REGISTRY.get_sample_value("temperature", {"pid": str(os.getpid())}),
          mm.REGISTRY.get_sample_value("temperature", {"pid": str(child)}))
    """)
    assert out.split() == ["1.0", "2.0"]


def test_a_disagreeing_definition_is_refused_and_the_family_stays():
    out = run_script(FORKING + """
    def first():
        mm.Counter("shape", "Shape.", ["a"]).labels("1").inc()

    def second():
        try:
            mm.Counter("shape", "Shape.", ["b"])
        except ValueError as error:
            assert "['a']" in str(error) or "{a}" in str(error), error
            assert "{b}" in str(error), error
        else:
            raise AssertionError("no error")
        try:
            mm.Gauge("shape", "Shape.", ["a"])
        except ValueError as error:
            assert "counter" in str(error) and "gauge" in str(error), error
        else:
            raise AssertionError("no error")

    wait(fork(first))
    wait(fork(second))
    print(mm.generate_latest().decode())
    """)
    assert samples_of(out)[("shape_total", frozenset({("a", "1")}))] == 1


def test_a_full_segment_is_a_clear_error():
    out = run_script(FORKING + """
    family = mm.Counter("filled", "Filled.", ["id"])
    made = 0
    try:
        while made < 100000:
            family.labels(str(made)).inc()
            made += 1
    except OSError as error:
        assert "MARTY_METRICS_MULTIPROCESS_BYTES" in str(error), error
        print("full after", made)
    family.labels("0").inc()
    print(mm.REGISTRY.get_sample_value("filled_total", {"id": "0"}))
    """, MARTY_METRICS_MULTIPROCESS_BYTES=str(1 << 20))
    lines = out.split("\n")
    assert lines[0].startswith("full after ") and int(lines[0].split()[-1]) > 100
    assert lines[1] == "2.0"


def test_shared_families_refuse_remove_and_clear_and_keep_no_exemplars():
    out = run_script(FORKING + """
    jobs = mm.Counter("jobs", "Jobs.", ["queue"])
    jobs.labels("a").inc(exemplar={"trace_id": "abc"})
    for call in (lambda: jobs.remove("a"), jobs.clear):
        try:
            call()
        except ValueError as error:
            assert "pre-fork" in str(error), error
        else:
            raise AssertionError("no error")
    from marty_metrics.openmetrics.exposition import generate_latest
    text = generate_latest(mm.REGISTRY).decode()
    assert "trace_id" not in text, text
    print(mm.REGISTRY.get_sample_value("jobs_total", {"queue": "a"}))
    """)
    assert out.strip() == "1.0"


def test_prometheus_clients_multiprocess_collector_pattern():
    out = run_script(FORKING + """
    from marty_metrics import CollectorRegistry, generate_latest
    jobs = mm.Counter("jobs", "Jobs.")
    wait(fork(lambda: jobs.inc(3)))
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    print(generate_latest(registry).decode())
    """)
    assert samples_of(out)[("jobs_total", frozenset())] == 3


def test_code_written_for_prometheus_clients_multiprocess_mode_runs_unchanged(tmp_path):
    # PROMETHEUS_MULTIPROC_DIR through the import alias: the same sharing, and no files.
    out = run_script("""
    import os
    import marty_metrics.compat
    marty_metrics.compat.install_as_prometheus_client()
    from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest, multiprocess
    requests = Counter("requests", "Requests.", ["path"])
    busy = Gauge("busy", "Busy.", multiprocess_mode="livesum")
    pid = os.fork()
    if pid == 0:
        requests.labels("/").inc(3)
        busy.inc()
        os._exit(0)
    os.waitpid(pid, 0)
    multiprocess.mark_process_dead(pid)
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    print(generate_latest(registry).decode())
    """, multiprocess=False, PROMETHEUS_MULTIPROC_DIR=str(tmp_path))
    values = samples_of(out)
    assert values[("requests_total", frozenset({("path", "/")}))] == 3
    assert values[("busy", frozenset())] == 0
    assert list(tmp_path.iterdir()) == []


def test_without_the_variable_each_process_records_alone():
    out = run_script(FORKING + """
    assert not multiprocess.enabled()
    jobs = mm.Counter("jobs", "Jobs.")
    wait(fork(lambda: jobs.inc(3)))
    print(mm.REGISTRY.get_sample_value("jobs_total"))
    """, multiprocess=False)
    assert out.strip() == "0.0"


# ---- gunicorn ----------------------------------------------------------------------------


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def http_get(url, timeout=5):
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return response.read().decode()


class Gunicorn:
    """gunicorn serving examples/python/gunicorn/app.py, its master serving /metrics."""

    def __init__(self, tmp_path, workers=4, max_requests=0):
        gunicorn = Path(sys.executable).with_name("gunicorn")
        if not gunicorn.exists():
            pytest.skip("gunicorn is not installed in this venv (pip install -r bindings/python/tests/requirements.txt)")
        self.app_port, self.metrics_port, self.health_port = free_port(), free_port(), free_port()
        env = dict(os.environ, MARTY_METRICS_MULTIPROCESS="1", APP_BIND="127.0.0.1:%d" % self.app_port,
                   APP_WORKERS=str(workers), APP_MAX_REQUESTS=str(max_requests),
                   MARTY_METRICS_PORT=str(self.metrics_port), MARTY_HEALTH_PORT=str(self.health_port),
                   MARTY_METRICS_BIND="127.0.0.1")
        self.log_path = tmp_path / "gunicorn.log"
        self.log = open(self.log_path, "wb")
        self.process = subprocess.Popen(
            [str(gunicorn), "-c", "gunicorn.conf.py", "--graceful-timeout", "5", "app:application"],
            cwd=GUNICORN_EXAMPLE, env=env, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 30
        while True:
            try:
                http_get(self.url("/"), timeout=2)
                http_get(self.metrics_url(), timeout=2)
                break
            except OSError:
                if time.time() > deadline or self.process.poll() is not None:
                    self.stop()
                    raise AssertionError("gunicorn did not start:\n" + self.log_path.read_text())
                time.sleep(0.1)

    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.app_port, path)

    def metrics_url(self):
        return "http://127.0.0.1:%d/metrics" % self.metrics_port

    def samples(self):
        return samples_of(http_get(self.metrics_url()))

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()


def test_gunicorn_recycled_workers_exact_totals(tmp_path):
    server = Gunicorn(tmp_path, workers=4, max_requests=100)
    try:
        warmup = 0
        # The requests made while starting.
        warmup = server.samples().get(("app_requests_total", frozenset({("path", "/")})), 0)
        count = 3000
        paths = ["/a", "/b", "/c"]

        def request(index):
            return http_get(server.url(paths[index % 3]), timeout=10).strip()

        with ThreadPoolExecutor(8) as pool:
            worker_pids = set(pool.map(request, range(count)))
        # Workers answer up to 100-125 requests each before gunicorn replaces them.
        assert len(worker_pids) >= count // 125, "workers were not recycled: %d pids" % len(worker_pids)
        values = server.samples()
        for path in paths:
            assert values[("app_requests_total", frozenset({("path", path)}))] == count // 3
        assert values[("app_request_duration_seconds_count", frozenset())] == count + warmup
        assert values[("app_requests_in_progress", frozenset())] == 0
        # The master's endpoint serves the catalog too: the health gauge is one shared value,
        # without a pid label, and /health answers.
        assert values[("marty_service_health_status", frozenset({("service", "document-signer")}))] == 1
        assert http_get("http://127.0.0.1:%d/health" % server.health_port)
        # liveall: exactly the living workers show (a worker made after the last request
        # too, at 0), not the dozens that were replaced.
        def children():
            path = "/proc/%d/task/%d/children" % (server.process.pid, server.process.pid)
            with open(path) as listing:
                return set(listing.read().split())

        deadline = time.time() + 10
        while True:
            living = {dict(labels)["pid"] for (name, labels) in server.samples() if name == "app_worker_requests"}
            running = children()
            if (living == running and len(running) == 4) or time.time() > deadline:
                break
            time.sleep(0.2)
        assert living == running and len(running) == 4, (living, running)
    finally:
        server.stop()
    assert "Traceback" not in server.log_path.read_text()
