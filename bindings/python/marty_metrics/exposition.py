"""Exposition as prometheus_client offers it: generate_latest, the content types, HTTP serving
(start_http_server / start_wsgi_server, make_wsgi_app, MetricsHandler; make_asgi_app is in
``asgi``), write_to_textfile and the Pushgateway calls with their handlers.

Every body is rendered by the library (``CollectorRegistry.render``); this module only chooses
the format, compresses, serves and sends it."""

import base64
import functools
import gzip
import os
import socket
import ssl
import threading
from http.server import BaseHTTPRequestHandler
from socketserver import ThreadingMixIn
from urllib.parse import parse_qs, quote_plus, urlparse
from urllib.request import BaseHandler, HTTPHandler, HTTPRedirectHandler, HTTPSHandler, Request, build_opener
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from .metrics import ALLOWUTF8, DOTS, UNDERSCORES, VALUES, CONTENT_TYPE_OPENMETRICS
from .registry import REGISTRY, CollectorRegistry, RestrictedRegistry

__all__ = [
    "CONTENT_TYPE_LATEST", "CONTENT_TYPE_PLAIN_0_0_4", "CONTENT_TYPE_PLAIN_1_0_0", "generate_latest", "choose_encoder", "gzip_accepted", "MetricsHandler",
    "make_wsgi_app", "start_wsgi_server", "start_http_server", "write_to_textfile",
    "push_to_gateway", "pushadd_to_gateway", "delete_from_gateway", "instance_ip_grouping_key",
    "default_handler", "basic_auth_handler", "tls_auth_handler", "passthrough_redirect_handler",
    "ALLOWUTF8", "UNDERSCORES", "DOTS", "VALUES",
]

# The text format's two versions: 0.0.4 (legacy names only) and 1.0.0 (Prometheus 3: UTF-8
# names, with an `escaping` parameter). As in prometheus_client 0.26, CONTENT_TYPE_LATEST
# names 1.0.0, yet a scraper that does not ask for 1.0.0 (and the Pushgateway) gets 0.0.4.
CONTENT_TYPE_PLAIN_0_0_4 = "text/plain; version=0.0.4; charset=utf-8"
CONTENT_TYPE_PLAIN_1_0_0 = "text/plain; version=1.0.0; charset=utf-8"
CONTENT_TYPE_LATEST = CONTENT_TYPE_PLAIN_1_0_0
_ESCAPINGS = (ALLOWUTF8, UNDERSCORES, DOTS, VALUES)


def _check_registry(registry):
    if not isinstance(registry, (CollectorRegistry, RestrictedRegistry)):
        raise TypeError("registry must be a marty_metrics CollectorRegistry, not %s" % type(registry).__name__)


def generate_latest(registry=REGISTRY, escaping=UNDERSCORES):
    """The Prometheus text format 0.0.4 exposition of `registry`, as bytes, names outside the
    legacy character set written as `escaping` says."""
    _check_registry(registry)
    return registry.render(escaping=escaping)


def _openmetrics_generate_latest(registry=REGISTRY, escaping=UNDERSCORES):
    from .openmetrics.exposition import generate_latest as generate
    return generate(registry, escaping)


def _media_parameters(accepted):
    """The media type of one Accept entry and its parameters ({"version": ..., ...})."""
    media_type, *parameters = accepted.split(";")
    found = {}
    for parameter in parameters:
        key, equals, value = parameter.strip().partition("=")
        if equals and key not in found:
            found[key] = value
    return media_type.strip(), found


def _version_tuple(version):
    """"1.0.0" as (1, 0, 0), for comparing versions (parts that are not numbers compare as 0)."""
    return tuple(int(part) if part.isdigit() else 0 for part in version.split("."))


def choose_encoder(accept_header):
    """(encoder, content type) for an Accept header, as prometheus_client 0.26 chooses: the
    first OpenMetrics entry (version 1.0.0 or later, or none given) or text/plain entry of
    version 1.0.0 or later, with its `escaping` (underscores unless a known scheme is named);
    else text 0.0.4."""
    from .openmetrics import exposition as openmetrics

    for accepted in (accept_header or "").split(","):
        media_type, parameters = _media_parameters(accepted)
        version = parameters.get("version", "")
        escaping = parameters.get("escaping")
        if escaping not in _ESCAPINGS:
            escaping = UNDERSCORES
        if media_type == "application/openmetrics-text":
            if not version:
                return (functools.partial(openmetrics.generate_latest, escaping=UNDERSCORES),
                        openmetrics.CONTENT_TYPE_LATEST)
            if _version_tuple(version) >= (1, 0, 0):
                return (functools.partial(openmetrics.generate_latest, escaping=escaping, version=version),
                        "application/openmetrics-text; version=%s; charset=utf-8; escaping=%s" % (version, escaping))
        elif media_type == "text/plain" and version and _version_tuple(version) >= (1, 0, 0):
            return functools.partial(generate_latest, escaping=escaping), CONTENT_TYPE_LATEST + "; escaping=" + escaping
    return generate_latest, CONTENT_TYPE_PLAIN_0_0_4


def gzip_accepted(accept_encoding_header):
    """Whether an Accept-Encoding header accepts gzip."""
    return any(part.split(";")[0].strip().lower() == "gzip" for part in (accept_encoding_header or "").split(","))


def _metrics_response(registry, accept, accept_encoding, params, disable_compression):
    """(status, headers, body) of a metrics request: format from Accept, ``name[]`` parameters
    restricting the samples, gzip when accepted."""
    encoder, content_type = choose_encoder(accept)
    if "name[]" in params:
        registry = registry.restricted_registry(params["name[]"])
    body = encoder(registry)
    headers = [("Content-Type", content_type)]
    if not disable_compression and gzip_accepted(accept_encoding):
        body = gzip.compress(body)
        headers.append(("Content-Encoding", "gzip"))
    return "200 OK", headers, body


def make_wsgi_app(registry=REGISTRY, disable_compression=False):
    """A WSGI application serving `registry` on every path (GET; OPTIONS answers Allow; other
    methods 405; /favicon.ico an empty 200)."""
    _check_registry(registry)

    def metrics_app(environ, start_response):
        method = environ["REQUEST_METHOD"]
        if method == "OPTIONS":
            status, headers, body = "200 OK", [("Allow", "OPTIONS,GET")], b""
        elif method != "GET":
            status = "405 Method Not Allowed"
            headers = [("Allow", "OPTIONS,GET")]
            body = ("# HTTP %s: %s; use OPTIONS or GET\n" % (status, method)).encode()
        elif environ.get("PATH_INFO") == "/favicon.ico":
            status, headers, body = "200 OK", [("", "")], b""
        else:
            status, headers, body = _metrics_response(
                registry, environ.get("HTTP_ACCEPT"), environ.get("HTTP_ACCEPT_ENCODING"),
                parse_qs(environ.get("QUERY_STRING", "")), disable_compression)
        start_response(status, headers)
        return [body]

    return metrics_app


class _QuietHandler(WSGIRequestHandler):
    """Logs nothing per request (a scrape every few seconds would flood stderr)."""

    def log_message(self, format, *args):
        pass


class ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    """One thread per request, none kept at exit."""

    daemon_threads = True


def _address_family(address, port):
    """The socket family for `address` (IPv6 addresses listen as IPv6)."""
    infos = socket.getaddrinfo(address, port)
    family, _, _, _, sockaddr = next(iter(infos))
    return family, sockaddr[0]


def _server_ssl_context(certfile, keyfile, protocol, cafile, capath, client_auth_required,
                        tls_min_version=None, tls_max_version=None):
    context = ssl.SSLContext(protocol)
    if cafile is not None or capath is not None:
        context.load_verify_locations(cafile, capath)
    else:
        context.load_default_certs(purpose=ssl.Purpose.CLIENT_AUTH)
    context.verify_mode = ssl.CERT_REQUIRED if client_auth_required else ssl.CERT_NONE
    context.load_cert_chain(certfile=certfile, keyfile=keyfile)
    # The TLS versions the server accepts (ssl.TLSVersion values; None: Python's defaults).
    if tls_min_version is not None:
        context.minimum_version = tls_min_version
    if tls_max_version is not None:
        context.maximum_version = tls_max_version
    return context


def start_wsgi_server(port, addr="0.0.0.0", registry=REGISTRY, certfile=None, keyfile=None,
                      client_cafile=None, client_capath=None, protocol=ssl.PROTOCOL_TLS_SERVER,
                      client_auth_required=False, tls_min_version=None, tls_max_version=None):
    """Serves `registry` over HTTP (HTTPS with certfile and keyfile, between tls_min_version
    and tls_max_version when given) on a daemon thread;
    returns (server, thread): ``server.shutdown()`` stops it, ``server.server_address`` has
    the port (0 picks a free one)."""
    family, host = _address_family(addr, port)

    class Server(ThreadingWSGIServer):
        address_family = family

    app = make_wsgi_app(registry)
    server = make_server(host, port, app, Server, handler_class=_QuietHandler)
    if certfile and keyfile:
        context = _server_ssl_context(certfile, keyfile, protocol, client_cafile, client_capath,
                                      client_auth_required, tls_min_version, tls_max_version)
        server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, name="marty-metrics-wsgi", daemon=True)
    thread.start()
    return server, thread


start_http_server = start_wsgi_server


class MetricsHandler(BaseHTTPRequestHandler):
    """An http.server handler serving ``registry`` (REGISTRY, or the one given to factory())."""

    registry = REGISTRY

    def do_GET(self):
        status, headers, body = _metrics_response(
            self.registry, self.headers.get("Accept"), self.headers.get("Accept-Encoding"),
            parse_qs(urlparse(self.path).query), False)
        self.send_response(int(status.split(" ")[0]))
        for header in headers:
            self.send_header(*header)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args):
        pass

    @classmethod
    def factory(cls, registry):
        """A subclass of this handler serving `registry`."""
        return type(str(cls.__name__), (cls, object), {"registry": registry})


def write_to_textfile(path, registry, escaping=ALLOWUTF8, tmpdir=None):
    """Writes the text exposition to `path` atomically (a temporary file, then rename), as
    node_exporter's textfile collector wants it (the name must end in .prom for it). The
    temporary file is beside `path`, or in `tmpdir` (which must be on the same filesystem)."""
    temporary = "%s.%d.%d" % (os.path.join(tmpdir, os.path.basename(path)) if tmpdir is not None else path,
                              os.getpid(), threading.get_ident())
    try:
        with open(temporary, "wb") as out:
            out.write(generate_latest(registry, escaping))
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.remove(temporary)
        raise


# ---- Pushgateway ------------------------------------------------------------------------------


class _KeepMethodRedirectHandler(HTTPRedirectHandler):
    """Follows redirects for every method, repeating the method, headers and body (urllib
    turns them into a GET or refuses)."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        if code not in (301, 302, 303, 307, 308):
            return None
        request = Request(newurl, data=req.data, headers=dict(req.header_items()),
                          origin_req_host=req.origin_req_host, unverifiable=True)
        request.get_method = req.get_method
        return request


def _opener_call(url, method, timeout, headers, data, handler):
    def send():
        request = Request(url, data=data)
        request.get_method = lambda: method
        for name, value in headers:
            request.add_header(name, value)
        response = build_opener(handler).open(request, timeout=timeout)
        if response.code >= 400:
            raise OSError("error talking to pushgateway: %s %s" % (response.code, response.msg))
    return send


def default_handler(url, method, timeout, headers, data):
    """Sends the request over HTTP or HTTPS (what push_to_gateway uses unless told otherwise);
    returns the callable that does it."""
    return _opener_call(url, method, timeout, headers, data, HTTPHandler)


def passthrough_redirect_handler(url, method, timeout, headers, data):
    """default_handler that follows redirects with the same method, headers and body: only for
    a gateway (and redirects) you trust."""
    return _opener_call(url, method, timeout, headers, data, _KeepMethodRedirectHandler)


def basic_auth_handler(url, method, timeout, headers, data, username=None, password=None):
    """default_handler with HTTP basic authentication (when both username and password are given)."""
    def send():
        if username is not None and password is not None:
            token = base64.b64encode(("%s:%s" % (username, password)).encode())
            headers.append(("Authorization", b"Basic " + token))
        default_handler(url, method, timeout, headers, data)()
    return send


def tls_auth_handler(url, method, timeout, headers, data, certfile, keyfile, cafile=None,
                     protocol=ssl.PROTOCOL_TLS_CLIENT, insecure_skip_verify=False):
    """default_handler over HTTPS with a client certificate (certfile, keyfile); `cafile` to
    verify the gateway (else the system's), `insecure_skip_verify` not to."""
    context = ssl.SSLContext(protocol=protocol)
    if cafile is not None:
        context.load_verify_locations(cafile)
    else:
        context.load_default_certs()
    if insecure_skip_verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    context.load_cert_chain(certfile=certfile, keyfile=keyfile)
    return _opener_call(url, method, timeout, headers, data, HTTPSHandler(context=context))


def push_to_gateway(gateway, job, registry, grouping_key=None, timeout=30, handler=default_handler,
                    compression=None):
    """Replaces every metric of the group (job and grouping key) on the Pushgateway at
    `gateway` with `registry`'s (HTTP PUT); `compression` "gzip" compresses the body."""
    _push("PUT", gateway, job, registry, grouping_key, timeout, handler, compression)


def pushadd_to_gateway(gateway, job, registry, grouping_key=None, timeout=30, handler=default_handler,
                       compression=None):
    """Replaces the group's metrics of the same names with `registry`'s (HTTP POST)."""
    _push("POST", gateway, job, registry, grouping_key, timeout, handler, compression)


def delete_from_gateway(gateway, job, grouping_key=None, timeout=30, handler=default_handler):
    """Deletes the group's metrics from the Pushgateway (HTTP DELETE)."""
    _push("DELETE", gateway, job, None, grouping_key, timeout, handler, None)


def _push(method, gateway, job, registry, grouping_key, timeout, handler, compression):
    if urlparse(gateway).scheme not in ("http", "https"):
        gateway = "http://" + gateway
    gateway = gateway.rstrip("/")
    path = "/metrics/" + _grouping_segment("job", job)
    # Sorted, so that the same grouping key always makes the same URL.
    for key, value in sorted((grouping_key or {}).items()):
        path += "/" + _grouping_segment(str(key), value)
    # The Pushgateway reads the text format 0.0.4 (it predates 1.0.0).
    headers = [("Content-Type", CONTENT_TYPE_PLAIN_0_0_4)]
    data = b""
    if method != "DELETE":
        data = generate_latest(REGISTRY if registry is None else registry)
        data = _compress_push_body(data, compression, headers)
    elif compression is not None:
        raise ValueError("Compression is not supported for DELETE requests.")
    handler(url=gateway + path, method=method, timeout=timeout, headers=headers, data=data)()


def _compress_push_body(data, compression, headers):
    """`data` compressed as `compression` says (None: as is), its Content-Encoding added to
    `headers`. Snappy needs the python-snappy package (imported only when asked for)."""
    if compression is None:
        return data
    encoding = compression.lower()
    if encoding == "gzip":
        headers.append(("Content-Encoding", "gzip"))
        return gzip.compress(data)
    if encoding == "snappy":
        try:
            import snappy
        except ImportError:
            raise RuntimeError("Snappy compression requires the python-snappy package to be installed.")
        headers.append(("Content-Encoding", "snappy"))
        compressor = snappy.StreamCompressor()
        body = compressor.compress(data)
        flush = getattr(compressor, "flush", None)
        return body + flush() if callable(flush) else body
    raise ValueError("Unsupported compression type: %s" % (compression,))


def _grouping_segment(key, value):
    """``key/value`` of a Pushgateway URL; a value that is empty or holds a "/" or a space is
    sent in URL-safe base64 (``key@base64/...``), as the Pushgateway (0.9 on) reads it."""
    value = str(value)
    if not value:
        return key + "@base64/="
    if "/" in value or " " in value:
        return key + "@base64/" + base64.urlsafe_b64encode(value.encode("utf-8")).decode("ascii")
    return key + "/" + quote_plus(value)


def instance_ip_grouping_key():
    """{"instance": this host's IP address} (the source address of a route to localhost)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        if hasattr(socket, "SO_REUSEADDR"):
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.connect(("localhost", 0))
        return {"instance": probe.getsockname()[0]}
