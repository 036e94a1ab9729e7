"""The HTTP rows: GET /metrics under wrk, marty-metrics beside client_golang and prometheus_client.

    python3 Benchmarks/http/run_http.py --marty PATH --promhttp PATH --python PATH [--quick]

Benchmarks/run.sh builds the servers and calls this (`Benchmarks/run.sh --sections http`).
Every server serves the same 1,000 counter series of one family with 2 labels on
127.0.0.1:<ephemeral>:

  marty-metrics       Benchmarks/.build-bench/release/marty-http-serve (MetricsEndpoint)
  client_golang       Benchmarks/http/promhttp/main.go (promhttp.HandlerFor, own registry)
  prometheus_client   Benchmarks/http/serve_prometheus_client.py (start_http_server, own registry)

One server at a time: start it, fetch /metrics once (status, lines, bytes, plain and gzip),
warm up with wrk for 2 s, then `wrk -t2 -c10 -d10s --latency`, reading the server's CPU time
(/proc/PID/stat) around the run and its RSS and threads after it; then stop it. The same is
repeated with `Accept-Encoding: gzip`, as Prometheus asks. marty-http-serve also reports the
endpoint's idle cost in its own process (RSS and threads added by starting it, CPU used while
idle). Figures and ratios are printed; nothing is asserted.

TLS rows (--no-tls skips them): marty-http-serve --web-config and promhttp-serve -web-config
(exporter-toolkit 0.8.2's web.Serve) read the same web-config file, made in a temporary
folder: a self-signed EC P-256 server certificate for 127.0.0.1 made with the openssl CLI, and
one basic auth user whose bcrypt hash (cost 10) Python's crypt module made:

  tls_server_config: {cert_file: server.crt, key_file: server.key}
  basic_auth_users: {bench: $2b$10$...}

wrk then asks https://127.0.0.1:PORT/metrics with an "Authorization: Basic ..." header, plain
and gzip as above, over keep-alive connections (one handshake per connection: -c of them),
and once more with "Connection: close" (a full handshake and a new connection per request).
Before that, one request without the header must be answered 401 and one with it 200. Both
servers remember a checked password, so bcrypt runs once for it, not once per request.
"""

from __future__ import annotations

import argparse
import base64
import gzip
import http.client
import os
import re
import resource
import select
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass, field

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")

# The anchors (measured there with wrk -t2 -c10) and aims.
ANCHOR_GOLANG_RPS = 740.0
ANCHOR_GOLANG_P99_MS = 48.0
ANCHOR_PYTHON_RPS = "55-77"
AIM_VS_GOLANG = 5.0
AIM_VS_PYTHON = 50.0
AIM_P99_MS = 5.0
SEED_RSS_MB = 10.0
SEED_CPU_PERCENT = 1.0


@dataclass
class TLSSetup:
    """The web-config file both TLS servers read, and what a client needs to pass it."""

    web_config: str
    certificate: str
    authorization: str  # the Authorization header's value


@dataclass
class Server:
    key: str
    title: str
    command: list[str]
    process: subprocess.Popen | None = None
    port: int = 0
    facts: dict[str, str] = field(default_factory=dict)
    tls: TLSSetup | None = None

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}/metrics"


@dataclass
class WrkResult:
    rps: float = float("nan")
    p50_ms: float = float("nan")
    p75_ms: float = float("nan")
    p90_ms: float = float("nan")
    p99_ms: float = float("nan")
    max_ms: float = float("nan")
    requests: int = 0
    errors: str = ""
    non2xx: int = 0
    server_cpu_s: float = float("nan")
    wrk_cpu_s: float = float("nan")
    others_cores: float = float("nan")
    rss_kib: int = -1
    hwm_kib: int = -1
    threads: int = -1
    body_bytes: int = 0
    body_lines: int = 0
    series_lines: int = 0
    raw: str = ""


def to_ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text.strip())
    if not match:
        return float("nan")
    value, unit = float(match.group(1)), match.group(2)
    return value * {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 6e4}[unit]


def parse_wrk(output: str) -> WrkResult:
    result = WrkResult(raw=output)
    for percentile, attribute in (("50", "p50_ms"), ("75", "p75_ms"), ("90", "p90_ms"), ("99", "p99_ms")):
        match = re.search(rf"^\s+{percentile}%\s+(\S+)", output, re.M)
        if match:
            setattr(result, attribute, to_ms(match.group(1)))
    match = re.search(r"^\s+Latency\s+\S+\s+\S+\s+(\S+)", output, re.M)
    if match:
        result.max_ms = to_ms(match.group(1))
    match = re.search(r"^Requests/sec:\s+([\d.]+)", output, re.M)
    if match:
        result.rps = float(match.group(1))
    match = re.search(r"^\s+(\d+) requests in", output, re.M)
    if match:
        result.requests = int(match.group(1))
    match = re.search(r"Socket errors: (.*)$", output, re.M)
    if match:
        result.errors = match.group(1).strip()
    match = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    if match:
        result.non2xx = int(match.group(1))
    return result


def proc_cpu_seconds(pid: int) -> float:
    """utime + stime of every thread of the process (/proc/PID/stat fields 14 and 15)."""
    with open(f"/proc/{pid}/stat") as file:
        fields = file.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def proc_status(pid: int) -> dict[str, int]:
    values: dict[str, int] = {}
    with open(f"/proc/{pid}/status") as file:
        for line in file:
            name, _, rest = line.partition(":")
            if name in ("VmRSS", "VmHWM", "Threads"):
                values[name] = int(rest.split()[0])
    return values


def busy_seconds() -> float:
    """Busy time of all CPUs so far (/proc/stat: user nice system irq softirq steal)."""
    with open("/proc/stat") as file:
        fields = [float(x) for x in file.readline().split()[1:]]
    return (fields[0] + fields[1] + fields[2] + fields[5] + fields[6] + fields[7]) / CLOCK_TICKS


def children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def start(server: Server, timeout: float) -> None:
    """Starts the server and reads its key=value lines until "ready" (raw reads: no buffering
    may hide a line from select)."""
    server.process = subprocess.Popen(server.command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert server.process.stdout is not None
    descriptor = server.process.stdout.fileno()
    deadline = time.monotonic() + timeout
    pending = b""
    while time.monotonic() < deadline:
        ready, _, _ = select.select([descriptor], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            break
        chunk = os.read(descriptor, 65536)
        if not chunk:
            break
        pending += chunk
        while b"\n" in pending:
            line, pending = pending.split(b"\n", 1)
            text = line.decode("utf-8", "replace").strip()
            if text == "ready":
                server.port = int(server.facts.get("port", "0"))
                return
            key, _, value = text.partition("=")
            server.facts[key] = value
    error = ""
    if server.process.poll() is not None and server.process.stderr:
        error = server.process.stderr.read().decode("utf-8", "replace")
    stop(server)
    raise RuntimeError(f"{server.title} did not start: {server.facts} {error}")


def stop(server: Server) -> None:
    if server.process and server.process.poll() is None:
        server.process.send_signal(signal.SIGTERM)
        try:
            server.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait()


def make_tls_setup(directory: str) -> TLSSetup:
    """A self-signed EC P-256 certificate for 127.0.0.1 (openssl CLI), one basic auth user with
    a bcrypt hash of cost 10 (crypt module), and the web-config file naming them."""
    certificate = os.path.join(directory, "server.crt")
    key = os.path.join(directory, "server.key")
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", key, "-out", certificate, "-days", "2", "-subj", "/CN=127.0.0.1",
            "-addext", "subjectAltName=IP:127.0.0.1",
        ],
        check=True, capture_output=True,
    )
    with warnings.catch_warnings():
        # crypt is deprecated (gone in Python 3.13); here it is only the bcrypt of libxcrypt.
        warnings.simplefilter("ignore", DeprecationWarning)
        import crypt
    user, password = "bench", base64.b32encode(os.urandom(10)).decode().lower()
    hashed = crypt.crypt(password, crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=1 << 10))
    if not hashed or not hashed.startswith("$2b$10$"):
        raise RuntimeError(f"crypt made no bcrypt hash: {hashed!r}")
    web_config = os.path.join(directory, "web.yml")
    with open(web_config, "w") as file:
        file.write(
            "tls_server_config:\n"
            f"  cert_file: {certificate}\n"
            f"  key_file: {key}\n"
            "basic_auth_users:\n"
            f"  {user}: {hashed}\n"
        )
    authorization = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
    return TLSSetup(web_config, certificate, authorization)


def fetch(server: Server, gzip_accepted: bool, authorized: bool = True) -> tuple[int, bytes, bytes, str]:
    """(status, body as sent, body decoded, TLS version and cipher or "")."""
    if server.tls:
        context = ssl.create_default_context(cafile=server.tls.certificate)
        connection: http.client.HTTPConnection = http.client.HTTPSConnection(
            "127.0.0.1", server.port, context=context, timeout=10)
    else:
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    headers = {"Accept-Encoding": "gzip"} if gzip_accepted else {}
    if server.tls and authorized:
        headers["Authorization"] = server.tls.authorization
    try:
        connection.request("GET", "/metrics", headers=headers)
        response = connection.getresponse()
        raw = response.read()
        decoded = gzip.decompress(raw) if response.headers.get("Content-Encoding") == "gzip" else raw
        negotiated = ""
        if isinstance(connection.sock, ssl.SSLSocket):
            negotiated = f"{connection.sock.version()} {connection.sock.cipher()[0]}"
        return response.status, raw, decoded, negotiated
    finally:
        connection.close()


def run_wrk(server: Server, arguments: argparse.Namespace, gzip_accepted: bool, close: bool = False) -> WrkResult:
    url = server.url
    header = ["-H", "Accept-Encoding: gzip"] if gzip_accepted else []
    if server.tls:
        header += ["-H", f"Authorization: {server.tls.authorization}"]
    if close:
        header += ["-H", "Connection: close"]
    status, raw, decoded, _ = fetch(server, gzip_accepted)
    # Warm-up, not recorded.
    subprocess.run(
        ["wrk", f"-t{arguments.threads}", f"-c{arguments.connections}", f"-d{arguments.warmup}s", *header, url],
        check=True, capture_output=True,
    )
    assert server.process is not None
    pid = server.process.pid
    cpu0, busy0, children0, wall0 = proc_cpu_seconds(pid), busy_seconds(), children_cpu_seconds(), time.monotonic()
    completed = subprocess.run(
        [
            "wrk", f"-t{arguments.threads}", f"-c{arguments.connections}", f"-d{arguments.duration}s", "--latency",
            *header, url,
        ],
        check=True, capture_output=True, text=True,
    )
    cpu1, busy1, children1, wall1 = proc_cpu_seconds(pid), busy_seconds(), children_cpu_seconds(), time.monotonic()
    result = parse_wrk(completed.stdout)
    result.server_cpu_s = cpu1 - cpu0
    result.wrk_cpu_s = children1 - children0
    result.others_cores = max(0.0, (busy1 - busy0) - result.server_cpu_s - result.wrk_cpu_s) / (wall1 - wall0)
    status_values = proc_status(pid)
    result.rss_kib = status_values.get("VmRSS", -1)
    result.hwm_kib = status_values.get("VmHWM", -1)
    result.threads = status_values.get("Threads", -1)
    result.body_bytes = len(raw) if status == 200 else -1
    text = decoded.decode("utf-8", "replace")
    result.body_lines = text.count("\n")
    result.series_lines = sum(1 for line in text.splitlines() if line.startswith("bench_requests_total{"))
    return result


def fmt(value: float, decimals: int = 1) -> str:
    if value != value or value in (float("inf"), float("-inf")):
        return "-"
    return f"{value:.{decimals}f}"


def ms(value: float) -> str:
    return fmt(value, 2) if value < 10 else fmt(value, 1)


def versions(python: str) -> dict[str, str]:
    def output(command: list[str]) -> str:
        try:
            return subprocess.run(command, capture_output=True, text=True, timeout=30).stdout.strip()
        except (OSError, subprocess.TimeoutExpired):
            return "?"

    wrk = output(["wrk", "-v"]).splitlines()
    golang = output(["dpkg-query", "-W", "-f=${Version}", "golang-github-prometheus-client-golang-dev"])
    toolkit = output(["dpkg-query", "-W", "-f=${Version}", "golang-github-prometheus-exporter-toolkit-dev"])
    go = output(["go", "version"]).replace("go version ", "")
    prometheus_client = output([python, "-c", "import importlib.metadata as m; print(m.version('prometheus_client'))"])
    python_version = output([python, "-c", "import platform; print(platform.python_version())"])
    return {
        "wrk": wrk[0].split(" [")[0] if wrk else "?",
        "golang": f"client_golang {golang.split('-')[0]} (Debian {golang}), {go.split(' ')[0]}",
        "python": f"prometheus_client {prometheus_client}, Python {python_version}",
        "toolkit": f"exporter-toolkit {toolkit.split('-')[0]}" if toolkit else "exporter-toolkit ?",
        "openssl": output(["openssl", "version"]).split(" (")[0],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--marty", required=True, help="the marty-http-serve executable")
    parser.add_argument("--promhttp", required=True, help="the promhttp-serve executable (Go)")
    parser.add_argument("--python", required=True, help="a python with prometheus_client installed")
    parser.add_argument("--series", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=2, help="wrk -t")
    parser.add_argument("--connections", type=int, default=10, help="wrk -c")
    parser.add_argument("--duration", type=int, default=10, help="wrk -d, seconds")
    parser.add_argument("--warmup", type=int, default=2, help="an unrecorded wrk run first, seconds")
    parser.add_argument("--idle-seconds", type=float, default=10.0, help="marty endpoint idle window")
    parser.add_argument("--no-gzip", action="store_true", help="skip the Accept-Encoding: gzip runs")
    parser.add_argument("--no-tls", action="store_true", help="skip the TLS + basic auth rows")
    parser.add_argument(
        "--no-tls-close", action="store_true", help="skip the TLS rows with Connection: close (a handshake per request)")
    parser.add_argument(
        "--rounds", type=int, default=1,
        help="measure every server this many times, interleaved, and keep each one's best req/s run",
    )
    parser.add_argument("--quick", action="store_true", help="3 s runs, 1 s warm-up, 3 s idle: a smoke run")
    parser.add_argument("--raw", action="store_true", help="also print wrk's own output")
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="marty-http-tls-") as directory:
        return measure(arguments, None if arguments.no_tls else directory)


def measure(arguments: argparse.Namespace, tls_directory: str | None) -> int:
    if arguments.quick:
        arguments.duration, arguments.warmup, arguments.idle_seconds = 3, 1, 3.0
    if shutil.which("wrk") is None:
        print("http: wrk is not installed (apt-get install wrk; Benchmarks/run.sh does it)", file=sys.stderr)
        return 1

    here = os.path.dirname(os.path.abspath(__file__))
    series = ["--series", str(arguments.series)]
    version = versions(arguments.python)
    servers = [
        Server(
            "marty", "marty-metrics MetricsEndpoint",
            [arguments.marty, *series, "--idle-seconds", str(arguments.idle_seconds)],
        ),
        Server("golang", version["golang"].split(" (")[0] + " promhttp", [arguments.promhttp, *series]),
        Server(
            "python", version["python"].split(",")[0] + " start_http_server",
            [arguments.python, os.path.join(here, "serve_prometheus_client.py"), *series],
        ),
    ]
    tls_servers: list[Server] = []
    if tls_directory is not None:
        tls = make_tls_setup(tls_directory)
        tls_servers = [
            Server(
                "marty-tls", "  TLS: marty-metrics MetricsEndpoint",
                [arguments.marty, *series, "--idle-seconds", "0", "--web-config", tls.web_config], tls=tls,
            ),
            Server(
                "golang-tls", "  TLS: " + version["golang"].split(" (")[0] + " + " + version["toolkit"],
                [arguments.promhttp, *series, "-web-config", tls.web_config], tls=tls,
            ),
        ]

    loads = os.getloadavg()
    print(
        f"HTTP: GET /metrics, {arguments.series:,} counter series of one family with 2 labels, 127.0.0.1, one server at a time"
    )
    print(
        f"  load: {version['wrk']} -t{arguments.threads} -c{arguments.connections} -d{arguments.duration}s --latency"
        f" (after an unrecorded {arguments.warmup} s run), on the same {os.cpu_count()} cores as the server;"
        + (f" best of {arguments.rounds} interleaved rounds;" if arguments.rounds > 1 else "")
        + f" load average {loads[0]:.2f} at start"
    )
    print(f"  peers: {version['golang']}; {version['python']}")
    if tls_servers:
        print(
            f"  TLS rows: both servers read one web-config file (self-signed EC P-256 certificate for 127.0.0.1 from"
            f" {version['openssl']}, one basic auth user, bcrypt cost 10); wrk sends Authorization: Basic over https,"
            f" keep-alive: {arguments.connections} handshakes per run"
            + ("" if arguments.no_tls_close else ", and once with Connection: close: a handshake per request")
        )
    print(
        f"  issue: client_golang {ANCHOR_GOLANG_RPS:.0f} req/s (p99 {ANCHOR_GOLANG_P99_MS:.0f} ms), prometheus_client"
        f" {ANCHOR_PYTHON_RPS} req/s; aim >= {AIM_VS_GOLANG:.0f}x client_golang, >= {AIM_VS_PYTHON:.0f}x"
        f" prometheus_client, p99 < {AIM_P99_MS:.0f} ms. Printed for comparison, not asserted."
    )
    print()

    encodings = [False] if arguments.no_gzip else [False, True]
    results: dict[tuple[str, bool | str], WrkResult] = {}
    for round_number in range(max(1, arguments.rounds)):
        for server in servers + tls_servers:
            if round_number > 0 and server.key == "marty":
                # The idle cost was measured in the first round; later rounds only serve.
                server.command = [arguments.marty, *series, "--idle-seconds", "0"]
                server.facts, kept = {}, server.facts
            start(server, timeout=arguments.idle_seconds + 60)
            if round_number > 0 and server.key == "marty":
                server.facts = kept
            try:
                if server.tls and round_number == 0:
                    # Authentication is on: no header, 401; the header, 200 (and the TLS in use).
                    server.facts["unauthorized_status"] = str(fetch(server, False, authorized=False)[0])
                    status, _, _, negotiated = fetch(server, False)
                    server.facts["authorized_status"] = str(status)
                    server.facts["negotiated"] = negotiated
                variants: list[tuple[bool | str, bool, bool]] = [(g, g, False) for g in encodings]
                if server.tls and not arguments.no_tls_close:
                    variants.append(("close", False, True))
                for variant, gzip_accepted, close in variants:
                    result = run_wrk(server, arguments, gzip_accepted, close)
                    best = results.get((server.key, variant))
                    if best is None or result.rps > best.rps:
                        results[(server.key, variant)] = result
            finally:
                stop(server)

    def header(title: str) -> None:
        print(
            f"{title:<56}{'req/s':>9}{'p50 ms':>9}{'p75 ms':>9}{'p99 ms':>9}{'max ms':>9}"
            f"{'cpu us/req':>11}{'body KiB':>10}{'lines':>7}{'others':>8}"
        )
        print("-" * 137)

    def row(server: Server, r: WrkResult) -> None:
        cpu_per_request = 1e6 * r.server_cpu_s / r.requests if r.requests else float("nan")
        print(
            f"{server.title:<56}{fmt(r.rps, 0):>9}{ms(r.p50_ms):>9}{ms(r.p75_ms):>9}{ms(r.p99_ms):>9}"
            f"{ms(r.max_ms):>9}{fmt(cpu_per_request, 0):>11}{fmt(r.body_bytes / 1024, 1):>10}{r.body_lines:>7}"
            f"{fmt(r.others_cores, 2):>8}"
        )
        problems = []
        if r.series_lines != arguments.series:
            problems.append(f"{r.series_lines} bench_requests_total lines, not {arguments.series}")
        if r.errors:
            problems.append(f"socket errors: {r.errors}")
        if r.non2xx:
            problems.append(f"{r.non2xx} non-2xx responses")
        if problems:
            print(f"{'':<4}!! {'; '.join(problems)}")
        if arguments.raw:
            print("\n".join("      " + line for line in r.raw.splitlines()))

    def cpu_per_request(r: WrkResult) -> float:
        return r.server_cpu_s / r.requests if r.requests else float("nan")

    def tls_ratios(variant: bool | str, plain_variant: bool, tls_name: str, plain_name: str) -> None:
        marty_tls, golang_tls = results[("marty-tls", variant)], results[("golang-tls", variant)]
        width = len(f"  golang {tls_name} / golang {plain_name}") + 2
        for key in ("marty", "golang"):
            tls_result, plain = results[(key + "-tls", variant)], results[(key, plain_variant)]
            print(
                f"  {key} {tls_name} / {key} {plain_name}".ljust(width) + f"req/s {fmt(tls_result.rps / plain.rps, 2):>6}x"
                f"   p50 {fmt(tls_result.p50_ms / plain.p50_ms, 2):>6}   p99 {fmt(tls_result.p99_ms / plain.p99_ms, 2):>6}"
                f"   server cpu/req {fmt(cpu_per_request(tls_result) / cpu_per_request(plain), 2):>6}"
            )
        print(
            f"  marty {tls_name} / golang {tls_name}".ljust(width) + f"req/s {fmt(marty_tls.rps / golang_tls.rps, 1):>6}x"
            f"   p50 {fmt(marty_tls.p50_ms / golang_tls.p50_ms, 3):>6}   p99 {fmt(marty_tls.p99_ms / golang_tls.p99_ms, 3):>6}"
            f"   server cpu/req {fmt(cpu_per_request(marty_tls) / cpu_per_request(golang_tls), 3):>6}"
        )

    for gzip_accepted in encodings:
        title = "Accept-Encoding: gzip (as Prometheus scrapes)" if gzip_accepted else "plain text (wrk's default request)"
        header("GET /metrics, " + title)
        for server in servers:
            row(server, results[(server.key, gzip_accepted)])
        if tls_servers:
            print(f"https://…/metrics, Authorization: Basic, keep-alive ({arguments.connections} handshakes):")
            for server in tls_servers:
                row(server, results[(server.key, gzip_accepted)])
        marty = results[("marty", gzip_accepted)]
        for server in servers[1:]:
            peer = results[(server.key, gzip_accepted)]
            aim = AIM_VS_GOLANG if server.key == "golang" else AIM_VS_PYTHON
            marty_cpu = marty.server_cpu_s / marty.requests if marty.requests else float("nan")
            peer_cpu = peer.server_cpu_s / peer.requests if peer.requests else float("nan")
            print(
                f"  marty / {server.key:<8} req/s {fmt(marty.rps / peer.rps, 1):>6}x (aim >= {aim:.0f}x)"
                f"   p50 {fmt(marty.p50_ms / peer.p50_ms, 3):>6}   p99 {fmt(marty.p99_ms / peer.p99_ms, 3):>6}"
                f"   server cpu/req {fmt(marty_cpu / peer_cpu, 3):>6}"
            )
        print(
            f"  marty p99 {ms(marty.p99_ms)} ms (aim < {AIM_P99_MS:.0f} ms); against the issue's client_golang anchor"
            f" ({ANCHOR_GOLANG_RPS:.0f} req/s): {fmt(marty.rps / ANCHOR_GOLANG_RPS, 1)}x"
        )
        if tls_servers:
            tls_ratios(gzip_accepted, gzip_accepted, "TLS", "plain")
        print()

    if tls_servers:
        for server in tls_servers:
            facts = server.facts
            print(
                f"  {server.title.strip()}: without Authorization {facts.get('unauthorized_status', '?')} (401 expected),"
                f" with it {facts.get('authorized_status', '?')}; {facts.get('negotiated', '?')} (Python's ssl)"
            )
        print()
        if not arguments.no_tls_close:
            header("GET /metrics, https, Connection: close")
            for server in tls_servers:
                row(server, results[(server.key, "close")])
            tls_ratios("close", False, "TLS close", "plain keep-alive")
            print()

    print(
        "  cpu us/req: the server process' CPU time (/proc/PID/stat utime+stime) over the run / requests answered;"
    )
    print(
        "  others: cores used meanwhile by processes other than the server and wrk (/proc/stat), i.e. the noise on"
    )
    print(f"  these {os.cpu_count()} shared cores. wrk and the server share them, so req/s is a figure for this machine.")
    print()

    # The endpoint's idle cost inside its host process (marty-http-serve's own figures).
    facts = servers[0].facts
    before_rss = int(facts.get("before_rss_kib", -1))
    after_rss = int(facts.get("after_rss_kib", -1))
    idle_rss = int(facts.get("idle_rss_kib", -1))
    before_anon = int(facts.get("before_rss_anon_kib", -1))
    after_anon = int(facts.get("after_rss_anon_kib", -1))
    idle_wall = float(facts.get("idle_wall_s", "nan"))
    idle_ticks = int(facts.get("idle_cpu_ticks", -1))
    ticks_per_second = int(facts.get("clock_ticks_per_s", CLOCK_TICKS))
    idle_cpu_ns = int(facts.get("idle_cpu_ns", -1))
    cpu_percent_stat = 100 * idle_ticks / ticks_per_second / idle_wall
    cpu_percent_clock = 100 * idle_cpu_ns / 1e9 / idle_wall
    added_mib = (after_rss - before_rss) / 1024
    print(f"ENDPOINT IDLE COST (marty-http-serve: {arguments.series:,} series registered, then MetricsEndpoint.start)")
    print("-" * 110)
    print(f"{'RSS before start (VmRSS; anonymous part RssAnon)':<56}{before_rss / 1024:>9.2f} MiB   ({before_anon / 1024:.2f} MiB)")
    print(
        f"{'RSS after start':<56}{after_rss / 1024:>9.2f} MiB   ({after_anon / 1024:.2f} MiB)   added"
        f" {added_mib:.2f} MiB (anonymous {(after_anon - before_anon) / 1024:.2f} MiB);"
        f" seed ~{SEED_RSS_MB:.0f} MB, aim <= {SEED_RSS_MB / 2:.0f} MB"
    )
    print(f"{'RSS after ' + fmt(idle_wall, 0) + ' s idle':<56}{idle_rss / 1024:>9.2f} MiB")
    marty_after_load = results[("marty", encodings[-1])]
    print(
        f"{'RSS after the wrk runs (VmRSS / peak VmHWM)':<56}{marty_after_load.rss_kib / 1024:>9.2f} MiB"
        f"   (peak {marty_after_load.hwm_kib / 1024:.2f} MiB)"
    )
    print(
        f"{'threads before / after start (/proc/self/task)':<56}{facts.get('before_threads', '?'):>9} / "
        f"{facts.get('after_threads', '?')}   added: {facts.get('added_threads', '?')}"
    )
    print(f"{'start() took':<56}{float(facts.get('start_ms', 'nan')):>9.2f} ms")
    print(
        f"{'CPU while idle (' + fmt(idle_wall, 1) + ' s)':<56}{idle_cpu_ns / 1e6:>9.3f} ms"
        f" = {cpu_percent_clock:.4f}% of one core (CLOCK_PROCESS_CPUTIME_ID);"
        f" /proc/self/stat: {idle_ticks} ticks = {cpu_percent_stat:.2f}%; seed < {SEED_CPU_PERCENT:.0f}%,"
        f" aim < {SEED_CPU_PERCENT / 2:.1f}%"
    )
    print()
    print(f"{'PROCESS SIZE AFTER THE WRK RUNS (whole process)':<56}{'VmRSS MiB':>11}{'VmHWM MiB':>11}{'threads':>9}")
    print("-" * 110)
    for server in servers + tls_servers:
        r = results[(server.key, encodings[-1])]
        print(f"{server.title:<56}{r.rss_kib / 1024:>11.2f}{r.hwm_kib / 1024:>11.2f}{r.threads:>9}")
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
