"""Counter, Gauge, Histogram, Info and CollectorRegistry, shaped like prometheus_client's.

Every metric is a family in the library; every child (one set of label values) is a
borrowed series handle kept as a ``ctypes.c_void_p``. ``labels(...)`` looks the child up in
a Python dict first, so a repeated ``labels(a, b)`` costs one dict lookup and no native
call; recording is one ctypes call into a lock-free, allocation-free function.
"""

import ctypes
import functools
import inspect
import os
import time
import weakref

from . import _native
from ._native import C, check, encode, exemplar_arrays, raise_last, string_array

__all__ = [
    "CollectorRegistry", "REGISTRY", "Counter", "Gauge", "Histogram", "Info",
    "generate_latest", "generate_openmetrics", "CONTENT_TYPE_LATEST", "CONTENT_TYPE_OPENMETRICS",
]

CONTENT_TYPE_LATEST = "text/plain; version=0.0.4; charset=utf-8"
CONTENT_TYPE_OPENMETRICS = "application/openmetrics-text; version=1.0.0; charset=utf-8"
# The escaping schemes, named as in prometheus_client.openmetrics.exposition.
ALLOWUTF8 = "allow-utf-8"
UNDERSCORES = "underscores"
DOTS = "dots"
VALUES = "values"

INF = float("inf")

_byref = ctypes.byref
_c_void_p = ctypes.c_void_p
_c_double = ctypes.c_double
_ArgumentError = ctypes.ArgumentError

# The hot calls, bound once (module globals are cached by the interpreter).
_counter_inc = C.counter_inc
_counter_add = C.counter_add
_gauge_inc = C.gauge_inc
_gauge_dec = C.gauge_dec
_gauge_add = C.gauge_add
_gauge_set = C.gauge_set
_gauge_set_now = C.gauge_set_to_current_time
_histogram_observe = C.histogram_observe
_counter_add_exemplar = C.counter_add_exemplar
_histogram_observe_exemplar = C.histogram_observe_exemplar


def _number_error(what, amount):
    return TypeError("%s must be a real number, not %s" % (what, type(amount).__name__))


# ---- Registries ------------------------------------------------------------------------------


# prometheus_client's switch of the _created series: the environment variable at import, and
# disable_created_metrics() / enable_created_metrics() for every registry, made or to be made.
_created_metrics = os.environ.get("PROMETHEUS_DISABLE_CREATED_SERIES", "False").lower() not in ("true", "1", "t")
_registries = weakref.WeakSet()


def disable_created_metrics():
    """Stops showing the _created samples (OpenMetrics) and created timestamps (protobuf)."""
    global _created_metrics
    _created_metrics = False
    for registry in list(_registries):
        registry.set_created_timestamps(False)


def enable_created_metrics():
    """Shows the _created samples and created timestamps again (the default)."""
    global _created_metrics
    _created_metrics = True
    for registry in list(_registries):
        registry.set_created_timestamps(True)


class CollectorRegistry:
    """A registry of metric families (``marty_registry``).

    ``CollectorRegistry()`` makes a new, independent registry; ``REGISTRY`` is the
    process-wide default one, which the embedded endpoint serves unless told otherwise."""

    def __init__(self, auto_describe=False, target_info=None, _handle=None):
        if target_info:
            raise ValueError("target_info is not supported by marty_metrics")
        if _handle is None:
            out = _c_void_p()
            check(C.registry_new(_byref(out)))
            self._owned = True
        else:
            out = _c_void_p(_handle)
            self._owned = False
        self._h = out
        _registries.add(self)
        if not _created_metrics:
            self.set_created_timestamps(False)

    def set_created_timestamps(self, enabled):
        """Whether this registry's renderings show when counters and histograms were created."""
        check(C.registry_set_created_timestamps(_registry_handle(self), 1 if enabled else 0))

    def register(self, metric):
        """Registers a metric made with ``registry=None`` (ValueError on a name clash)."""
        check(C.registry_register(_registry_handle(self), _family_handle(metric)))

    def unregister(self, metric):
        """Removes a metric from this registry (LookupError if it is not registered here)."""
        check(C.registry_unregister(_registry_handle(self), _family_handle(metric)))

    def render(self, openmetrics=False, protobuf=False, escaping=UNDERSCORES):
        """The exposition of every family, as bytes (text 0.0.4, OpenMetrics 1.0, or delimited
        protobuf MetricFamily messages). Names outside the legacy character set are written as
        `escaping` says: ``ALLOWUTF8`` (quoted in the text formats), ``UNDERSCORES``, ``DOTS``
        or ``VALUES``, the schemes of https://prometheus.io/docs/instrumenting/escaping_schemes/."""
        scheme = _escaping_code(escaping)
        out = _c_void_p()
        length = ctypes.c_size_t()
        if protobuf:
            fmt = _native.FORMAT_PROTOBUF
        else:
            fmt = _native.FORMAT_OPENMETRICS if openmetrics else _native.FORMAT_TEXT
        check(C.registry_render_escaped(_registry_handle(self), fmt, scheme, _byref(out), _byref(length)))
        try:
            return ctypes.string_at(out.value, length.value)
        finally:
            C.free(out)

    def get_sample_value(self, name, labels=None):
        """The value of one sample as the exposition shows it, or None (for tests, as in
        prometheus_client: it renders the whole registry, so it is not for hot paths)."""
        wanted = dict(labels or {})
        for sample_name, sample_labels, value in _parse_text(self.render(escaping=ALLOWUTF8).decode("utf-8")):
            if sample_name == name and sample_labels == wanted:
                return value
        return None

    def __del__(self):
        if getattr(self, "_owned", False) and C is not None:
            C.registry_free(self._h)
            self._owned = False

    def __repr__(self):
        return "<%s %s>" % (type(self).__name__, "default" if not self._owned else hex(self._h.value or 0))


REGISTRY = CollectorRegistry(_handle=C.registry_default())


def generate_latest(registry=REGISTRY, escaping=UNDERSCORES):
    """The Prometheus text format 0.0.4 exposition of `registry`, as bytes, with names outside
    the legacy character set written as `escaping` says (as prometheus_client's)."""
    _registry_handle(registry)
    return registry.render(escaping=escaping)


def generate_openmetrics(registry=REGISTRY, escaping=UNDERSCORES):
    """The OpenMetrics 1.0 exposition of `registry`, as bytes (ends with ``# EOF``)."""
    _registry_handle(registry)
    return registry.render(openmetrics=True, escaping=escaping)


# Every ctypes callback ever handed to the library: a warning being delivered on another
# thread may still call one that was just replaced, so none is ever freed (a few per process).
_warning_callbacks = []


def set_warning_handler(handler):
    """Sends the library's warnings (a metric's first label set past its series cap, once per
    metric) to ``handler(message)``, e.g. ``logging.getLogger("marty_metrics").warning``;
    None sends them back to standard error. The handler may run on any thread."""
    if handler is None:
        check(C.set_warning_callback(None, None))
        return
    if not callable(handler):
        raise TypeError("handler must be callable or None, not %s" % type(handler).__name__)

    def deliver(_user_data, message):
        try:
            handler(message.decode("utf-8", "replace"))
        except Exception:  # an exception cannot cross into the library: report it, go on
            import traceback
            traceback.print_exc()

    callback = _native.WARNING_CALLBACK(deliver)
    _warning_callbacks.append(callback)
    check(C.set_warning_callback(ctypes.cast(callback, ctypes.c_void_p), None))


def _escaping_code(escaping):
    """The marty_escaping of one of prometheus_client's scheme names; ValueError otherwise."""
    if not isinstance(escaping, str) or escaping not in _native.ESCAPINGS:
        raise ValueError("Unknown escaping scheme %r: one of %s" % (escaping, ", ".join(sorted(_native.ESCAPINGS))))
    return _native.ESCAPINGS[escaping]


def _family_handle(metric):
    """The C family handle of a marty_metrics metric; a TypeError for anything else.

    The type is checked, never an attribute: an object that merely has an ``_f`` (a
    prometheus_client metric, a mock, a look-alike holding an integer) must never reach C,
    where any value would be taken as a family pointer."""
    if not isinstance(metric, _Family):
        raise TypeError("not a marty_metrics metric (Counter, Gauge, Histogram or Info): %s %r"
                        % (type(metric).__name__, metric))
    handle = metric.__dict__.get("_f")
    if type(handle) is not _c_void_p or not handle.value:
        raise TypeError("%r has no live marty_metrics family" % (metric,))
    return handle


def _registry_handle(registry):
    """The C registry handle of a marty_metrics CollectorRegistry; a TypeError for anything
    else (checked by type, as for metrics)."""
    if not isinstance(registry, CollectorRegistry):
        raise TypeError("registry must be a marty_metrics CollectorRegistry, not %s"
                        % type(registry).__name__)
    handle = registry.__dict__.get("_h")
    if type(handle) is not _c_void_p or not handle.value:
        raise TypeError("%r has no live marty_metrics registry" % (registry,))
    return handle


def _unescape(value):
    out = []
    i = 0
    while i < len(value):
        ch = value[i]
        if ch == "\\" and i + 1 < len(value):
            nxt = value[i + 1]
            out.append({"n": "\n", "\\": "\\", '"': '"'}.get(nxt, "\\" + nxt))
            i += 2
        else:
            out.append(ch)
            i += 1
    return "".join(out)


def _parse_text(text):
    """Samples of a text-format exposition rendered with ``ALLOWUTF8``, whose names outside the
    legacy set are quoted (``{"my.metric","label.name"="v"}``): (name, {label: value}, float)."""
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        name, i = None, 0
        if line[0] != "{":
            i = next(position for position, ch in enumerate(line) if ch in "{ ")
            name = line[:i]
        labels = {}
        if line[i] == "{":
            i += 1
            while line[i] != "}":
                if line[i] == ",":
                    i += 1
                    continue
                if line[i] == '"':
                    key, i = _quoted(line, i)
                else:
                    equals = line.index("=", i)
                    key, i = line[i:equals], equals
                if line[i] != "=":  # a quoted metric name, first inside the braces
                    name = key
                    continue
                labels[key], i = _quoted(line, i + 1)
            i += 1
        yield name, labels, float(line[i:].split()[0])


def _quoted(line, i):
    """The unescaped text between the double quote at ``line[i]`` and its closing one, and the
    index past the closing one."""
    j = i + 1
    while line[j] != '"':
        j += 2 if line[j] == "\\" else 1
    return _unescape(line[i + 1:j]), j + 1


# ---- Shared machinery ------------------------------------------------------------------------


def _full_name(kind, name, namespace, subsystem, unit):
    if not isinstance(name, str):
        raise TypeError("metric name must be a str, not %s" % type(name).__name__)
    if not name:
        raise ValueError("Metric name should not be empty")
    full = ""
    if namespace:
        full += namespace + "_"
    if subsystem:
        full += subsystem + "_"
    full += name
    if kind == "counter" and full.endswith("_total"):
        full = full[:-6]
    if unit and kind == "info":
        raise ValueError("Metric name is of a type that cannot have a unit: " + full)
    if unit and not full.endswith("_" + unit):
        full += "_" + unit
    return full


class _Timer:
    """``with metric.time():`` and ``@metric.time()``; calls `record(seconds)` at the end."""

    __slots__ = ("_record", "_start")

    def __init__(self, record):
        self._record = record
        self._start = None

    def __enter__(self):
        self._start = time.perf_counter()
        return self

    def __exit__(self, exc_type, exc, tb):
        self._record(max(time.perf_counter() - self._start, 0.0))
        return False

    def labels(self, *args, **kwargs):
        raise TypeError("time() was called on a labelled metric: call labels(...).time() instead")

    def __call__(self, function):
        record = self._record
        perf_counter = time.perf_counter
        if inspect.iscoroutinefunction(function):
            @functools.wraps(function)
            async def timed_async(*args, **kwargs):
                start = perf_counter()
                try:
                    return await function(*args, **kwargs)
                finally:
                    record(max(perf_counter() - start, 0.0))
            return timed_async

        @functools.wraps(function)
        def timed(*args, **kwargs):
            start = perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                record(max(perf_counter() - start, 0.0))
        return timed


class _ExceptionCounter:
    """``count_exceptions()``: counts exceptions of the given type(s), then lets them through."""

    __slots__ = ("_inc", "_exception")

    def __init__(self, inc, exception):
        self._inc = inc
        self._exception = exception

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None and issubclass(exc_type, self._exception):
            self._inc()
        return False

    def __call__(self, function):
        inc = self._inc
        exception = self._exception
        if inspect.iscoroutinefunction(function):
            @functools.wraps(function)
            async def counted_async(*args, **kwargs):
                try:
                    return await function(*args, **kwargs)
                except exception:
                    inc()
                    raise
            return counted_async

        @functools.wraps(function)
        def counted(*args, **kwargs):
            try:
                return function(*args, **kwargs)
            except exception:
                inc()
                raise
        return counted


class _InprogressTracker:
    """``track_inprogress()``: the gauge is +1 while the block or function runs."""

    __slots__ = ("_gauge",)

    def __init__(self, gauge):
        self._gauge = gauge

    def __enter__(self):
        self._gauge.inc()
        return self

    def __exit__(self, exc_type, exc, tb):
        self._gauge.dec()
        return False

    def __call__(self, function):
        gauge = self._gauge
        if inspect.iscoroutinefunction(function):
            @functools.wraps(function)
            async def tracked_async(*args, **kwargs):
                gauge.inc()
                try:
                    return await function(*args, **kwargs)
                finally:
                    gauge.dec()
            return tracked_async

        @functools.wraps(function)
        def tracked(*args, **kwargs):
            gauge.inc()
            try:
                return function(*args, **kwargs)
            finally:
                gauge.dec()
        return tracked


# ---- Children: one series each -------------------------------------------------------------


class _CtypesCounterSeries:
    """A counter series' recording through ctypes: the base of CounterChild when the compiled
    path (_speedups.CounterSeries, which keeps every behaviour below) is not used, and its
    fallback when an exemplar is given."""

    __slots__ = ("_h", "_parent", "_labelvalues", "__weakref__")

    def __init__(self, handle, parent, labelvalues):
        self._h = handle
        self._parent = parent  # keeps the family (and so the handle) alive
        self._labelvalues = labelvalues

    def inc(self, amount=1, exemplar=None):
        """Adds `amount` (default 1): non-negative, finite or +Inf (ValueError otherwise).
        `exemplar`, a dict of label names to values (e.g. ``{"trace_id": "..."}``), is kept
        with the amount and shown by OpenMetrics scrapes."""
        if exemplar is not None:
            names, values, count = exemplar_arrays(exemplar)
            try:
                status = _counter_add_exemplar(self._h, amount, names, values, count)
            except _ArgumentError:
                raise _number_error("amount", amount) from None
        elif amount == 1:
            status = _counter_inc(self._h)
        else:
            try:
                status = _counter_add(self._h, amount)
            except _ArgumentError:
                raise _number_error("amount", amount) from None
        if status:
            raise_last(status)


class _CtypesGaugeSeries:
    """A gauge series' recording through ctypes (see _CtypesCounterSeries)."""

    __slots__ = ("_h", "_parent", "_labelvalues", "__weakref__")

    def __init__(self, handle, parent, labelvalues):
        self._h = handle
        self._parent = parent
        self._labelvalues = labelvalues

    def inc(self, amount=1):
        """Adds `amount` (default 1; may be negative)."""
        if amount == 1:
            status = _gauge_inc(self._h)
        else:
            try:
                status = _gauge_add(self._h, amount)
            except _ArgumentError:
                raise _number_error("amount", amount) from None
        if status:
            raise_last(status)

    def dec(self, amount=1):
        """Subtracts `amount` (default 1)."""
        if amount == 1:
            status = _gauge_dec(self._h)
        else:
            try:
                status = _gauge_add(self._h, -amount)
            except (_ArgumentError, TypeError):
                raise _number_error("amount", amount) from None
        if status:
            raise_last(status)

    def set(self, value):
        """Sets the gauge to `value`."""
        try:
            status = _gauge_set(self._h, value)
        except _ArgumentError:
            raise _number_error("value", value) from None
        if status:
            raise_last(status)

    def set_to_current_time(self):
        """Sets the gauge to the current Unix time in seconds."""
        status = _gauge_set_now(self._h)
        if status:
            raise_last(status)


class _CtypesHistogramSeries:
    """A histogram series' recording through ctypes (see _CtypesCounterSeries)."""

    __slots__ = ("_h", "_parent", "_labelvalues", "__weakref__")

    def __init__(self, handle, parent, labelvalues):
        self._h = handle
        self._parent = parent
        self._labelvalues = labelvalues

    def observe(self, amount, exemplar=None):
        """Records one observation (ValueError for NaN; infinities are counted). `exemplar`,
        a dict of label names to values, is kept for the observation's bucket."""
        try:
            if exemplar is not None:
                names, values, count = exemplar_arrays(exemplar)
                status = _histogram_observe_exemplar(self._h, amount, names, values, count)
            else:
                status = _histogram_observe(self._h, amount)
        except _ArgumentError:
            raise _number_error("amount", amount) from None
        if status:
            raise_last(status)


# The compiled recording path (_speedups.c) unless MARTY_METRICS_PURE_PYTHON=1 asks for
# ctypes or the extension was not built (no compiler at install): None then.
_speedups = _native.load_speedups(counter_inc=_CtypesCounterSeries.inc,
                                  histogram_observe=_CtypesHistogramSeries.observe)


class CounterChild(_speedups.CounterSeries if _speedups else _CtypesCounterSeries):
    """One counter series. Obtained from ``Counter.labels(...)``."""

    __slots__ = ()

    def count_exceptions(self, exception=Exception):
        """Counts exceptions of type `exception` raised in a ``with`` block or a decorated
        function (sync or async), and lets them through."""
        return _ExceptionCounter(self.inc, exception)

    def get(self):
        """The current total."""
        out = _c_double()
        check(C.counter_value(self._h, _byref(out)))
        return out.value

    def __repr__(self):
        return "<CounterChild %s%r>" % (self._parent._name, self._labelvalues)


class GaugeChild(_speedups.GaugeSeries if _speedups else _CtypesGaugeSeries):
    """One gauge series. Obtained from ``Gauge.labels(...)``."""

    __slots__ = ()

    def track_inprogress(self):
        """+1 while a ``with`` block or a decorated function (sync or async) runs."""
        return _InprogressTracker(self)

    def time(self):
        """Sets the gauge to the duration in seconds of a ``with`` block or a decorated
        function (sync or async)."""
        return _Timer(self.set)

    def get(self):
        """The current value."""
        out = _c_double()
        check(C.gauge_value(self._h, _byref(out)))
        return out.value

    def __repr__(self):
        return "<GaugeChild %s%r>" % (self._parent._name, self._labelvalues)


class HistogramChild(_speedups.HistogramSeries if _speedups else _CtypesHistogramSeries):
    """One histogram series. Obtained from ``Histogram.labels(...)``."""

    __slots__ = ()

    def time(self):
        """Observes the duration in seconds of a ``with`` block or a decorated function
        (sync or async)."""
        return _Timer(self.observe)

    def get(self):
        """(cumulative bucket counts including +Inf, count, sum), read consistently."""
        n = ctypes.c_size_t()
        check(C.histogram_bucket_count(self._h, _byref(n)))
        counts = (ctypes.c_uint64 * (n.value + 1))()
        count = ctypes.c_uint64()
        total = _c_double()
        check(C.histogram_read(self._h, counts, n.value + 1, _byref(count), _byref(total)))
        return list(counts), count.value, total.value

    def __repr__(self):
        return "<HistogramChild %s%r>" % (self._parent._name, self._labelvalues)


# ---- Parents: one family each --------------------------------------------------------------


class _Family:
    _kind = ""
    _child_class = None
    _getter = None
    # The child methods an unlabelled metric exposes directly.
    _child_methods = ()

    def __init__(self, name, documentation, labelnames=(), namespace="", subsystem="", unit="",
                 registry=REGISTRY, _labelvalues=None):
        if _labelvalues is not None:
            raise ValueError("_labelvalues is not supported by marty_metrics")
        if not isinstance(documentation, str):
            raise TypeError("documentation must be a str, not %s" % type(documentation).__name__)
        if isinstance(labelnames, str):
            raise TypeError("labelnames must be a sequence of str, not a str (write [%r])" % labelnames)
        if registry is not None and not isinstance(registry, CollectorRegistry):
            raise TypeError("registry must be a marty_metrics CollectorRegistry or None, not %s"
                            % type(registry).__name__)
        self._name = _full_name(self._kind, name, namespace, subsystem, unit)
        self._documentation = documentation
        self._labelnames = tuple(labelnames)
        for label in self._labelnames:
            if not isinstance(label, str):
                raise TypeError("label names must be str, not %s" % type(label).__name__)
        self._children = {}
        if self._labelnames and _speedups is not None and type(self).labels is _Family.labels:
            # labels(...) of a cached child answered in C; anything else reaches the Python
            # labels() below unchanged (LabelsCache in _speedups.c). Not for subclasses that
            # override labels().
            self.labels = _speedups.LabelsCache(self._children, self._labelnames, _Family.labels.__get__(self))
        self._f = None
        self._create(registry)
        if not self._labelnames:
            self._bind_unlabelled()

    def _bind_unlabelled(self):
        child = self._new_child(())
        self._child = child
        # Unlabelled: the child's methods are the metric's own (one Python frame per call).
        for method in self._child_methods:
            setattr(self, method, getattr(child, method))

    def _create(self, registry):
        """Creates the family in `registry`, or unregistered when `registry` is None."""
        target = registry if registry is not None else CollectorRegistry()
        names, count = string_array(self._labelnames, "label name")
        out = _c_void_p()
        check(self._new_family(_registry_handle(target), encode(self._name, "metric name"),
                               encode(self._documentation, "documentation"), names, count, out))
        self._f = out
        if registry is None:
            check(C.registry_unregister(target._h, out))

    def _new_family(self, registry, name, documentation, names, count, out):
        raise NotImplementedError

    # -- children

    def labels(self, *labelvalues, **labelkwargs):
        """The child for these label values (positional, in label-name order, or by name),
        made on first use and then cached: a repeated call is one dict lookup."""
        if labelkwargs:
            if labelvalues:
                raise ValueError("Can't pass both *args and **kwargs")
            labelvalues = self._values_from_keywords(labelkwargs)
        try:
            return self._children[labelvalues]
        except KeyError:
            if not self._labelnames:
                raise ValueError("No label names were set when constructing %s" % self._name) from None
            return self._new_child(labelvalues)

    def _values_from_keywords(self, labelkwargs):
        if set(labelkwargs) != set(self._labelnames):
            raise ValueError("Incorrect label names for %s: expected %s, got %s"
                             % (self._name, sorted(self._labelnames), sorted(labelkwargs)))
        return tuple(labelkwargs[label] for label in self._labelnames)

    def _check_values(self, labelvalues):
        if not self._labelnames:
            raise ValueError("No label names were set when constructing %s" % self._name)
        for value in labelvalues:
            if not isinstance(value, str):
                raise TypeError("label values of %s must be str, got %s %r (convert it with str())"
                                % (self._name, type(value).__name__, value))

    def _new_child(self, labelvalues):
        if labelvalues:
            self._check_values(labelvalues)
        elif self._labelnames:
            raise ValueError("%s has label names %s: call labels(...) with their values"
                             % (self._name, list(self._labelnames)))
        values, count = string_array(labelvalues, "label value")
        out = _c_void_p()
        overflowed_before = self._overflowed_lookups()
        status = self._getter(self._f, values, count, out)
        if status:
            raise_last(status)
        child = self._child_class(out, self, labelvalues)
        # A label set past the series cap gets the overflow series: not cached, or the cache
        # would grow without bound where the library's series do not.
        if labelvalues and self._overflowed_lookups() == overflowed_before:
            self._children[labelvalues] = child
        return child

    def _overflowed_lookups(self):
        count = ctypes.c_uint64()
        check(C.family_overflowed_lookups(self._f, _byref(count)))
        return count.value

    def set_max_series(self, max_series):
        """Caps how many series (label sets) this metric makes; 0 means no cap. Past the cap,
        new label sets record into one series whose label values are all ``"__overflow__"``,
        counted in ``marty_metrics_series_overflow_total{metric=...}``. The default is
        ``MARTY_METRICS_MAX_SERIES_PER_FAMILY`` or 10000. Returns the metric."""
        if isinstance(max_series, bool) or not isinstance(max_series, int):
            raise TypeError("max_series must be an int, not %s" % type(max_series).__name__)
        if max_series < 0:
            raise ValueError("max_series must be 0 (no cap) or more, got %d" % max_series)
        check(C.family_set_max_series(self._f, max_series))
        return self

    @property
    def max_series(self):
        """The series cap of this metric (0: none)."""
        value = ctypes.c_size_t()
        check(C.family_max_series(self._f, _byref(value)))
        return value.value

    def remove(self, *labelvalues):
        """Removes the child with these label values (no error if there is none)."""
        if labelvalues:
            self._check_values(labelvalues)
        values, count = string_array(labelvalues, "label value")
        status = C.family_remove(self._f, values, count)
        if status and status != _native.ERR_NOT_FOUND:
            raise_last(status)
        self._children.pop(labelvalues, None)

    def clear(self):
        """Removes every child."""
        check(C.family_clear(self._f))
        self._children.clear()
        if not self._labelnames:
            # An unlabelled metric always has its one series: start it again at zero.
            self._bind_unlabelled()

    def _missing_labels(self, *args, **kwargs):
        raise ValueError("%s has label names %s: call labels(...) first"
                         % (self._name, list(self._labelnames)))

    def describe(self):
        return [self._name]

    def __del__(self):
        handle = getattr(self, "_f", None)
        if handle is not None and C is not None:
            C.family_release(handle)
            self._f = None

    def __repr__(self):
        return "%s.%s(%s)" % (type(self).__module__, type(self).__name__, self._name)


class Counter(_Family):
    """A counter: ``Counter(name, documentation, labelnames=(), namespace='', subsystem='',
    unit='', registry=REGISTRY)``. A trailing ``_total`` is dropped; the exposition adds it."""

    _kind = "counter"
    _child_class = CounterChild
    _getter = C.counter_get
    _child_methods = ("inc", "count_exceptions", "get")

    def _new_family(self, registry, name, documentation, names, count, out):
        return C.counter_family_new(registry, name, documentation, names, count, _byref(out))

    inc = count_exceptions = get = _Family._missing_labels


class Gauge(_Family):
    """A gauge: ``Gauge(name, documentation, labelnames=(), namespace='', subsystem='',
    unit='', registry=REGISTRY)``."""

    _kind = "gauge"
    _child_class = GaugeChild
    _getter = C.gauge_get
    _child_methods = ("inc", "dec", "set", "set_to_current_time", "track_inprogress", "time", "get")

    def __init__(self, name, documentation, labelnames=(), namespace="", subsystem="", unit="",
                 registry=REGISTRY, _labelvalues=None, multiprocess_mode="all"):
        # multiprocess_mode is accepted for prometheus_client compatibility; one process
        # serves its own values here.
        super().__init__(name, documentation, labelnames, namespace, subsystem, unit, registry, _labelvalues)

    def _new_family(self, registry, name, documentation, names, count, out):
        return C.gauge_family_new(registry, name, documentation, names, count, _byref(out))

    inc = dec = set = set_to_current_time = track_inprogress = time = get = _Family._missing_labels


def _float_option(value, what):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError("%s must be a number, not %s" % (what, type(value).__name__))
    return float(value)


class Histogram(_Family):
    """A histogram: ``Histogram(name, documentation, labelnames=(), namespace='',
    subsystem='', unit='', registry=REGISTRY, buckets=DEFAULT_BUCKETS)``. A trailing +Inf
    bound may be given or not; the +Inf bucket is always there."""

    _kind = "histogram"
    _child_class = HistogramChild
    _getter = C.histogram_get
    _child_methods = ("observe", "time", "get")

    DEFAULT_BUCKETS = (.005, .01, .025, .05, .075, .1, .25, .5, .75, 1.0, 2.5, 5.0, 7.5, 10.0, INF)

    def __init__(self, name, documentation, labelnames=(), namespace="", subsystem="", unit="",
                 registry=REGISTRY, _labelvalues=None, buckets=DEFAULT_BUCKETS,
                 native_histogram_bucket_factor=None, native_histogram_zero_threshold=None,
                 native_histogram_max_bucket_number=None):
        # Native buckets (client_golang's names): Prometheus scrapes them over protobuf. With
        # them, the classic buckets are those given explicitly (none by default, as in
        # client_golang).
        self._native = None
        if native_histogram_bucket_factor is not None:
            options = _native.NativeHistogramOptions()
            C.native_histogram_options_init(_byref(options))
            options.bucket_factor = _float_option(native_histogram_bucket_factor, "native_histogram_bucket_factor")
            if native_histogram_zero_threshold is not None:
                options.zero_threshold = _float_option(native_histogram_zero_threshold,
                                                       "native_histogram_zero_threshold")
            if native_histogram_max_bucket_number is not None:
                if not isinstance(native_histogram_max_bucket_number, int):
                    raise TypeError("native_histogram_max_bucket_number must be an int")
                if not 1 <= native_histogram_max_bucket_number <= 1000:
                    raise ValueError("native_histogram_max_bucket_number must be in 1...1000, got %r"
                                     % (native_histogram_max_bucket_number,))
                options.max_bucket_count = native_histogram_max_bucket_number
            self._native = options
            if buckets is Histogram.DEFAULT_BUCKETS:
                buckets = (INF,)
        bounds = []
        for bound in buckets:
            try:
                bounds.append(float(bound))
            except (TypeError, ValueError):
                raise TypeError("histogram buckets must be numbers, got %r" % (bound,)) from None
        if bounds and bounds[-1] == INF:
            bounds.pop()
        if not bounds and self._native is None:
            raise ValueError("Must have at least two buckets")
        if "le" in labelnames:
            raise ValueError("Invalid label metric name: le (reserved for histogram buckets)")
        self._bounds = tuple(bounds)
        super().__init__(name, documentation, labelnames, namespace, subsystem, unit, registry, _labelvalues)

    def _new_family(self, registry, name, documentation, names, count, out):
        bounds = (_c_double * len(self._bounds))(*self._bounds) if self._bounds else None
        if self._native is not None:
            return C.native_histogram_family_new(registry, name, documentation, names, count, bounds,
                                                 len(self._bounds), _byref(self._native), _byref(out))
        return C.histogram_family_new(registry, name, documentation, names, count, bounds,
                                      len(self._bounds), _byref(out))

    observe = time = get = _Family._missing_labels


class Info(_Family):
    """Info: ``Info(name, documentation, registry=REGISTRY)``, exposed as the gauge
    ``<name>_info`` with value 1 and the labels set by ``info({...})``.

    The library's info family holds one series, so an Info with label names (``labels(...)``)
    is not supported."""

    _kind = "info"

    def __init__(self, name, documentation, labelnames=(), namespace="", subsystem="", unit="",
                 registry=REGISTRY, _labelvalues=None):
        if tuple(labelnames):
            raise ValueError("marty_metrics: an Info with label names is not supported (the library's "
                             "info family holds a single series); put every key into info({...})")
        self._registry = registry
        self._keys = ()
        super().__init__(name, documentation, (), namespace, subsystem, unit, registry, _labelvalues)

    def _new_family(self, registry, name, documentation, names, count, out):
        return C.info_family_new(registry, name, documentation, names, count, _byref(out))

    def _new_child(self, labelvalues):
        return None

    def labels(self, *labelvalues, **labelkwargs):
        raise ValueError("No label names were set when constructing %s" % self._name)

    def info(self, val):
        """Sets the info's labels to the dict `val` (str keys and values)."""
        if not isinstance(val, dict):
            raise TypeError("info() takes a dict, not %s" % type(val).__name__)
        for key, value in val.items():
            if not isinstance(key, str) or not isinstance(value, str):
                raise TypeError("info() keys and values must be str, got %r: %r" % (key, value))
        keys = tuple(sorted(val))
        if keys != self._keys:
            self._replace_family(keys)
        values, count = string_array([val[key] for key in keys], "info value")
        check(C.info_set(self._f, values, count))

    def _replace_family(self, keys):
        """The label names are fixed per family: new keys need a new family of the same name."""
        registry = self._registry
        old = self._f
        if registry is not None:
            check(C.registry_unregister(_registry_handle(registry), old))
        saved = self._labelnames
        self._labelnames = keys
        try:
            self._create(registry)
        except BaseException:
            self._labelnames = saved
            self._f = old
            if registry is not None:
                C.registry_register(registry._h, old)
            raise
        self._keys = keys
        C.family_release(old)

    def clear(self):
        check(C.family_clear(self._f))

    def remove(self, *labelvalues):
        raise ValueError("No label names were set when constructing %s" % self._name)
