"""The endpoint renders on threads below the host's priority (nice +10; Linux), so a scraper
asking back to back does not take CPU from the service; the thread answering probes keeps
the process' priority."""

import os
import sys
import urllib.request

import pytest

import marty_metrics as mm

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread niceness is Linux's")


def thread_nices():
    nices = {}
    for tid in os.listdir("/proc/self/task"):
        try:
            with open("/proc/self/task/%s/stat" % tid) as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except FileNotFoundError:  # a thread that ended meanwhile
            continue
        nices[int(tid)] = int(fields[16])  # field 19 of proc(5), counted after "pid (comm)"
    return nices


def test_renders_run_below_the_process_priority():
    before = thread_nices()
    process_nice = os.getpriority(os.PRIO_PROCESS, 0)
    server = mm.start_metrics_server(service="priority-test", metrics_port=0, health_port=0,
                                     bind_address="127.0.0.1", registry=mm.CollectorRegistry())
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % server.metrics_port, timeout=10) as response:
            assert response.status == 200
        with urllib.request.urlopen("http://127.0.0.1:%d/health/live" % server.health_port, timeout=10) as response:
            assert response.status == 200
        new = {tid: nice for tid, nice in thread_nices().items() if tid not in before}
        assert min(10 + process_nice, 19) in new.values(), new      # the render thread
        assert process_nice in new.values(), new                    # the event loop, answering probes
        assert os.getpriority(os.PRIO_PROCESS, 0) == process_nice   # this thread is untouched
    finally:
        server.stop()
