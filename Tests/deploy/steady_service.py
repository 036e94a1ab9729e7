"""A Marty service with a known workload, for the end-to-end test of the sharded setup
(test_sharding_end_to_end.py): the Python binding's endpoint (libmarty_metrics) serving the
Marty catalog of SERVICE on 127.0.0.1:METRICS_PORT, recording exactly COUNT calls into
marty_grpc_requests_total at RATE calls per second, then idling until it is terminated (SIGTERM: exit 0).

Usage: steady_service.py SERVICE METRICS_PORT COUNT RATE GO_FILE

Recording starts when GO_FILE exists (so that every scraper is already running). Call i
(0-based) is recorded at start + i / RATE on the monotonic clock, so the rate stays steady
whatever a late wake-up costs; every tenth call has status NOT_FOUND (two series per
service). Prints `recording: start=<unix time> count=<COUNT> rate=<RATE>` when it begins
and `recorded: <COUNT> calls, end=<unix time>` when the last call is in.
"""

import os
import signal
import sys
import time

import marty_metrics as mm


def main(service, metrics_port, count, rate, go_file):
    server = mm.start_metrics_server(service=service, metrics_port=metrics_port, health_port=0,
                                     bind_address="127.0.0.1")
    metrics = server.metrics
    method = "/marty.%s/Get" % "".join(word.capitalize() for word in service.split("-"))
    print("serving %s on 127.0.0.1:%d" % (service, server.metrics_port), flush=True)
    while not os.path.exists(go_file):
        time.sleep(0.01)
    start_monotonic, start_wall = time.monotonic(), time.time()
    print("recording: start=%.6f count=%d rate=%g" % (start_wall, count, rate), flush=True)
    for i in range(count):
        delay = start_monotonic + i / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        metrics.record_call(method, "NOT_FOUND" if i % 10 == 9 else "OK", 0.01)
    print("recorded: %d calls, end=%.6f" % (count, time.time()), flush=True)
    try:
        while True:
            time.sleep(3600)
    finally:
        server.stop()


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), sys.argv[5])
