"""Checks the metrics and health endpoints of Marty services (the seed's scripts/test_metrics.py).

    python -m marty_metrics.check                      # all eight services on 127.0.0.1
    python -m marty_metrics.check --service csca-service --service pkd-service
    python -m marty_metrics.check --url http://127.0.0.1:9082 --host 10.0.0.5 --all

For a service, /metrics is fetched from its metrics port (gRPC base + 1000) and /health,
/health/live and /health/ready from its health port (base + 1), as in the Marty port table.
For a --url, all four paths are fetched from that base URL (the metrics port also serves
the health paths). /metrics is parsed twice, as Prometheus text 0.0.4 with prometheus_client's
parser and as OpenMetrics 1.0 with its strict parser; /health must be the seed's JSON
(service, healthy, ready, live, uptime_seconds, checks {name: bool}, timestamp); the probes
must answer 200. Prints a table and exits 0 when everything passed, 1 when anything failed,
2 on bad arguments or when prometheus_client is missing (pip install marty_metrics[check]).

The checker itself uses only the standard library and prometheus_client (importing the
package loads libmarty_metrics, as any import of marty_metrics does).
"""

import argparse
import importlib.util
import json
import sys
import urllib.error
import urllib.request
from urllib.parse import urlsplit

from marty_metrics import _native

# service: (gRPC base port, health port, metrics port): the seed's table, read from the library.
SERVICES = _native.service_ports()

OPENMETRICS_ACCEPT = "application/openmetrics-text;version=1.0.0"
TEXT_ACCEPT = "text/plain;version=0.0.4"
HEALTH_FIELDS = {
    "service": (str,),
    "healthy": (bool,),
    "ready": (bool,),
    "live": (bool,),
    "uptime_seconds": (int, float),
    "checks": (dict,),
    "timestamp": (int, float),
}


class Target:
    def __init__(self, name, metrics_base, health_base):
        self.name = name
        self.metrics_base = metrics_base.rstrip("/")
        self.health_base = health_base.rstrip("/")


class Result:
    def __init__(self, ok, text):
        self.ok = ok
        self.text = text


def fetch(url, timeout, accept=None):
    """(status, content type, body) or raises OSError for a connection failure."""
    headers = {"Accept": accept} if accept else {}
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.headers.get("Content-Type", ""), response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers.get("Content-Type", ""), error.read()


def _describe(error):
    reason = getattr(error, "reason", None)
    return str(reason if reason is not None else error)


def check_metrics(base, timeout):
    try:
        from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_openmetrics
        from prometheus_client.parser import text_string_to_metric_families as parse_text
    except ImportError:  # checked in main(); kept for callers of this function
        return Result(False, "prometheus_client missing")
    url = base + "/metrics"
    try:
        status, content_type, body = fetch(url, timeout, TEXT_ACCEPT)
    except OSError as error:
        return Result(False, "unreachable: %s" % _describe(error))
    if status != 200:
        return Result(False, "HTTP %d" % status)
    if not content_type.startswith("text/plain"):
        return Result(False, "content type %r" % content_type)
    try:
        families = list(parse_text(body.decode("utf-8")))
    except Exception as error:
        return Result(False, "text format: %s" % error)
    if not families:
        return Result(False, "empty exposition")
    try:
        status, content_type, body = fetch(url, timeout, OPENMETRICS_ACCEPT)
    except OSError as error:
        return Result(False, "unreachable: %s" % _describe(error))
    if status != 200:
        return Result(False, "OpenMetrics: HTTP %d" % status)
    if content_type.startswith("application/openmetrics-text"):
        try:
            list(parse_openmetrics(body.decode("utf-8")))
        except Exception as error:
            return Result(False, "OpenMetrics: %s" % error)
    samples = sum(len(family.samples) for family in families)
    marty = sum(1 for family in families if family.name.startswith("marty_"))
    return Result(True, "ok: %d families (%d marty_), %d samples" % (len(families), marty, samples))


def validate_health(document):
    """The list of problems with a /health document (empty when it has the seed's shape)."""
    if not isinstance(document, dict):
        return ["not a JSON object"]
    problems = []
    for field, types in HEALTH_FIELDS.items():
        if field not in document:
            problems.append("missing %s" % field)
            continue
        value = document[field]
        if types != (bool,) and isinstance(value, bool):
            problems.append("%s is a boolean" % field)
        elif not isinstance(value, types):
            problems.append("%s is %s" % (field, type(value).__name__))
    checks = document.get("checks")
    if isinstance(checks, dict):
        for name, value in checks.items():
            if not isinstance(value, bool):
                problems.append("checks.%s is %s, not a boolean" % (name, type(value).__name__))
    return problems


def check_health(base, timeout):
    try:
        status, content_type, body = fetch(base + "/health", timeout)
    except OSError as error:
        return Result(False, "unreachable: %s" % _describe(error))
    if status not in (200, 503):
        return Result(False, "HTTP %d" % status)
    try:
        document = json.loads(body.decode("utf-8"))
    except ValueError as error:
        return Result(False, "not JSON: %s" % error)
    problems = validate_health(document)
    if problems:
        return Result(False, "; ".join(problems))
    failing = sorted(name for name, ok in document["checks"].items() if not ok)
    if not document["healthy"]:
        return Result(False, "unhealthy%s" % (": " + ", ".join(failing) if failing else ""))
    return Result(True, "ok: %d checks" % len(document["checks"]))


def check_probe(base, path, timeout):
    try:
        status, _, _ = fetch(base + path, timeout)
    except OSError as error:
        return Result(False, "unreachable: %s" % _describe(error))
    if status == 200:
        return Result(True, "200")
    return Result(False, "%d" % status)


def check_target(target, timeout):
    return [
        check_metrics(target.metrics_base, timeout),
        check_health(target.health_base, timeout),
        check_probe(target.health_base, "/health/live", timeout),
        check_probe(target.health_base, "/health/ready", timeout),
    ]


COLUMNS = ("target", "/metrics", "/health", "/health/live", "/health/ready")


def print_table(rows, out):
    cells = [list(COLUMNS)]
    for target, results in rows:
        cells.append([target.name] + [("PASS " if r.ok else "FAIL ") + r.text for r in results])
    widths = [max(len(row[i]) for row in cells) for i in range(len(COLUMNS))]
    for index, row in enumerate(cells):
        out.write("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() + "\n")
        if index == 0:
            out.write("  ".join("-" * width for width in widths) + "\n")


def _url_target(url):
    parts = urlsplit(url if "://" in url else "http://" + url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("not an http URL: %r" % url)
    base = "%s://%s%s" % (parts.scheme, parts.netloc, parts.path.rstrip("/"))
    return Target(base, base, base)


def parse_arguments(argv):
    parser = argparse.ArgumentParser(
        prog="python -m marty_metrics.check",
        description="Check /metrics, /health, /health/live and /health/ready of Marty services.")
    parser.add_argument("--service", action="append", default=[], metavar="NAME",
                        help="a Marty service from the port table (repeatable): %s" % ", ".join(SERVICES))
    parser.add_argument("--url", action="append", default=[], metavar="URL",
                        help="a base URL serving all four paths, e.g. http://127.0.0.1:9082 (repeatable)")
    parser.add_argument("--all", action="store_true", help="every service of the port table (the default "
                        "when neither --service nor --url is given)")
    parser.add_argument("--host", default="127.0.0.1", help="host of the --service targets (default 127.0.0.1)")
    parser.add_argument("--timeout", type=float, default=5.0, help="seconds per request (default 5)")
    arguments = parser.parse_args(argv)
    for name in arguments.service:
        if name not in SERVICES:
            parser.error("unknown service %r: one of %s" % (name, ", ".join(SERVICES)))
    targets = []
    names = list(SERVICES) if arguments.all or not (arguments.service or arguments.url) else []
    for name in arguments.service:
        if name not in names:
            names.append(name)
    host = arguments.host
    if ":" in host and not host.startswith("["):
        host = "[%s]" % host
    for name in names:
        _, health, metrics = SERVICES[name]
        targets.append(Target(name, "http://%s:%d" % (host, metrics), "http://%s:%d" % (host, health)))
    for url in arguments.url:
        try:
            targets.append(_url_target(url))
        except ValueError as error:
            parser.error(str(error))
    return targets, arguments.timeout


def main(argv=None, out=None):
    out = out or sys.stdout
    targets, timeout = parse_arguments(argv)
    if importlib.util.find_spec("prometheus_client") is None:
        sys.stderr.write("marty_metrics.check needs prometheus_client: pip install 'marty_metrics[check]'\n")
        return 2
    rows = [(target, check_target(target, timeout)) for target in targets]
    print_table(rows, out)
    failed = sum(1 for _, results in rows for result in results if not result.ok)
    total = sum(len(results) for _, results in rows)
    out.write("\n%d of %d checks passed on %d target(s)\n" % (total - failed, total, len(rows)))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
