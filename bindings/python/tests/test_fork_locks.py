"""A child of fork() made while other threads of the parent hold the package's locks (an Enum
changing state, a registry registering, a collector being added, a server starting) uses them at once:
each is given back free in the child. Without that, its first labels() or register() waits
for ever; the child's alarm would end it."""

import os
import threading

import marty_metrics as mm
from marty_metrics import server as mm_server


def test_a_fork_child_gets_every_lock_free():
    registry = mm.CollectorRegistry()
    family = mm.Counter("forked_jobs", "Jobs.", ["queue"], registry=registry)
    state = mm.Enum("forked_state", "State.", states=["idle", "busy"], registry=registry)
    held = [state._lock, registry._lock, registry._glue.order_lock, mm_server._server_lock,
            mm_server._catalogs_lock, mm_server._health_lock]
    holding, release = threading.Event(), threading.Event()

    def hold():  # another thread, inside the package's critical sections when the fork happens
        for lock in held:
            lock.acquire()
        holding.set()
        release.wait(30)
        for lock in reversed(held):
            lock.release()

    holder = threading.Thread(target=hold)
    holder.start()
    assert holding.wait(10)
    try:
        pid = os.fork()
        if pid == 0:
            status = 1
            try:
                import signal
                signal.alarm(10)  # a lock still held would wait for ever: SIGALRM ends the child
                family.labels("child").inc()
                state.state("busy")
                mm.Gauge("forked_gauge", "G.", registry=registry).set(1)
                registry.register(type("Collector", (), {"collect": lambda self: []})())
                text = mm.generate_latest(registry).decode()
                status = 0 if ('forked_jobs_total{queue="child"} 1.0' in text
                               and 'forked_state{forked_state="busy"} 1.0' in text) else 2
            finally:
                os._exit(status)
        _, child_status = os.waitpid(pid, 0)
    finally:
        release.set()
        holder.join(30)
    assert os.WIFEXITED(child_status) and os.WEXITSTATUS(child_status) == 0, child_status
