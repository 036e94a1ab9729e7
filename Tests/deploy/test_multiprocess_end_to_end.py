"""Pre-fork workers end to end: real gunicorn (examples/python/gunicorn, 4 workers replaced every
40-50 requests) under steady load, its master's /metrics scraped every second by a real
Prometheus (Debian's 2.42). Counters must never go backwards as workers die and are replaced:
Prometheus sees no counter reset, no stored sample is below the one before it, rate() stays at
or above zero, and the last total is exactly the number of requests answered."""

import os
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from deploy_support import REPO_ROOT, Prometheus, Service, free_port, http_get, wait_until

pytest.importorskip("marty_metrics")

GUNICORN_EXAMPLE = REPO_ROOT / "examples" / "python" / "gunicorn"
LOAD_SECONDS = 20
MAX_REQUESTS = 2000


@pytest.fixture(scope="module")
def gunicorn(tmp_path_factory):
    binary = Path(sys.executable).with_name("gunicorn")
    if not binary.exists():
        pytest.skip("gunicorn is not installed in this venv (pip install -r Tests/deploy/requirements.txt)")
    work_dir = tmp_path_factory.mktemp("gunicorn")
    app_port, metrics_port, health_port = free_port(), free_port(), free_port()
    env = dict(os.environ, MARTY_METRICS_MULTIPROCESS="1", APP_BIND=f"127.0.0.1:{app_port}", APP_WORKERS="4",
               APP_MAX_REQUESTS="40", MARTY_METRICS_PORT=str(metrics_port), MARTY_HEALTH_PORT=str(health_port),
               MARTY_METRICS_BIND="127.0.0.1")
    service = Service("gunicorn", [binary, "-c", GUNICORN_EXAMPLE / "gunicorn.conf.py",
                                   "--chdir", GUNICORN_EXAMPLE, "app:application"], env, work_dir)
    try:
        wait_until(lambda: http_get(f"http://127.0.0.1:{metrics_port}/metrics", 2)[0] == 200
                   and http_get(f"http://127.0.0.1:{app_port}/warm", 2)[0] == 200, 30,
                   what="gunicorn to serve its app and the master's /metrics")
    except AssertionError:
        service.stop()
        raise AssertionError(f"gunicorn did not start:\n{service.log()[-3000:]}")
    service.app_url = f"http://127.0.0.1:{app_port}"
    service.metrics_target = f"127.0.0.1:{metrics_port}"
    yield service, work_dir
    service.stop()


def test_counters_never_go_backwards_as_workers_are_replaced(gunicorn, prometheus_binary):
    service, work_dir = gunicorn
    config = {
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s"},
        "scrape_configs": [{"job_name": "gunicorn", "static_configs": [{"targets": [service.metrics_target]}]}],
    }
    prometheus = Prometheus(prometheus_binary, config, work_dir)
    try:
        wait_until(lambda: prometheus.query('up{job="gunicorn"} == 1'), 30, what="Prometheus to scrape gunicorn")
        started = time.time()
        answered = []
        pids = set()

        def load():
            # A steady stream, bounded in count and time, from two clients.
            while time.time() - started < LOAD_SECONDS and len(answered) < MAX_REQUESTS:
                with urllib.request.urlopen(service.app_url + "/load", timeout=10) as response:
                    pids.add(response.read().decode().strip())
                answered.append(1)
                time.sleep(0.01)

        clients = [threading.Thread(target=load) for _ in range(2)]
        for client in clients:
            client.start()
        for client in clients:
            client.join()
        total = len(answered)
        assert len(pids) > 8, f"gunicorn replaced few workers: {len(pids)} answered"
        print(f"{total} requests answered by {len(pids)} workers")

        def final_total_scraped():
            values = prometheus.values('app_requests_total{path="/load"}')
            return values and list(values.values())[0] == total

        wait_until(final_total_scraped, 20, what=f"Prometheus to scrape the total of {total}")
        end = time.time()
        window = f"{int(end - started) + 10}s"
        # No counter reset in the whole run, though every worker was replaced several times.
        resets = prometheus.values(f'resets(app_requests_total{{path="/load"}}[{window}])')
        assert list(resets.values()) == [0.0], resets
        resets = prometheus.values(f"resets(app_request_duration_seconds_count[{window}])")
        assert list(resets.values()) == [0.0], resets
        # Every stored sample is at least the one before it.
        data = prometheus.api("query_range", query='app_requests_total{path="/load"}', start=started - 5,
                              end=end, step="1")
        points = [float(value) for _, value in data["result"][0]["values"]]
        assert len(points) > LOAD_SECONDS // 2
        assert all(later >= earlier for earlier, later in zip(points, points[1:])), points
        # rate() over short windows stays at or above zero through the run, and sees the load.
        rates = prometheus.api("query_range", query='rate(app_requests_total{path="/load"}[3s])',
                               start=started + 3, end=end, step="1")
        values = [float(value) for _, value in rates["result"][0]["values"]]
        assert min(values) >= 0 and max(values) > 1, values
        # The master's own rendering agrees with what the clients counted.
        status, text = http_get(f"http://{service.metrics_target}/metrics", 5)
        assert status == 200 and f'app_requests_total{{path="/load"}} {float(total)}' in text.decode()
    finally:
        prometheus.stop()
    assert "Traceback" not in service.log(), service.log()[-3000:]


def prefork_binary():
    build = os.environ.get("MARTY_CMAKE_BUILD_DIR")
    candidates = [Path(build) / "examples" / "prefork_server"] if build else []
    candidates += sorted(REPO_ROOT.glob("build*/examples/prefork_server"), key=lambda p: p.stat().st_mtime)
    found = [c for c in candidates if c.exists()]
    if not found:
        pytest.skip("examples/c/prefork_server.c is not built (cmake --build build-cmake)")
    return found[0] if build and found[0] == candidates[0] else found[-1]


def test_c_prefork_workers_killed_mid_run(tmp_path):
    """examples/c/prefork_server.c with a worker killed by SIGKILL every 250 ms, mid-job, and
    workers recycled every 100 jobs: its /metrics, scraped back to back over HTTP, never shows a
    smaller total than before, and at the end the total is what the workers confirmed, plus at
    most one job per kill (recorded, then killed before confirming)."""
    metrics_port, health_port = free_port(), free_port()
    env = dict(os.environ, MARTY_METRICS_PORT=str(metrics_port), MARTY_HEALTH_PORT=str(health_port),
               MARTY_METRICS_BIND="127.0.0.1", MARTY_RUN_SECONDS="6", MARTY_PREFORK_CHAOS="1",
               MARTY_PREFORK_JOBS_PER_WORKER="100")
    server = Service("prefork_server", [prefork_binary()], env, tmp_path)
    try:
        url = f"http://127.0.0.1:{metrics_port}/metrics"
        wait_until(lambda: http_get(url, 2)[0] == 200, 20, what="prefork_server to serve /metrics")
        totals = []
        while server.alive():
            try:
                status, body = http_get(url, 2)
            except OSError:
                break  # the server stopped between the check and the scrape
            if status != 200:
                break
            text = body.decode()
            totals.append(sum(float(line.split()[-1]) for line in text.splitlines()
                              if line.startswith("prefork_jobs_total{")))
            assert "prefork_job_seconds_count" in text
            time.sleep(0.05)
        server.process.wait(30)
    finally:
        server.stop()
    log = server.log()
    assert server.process.returncode == 0, log
    summary = dict(part.split("=") for part in log.strip().splitlines()[-1].split(": ")[1].split())
    confirmed, counted, killed = int(summary["confirmed"]), int(summary["counted"]), int(summary["killed"])
    assert killed >= 10 and int(summary["workers_replaced"]) > killed, summary
    assert confirmed <= counted <= confirmed + killed, summary
    assert len(totals) > 20
    assert all(later >= earlier for earlier, later in zip(totals, totals[1:])), totals
    assert totals[-1] <= counted
