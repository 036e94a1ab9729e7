"""Pre-fork workers (gunicorn, uwsgi) recording into one set of metrics, without files.

Set ``MARTY_METRICS_MULTIPROCESS=1`` in the environment of the parent before it first imports
marty_metrics (``MARTY_METRICS_MULTIPROCESS_BYTES`` sizes the shared segment; 128 MiB by
default, taken from the system only as it is written). The library then maps one shared
segment, which every process forked afterwards inherits: the counters, gauges, histograms and
summaries of the default ``REGISTRY``, made in the parent or defined again in any worker, record
into it, and ``start_http_server`` (or any rendering of ``REGISTRY``) in any of these
processes shows the sum over all workers, living and dead. A gunicorn config::

    # gunicorn.conf.py (MARTY_METRICS_MULTIPROCESS=1 in gunicorn's environment)
    import marty_metrics
    from marty_metrics import multiprocess

    def when_ready(server):
        marty_metrics.start_http_server(9102)

    def child_exit(server, worker):
        multiprocess.mark_process_dead(worker.pid)

Gauges follow their ``multiprocess_mode``, as in prometheus_client. Info metrics stay in the
process that makes them; shared metrics keep no exemplars and have no native buckets, and
``remove``/``clear`` are refused (a series, once in the segment, stays).
"""

from ._native import C, check, has, require

__all__ = ["MultiProcessCollector", "enabled", "mark_process_dead", "usage"]


def enabled():
    """True when this process or a parent made the shared segment."""
    return has("multiprocess_enabled") and bool(C.multiprocess_enabled())


def usage():
    """(bytes in use, size) of the shared segment; (0, 0) without one."""
    import ctypes
    require("multiprocess_usage")
    used, size = ctypes.c_size_t(), ctypes.c_size_t()
    check(C.multiprocess_usage(ctypes.byref(used), ctypes.byref(size)))
    return used.value, size.value


def mark_process_dead(pid, path=None):
    """Marks worker `pid` dead (gunicorn's ``child_exit``): its gauges leave the live* modes at
    once. The library also finds dead workers by itself at each scrape, so this is optional.
    `path` is accepted for prometheus_client's signature and not used: there are no files."""
    require("multiprocess_mark_process_dead")
    check(C.multiprocess_mark_process_dead(int(pid)))


class MultiProcessCollector:
    """prometheus_client's way of serving a multiprocess registry::

        registry = CollectorRegistry()
        MultiProcessCollector(registry)
        generate_latest(registry)

    collects what the default ``REGISTRY`` renders: every worker's shared metrics (and this
    process' own). `path` is accepted and not used."""

    def __init__(self, registry, path=None):
        if registry is not None:
            registry.register(self)

    def collect(self):
        from .registry import REGISTRY
        return REGISTRY.collect()
