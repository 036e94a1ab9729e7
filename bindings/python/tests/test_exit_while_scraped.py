"""A process whose custom collector is being called by scrapes of the native endpoint when the
interpreter exits: it exits at once with its own status (the endpoint is stopped first, at
exit, waiting for the render in progress, which runs the collector with the GIL)."""

import os
import subprocess
import sys
import textwrap

PROGRAM = textwrap.dedent("""
    import sys, threading, time, urllib.request
    import marty_metrics as mm
    from marty_metrics.core import GaugeMetricFamily

    class Slow:
        def collect(self):
            time.sleep(0.05)
            yield GaugeMetricFamily("slow_gauge", "Slow.", value=1)

    mm.REGISTRY.register(Slow())
    server = mm.start_metrics_server(service="exit-test", metrics_port=0, health_port=0, bind_address="127.0.0.1")
    url = "http://127.0.0.1:%d/metrics" % server.metrics_port
    scraped = threading.Event()

    def scrape():
        while True:
            try:
                if b"slow_gauge 1.0" in urllib.request.urlopen(url, timeout=5).read():
                    scraped.set()
            except Exception:
                pass

    for _ in range(3):
        threading.Thread(target=scrape, daemon=True).start()
    assert scraped.wait(10), "no scrape showed the collector"
    time.sleep(0.2)  # scrapes in flight, some inside the collector
    sys.exit(7)
""")


def test_exit_while_a_collector_is_scraped():
    for _ in range(3):
        result = subprocess.run([sys.executable, "-c", PROGRAM], env=dict(os.environ), capture_output=True,
                                text=True, timeout=60)
        assert result.returncode == 7, result.stdout + result.stderr
