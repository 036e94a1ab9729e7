#!/usr/bin/env python3
"""Measures the footprint of a Marty service while it serves: resident memory (VmRSS, VmHWM)
and CPU (utime + stime from /proc) of the process, while this script scrapes its /metrics
and probes its /health/live and /health/ready the way Prometheus and the kubelet would,
only faster.

    python3 Tests/deploy/measure_footprint.py BINARY [ARGS...] \
        [--seconds 60] [--scrapes-per-second 1] [--probes-per-second 0.3]

The service is started with MARTY_METRICS_PORT / MARTY_HEALTH_PORT set to free ports on
127.0.0.1 and stopped (SIGTERM, by pid) at the end. Prints one summary line per figure and a
JSON line for tools. The sizes of the chart's resources (examples/kubernetes/helm/
marty-service/values.yaml) come from runs of this script.
"""

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def proc_reading(pid):
    """(rss bytes, peak rss bytes, cpu seconds) of a live process."""
    rss = hwm = 0
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1]) * 1024
            elif line.startswith("VmHWM:"):
                hwm = int(line.split()[1]) * 1024
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    cpu = (int(fields[11]) + int(fields[12])) / ticks  # utime, stime
    return rss, hwm, cpu


def get(url, headers=None):
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:  # 503 from a failing probe is an answer
        return error.code, error.read()


def measure(command, seconds, scrapes_per_second, probes_per_second, env=None):
    metrics_port, health_port = free_port(), free_port()
    environment = dict(os.environ if env is None else env)
    environment.update(MARTY_METRICS_PORT=str(metrics_port), MARTY_HEALTH_PORT=str(health_port),
                       MARTY_METRICS_BIND="127.0.0.1", SWIFT_BACKTRACE="enable=no")
    process = subprocess.Popen(command, env=environment, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                get(f"http://127.0.0.1:{metrics_port}/metrics")
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"{command[0]} did not start serving")
                time.sleep(0.1)
        # Prometheus' own request headers (2.42): OpenMetrics first, gzip.
        scrape_headers = {
            "Accept": "application/openmetrics-text;version=1.0.0,application/openmetrics-text;"
                      "version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1",
            "Accept-Encoding": "gzip"}
        start_rss, _, start_cpu = proc_reading(process.pid)
        started = time.monotonic()
        scrapes = probes = 0
        body_bytes = 0
        samples = []
        next_scrape = next_probe = started
        while time.monotonic() - started < seconds:
            now = time.monotonic()
            if scrapes_per_second > 0 and now >= next_scrape:
                status, body = get(f"http://127.0.0.1:{metrics_port}/metrics", scrape_headers)
                assert status == 200, status
                body_bytes = len(body)
                scrapes += 1
                next_scrape += 1.0 / scrapes_per_second
            if probes_per_second > 0 and now >= next_probe:
                get(f"http://127.0.0.1:{health_port}/health/live")
                get(f"http://127.0.0.1:{health_port}/health/ready")
                probes += 2
                next_probe += 1.0 / probes_per_second
            samples.append(proc_reading(process.pid)[0])
            time.sleep(0.05)
        elapsed = time.monotonic() - started
        rss, hwm, cpu = proc_reading(process.pid)
        return {
            "binary": os.path.basename(command[0]),
            "seconds": round(elapsed, 1),
            "scrapes": scrapes,
            "probes": probes,
            "scrape_body_bytes_gzip": body_bytes,
            "rss_start_mib": round(start_rss / 2**20, 1),
            "rss_end_mib": round(rss / 2**20, 1),
            "rss_max_sampled_mib": round(max(samples) / 2**20, 1),
            "rss_peak_vmhwm_mib": round(hwm / 2**20, 1),
            "cpu_percent_of_one_core": round((cpu - start_cpu) / elapsed * 100, 2),
            "cpu_millicores": round((cpu - start_cpu) / elapsed * 1000, 1),
        }
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", nargs="+", help="the service binary and its arguments")
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--scrapes-per-second", type=float, default=1)
    parser.add_argument("--probes-per-second", type=float, default=0.3)
    arguments = parser.parse_args()
    result = measure(arguments.command, arguments.seconds, arguments.scrapes_per_second,
                     arguments.probes_per_second)
    for key, value in result.items():
        print(f"{key:28} {value}")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
