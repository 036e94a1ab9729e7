"""A WSGI app for gunicorn's pre-fork workers, recording with marty_metrics.

gunicorn imports this module in each worker after the fork (no --preload): every worker
defines the metrics again, and with MARTY_METRICS_MULTIPROCESS=1 they join the families in the
segment the master made (see gunicorn.conf.py), so the master's /metrics shows the sum.
"""

import os
import time

import marty_metrics as mm

REQUESTS = mm.Counter("app_requests", "Requests answered, by path.", ["path"])
LATENCY = mm.Histogram("app_request_duration_seconds", "Time to answer a request.",
                       buckets=(0.001, 0.01, 0.1, 1))
IN_PROGRESS = mm.Gauge("app_requests_in_progress", "Requests being answered.",
                       multiprocess_mode="livesum")
WORKER_REQUESTS = mm.Gauge("app_worker_requests", "Requests this worker has answered.",
                           multiprocess_mode="liveall")
answered = 0


def application(environ, start_response):
    global answered
    started = time.perf_counter()
    with IN_PROGRESS.track_inprogress():
        path = environ.get("PATH_INFO", "/")
        REQUESTS.labels(path).inc()
        answered += 1
        WORKER_REQUESTS.set(answered)
        body = ("%d\n" % os.getpid()).encode()
    LATENCY.observe(time.perf_counter() - started)
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
