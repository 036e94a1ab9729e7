"""gunicorn settings for app.py: run with MARTY_METRICS_MULTIPROCESS=1 in the environment.

    MARTY_METRICS_MULTIPROCESS=1 gunicorn -c gunicorn.conf.py app:application

This file runs in the master before it forks: importing marty_metrics here makes the shared
segment, which every worker inherits. The master serves /metrics (and /health) for all of them
from the library's endpoint, on MARTY_METRICS_PORT and MARTY_HEALTH_PORT (else the Marty port
table's ports for APP_SERVICE).
"""

import os

import marty_metrics
from marty_metrics import multiprocess

bind = os.environ.get("APP_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("APP_WORKERS", "4"))
# Workers are replaced after this many requests (0: never), as sites do against slow leaks.
max_requests = int(os.environ.get("APP_MAX_REQUESTS", "0"))
max_requests_jitter = max_requests // 4


def when_ready(server):
    marty_metrics.start_metrics_server(os.environ.get("APP_SERVICE", "document-signer"))


def child_exit(server, worker):
    multiprocess.mark_process_dead(worker.pid)
