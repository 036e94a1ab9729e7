"""The seed's calls: start_metrics_server(), get_metrics_server(), the Marty catalog
(ServiceMetrics) and the health checks (HealthChecker), over the library's endpoint.

One metrics server per process: the endpoint answers /metrics, /health, /health/live and
/health/ready on the metrics port and the health paths on the health port, on threads of
the library, so a scrape never takes the GIL. The health checks are process-wide.
"""

import atexit
import ctypes
import os

from . import _native
from ._forksafe import new_lock, new_module_lock
from ._native import C, EndpointOptions, HEALTH_CALLBACK, check, encode, raise_last
from .metrics import REGISTRY, _registry_handle

__all__ = ["ServiceMetrics", "HealthChecker", "MetricsServer", "start_metrics_server", "get_metrics_server",
           "PROBE_BOTH", "PROBE_LIVENESS", "PROBE_READINESS"]

_byref = ctypes.byref
_c_void_p = ctypes.c_void_p

_record_call = C.service_record_call
_record_successful_operation = C.service_record_successful_operation
_set_database_connections = C.service_set_database_connections
_call_started = C.service_call_started
_call_finished = C.service_call_finished


# ---- The Marty catalog -------------------------------------------------------------------------

# Registries that hold a catalog stay referenced for the life of the process, as the
# library keeps each catalog (and its families) for the life of the process.
_catalogs = {}
_catalogs_lock = new_module_lock(globals(), "_catalogs_lock")


class ServiceMetrics:
    """The Marty catalog of one service (``marty_grpc_requests_total`` and the rest of the
    table in the README, plus the process_* metrics), registered once per registry.

    ``ServiceMetrics("csca-service")`` registers it in the default registry;
    ``start_metrics_server`` does so itself and exposes it as ``server.metrics``."""

    def __new__(cls, service, version=None, registry=None):
        registry = REGISTRY if registry is None else registry
        handle = _registry_handle(registry)  # a TypeError for anything but a CollectorRegistry
        key = (handle.value, service)
        with _catalogs_lock:
            existing = _catalogs.get(key)
            if existing is not None:
                return existing
            out = _c_void_p()
            check(C.service_metrics_register(
                handle, encode(service, "service"),
                None if version is None else encode(version, "version"), _byref(out)))
            metrics = super().__new__(cls)
            metrics._h = out
            metrics.service = service
            metrics.version = version
            metrics.registry = registry
            metrics._methods = {}
            _catalogs[key] = metrics
            return metrics

    def _encoded(self, text, what):
        try:
            return self._methods[text]
        except KeyError:
            encoded = encode(text, what)
            if len(self._methods) < 10000:
                self._methods[text] = encoded
            return encoded
        except TypeError:
            raise TypeError("%s must be a str, not %s" % (what, type(text).__name__)) from None

    def record_call(self, method, status, duration, error_type=None):
        """Records one finished gRPC call: marty_grpc_requests_total{method, status}, the
        duration in seconds (negative: not recorded) and, when `error_type` is given,
        marty_grpc_errors_total{method, error_type}. `status` is a status code name ("OK",
        "NOT_FOUND", ...) or a grpc.StatusCode."""
        name = getattr(status, "name", status)
        status_b = self._encoded(name, "status")
        error_b = None if error_type is None else self._encoded(error_type, "error_type")
        try:
            result = _record_call(self._h, self._encoded(method, "method"), status_b, duration, error_b)
        except ctypes.ArgumentError:
            raise TypeError("duration must be a real number, not %s" % type(duration).__name__) from None
        if result:
            raise_last(result)

    def record_successful_operation(self, operation):
        """Sets marty_last_successful_operation_timestamp{operation} to now."""
        result = _record_successful_operation(self._h, self._encoded(operation, "operation"))
        if result:
            raise_last(result)

    def set_database_connections(self, count, database="default"):
        """Sets marty_database_connections_active{database}."""
        try:
            result = _set_database_connections(self._h, self._encoded(database, "database"), count)
        except ctypes.ArgumentError:
            raise TypeError("count must be a real number, not %s" % type(count).__name__) from None
        if result:
            raise_last(result)

    def call_started(self):
        """marty_grpc_active_connections + 1."""
        _call_started(self._h)

    def call_finished(self):
        """marty_grpc_active_connections - 1."""
        _call_finished(self._h)

    def __repr__(self):
        return "<ServiceMetrics %r>" % self.service


# ---- Health checks ---------------------------------------------------------------------------

PROBE_BOTH = 0
PROBE_LIVENESS = 1
PROBE_READINESS = 2

_PROBES = {
    "both": PROBE_BOTH, "liveness": PROBE_LIVENESS, "live": PROBE_LIVENESS,
    "readiness": PROBE_READINESS, "ready": PROBE_READINESS,
    PROBE_BOTH: PROBE_BOTH, PROBE_LIVENESS: PROBE_LIVENESS, PROBE_READINESS: PROBE_READINESS,
}

# Every callback thunk ever handed to the library. A run that timed out may still be going
# after its check was removed or replaced, so a thunk is never freed (a few hundred bytes
# per add_callback).
_thunks = []
_callback_names = set()
_health_lock = new_module_lock(globals(), "_health_lock")


def _probe(probe):
    try:
        return _PROBES[probe]
    except (KeyError, TypeError):
        raise ValueError("probe must be 'both', 'liveness' or 'readiness', not %r" % (probe,)) from None


def _write_message(buffer, capacity, message):
    if not buffer or capacity < 1:
        return
    data = message.encode("utf-8", "replace")
    if len(data) > capacity - 1:
        # Cut at a character boundary.
        data = data[:capacity - 1].decode("utf-8", "ignore").encode("utf-8")
    ctypes.memmove(buffer, data + b"\x00", len(data) + 1)


def _make_thunk(function):
    def thunk(user_data, buffer, capacity):
        try:
            result = function()
            if isinstance(result, tuple):
                healthy, message = result
            else:
                healthy, message = result, None
            healthy = bool(healthy)
        except Exception as error:  # the check fails with the exception as its message
            healthy, message = False, "%s: %s" % (type(error).__name__, error)
        if message:
            try:
                _write_message(buffer, capacity, str(message))
            except Exception:
                pass
        return 1 if healthy else 0
    return HEALTH_CALLBACK(thunk)


class HealthChecker:
    """The process's health checks, as /health, /health/live and /health/ready report them.

    A check counts for ``probe="both"`` (default), ``"liveness"`` or ``"readiness"``."""

    def add_check(self, name, ok, message=None, probe="both", ttl=None):
        """Sets check `name` to healthy (`ok` true) or not, with an optional message. With a
        `ttl` in seconds, the check fails once that long passes without another add_check."""
        ttl = 0.0 if ttl is None else float(ttl)
        if ttl < 0 or ttl != ttl:
            raise ValueError("ttl must be a positive number of seconds or None, not %r" % (ttl,))
        check(C.health_set(encode(name, "check name"), 1 if ok else 0,
                           None if message is None else encode(str(message), "message"), _probe(probe), ttl))
        with _health_lock:
            _callback_names.discard(name)

    def add_callback(self, name, fn, timeout=1.0, probe="both"):
        """Registers a check answered at probe time by calling `fn()` on a thread of the
        library: it returns a truthy value for healthy, or ``(healthy, message)``; an
        exception makes the check fail with it as the message; no answer within `timeout`
        seconds fails the check ("timed out"). `fn` must be synchronous and thread-safe."""
        if not callable(fn):
            raise TypeError("fn must be callable, not %s" % type(fn).__name__)
        thunk = _make_thunk(fn)
        with _health_lock:
            _thunks.append(thunk)
            check(C.health_register_callback(encode(name, "check name"), thunk, None, _probe(probe), float(timeout)))
            _callback_names.add(name)

    def remove_check(self, name, missing_ok=False):
        """Removes check `name` (LookupError if there is none, unless `missing_ok`)."""
        status = C.health_remove(encode(name, "check name"))
        with _health_lock:
            _callback_names.discard(name)
        if status and not (missing_ok and status == _native.ERR_NOT_FOUND):
            raise_last(status)

    def status(self):
        """Evaluates every check now: ``{"healthy": bool, "live": bool, "ready": bool}``."""
        healthy, live, ready = ctypes.c_int(), ctypes.c_int(), ctypes.c_int()
        check(C.health_status(_byref(healthy), _byref(live), _byref(ready)))
        return {"healthy": bool(healthy.value), "live": bool(live.value), "ready": bool(ready.value)}

    def __repr__(self):
        return "<HealthChecker>"


# ---- The server ------------------------------------------------------------------------------

_server = None
_server_lock = new_module_lock(globals(), "_server_lock")


class MetricsServer:
    """A running endpoint (made by start_metrics_server). ``metrics`` is the service's Marty
    catalog, ``health`` the health checks; ``metrics_port`` and ``health_port`` are the
    bound ports (0 when MARTY_METRICS_ENABLED=false; ``health_port`` is 0 as well when the
    metrics listener serves the health paths alone)."""

    def __init__(self, handle, service, version, registry, metrics, metrics_port, health_port, bind_address):
        self._h = handle
        self._pid = os.getpid()
        new_lock(self, "_lock")
        self._stopped = False
        self.service = service
        self.version = version
        self.registry = registry
        self.metrics = metrics
        self.health = HealthChecker()
        self.metrics_port = metrics_port
        self.health_port = health_port
        self.bind_address = bind_address

    @property
    def enabled(self):
        """False when MARTY_METRICS_ENABLED=false turned the endpoint off (ports are 0)."""
        return self.metrics_port != 0

    @property
    def running(self):
        """True until stop(), in the process that started it (False in a fork child). A
        server started with MARTY_METRICS_ENABLED=false runs, with nothing listening."""
        return not self._stopped and self._pid == os.getpid()

    def stop(self):
        """Stops gracefully (readiness fails first, in-flight responses finish, the ports are
        free). Idempotent; in a child made by fork() it returns at once."""
        global _server
        with self._lock:
            if not self._stopped:
                self._stopped = True
                check(C.endpoint_stop(self._h))
                if self._pid == os.getpid():
                    C.endpoint_free(self._h)
        with _server_lock:
            if _server is self:
                _server = None

    close = stop

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        self.stop()
        return False

    def __repr__(self):
        state = "running" if self.running else "stopped"
        return "<MetricsServer %r %s metrics_port=%d health_port=%d>" % (
            self.service, state, self.metrics_port, self.health_port)


def _port(value, what):
    if value is None:
        return _native.PORT_DEFAULT
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError("%s must be an int or None, not %s" % (what, type(value).__name__))
    if not 0 <= value <= 65535:
        raise ValueError("%s must be between 0 and 65535 (0: ephemeral), not %d" % (what, value))
    return value


def start_metrics_server(service, metrics_port=None, health_port=None, bind_address=None, version=None,
                         registry=None, web_config_file=None, health_uses_web_config=None):
    """Registers the Marty catalog for `service` and starts the embedded endpoint.

    Ports: None takes MARTY_METRICS_PORT / MARTY_HEALTH_PORT, else the Marty port table for
    the service; 0 asks for an ephemeral port. `bind_address` None takes MARTY_METRICS_BIND,
    else 0.0.0.0. `registry` None serves the default registry.

    `web_config_file` names a web-config file in the format of Prometheus' exporters
    (exporter-toolkit): TLS (with client certificates), basic auth users with bcrypt hashes,
    extra headers; None takes MARTY_METRICS_WEB_CONFIG, "" uses none. It is read at start (an
    unusable one raises ValueError naming the problem) and again when it or a certificate it
    names changes. Basic auth guards /metrics; the health paths answer without it. The health
    port stays plain HTTP unless `health_uses_web_config` is True (None:
    MARTY_HEALTH_USE_WEB_CONFIG, else False).

    Returns the MetricsServer, also returned by get_metrics_server() until it stops. Only one
    runs per process: a second call while one runs raises RuntimeError naming it. A port
    in use raises OSError (errno EADDRINUSE) naming the port and the Marty service the table
    gives it to. With MARTY_METRICS_ENABLED=false nothing listens, the ports read 0, and
    recording works."""
    global _server
    metrics_port = _port(metrics_port, "metrics_port")
    health_port = _port(health_port, "health_port")
    registry = REGISTRY if registry is None else registry
    with _server_lock:
        running = _server
        if running is not None and running._pid == os.getpid() and not running._stopped:
            raise RuntimeError(
                "a marty_metrics server is already running in this process: service %r on metrics port %d, "
                "health port %d; call get_metrics_server().stop() before starting another"
                % (running.service, running.metrics_port, running.health_port))
        metrics = ServiceMetrics(service, version, registry)
        options = EndpointOptions()
        check(C.endpoint_options_init_sized(_byref(options), ctypes.sizeof(options)))
        options.service = encode(service, "service")
        if bind_address is not None:
            options.bind_address = encode(bind_address, "bind_address")
        options.metrics_port = metrics_port
        options.health_port = health_port
        options.registry = _registry_handle(registry)
        if web_config_file is not None:
            options.web_config_file = encode(os.fspath(web_config_file), "web_config_file")
        if health_uses_web_config is not None:
            options.health_uses_web_config = 1 if health_uses_web_config else -1
        handle = _c_void_p()
        check(C.endpoint_start(_byref(options), _byref(handle)))
        bound_metrics, bound_health = ctypes.c_int(), ctypes.c_int()
        check(C.endpoint_metrics_port(handle, _byref(bound_metrics)))
        check(C.endpoint_health_port(handle, _byref(bound_health)))
        server = MetricsServer(handle, service, version, registry, metrics, bound_metrics.value,
                               bound_health.value, bind_address)
        _server = server
        return server


def get_metrics_server():
    """The metrics server started in this process (or, in a child made by fork(), the one
    inherited from the parent: recording through it works, it does not serve here), or None
    once it is stopped."""
    return _server


def _shutdown():
    # Stop serving before the interpreter goes away, and keep probes from calling into it.
    server = _server
    if server is not None and server._pid == os.getpid():
        try:
            server.stop()
        except Exception:
            pass
    with _health_lock:
        names = list(_callback_names)
    for name in names:
        C.health_remove(encode(name, "check name"))


atexit.register(_shutdown)
