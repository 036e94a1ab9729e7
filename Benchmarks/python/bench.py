#!/usr/bin/env python3
"""marty_metrics beside prometheus_client, in one run (a benchmark, not a test).

    .venv/bin/python Benchmarks/python/bench.py [--quick] [--skip ops|rpc|gil]

Needs marty_metrics (installed, which builds its compiled extension; or from the source tree
with MARTY_METRICS_LIBRARY set, then on ctypes only), prometheus_client and grpcio. Measures:

  1. per operation (timeit, best of several repeats): unlabelled inc, bound child inc,
     labels(a, b).inc() with two labels, histogram observe, gauge set; for marty_metrics
     twice: with the compiled extension (this process) and through ctypes (a child process
     with MARTY_METRICS_PURE_PYTHON=1, the same measurements);
  2. per RPC: what an interceptor adds to a unary grpc.aio call on loopback: the server
     runs here, the client in another process (1 call in flight by default), and the CPU
     time of the server's event-loop thread per call is measured (less noisy than wall time
     on a shared machine). The marty interceptor (AsyncMetricsInterceptor) and marty's
     direct instrumentation (marty_metrics.grpc.instrument(server): handlers wrapped when
     added, no interceptor) beside the same interceptor recording with prometheus_client the
     seed's way (labels() lookups on a Counter, a Histogram and a Gauge per call), each minus
     the same server without an interceptor; a pass-through interceptor shows what gRPC's
     interceptor pipeline alone costs. Rounds run every server once, in a rotating order; what
     a server adds is the median over rounds of its figure minus the plain server's in the
     same round (paired, so that the load drifting between rounds cancels out)
     (BENCH_RPC_DEBUG=1 prints each server's min, lower quartile and median);
  3. scrape without the GIL: a Python thread counts in a loop while another process
     (wrk -t1 -c1 if installed, else a Python http.client loop) scrapes /metrics with
     10,000 series back to back; its rate relative to its idle rate (idle and scraped
     periods alternate; the median ratio is reported), with marty_metrics' endpoint and
     with prometheus_client's start_http_server. On 2 cores the scraper and the server
     share the core the counting thread does not use, so the machine must be otherwise idle.
Aims: per op with the extension (issue 10) at most 1/4 of prometheus_client's time, 1/5
for labels(a, b).inc(); per RPC (issues 4 and 10) at most half, for the interceptor and for
instrument(server) each; GIL >= 90% (issue 10). The ctypes column has
no aim (issue 4's was at most prometheus_client's).
"""

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import threading
import time
import timeit

# The installed package (with its bundled library and compiled extension) when there is one,
# else the source tree (MARTY_METRICS_LIBRARY must then name the library).
_SOURCE_TREE = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                            "bindings", "python")
try:
    import marty_metrics  # noqa: F401
except ModuleNotFoundError:
    sys.path.insert(0, _SOURCE_TREE)

import grpc
import prometheus_client as pc
from grpc import aio

import marty_metrics as mm
from marty_metrics import metrics as mm_metrics
from marty_metrics.grpc import AsyncMetricsInterceptor, instrument

SERIES = 10_000


def _version(distribution):
    try:
        from importlib.metadata import version
        return version(distribution)
    except Exception:
        return "?"


# ---- 1. per operation --------------------------------------------------------------------


CASES = [
    # (title, statement with {} for the side, aim: the largest ratio to prometheus_client's time)
    ("unlabelled inc()", "{}_plain.inc()", 1 / 4),
    ("bound child inc()", "{}_child.inc()", 1 / 4),
    ("labels(a, b).inc()", "{}_fam.labels('x', 'y').inc()", 1 / 5),
    ("observe(0.3)", "{}_hist.observe(0.3)", 1 / 4),
    ("gauge set(2.0)", "{}_gauge.set(2.0)", 1 / 4),
]


def per_op(quick, sides=("p", "m")):
    """{title: {side: ns per operation}}; side "p" is prometheus_client, "m" marty_metrics."""
    number = 200_000 if quick else 1_000_000
    repeat = 3 if quick else 7
    mr, pr = mm.CollectorRegistry(), pc.CollectorRegistry()
    env = {
        "m_plain": mm.Counter("plain", "p", registry=mr), "p_plain": pc.Counter("plain", "p", registry=pr),
        "m_fam": mm.Counter("fam", "f", ["a", "b"], registry=mr), "p_fam": pc.Counter("fam", "f", ["a", "b"], registry=pr),
        "m_hist": mm.Histogram("hist", "h", registry=mr), "p_hist": pc.Histogram("hist", "h", registry=pr),
        "m_gauge": mm.Gauge("gauge", "g", registry=mr), "p_gauge": pc.Gauge("gauge", "g", registry=pr),
    }
    env["m_child"] = env["m_fam"].labels("x", "y")
    env["p_child"] = env["p_fam"].labels("x", "y")
    results = {}
    for title, template, _ in CASES:
        results[title] = {}
        for side in sides:
            statement = template.format(side)
            best = min(timeit.repeat(statement, globals=env, number=number, repeat=repeat))
            results[title][side] = best / number * 1e9
    return results


def per_op_ctypes(quick):
    """marty_metrics' per-op figures through ctypes: the same measurements in a child process
    with MARTY_METRICS_PURE_PYTHON=1 (the path is chosen once, at import)."""
    env = dict(os.environ, MARTY_METRICS_PURE_PYTHON="1")
    env.pop("MARTY_METRICS_REQUIRE_SPEEDUPS", None)
    package_parent = os.path.dirname(os.path.dirname(os.path.abspath(mm.__file__)))
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_parent, env.get("PYTHONPATH")]))
    command = [sys.executable, os.path.abspath(__file__), "--per-op-json"] + (["--quick"] if quick else [])
    output = subprocess.run(command, env=env, check=True, capture_output=True, text=True).stdout
    report = json.loads(output.strip().splitlines()[-1])
    if report["path"] != "ctypes":
        raise RuntimeError("the ctypes child process recorded through %s" % report["path"])
    return {title: sides["m"] for title, sides in report["results"].items()}


def recording_path():
    return "extension" if mm_metrics._speedups is not None else "ctypes"


# ---- 2. per RPC --------------------------------------------------------------------------

SERVICE = "bench-service"
METHOD = "/bench.Echo/Ping"


class PrometheusClientInterceptor(aio.ServerInterceptor):
    """The seed's interceptor design on prometheus_client: labels() lookups per call. The
    wrapping is the same as AsyncMetricsInterceptor's (handlers wrapped once, cached per
    method), so the difference is the recording alone."""

    def __init__(self, registry, service):
        self.service = service
        self.requests = pc.Counter("marty_grpc_requests_total", "Total gRPC requests",
                                   ["service", "method", "status"], registry=registry)
        self.duration = pc.Histogram("marty_grpc_request_duration_seconds", "gRPC request duration in seconds",
                                     ["service", "method"], registry=registry,
                                     buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
        self.errors = pc.Counter("marty_grpc_errors_total", "Total gRPC errors",
                                 ["service", "method", "error_type"], registry=registry)
        self.active = pc.Gauge("marty_grpc_active_connections", "Number of active gRPC connections",
                               ["service"], registry=registry)
        self._wrapped = {}

    async def intercept_service(self, continuation, details):
        handler = await continuation(details)
        if handler is None or handler.unary_unary is None:
            return handler
        entry = self._wrapped.get(details.method)
        if entry is not None and entry[0] is handler:
            return entry[1]
        wrapped = grpc.unary_unary_rpc_method_handler(
            self._wrap(handler.unary_unary, details.method),
            request_deserializer=handler.request_deserializer, response_serializer=handler.response_serializer)
        self._wrapped[details.method] = (handler, wrapped)
        return wrapped

    def _wrap(self, behavior, method):
        service, requests, duration, errors, active = (self.service, self.requests, self.duration, self.errors,
                                                        self.active)
        perf_counter = time.perf_counter

        async def wrapped(request, context):
            active.labels(service).inc()
            start = perf_counter()
            try:
                response = await behavior(request, context)
            except Exception as error:
                elapsed = perf_counter() - start
                requests.labels(service, method, "UNKNOWN").inc()
                duration.labels(service, method).observe(elapsed)
                errors.labels(service, method, type(error).__name__).inc()
                active.labels(service).dec()
                raise
            elapsed = perf_counter() - start
            code = context.code()
            status = "OK" if code is None else code.name
            requests.labels(service, method, status).inc()
            duration.labels(service, method).observe(elapsed)
            if status != "OK":
                errors.labels(service, method, status).inc()
            active.labels(service).dec()
            return response
        return wrapped


async def _ping(request, context):
    return request


async def _start(interceptors, instrumented_into=None):
    server = aio.server(interceptors=interceptors)
    if instrumented_into is not None:
        instrument(server, instrumented_into)
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(
        "bench.Echo", {"Ping": grpc.unary_unary_rpc_method_handler(_ping)}),))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    return server, port


class PassThroughInterceptor(aio.ServerInterceptor):
    """Records nothing: what any grpc.aio interceptor costs (gRPC's interceptor pipeline)."""

    async def intercept_service(self, continuation, details):
        return await continuation(details)


# The client runs in another process, so that only the server's work is measured: it reads
# "port calls concurrency" lines and answers "done" after making the calls.
RPC_CLIENT = r"""
import asyncio, sys
from grpc import aio

async def main():
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    stubs = {}
    while True:
        line = (await reader.readline()).split()
        if not line:
            return
        port, calls, concurrency = map(int, line)
        if port not in stubs:
            stubs[port] = aio.insecure_channel("127.0.0.1:%d" % port).unary_unary("/bench.Echo/Ping")
        call = stubs[port]
        remaining = calls

        async def worker():
            nonlocal remaining
            while remaining > 0:
                remaining -= 1
                assert await call(b"ping") == b"ping"

        await asyncio.gather(*(worker() for _ in range(concurrency)))
        sys.stdout.write("done\n")
        sys.stdout.flush()

asyncio.run(main())
"""


async def per_rpc_async(quick, concurrency):
    # Many short rounds: the figures paired within a round are taken a second or so apart.
    calls = 400 if quick else 500
    rounds = 15 if quick else 60
    servers = {
        "none": await _start([]),
        "pass-through": await _start([PassThroughInterceptor()]),
        "marty": await _start([AsyncMetricsInterceptor(mm.ServiceMetrics(SERVICE, registry=mm.CollectorRegistry()))]),
        "prometheus_client": await _start([PrometheusClientInterceptor(pc.CollectorRegistry(), SERVICE)]),
        "marty direct": await _start([], mm.ServiceMetrics(SERVICE, registry=mm.CollectorRegistry())),
    }
    client = await asyncio.create_subprocess_exec(
        sys.executable, "-c", RPC_CLIENT, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)

    async def run(port, count):
        # CPU time of this thread, the server's event loop: what the server spends per call.
        cpu, wall = time.thread_time(), time.perf_counter()
        client.stdin.write(b"%d %d %d\n" % (port, count, concurrency))
        await client.stdin.drain()
        if await client.stdout.readline() != b"done\n":
            raise RuntimeError("the gRPC client process failed")
        return (time.thread_time() - cpu) / count * 1e6, (time.perf_counter() - wall) / count * 1e6

    cpu = {name: [] for name in servers}
    wall = {name: [] for name in servers}
    try:
        for _, port in servers.values():  # warm up
            await run(port, calls // 2)
        order = list(servers)
        for index in range(rounds):
            shift = index % len(order)
            for name in order[shift:] + order[:shift]:
                spent, took = await run(servers[name][1], calls)
                cpu[name].append(spent)
                wall[name].append(took)
    finally:
        client.stdin.close()
        await client.wait()
        for server, _ in servers.values():
            await server.stop(None)
    if os.environ.get("BENCH_RPC_DEBUG"):
        for name, values in cpu.items():
            ordered = sorted(values)
            differences = sorted(spent - plain for spent, plain in zip(values, cpu["none"]))
            print("%-18s min %.1f q1 %.1f median %.1f; minus none's in the same round: q1 %+.1f median %+.1f"
                  % (name, ordered[0], ordered[len(ordered) // 4], statistics.median(ordered),
                     differences[len(differences) // 4], statistics.median(differences)))
    added = {name: statistics.median(spent - plain for spent, plain in zip(values, cpu["none"]))
             for name, values in cpu.items()}
    return ({name: statistics.median(values) for name, values in cpu.items()},
            {name: statistics.median(values) for name, values in wall.items()}, added)


def per_rpc(quick, concurrency):
    return asyncio.run(per_rpc_async(quick, concurrency))


# ---- 3. scrape without the GIL -----------------------------------------------------------

SCRAPER = r"""
import http.client, sys, time
port, duration = int(sys.argv[1]), float(sys.argv[2])
end = time.monotonic() + duration
count = 0
connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
while time.monotonic() < end:
    connection.request("GET", "/metrics")
    response = connection.getresponse()
    body = response.read()
    assert response.status == 200 and body
    count += 1
print("%.1f" % (count / duration))
"""


def _count(duration):
    """A Python thread counting in a loop for `duration` seconds: its rate (counts/s)."""
    result = {}

    def run():
        n = 0
        perf_counter = time.perf_counter
        start = perf_counter()
        end = start + duration
        while True:
            for _ in range(2000):
                n += 1
            if perf_counter() >= end:
                break
        result["rate"] = n / (perf_counter() - start)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    return result["rate"]


def _scrape_while_counting(port, duration):
    """Starts another process scraping back to back, counts meanwhile, returns (rate, scrapes/s)."""
    wrk = shutil.which("wrk")
    if wrk:
        command = [wrk, "-t1", "-c1", "-d%ds" % max(1, round(duration + 1)), "http://127.0.0.1:%d/metrics" % port]
    else:
        command = [sys.executable, "-c", SCRAPER, str(port), str(duration + 1)]
    scraper = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(0.5)  # let it start scraping
    rate = _count(duration)
    out, err = scraper.communicate(timeout=duration + 60)
    if scraper.returncode != 0:
        raise RuntimeError("the scraper failed: %s %s" % (out, err))
    scrapes = None
    for line in out.splitlines():
        if wrk and line.startswith("Requests/sec:"):
            scrapes = float(line.split()[1])
    if not wrk:
        scrapes = float(out.strip().splitlines()[-1])
    return rate, scrapes, "wrk" if wrk else "python http.client"


def _kept(port, duration, periods):
    """Median over `periods` of (rate while scraped / rate idle just before), and the scrape rate."""
    ratios, idles, scrape_rates = [], [], []
    tool = None
    for _ in range(periods):
        idle = _count(duration)
        busy, scrapes, tool = _scrape_while_counting(port, duration)
        ratios.append(busy / idle)
        idles.append(idle)
        scrape_rates.append(scrapes or 0)
    return statistics.median(ratios), statistics.median(idles), statistics.median(scrape_rates), tool


def gil(quick):
    duration = 2.0 if quick else 3.0
    periods = 1 if quick else 3
    results = {}
    # marty_metrics: the endpoint renders and serves on the library's threads.
    registry = mm.CollectorRegistry()
    family = mm.Counter("bench_series", "Series for the scrape benchmark.", ["id"], registry=registry)
    for index in range(SERIES):
        family.labels("series-%05d" % index).inc(index)
    server = mm.start_metrics_server(service="bench-service", metrics_port=0, health_port=0,
                                     bind_address="127.0.0.1", registry=registry)
    try:
        size = len(mm.generate_latest(registry))
        kept, idle, scrapes, tool = _kept(server.metrics_port, duration, periods)
    finally:
        server.stop()
    results["marty_metrics"] = (kept, idle, scrapes, size)
    # prometheus_client: start_http_server renders in a Python thread.
    registry = pc.CollectorRegistry()
    family = pc.Counter("bench_series", "Series for the scrape benchmark.", ["id"], registry=registry)
    for index in range(SERIES):
        family.labels("series-%05d" % index).inc(index)
    httpd, thread = pc.start_http_server(0, addr="127.0.0.1", registry=registry)
    try:
        size = len(pc.generate_latest(registry))
        kept, idle, scrapes, tool = _kept(httpd.server_port, duration, periods)
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)
    results["prometheus_client"] = (kept, idle, scrapes, size)
    return results, tool


# ---- Report ------------------------------------------------------------------------------


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="shorter runs (noisier)")
    parser.add_argument("--skip", action="append", default=[], choices=["ops", "rpc", "gil"])
    parser.add_argument("--concurrency", type=int, default=1, help="gRPC calls in flight (default 1)")
    parser.add_argument("--per-op-json", action="store_true", help=argparse.SUPPRESS)  # the ctypes child
    arguments = parser.parse_args()
    if arguments.per_op_json:
        print(json.dumps({"path": recording_path(), "results": per_op(arguments.quick, sides=("m",))}))
        return
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print("marty_metrics %s (library %s at %s), prometheus_client %s, grpcio %s, Python %s, %d CPUs"
          % (mm.__version__, mm.LIBRARY_VERSION, mm.LIBRARY_PATH, _version("prometheus_client"),
             grpc.__version__, sys.version.split()[0], os.cpu_count()))
    print("load average before the run: %.2f (other work on the machine skews every figure)" % load)
    print("marty_metrics records through: %s%s" % (
        recording_path(), "" if recording_path() == "extension" else
        "  (NOT the compiled extension: MARTY_METRICS_PURE_PYTHON is set, or it was not built)"))
    lines = []
    verdicts = []
    if "ops" not in arguments.skip:
        header = "%-34s %18s %13s %13s %9s %9s  %s" % (
            "per op", "prometheus_client", "extension", "ctypes", "ext/pc", "ctypes/pc", "aim (ext/pc)")
        lines.append(header)
        lines.append("-" * len(header))
        results = per_op(arguments.quick)
        ctypes_results = per_op_ctypes(arguments.quick)
        for title, _, aim in CASES:
            prom, marty, through_ctypes = results[title]["p"], results[title]["m"], ctypes_results[title]
            ratio = marty / prom
            met = ratio <= aim and recording_path() == "extension"
            verdicts.append(met)
            lines.append("%-34s %15.0f ns %10.0f ns %10.0f ns %9.3f %9.2f  <= 1/%d %s" % (
                title, prom, marty, through_ctypes, ratio, through_ctypes / prom, round(1 / aim),
                "met" if met else "MISSED"))
    header = "%-44s %18s %16s %8s  %s" % ("measure", "prometheus_client", "marty_metrics", "ratio", "aim")
    if "rpc" not in arguments.skip or "gil" not in arguments.skip:
        if lines:
            lines.append("")
        lines.append(header)
        lines.append("-" * len(header))
    if "rpc" not in arguments.skip:
        cpu, wall, added = per_rpc(arguments.quick, arguments.concurrency)
        base = cpu["none"]
        prom = added["prometheus_client"]
        passing = added["pass-through"]
        for title, name in (("per RPC added by the interceptor", "marty"),
                            ("per RPC added by instrument(server)", "marty direct")):
            marty = added[name]
            ratio = marty / prom if prom > 0 else float("nan")
            verdicts.append(ratio <= 0.5)
            lines.append("%-44s %15.1f us %13.1f us %8.2f  <= 0.50 %s" % (
                title, prom, marty, ratio, "met" if ratio <= 0.5 else "MISSED"))
        lines.append("%-44s %15.1f us %13.1f us %8.2f  (a pass-through interceptor adds %+.1f us)" % (
            "  interceptor's beyond a pass-through one", prom - passing, added["marty"] - passing,
            (added["marty"] - passing) / max(prom - passing, 1e-9), passing))
        lines.append("%-44s %15.1f us %13.1f us %8s  (no interceptor: %.1f us CPU, %.0f us wall)" % (
            "  server CPU per unary call (medians)", cpu["prometheus_client"], cpu["marty"], "", base, wall["none"]))
        lines.append("%-44s %15s %13.1f us" % ("  the same with instrument(server)", "", cpu["marty direct"]))
    if "gil" not in arguments.skip:
        results, tool = gil(arguments.quick)
        (p_kept, p_idle, p_scrapes, p_size) = results["prometheus_client"]
        (m_kept, m_idle, m_scrapes, m_size) = results["marty_metrics"]
        verdicts.append(m_kept >= 0.90)
        lines.append("%-44s %17.0f%% %15.0f%% %8.2f  >= 90%% %s" % (
            "GIL: counting rate kept while scraped", p_kept * 100, m_kept * 100, m_kept / p_kept,
            "met" if m_kept >= 0.90 else "MISSED"))
        lines.append("%-44s %15.0f/s %13.0f/s %8s  (%d series, %d / %d KB, by %s)" % (
            "  scrapes of /metrics meanwhile", p_scrapes, m_scrapes, "", SERIES, p_size // 1024,
            m_size // 1024, tool))
        lines.append("%-44s %14.1fM/s %12.1fM/s" % ("  counting rate idle", p_idle / 1e6, m_idle / 1e6))
    print()
    print("\n".join(lines))
    print()
    print("aims met: %d of %d" % (sum(verdicts), len(verdicts)))
    if hasattr(os, "getloadavg"):
        print("load average after the run: %.2f" % os.getloadavg()[0])


if __name__ == "__main__":
    main()
