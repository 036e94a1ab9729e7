#!/usr/bin/env python3
"""Scraping pre-fork workers: marty_metrics' shared segment beside prometheus_client's
multiprocess mode, in one run (a benchmark, not a test).

    .venv/bin/python Benchmarks/python/multiprocess_bench.py [--workers 64] [--series 1000]

The workload, the same for both: a parent forks `--workers` workers one batch after another
(each recycled: it exits when done); each defines a counter with one label and records into
`--series` label values (and, in a second round, a livesum gauge with the same labels, set once
per series). Then the parent renders the default registry (marty_metrics,
MARTY_METRICS_MULTIPROCESS=1) or a registry with MultiProcessCollector (prometheus_client,
PROMETHEUS_MULTIPROC_DIR), and the median time of at least `--scrapes` renders (and at least 2 s
of them) is reported, beside a single process that made the same series itself.
Each case runs in a fresh interpreter. Aim (issue 11): the marty_metrics scrape of the workers at
most 2x its single-process scrape.

Then recording: two workers (one per core) increment one unlabelled counter at once, alone (each
process its own counter) and shared (the segment, or prometheus_client's files); the mean time
per inc() of the workers.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile

_SOURCE_TREE = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                            "bindings", "python")

CASE = r"""
import json, os, statistics, sys, time
library, multiprocess, workers, series, scrapes, with_gauge = sys.argv[1:7]
workers, series, scrapes = int(workers), int(series), int(scrapes)
multiprocess, with_gauge = multiprocess == "1", with_gauge == "1"
if library == "marty":
    try:
        import marty_metrics as client
    except ModuleNotFoundError:
        sys.path.insert(0, sys.argv[7])
        import marty_metrics as client
else:
    import prometheus_client as client

def record():
    counter = client.Counter("bench_requests", "Requests.", ["route"])
    gauge = client.Gauge("bench_in_progress", "In progress.", ["route"], multiprocess_mode="livesum") \
        if with_gauge else None
    for index in range(series):
        route = "route_%d" % index
        counter.labels(route).inc()
        if gauge is not None:
            gauge.labels(route).set(1)

started = time.perf_counter()
if multiprocess:
    batch = 8
    for first in range(0, workers, batch):
        pids = []
        for _ in range(min(batch, workers - first)):
            pid = os.fork()
            if pid == 0:
                record()
                os._exit(0)
            pids.append(pid)
        for pid in pids:
            _, status = os.waitpid(pid, 0)
            assert status == 0, status
else:
    record()
recorded = time.perf_counter() - started

if library == "marty" or not multiprocess:
    registry = client.REGISTRY
else:
    from prometheus_client import multiprocess as pc_multiprocess
    registry = client.CollectorRegistry()
    pc_multiprocess.MultiProcessCollector(registry)

text = client.generate_latest(registry).decode()
expected = float(workers if multiprocess else 1)
assert 'bench_requests_total{route="route_0"} %s' % expected in text, text[:2000]
times = []
first = time.perf_counter()
while len(times) < scrapes or time.perf_counter() - first < 2:
    began = time.perf_counter()
    client.generate_latest(registry)
    times.append(time.perf_counter() - began)
print(json.dumps({"scrape": statistics.median(times), "record": recorded, "bytes": len(text)}))
"""


RECORDING = r"""
import json, os, sys, time
library, multiprocess, workers, increments = sys.argv[1], sys.argv[2] == "1", int(sys.argv[3]), int(sys.argv[4])
if library == "marty":
    try:
        import marty_metrics as client
    except ModuleNotFoundError:
        sys.path.insert(0, sys.argv[5])
        import marty_metrics as client
else:
    import prometheus_client as client
counter = client.Counter("bench_increments", "Increments.")
read, write = os.pipe()
go_read, go_write = os.pipe()
def work():
    inc = counter.inc
    os.read(go_read, 1)
    began = time.perf_counter()
    for _ in range(increments):
        inc()
    return (time.perf_counter() - began) / increments

pids = []
for _ in range(workers):
    pid = os.fork()
    if pid == 0:
        os.write(write, ("%.9f\n" % work()).encode())
        os._exit(0)
    pids.append(pid)
os.write(go_write, b"g" * workers)  # all start together
for pid in pids:
    os.waitpid(pid, 0)
os.close(write)
per_increment = [float(line) for line in os.read(read, 65536).decode().split()]
print(json.dumps({"ns": 1e9 * sum(per_increment) / len(per_increment)}))
"""


def run_script(code, library, multiprocess, directory, arguments, timeout):
    """Runs `code` in a fresh interpreter for `library`, in its multiprocess mode or not (the
    mode's environment variable set or removed); returns the JSON its last line prints."""
    env = dict(os.environ)
    env.pop("MARTY_METRICS_MULTIPROCESS", None)
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    if multiprocess and library == "marty":
        env["MARTY_METRICS_MULTIPROCESS"] = "1"
    if multiprocess and library == "prometheus_client":
        env["PROMETHEUS_MULTIPROC_DIR"] = directory
    done = subprocess.run([sys.executable, "-c", code, library, "1" if multiprocess else "0"]
                          + [str(argument) for argument in arguments] + [_SOURCE_TREE],
                          env=env, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise SystemExit("%s multiprocess=%s failed:\n%s" % (library, multiprocess, done.stderr[-3000:]))
    return json.loads(done.stdout.strip().splitlines()[-1])


def run_recording(library, multiprocess, workers, increments, directory):
    return run_script(RECORDING, library, multiprocess, directory, [workers, increments], 600)["ns"]


def run_case(library, multiprocess, args, with_gauge, directory):
    return run_script(CASE, library, multiprocess, directory,
                      [args.workers, args.series, args.scrapes, "1" if with_gauge else "0"], 1800)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=64)
    parser.add_argument("--series", type=int, default=1000)
    parser.add_argument("--scrapes", type=int, default=20)
    parser.add_argument("--increments", type=int, default=2000000)
    args = parser.parse_args()
    print("MULTIPROCESS SCRAPE: %d recycled workers x %d series (a counter; then with a livesum gauge too); "
          "median of at least %d renders; load %.2f" % (args.workers, args.series, args.scrapes, os.getloadavg()[0]))
    print("%-44s %12s %12s %8s %10s" % ("", "one process", "workers", "ratio", "bytes"))
    for with_gauge in (False, True):
        results = {}
        for library in ("marty", "prometheus_client"):
            with tempfile.TemporaryDirectory() as directory:
                single = run_case(library, False, args, with_gauge, directory)
                shared = run_case(library, True, args, with_gauge, directory)
            results[library] = (single, shared)
            name = ("marty_metrics (segment)" if library == "marty" else "prometheus_client (mmap files)")
            name += " +gauge" if with_gauge else ""
            print("%-44s %9.3f ms %9.3f ms %7.2fx %10d" % (
                name, single["scrape"] * 1e3, shared["scrape"] * 1e3, shared["scrape"] / single["scrape"],
                shared["bytes"]))
        marty, peer = results["marty"][1]["scrape"], results["prometheus_client"][1]["scrape"]
        print("%-44s %12s %9.4f    (workers' scrape, marty / prometheus_client)" % (
            "  marty / prometheus_client" + (" +gauge" if with_gauge else ""), "", marty / peer))
    workers = min(2, os.cpu_count() or 1)
    print()
    print("RECORDING IN WORKERS: %d workers at once, each %d inc() on one unlabelled counter (ns per inc, "
          "mean of the workers)" % (workers, args.increments))
    print("%-44s %12s %12s %8s" % ("", "alone", "shared", "ratio"))
    shared = {}
    for library in ("marty", "prometheus_client"):
        with tempfile.TemporaryDirectory() as directory:
            alone = run_recording(library, False, workers, args.increments, directory)
            shared[library] = run_recording(library, True, workers, args.increments, directory)
        print("%-44s %9.1f ns %9.1f ns %7.2fx" % (library, alone, shared[library], shared[library] / alone))
    print("%-44s %12s %9.4f    (shared, marty / prometheus_client)" % (
        "  marty / prometheus_client", "", shared["marty"] / shared["prometheus_client"]))


if __name__ == "__main__":
    main()
