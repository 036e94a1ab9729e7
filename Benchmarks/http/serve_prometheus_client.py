"""prometheus_client's start_http_server serving the HTTP benchmark's series.

The same 1,000 counter series as marty-http-serve and promhttp-serve:
bench_requests_total{handler="/api/item/<i>",code="200"} = i, in a registry of their own
(no process, platform or GC collectors; no _created series, so the body has the same lines),
served at GET /metrics on 127.0.0.1:<ephemeral>. Prints "port=<n>" and then "ready";
serves until killed.

    .venv-bench/bin/python Benchmarks/http/serve_prometheus_client.py [--series N]
"""

import argparse
import sys
import threading

import prometheus_client
from prometheus_client import CollectorRegistry, Counter, start_http_server


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--series", type=int, default=1000)
    arguments = parser.parse_args()

    prometheus_client.disable_created_metrics()
    registry = CollectorRegistry()
    requests = Counter("bench_requests", "help", ["handler", "code"], registry=registry)
    for i in range(arguments.series):
        requests.labels(f"/api/item/{i}", "200").inc(i)

    server, _thread = start_http_server(0, addr="127.0.0.1", registry=registry)
    print(f"port={server.server_port}", flush=True)
    print("ready", flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(0)
