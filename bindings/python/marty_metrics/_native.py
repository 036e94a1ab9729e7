"""Loading libmarty_metrics and declaring every C function used (include/marty_metrics.h).

Where the library comes from, in this order:
  1. ``MARTY_METRICS_LIBRARY`` (a path to libmarty_metrics.so or .so.0): used as is, or an
     ImportError if it cannot be loaded;
  2. the copy bundled into the package at install time (``marty_metrics/_lib/``);
  3. an installed one found by the dynamic loader (``libmarty_metrics.so.0``).

Two views of the same loaded library are kept:
  * ``lib`` (CDLL) releases the GIL around the call. It is used for everything that may
    block or take long: rendering, the endpoint, and every health call (a health probe
    runs Python callbacks on threads of the library, which need the GIL);
  * ``fast`` (PyDLL) keeps the GIL. It is used for the lock-free recording calls and the
    series lookups, where releasing and retaking the GIL would cost more than the call.
"""

import ctypes
import errno
import os

__all__ = ["lib", "fast", "library_path", "check", "error_for", "MartyError", "load_speedups"]

ENV_VARIABLE = "MARTY_METRICS_LIBRARY"
SONAME = "libmarty_metrics.so.0"
BUNDLED = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_lib", SONAME)

# Major 0: any 0.x from 0.1.0 on has the functions below.
_MIN_VERSION_NUMBER = 100
_MAX_VERSION_NUMBER = 9999

_HOW_TO_FIX = (
    "Build the library in the marty-metrics repository with "
    "`swift build -c release --product marty_metrics` (it is then "
    ".build/release/libmarty_metrics.so) and either point MARTY_METRICS_LIBRARY at that file, "
    "or reinstall the package with `MARTY_METRICS_LIBRARY=/path/to/libmarty_metrics.so "
    "pip install ./bindings/python` so that it is bundled, or install it system-wide "
    "(`cmake --install`) so that the loader finds libmarty_metrics.so.0."
)


def _load():
    # A build with the shared Swift runtime would install its crash backtracer in this
    # process; the shipped library links the runtime statically, but be safe.
    os.environ.setdefault("SWIFT_BACKTRACE", "enable=no")
    explicit = os.environ.get(ENV_VARIABLE)
    if explicit:
        try:
            return ctypes.CDLL(explicit), explicit
        except OSError as error:
            raise ImportError(
                "marty_metrics: %s=%r cannot be loaded (%s). %s" % (ENV_VARIABLE, explicit, error, _HOW_TO_FIX)
            ) from None
    tried = []
    if os.path.exists(BUNDLED):
        try:
            return ctypes.CDLL(BUNDLED), BUNDLED
        except OSError as error:
            tried.append("%s: %s" % (BUNDLED, error))
    else:
        tried.append("%s: no bundled copy (the package was installed, or is run from source, without a built library)" % BUNDLED)
    try:
        return ctypes.CDLL(SONAME), SONAME
    except OSError as error:
        tried.append("%s: %s" % (SONAME, error))
    raise ImportError(
        "marty_metrics cannot find libmarty_metrics (tried %s). %s" % ("; ".join(tried), _HOW_TO_FIX)
    )


lib, library_path = _load()
fast = ctypes.PyDLL(library_path, handle=lib._handle)

c_int = ctypes.c_int
c_size_t = ctypes.c_size_t
c_double = ctypes.c_double
c_uint64 = ctypes.c_uint64
c_char_p = ctypes.c_char_p
c_void_p = ctypes.c_void_p
P = ctypes.POINTER


class EndpointOptions(ctypes.Structure):
    """struct marty_endpoint_options."""

    _fields_ = [
        ("struct_size", c_size_t),
        ("service", c_char_p),
        ("bind_address", c_char_p),
        ("metrics_port", c_int),
        ("health_port", c_int),
        ("separate_health_listener", c_int),
        ("registry", c_void_p),
        ("idle_timeout_seconds", c_double),
        ("max_connections", c_int),
        # Since 0.2. Filled by marty_endpoint_options_init_sized with this struct's size, so
        # the library writes and reads only the fields declared here.
        ("request_head_timeout_seconds", c_double),
        ("shutdown_grace_seconds", c_double),
        # Since 0.3.
        ("web_config_file", c_char_p),
        ("health_uses_web_config", c_int),
    ]


class NativeHistogramOptions(ctypes.Structure):
    """struct marty_native_histogram_options."""

    _fields_ = [
        ("struct_size", c_size_t),
        ("bucket_factor", c_double),
        ("zero_threshold", c_double),
        ("max_bucket_count", c_int),
    ]


# int (*marty_health_callback)(void *user_data, char *message, size_t message_capacity)
HEALTH_CALLBACK = ctypes.CFUNCTYPE(c_int, c_void_p, c_void_p, c_size_t)
# void (*marty_warning_callback)(void *user_data, const char *message)
WARNING_CALLBACK = ctypes.CFUNCTYPE(None, c_void_p, ctypes.c_char_p)

_FAMILY_NEW = [c_void_p, c_char_p, c_char_p, P(c_char_p), c_size_t, P(c_void_p)]
_SERIES_GET = [c_void_p, P(c_char_p), c_size_t, P(c_void_p)]

# name: (view, restype, argtypes). "lib" releases the GIL, "fast" keeps it (see above).
_SIGNATURES = {
    "marty_version": ("lib", c_char_p, []),
    "marty_version_number": ("lib", c_int, []),
    "marty_errmsg": ("fast", c_char_p, []),
    "marty_status_string": ("fast", c_char_p, [c_int]),
    "marty_service_name": ("lib", c_char_p, [c_size_t]),
    "marty_service_ports": ("lib", c_int, [c_char_p, P(c_int), P(c_int), P(c_int)]),
    "marty_free": ("lib", None, [c_void_p]),
    "marty_registry_default": ("lib", c_void_p, []),
    "marty_registry_new": ("lib", c_int, [P(c_void_p)]),
    "marty_registry_free": ("lib", c_int, [c_void_p]),
    "marty_registry_register": ("lib", c_int, [c_void_p, c_void_p]),
    "marty_registry_unregister": ("lib", c_int, [c_void_p, c_void_p]),
    "marty_registry_render": ("lib", c_int, [c_void_p, c_int, P(c_void_p), P(c_size_t)]),
    "marty_family_set_max_series": ("lib", c_int, [c_void_p, c_size_t]),
    "marty_family_max_series": ("fast", c_int, [c_void_p, P(c_size_t)]),
    "marty_family_overflowed_lookups": ("fast", c_int, [c_void_p, P(ctypes.c_uint64)]),
    "marty_set_warning_callback": ("lib", c_int, [c_void_p, c_void_p]),
    "marty_registry_render_escaped": ("lib", c_int, [c_void_p, c_int, c_int, P(c_void_p), P(c_size_t)]),
    "marty_registry_set_created_timestamps": ("lib", c_int, [c_void_p, c_int]),
    "marty_counter_family_new": ("lib", c_int, _FAMILY_NEW),
    "marty_gauge_family_new": ("lib", c_int, _FAMILY_NEW),
    "marty_histogram_family_new": (
        "lib", c_int, [c_void_p, c_char_p, c_char_p, P(c_char_p), c_size_t, P(c_double), c_size_t, P(c_void_p)]),
    "marty_info_family_new": ("lib", c_int, _FAMILY_NEW),
    "marty_native_histogram_options_init": ("lib", None, [P(NativeHistogramOptions)]),
    "marty_native_histogram_family_new": (
        "lib", c_int, [c_void_p, c_char_p, c_char_p, P(c_char_p), c_size_t, P(c_double), c_size_t,
                       P(NativeHistogramOptions), P(c_void_p)]),
    "marty_info_set": ("fast", c_int, [c_void_p, P(c_char_p), c_size_t]),
    "marty_family_kind": ("fast", c_int, [c_void_p, P(c_int)]),
    "marty_family_remove": ("fast", c_int, [c_void_p, P(c_char_p), c_size_t]),
    "marty_family_clear": ("fast", c_int, [c_void_p]),
    "marty_family_release": ("fast", c_int, [c_void_p]),
    "marty_counter_get": ("fast", c_int, _SERIES_GET),
    "marty_gauge_get": ("fast", c_int, _SERIES_GET),
    "marty_histogram_get": ("fast", c_int, _SERIES_GET),
    "marty_counter_inc": ("fast", c_int, [c_void_p]),
    "marty_counter_add": ("fast", c_int, [c_void_p, c_double]),
    "marty_counter_value": ("fast", c_int, [c_void_p, P(c_double)]),
    "marty_gauge_set": ("fast", c_int, [c_void_p, c_double]),
    "marty_gauge_inc": ("fast", c_int, [c_void_p]),
    "marty_gauge_dec": ("fast", c_int, [c_void_p]),
    "marty_gauge_add": ("fast", c_int, [c_void_p, c_double]),
    "marty_gauge_set_to_current_time": ("fast", c_int, [c_void_p]),
    "marty_gauge_value": ("fast", c_int, [c_void_p, P(c_double)]),
    "marty_histogram_observe": ("fast", c_int, [c_void_p, c_double]),
    "marty_counter_add_exemplar": ("fast", c_int, [c_void_p, c_double, P(c_char_p), P(c_char_p), c_size_t]),
    "marty_histogram_observe_exemplar": ("fast", c_int, [c_void_p, c_double, P(c_char_p), P(c_char_p), c_size_t]),
    "marty_histogram_read": ("fast", c_int, [c_void_p, P(c_uint64), c_size_t, P(c_uint64), P(c_double)]),
    "marty_histogram_bucket_count": ("fast", c_int, [c_void_p, P(c_size_t)]),
    "marty_service_metrics_register": ("lib", c_int, [c_void_p, c_char_p, c_char_p, P(c_void_p)]),
    "marty_service_record_call": ("fast", c_int, [c_void_p, c_char_p, c_char_p, c_double, c_char_p]),
    "marty_service_record_traced_call": ("fast", c_int, [c_void_p, c_char_p, c_char_p, c_double, c_char_p, c_char_p]),
    "marty_service_record_successful_operation": ("fast", c_int, [c_void_p, c_char_p]),
    "marty_service_call_started": ("fast", c_int, [c_void_p]),
    "marty_service_call_finished": ("fast", c_int, [c_void_p]),
    "marty_service_set_database_connections": ("fast", c_int, [c_void_p, c_char_p, c_double]),
    "marty_health_set": ("lib", c_int, [c_char_p, c_int, c_char_p, c_int, c_double]),
    "marty_health_register_callback": ("lib", c_int, [c_char_p, HEALTH_CALLBACK, c_void_p, c_int, c_double]),
    "marty_health_remove": ("lib", c_int, [c_char_p]),
    "marty_health_status": ("lib", c_int, [P(c_int), P(c_int), P(c_int)]),
    "marty_endpoint_options_init_sized": ("lib", c_int, [P(EndpointOptions), c_size_t]),
    "marty_endpoint_start": ("lib", c_int, [P(EndpointOptions), P(c_void_p)]),
    "marty_endpoint_metrics_port": ("lib", c_int, [c_void_p, P(c_int)]),
    "marty_endpoint_health_port": ("lib", c_int, [c_void_p, P(c_int)]),
    "marty_endpoint_stop": ("lib", c_int, [c_void_p]),
    "marty_endpoint_free": ("lib", c_int, [c_void_p]),
}


# void (*marty_collect_callback)(void *user_data, marty_collection *collection)
COLLECT_CALLBACK = ctypes.CFUNCTYPE(None, c_void_p, c_void_p)

# Functions of later library versions (0.3: collectors and summaries). A library without them
# still loads; the features that need them say so when used (see has()).
_OPTIONAL_SIGNATURES = {
    # Pre-fork workers sharing the default registry (marty_metrics.multiprocess).
    "marty_gauge_family_new_multiprocess": (
        "lib", c_int, [c_void_p, c_char_p, c_char_p, P(c_char_p), c_size_t, c_int, P(c_void_p)]),
    "marty_multiprocess_enable": ("lib", c_int, [c_size_t]),
    "marty_multiprocess_enabled": ("fast", c_int, []),
    "marty_multiprocess_usage": ("fast", c_int, [P(c_size_t), P(c_size_t)]),
    "marty_multiprocess_mark_process_dead": ("lib", c_int, [c_int]),
    "marty_summary_family_new": ("lib", c_int, _FAMILY_NEW),
    "marty_registry_add_collector": ("lib", c_int, [c_void_p, COLLECT_CALLBACK, c_void_p, P(c_void_p)]),
    "marty_registry_remove_collector": ("lib", c_int, [c_void_p, c_void_p]),
    # Called from inside a collect callback, which runs with the GIL held: keep it held.
    "marty_collection_add_family": ("fast", c_int, [c_void_p, c_char_p, c_char_p, c_int, c_char_p]),
    "marty_collection_add_sample": (
        "fast", c_int, [c_void_p, c_char_p, P(c_char_p), P(c_char_p), c_size_t, c_double, c_double]),
    "marty_collection_set_exemplar": (
        "fast", c_int, [c_void_p, P(c_char_p), P(c_char_p), c_size_t, c_double, c_double]),
    # prometheus_client's rendering style, created times from the caller, units (0.3, later).
    "marty_registry_set_style": ("lib", c_int, [c_void_p, c_int]),
    "marty_family_set_created_timestamp": ("fast", c_int, [c_void_p, P(c_char_p), c_size_t, c_double]),
    "marty_family_set_unit": ("lib", c_int, [c_void_p, c_char_p]),
    "marty_counter_add_exemplar_at": (
        "fast", c_int, [c_void_p, c_double, P(c_char_p), P(c_char_p), c_size_t, c_double]),
    "marty_histogram_observe_exemplar_at": (
        "fast", c_int, [c_void_p, c_double, P(c_char_p), P(c_char_p), c_size_t, c_double]),
    "marty_set_process_max_series": ("lib", c_int, [c_size_t]),
    "marty_process_series": ("lib", c_int, [P(c_size_t), P(c_size_t)]),
}

# enum marty_style.
STYLE_NATIVE = 0
STYLE_PROMETHEUS_CLIENT = 1


class _Functions:
    """The declared C functions, as attributes named without the ``marty_`` prefix."""


C = _Functions()
for _name, (_view, _restype, _argtypes) in _SIGNATURES.items():
    _function = getattr(lib if _view == "lib" else fast, _name)
    _function.restype = _restype
    _function.argtypes = _argtypes
    setattr(C, _name[len("marty_"):], _function)
for _name, (_view, _restype, _argtypes) in _OPTIONAL_SIGNATURES.items():
    try:
        _function = getattr(lib if _view == "lib" else fast, _name)
    except AttributeError:
        continue
    _function.restype = _restype
    _function.argtypes = _argtypes
    setattr(C, _name[len("marty_"):], _function)
del _name, _view, _restype, _argtypes, _function


def has(function):
    """Whether the loaded library has `function` (named without ``marty_``)."""
    return hasattr(C, function)


def require(function):
    """Raises MartyError naming the library's version when it lacks `function`."""
    if not has(function):
        raise MartyError("marty_%s needs libmarty_metrics 0.3 or later; %s is %s"
                         % (function, library_path, C.version().decode()))

VERSION = C.version().decode()
VERSION_NUMBER = C.version_number()
if not _MIN_VERSION_NUMBER <= VERSION_NUMBER <= _MAX_VERSION_NUMBER:
    raise ImportError(
        "marty_metrics: %s is version %s; this package needs 0.x from 0.1.0 on. %s"
        % (library_path, VERSION, _HOW_TO_FIX))

# ---- Status codes and errors ----------------------------------------------------------------

# The library names its status codes (marty_status_string gives "MARTY_ERR_X: ..." for each
# code of the header's enum), so that their numbers are defined once, in the header.
def _read_status_codes():
    codes = {}
    for code in range(64):
        name = C.status_string(code).decode("ascii").split(":", 1)[0]
        if name.startswith("MARTY_"):
            codes[name[len("MARTY_"):]] = code
    return codes


STATUS_CODES = _read_status_codes()
OK = STATUS_CODES["OK"]
ERR_NULL_ARGUMENT = STATUS_CODES["ERR_NULL_ARGUMENT"]
ERR_INVALID_NAME = STATUS_CODES["ERR_INVALID_NAME"]
ERR_INVALID_LABEL = STATUS_CODES["ERR_INVALID_LABEL"]
ERR_LABEL_COUNT = STATUS_CODES["ERR_LABEL_COUNT"]
ERR_INVALID_UTF8 = STATUS_CODES["ERR_INVALID_UTF8"]
ERR_INVALID_VALUE = STATUS_CODES["ERR_INVALID_VALUE"]
ERR_CONFLICT = STATUS_CODES["ERR_CONFLICT"]
ERR_NOT_FOUND = STATUS_CODES["ERR_NOT_FOUND"]
ERR_INVALID_BUCKETS = STATUS_CODES["ERR_INVALID_BUCKETS"]
ERR_WRONG_KIND = STATUS_CODES["ERR_WRONG_KIND"]
ERR_INVALID_ARGUMENT = STATUS_CODES["ERR_INVALID_ARGUMENT"]
ERR_ADDRESS_IN_USE = STATUS_CODES["ERR_ADDRESS_IN_USE"]
ERR_SYSTEM = STATUS_CODES["ERR_SYSTEM"]
ERR_FULL = STATUS_CODES.get("ERR_FULL", -1)


def service_ports():
    """{service: (gRPC base port, health port, metrics port)}: the seed's table, as the library
    (the one copy of it in the product) has it."""
    table = {}
    index = 0
    while True:
        name = C.service_name(index)
        if name is None:
            return table
        grpc, health, metrics = c_int(), c_int(), c_int()
        check(C.service_ports(name, ctypes.byref(grpc), ctypes.byref(health), ctypes.byref(metrics)))
        table[name.decode("utf-8")] = (grpc.value, health.value, metrics.value)
        index += 1


FORMAT_TEXT = 0
FORMAT_OPENMETRICS = 1
FORMAT_PROTOBUF = 2
# enum marty_escaping, by the names prometheus_client gives the schemes (openmetrics.exposition).
ESCAPINGS = {"underscores": 0, "allow-utf-8": 1, "dots": 2, "values": 3}
PORT_DEFAULT = -1


class MartyError(Exception):
    """Base of every error raised for a failed library call; ``status`` is the MARTY_ERR_* code.

    The concrete classes also derive from the built-in exception a Python caller expects
    (ValueError, LookupError, TypeError, OSError), so ``except ValueError`` works."""

    status = None


class MartyValueError(MartyError, ValueError):
    """A bad name, label, label count, value, bucket list, or a name conflict."""


class MartyNotFoundError(MartyError, LookupError):
    """No such series, registration or health check."""


class MartyTypeError(MartyError, TypeError):
    """A call on a family of another kind."""


class MartyOSError(MartyError, OSError):
    """The operating system refused (errno EADDRINUSE for a port in use)."""


_VALUE_STATUSES = {
    ERR_NULL_ARGUMENT, ERR_INVALID_NAME, ERR_INVALID_LABEL, ERR_LABEL_COUNT, ERR_INVALID_UTF8,
    ERR_INVALID_VALUE, ERR_CONFLICT, ERR_INVALID_BUCKETS, ERR_INVALID_ARGUMENT,
}

_errmsg = C.errmsg


def error_for(status, message=None):
    """The exception for a failed call; reads marty_errmsg() of this thread unless given."""
    if message is None:
        raw = _errmsg()
        message = raw.decode("utf-8", "replace") if raw else ""
    if not message:
        message = C.status_string(status).decode("utf-8", "replace")
    if status in _VALUE_STATUSES:
        error = MartyValueError(message)
    elif status == ERR_NOT_FOUND:
        error = MartyNotFoundError(message)
    elif status == ERR_WRONG_KIND:
        error = MartyTypeError(message)
    elif status == ERR_ADDRESS_IN_USE:
        error = MartyOSError(errno.EADDRINUSE, message)
    elif status == ERR_SYSTEM:
        error = MartyOSError(errno.EIO, message)
    elif status == ERR_FULL:
        error = MartyOSError(errno.ENOSPC, message)
    else:
        error = MartyError(message)
    error.status = status
    return error


def check(status):
    """Raises the error for `status` unless it is MARTY_OK."""
    if status:
        raise error_for(status)


def raise_last(status):
    raise error_for(status)


def encode(text, what):
    """A str as NUL-terminated UTF-8 for the library (TypeError for non-str, ValueError for NUL).

    Lone surrogates are passed through so that the library itself reports invalid UTF-8."""
    if not isinstance(text, str):
        raise TypeError("%s must be a str, not %s" % (what, type(text).__name__))
    if "\x00" in text:
        raise ValueError("%s must not contain a NUL character: %r" % (what, text))
    return text.encode("utf-8", "surrogatepass")


def string_array(values, what):
    """A (char *[]) of the encoded values, or None for none, plus the count."""
    if not values:
        return None, 0
    encoded = [encode(value, what) for value in values]
    return (c_char_p * len(encoded))(*encoded), len(encoded)


def exemplar_arrays(exemplar):
    """An exemplar dict as (names, values, count) for the library, which checks the rules
    (ValueError from it, as prometheus_client raises)."""
    if not isinstance(exemplar, dict):
        raise TypeError("exemplar must be a dict of label names to values, not %s" % type(exemplar).__name__)
    names, count = string_array(list(exemplar.keys()), "exemplar label name")
    values, _ = string_array([str(value) for value in exemplar.values()], "exemplar label value")
    return names, values, count


# ---- The compiled recording path -------------------------------------------------------------

PURE_PYTHON_VARIABLE = "MARTY_METRICS_PURE_PYTHON"
REQUIRE_SPEEDUPS_VARIABLE = "MARTY_METRICS_REQUIRE_SPEEDUPS"

# What _speedups.c calls, resolved here by ctypes in the library loaded above.
_SPEEDUPS_FUNCTIONS = (
    "marty_counter_inc", "marty_counter_add", "marty_gauge_inc", "marty_gauge_dec",
    "marty_gauge_set_to_current_time", "marty_gauge_set", "marty_gauge_add", "marty_histogram_observe",
)


def _enabled(variable):
    return os.environ.get(variable, "").strip().lower() not in ("", "0", "false", "no")


def load_speedups(counter_inc, histogram_observe):
    """The _speedups extension bound to the loaded library, or None for the ctypes path:
    when MARTY_METRICS_PURE_PYTHON is set (1, true, yes), or when the extension was not built
    (no compiler at install time). MARTY_METRICS_REQUIRE_SPEEDUPS=1 turns a missing extension
    into an ImportError (for CI and the tests). `counter_inc` and `histogram_observe` are the
    ctypes methods the extension hands a call with an exemplar to."""
    if _enabled(PURE_PYTHON_VARIABLE):
        if _enabled(REQUIRE_SPEEDUPS_VARIABLE):
            raise ImportError("marty_metrics: both %s and %s are set" % (PURE_PYTHON_VARIABLE, REQUIRE_SPEEDUPS_VARIABLE))
        return None
    try:
        from . import _speedups
    except ImportError as error:
        if _enabled(REQUIRE_SPEEDUPS_VARIABLE):
            raise ImportError("marty_metrics: %s is set but the compiled extension cannot be imported (%s); "
                              "reinstall the package where a C compiler and the Python headers are "
                              "available" % (REQUIRE_SPEEDUPS_VARIABLE, error)) from error
        return None
    # The addresses of the very functions ctypes resolved: the extension calls into this copy
    # of the library, never a second one.
    addresses = {name: ctypes.cast(getattr(fast, name), c_void_p).value for name in _SPEEDUPS_FUNCTIONS}
    _speedups.bind(addresses, error_for, counter_inc, histogram_observe)
    return _speedups


# What the gRPC call functions of _speedups.c call (grpc.py), resolved as above.
_GRPC_SPEEDUPS_FUNCTIONS = (
    "marty_service_call_started", "marty_service_call_finished", "marty_service_record_traced_call",
)


def bind_grpc_speedups(speedups, status_names, ok):
    """`speedups` (the extension load_speedups gave, or None) with its gRPC call functions bound
    to the loaded library, or None for the ctypes path. `status_names` maps each
    grpc.StatusCode to its name as bytes, `ok` is grpc.StatusCode.OK. An extension built
    before those functions existed (no bind_grpc) also means the ctypes path."""
    if speedups is None or not hasattr(speedups, "bind_grpc"):
        return None
    addresses = {name: ctypes.cast(getattr(fast, name), c_void_p).value for name in _GRPC_SPEEDUPS_FUNCTIONS}
    speedups.bind_grpc(addresses, status_names, ok)
    return speedups
