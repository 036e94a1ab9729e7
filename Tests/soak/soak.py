"""Soak test of libmarty_metrics through the Python package (not run in CI).

Runs, for --minutes N, all at once in one process:
  * churn: a labelled counter, gauge and histogram family; each cycle creates --series label
    sets, records into them, removes a tenth one by one, then clears the family;
    `Info.info()` with a new version every cycle;
  * scrapes: GET /metrics over HTTP back to back, alternating text, OpenMetrics and gzip;
  * probes: GET /health, /health/live and /health/ready on the health port, against a set
    check and a callback check (50 ms);
  * forks: every --fork-interval seconds the process forks while all of the above runs; the
    child records, renders, starts and stops an endpoint on ephemeral ports and exits; a
    child that does not finish within 20 s is a hang (killed, counted).

It prints RSS, open fds and threads (from /proc/self) at the start, every minute, and at the
end, with the growth, and exits 1 if any scrape, probe or fork failed or hung."""

import argparse
import gzip
import os
import signal
import sys
import threading
import time
import urllib.error
import urllib.request

import marty_metrics as mm


def proc_status():
    fields = {}
    with open("/proc/self/status") as status:
        for line in status:
            key, _, rest = line.partition(":")
            fields[key] = rest.strip()
    return {
        "rss_mib": int(fields["VmRSS"].split()[0]) / 1024.0,
        "fds": len(os.listdir("/proc/self/fd")),
        "threads": int(fields["Threads"]),
    }


def show(label, now, start=None, counts=None):
    line = "%-6s rss %7.1f MiB  fds %4d  threads %3d" % (label, now["rss_mib"], now["fds"], now["threads"])
    if start is not None:
        line += "   (growth: rss %+.1f MiB, fds %+d, threads %+d)" % (
            now["rss_mib"] - start["rss_mib"], now["fds"] - start["fds"], now["threads"] - start["threads"])
    if counts is not None:
        line += "   " + ", ".join("%s %d" % item for item in sorted(counts.items()))
    print(line, flush=True)


class Counts:
    def __init__(self):
        self._lock = threading.Lock()
        self.values = {}

    def add(self, key, amount=1):
        with self._lock:
            self.values[key] = self.values.get(key, 0) + amount

    def snapshot(self):
        with self._lock:
            return dict(self.values)


def fetch(port, path, headers=None, timeout=10):
    request = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path), headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def churn(stop, counts, registry, series):
    requests = mm.Counter("soak_requests", "Requests", ["tenant", "queue"], registry=registry)
    depth = mm.Gauge("soak_queue_depth", "Depth", ["tenant", "queue"], registry=registry)
    latency = mm.Histogram("soak_latency_seconds", "Latency", ["tenant"], registry=registry)
    build = mm.Info("soak_build", "Build", registry=registry)
    cycle = 0
    while not stop.is_set():
        cycle += 1
        for i in range(series):
            tenant, queue = "tenant-%d" % (i % 97), "queue-%d-%d" % (cycle % 7, i)
            requests.labels(tenant, queue).inc()
            depth.labels(tenant, queue).set(i)
            latency.labels(tenant).observe(i / 1000.0)
        for i in range(0, series, 10):
            requests.remove("tenant-%d" % (i % 97), "queue-%d-%d" % (cycle % 7, i))
        requests.clear()
        depth.clear()
        if cycle % 5 == 0:
            latency.clear()
        build.info({"version": "1.%d.0" % cycle, "commit": "%08x" % cycle})
        counts.add("churn_cycles")


def scrape(stop, counts, port):
    kinds = [
        ({}, b"# TYPE"),
        ({"Accept": "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5"}, b"# EOF"),
        ({"Accept-Encoding": "gzip"}, b"# TYPE"),
    ]
    n = 0
    while not stop.is_set():
        headers, marker = kinds[n % len(kinds)]
        n += 1
        try:
            status, response_headers, body = fetch(port, "/metrics", headers)
            if response_headers.get("Content-Encoding") == "gzip":
                body = gzip.decompress(body)
            if status == 200 and marker in body:
                counts.add("scrapes")
            else:
                counts.add("scrape_failures")
                print("scrape: status %d, %d bytes" % (status, len(body)), flush=True)
        except Exception as error:  # noqa: BLE001 (a soak counts every failure)
            counts.add("scrape_failures")
            print("scrape: %s" % error, flush=True)


def probe(stop, counts, port):
    paths = ["/health", "/health/live", "/health/ready"]
    n = 0
    while not stop.is_set():
        path = paths[n % len(paths)]
        n += 1
        try:
            status, _, _ = fetch(port, path, timeout=5)
            counts.add("probes" if status == 200 else "probe_failures")
            if status != 200:
                print("probe %s: status %d" % (path, status), flush=True)
        except Exception as error:  # noqa: BLE001
            counts.add("probe_failures")
            print("probe %s: %s" % (path, error), flush=True)
        time.sleep(0.01)


def child_work(registry):
    # In the child: recording, rendering and a new endpoint must all work, and stopping the
    # inherited one must not block.
    counter = mm.Counter("soak_child", "Child", ["pid"], registry=registry)
    counter.labels(str(os.getpid())).inc()
    if b"soak_child" not in mm.generate_latest(registry):
        os._exit(3)
    inherited = mm.get_metrics_server()
    if inherited is not None:
        inherited.stop()
    server = mm.start_metrics_server(service="soak-child", metrics_port=0, health_port=0,
                                     bind_address="127.0.0.1", registry=mm.CollectorRegistry())
    status, _, _ = fetch(server.metrics_port, "/metrics", timeout=5)
    server.stop()
    os._exit(0 if status == 200 else 4)


def forker(stop, counts, registry, interval):
    while not stop.wait(interval):
        pid = os.fork()
        if pid == 0:
            try:
                child_work(registry)
            finally:
                os._exit(5)
        deadline = time.monotonic() + 20
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                if os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0:
                    counts.add("forks")
                else:
                    counts.add("fork_failures")
                    print("fork: child %d ended with status %d" % (pid, status), flush=True)
                break
            if time.monotonic() > deadline:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                counts.add("fork_hangs")
                print("fork: child %d hung (killed after 20 s)" % pid, flush=True)
                break
            time.sleep(0.05)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--series", type=int, default=1000, help="label sets per churn cycle")
    parser.add_argument("--fork-interval", type=float, default=2.0, help="seconds between forks")
    args = parser.parse_args()

    registry = mm.CollectorRegistry()
    server = mm.start_metrics_server(service="soak-service", metrics_port=0, health_port=0,
                                     bind_address="127.0.0.1", version="soak", registry=registry)
    server.health.add_check("database", True, "connected", probe="readiness")

    def slow_check():
        time.sleep(0.05)
        return True

    server.health.add_callback("cache", slow_check, timeout=1.0)
    health_port = server.health_port or server.metrics_port
    print("soak: library %s, metrics port %d, health port %d, %.1f minutes, %d series per cycle, "
          "a fork every %.1f s" % (mm._native.library_path, server.metrics_port, health_port, args.minutes,
                                   args.series, args.fork_interval), flush=True)

    counts = Counts()
    stop = threading.Event()
    # Warm up once (first scrape, first probe, thread pools) so that the start figures are
    # those of a running service, not of an idle one.
    fetch(server.metrics_port, "/metrics")
    fetch(health_port, "/health")
    start = proc_status()
    show("start", start)
    workers = [
        threading.Thread(target=churn, args=(stop, counts, registry, args.series), daemon=True),
        threading.Thread(target=scrape, args=(stop, counts, server.metrics_port), daemon=True),
        threading.Thread(target=probe, args=(stop, counts, health_port), daemon=True),
        threading.Thread(target=forker, args=(stop, counts, registry, args.fork_interval), daemon=True),
    ]
    for worker in workers:
        worker.start()
    began = time.monotonic()
    end = began + args.minutes * 60
    next_report = began + 60
    while time.monotonic() < end:
        time.sleep(min(1.0, max(0.0, end - time.monotonic())))
        if time.monotonic() >= next_report:
            show("%3dmin" % round((time.monotonic() - began) / 60), proc_status(), start, counts.snapshot())
            next_report += 60
    stop.set()
    for worker in workers:
        worker.join(timeout=60)
    stuck = [worker.name for worker in workers if worker.is_alive()]
    final = proc_status()
    show("end", final, start, counts.snapshot())
    server.stop()
    values = counts.snapshot()
    failures = sum(values.get(key, 0) for key in ("scrape_failures", "probe_failures", "fork_failures", "fork_hangs"))
    if stuck:
        print("soak: workers still running after 60 s: %s" % ", ".join(stuck))
    ok = failures == 0 and not stuck and values.get("scrapes", 0) > 0 and values.get("probes", 0) > 0
    print("soak: %s" % ("passed" if ok else "FAILED"), flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
