"""Counter, Gauge, Histogram, Summary, Info and Enum, as prometheus_client has them.

Counter, Gauge, Histogram, Summary and unlabelled Info are families of the library; every child
(one set of label values) is a borrowed series handle kept as a ``ctypes.c_void_p``.
``labels(...)`` looks the child up in a Python dict first, so a repeated ``labels(a, b)`` costs
one dict lookup and no native call; recording is one ctypes call into a lock-free,
allocation-free function. Enum and labelled Info hold their few values in Python and are
collected at render time (see ``_collected``).
"""

import ctypes
import functools
import inspect
import os
import time
import weakref

from . import _native
from ._forksafe import new_lock
from ._native import C, check, encode, exemplar_arrays, raise_last, string_array
from .metrics_core import Metric
from .registry import REGISTRY, CollectorRegistry, _family_handle, _registry_handle  # noqa: F401 (re-exported)
from .samples import Sample
from .validation import _validate_labelnames, _validate_metric_name

__all__ = [
    "Counter", "Gauge", "Histogram", "Summary", "Info", "Enum", "CollectorRegistry", "REGISTRY",
    "generate_latest", "generate_openmetrics", "CONTENT_TYPE_LATEST", "CONTENT_TYPE_OPENMETRICS",
    "disable_created_metrics", "enable_created_metrics", "set_warning_handler",
]

CONTENT_TYPE_LATEST = "text/plain; version=1.0.0; charset=utf-8"  # as prometheus_client 0.26 names it
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
_counter_add_exemplar_at = getattr(C, "counter_add_exemplar_at", None)  # None before the library's 0.3
_histogram_observe_exemplar_at = getattr(C, "histogram_observe_exemplar_at", None)


# Exemplars are stamped with Python's time.time(), looked up at each call, as prometheus_client
# does (the library's own clock when it is older than 0.3).
def _counter_add_exemplar(handle, amount, names, values, count):
    if _counter_add_exemplar_at is None:
        return C.counter_add_exemplar(handle, amount, names, values, count)
    return _counter_add_exemplar_at(handle, amount, names, values, count, time.time())


def _histogram_observe_exemplar(handle, amount, names, values, count):
    if _histogram_observe_exemplar_at is None:
        return C.histogram_observe_exemplar(handle, amount, names, values, count)
    return _histogram_observe_exemplar_at(handle, amount, names, values, count, time.time())

_set_created = getattr(C, "family_set_created_timestamp", None)  # None before the library's 0.3


def _stamp_created(family, values, count):
    """Sets a new series' created time to Python's clock, as prometheus_client stamps it.
    ``time.time`` is looked up at every call: code (and prometheus_client's tests) that
    replaces it is seen. A library without the setter keeps its own clock."""
    if _set_created is not None:
        status = _set_created(family, values, count, time.time())
        if status:
            raise_last(status)


def _number_error(what, amount):
    return TypeError("%s must be a real number, not %s" % (what, type(amount).__name__))


# ---- The _created switch -----------------------------------------------------------------


def _get_use_created():
    """prometheus_client's switch: PROMETHEUS_DISABLE_CREATED_SERIES=true (or 1, t) turns the
    _created samples off."""
    return os.environ.get("PROMETHEUS_DISABLE_CREATED_SERIES", "False").lower() not in ("true", "1", "t")


# Read by every registry when it renders (so assigning it, as prometheus_client's tests do,
# works too).
_use_created = _get_use_created()


def disable_created_metrics():
    """Stops showing the _created samples (OpenMetrics) and created timestamps (protobuf) of
    counters, histograms and summaries, in every registry."""
    global _use_created
    _use_created = False


def enable_created_metrics():
    """Shows the _created samples and created timestamps again (the default)."""
    global _use_created
    _use_created = True


def generate_latest(registry=REGISTRY, escaping=UNDERSCORES):
    """The Prometheus text format 0.0.4 exposition of `registry`, as bytes (as
    prometheus_client's; see exposition.generate_latest)."""
    from .exposition import generate_latest as generate
    return generate(registry, escaping)


def generate_openmetrics(registry=REGISTRY, escaping=UNDERSCORES):
    """The OpenMetrics 1.0 exposition of `registry`, as bytes (ends with ``# EOF``)."""
    from .openmetrics.exposition import generate_latest as generate
    return generate(registry, escaping)


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


def set_process_max_series(max_series):
    """Caps the series all metrics of the process hold together (0: no cap, the default;
    MARTY_METRICS_MAX_SERIES sets it at start-up). Past it, a labelled metric's new label sets
    record into its overflow series, as past its own cap (``set_max_series``)."""
    if isinstance(max_series, bool) or not isinstance(max_series, int):
        raise TypeError("max_series must be an int, not %s" % type(max_series).__name__)
    if max_series < 0 or max_series > 1 << 62:
        raise ValueError("max_series must be between 0 (no cap) and 2**62, not %d" % max_series)
    _native.require("set_process_max_series")
    check(C.set_process_max_series(max_series))


def process_series():
    """(series held by all metrics of the process now, the process-wide cap or 0)."""
    _native.require("process_series")
    series, cap = ctypes.c_size_t(), ctypes.c_size_t()
    check(C.process_series(ctypes.byref(series), ctypes.byref(cap)))
    return series.value, cap.value


# ---- Shared machinery ------------------------------------------------------------------------


def _full_name(kind, name, namespace, subsystem, unit):
    """prometheus_client's full name: namespace_subsystem_name, a counter's trailing _total
    dropped, then the unit appended unless the name already ends with it."""
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
    if unit and not full.endswith("_" + unit):
        full += "_" + unit
    if unit and kind in ("info", "stateset"):
        raise ValueError("Metric name is of a type that cannot have a unit: " + full)
    _validate_metric_name(full)
    return full


def _missing_label_values(kind):
    return ValueError("%s metric is missing label values" % kind)


def _label_values(metric, labelvalues, labelkwargs):
    """The label values of a labels() call as a tuple of str, in label-name order, refused
    as prometheus_client refuses them."""
    if not metric._labelnames:
        raise ValueError("No label names were set when constructing %s" % metric)
    if labelvalues and labelkwargs:
        raise ValueError("Can't pass both *args and **kwargs")
    if labelkwargs:
        if sorted(labelkwargs) != sorted(metric._labelnames):
            raise ValueError("Incorrect label names")
        return tuple(str(labelkwargs[label]) for label in metric._labelnames)
    if len(labelvalues) != len(metric._labelnames):
        raise ValueError("Incorrect label count")
    return tuple(str(value) for value in labelvalues)


def _removal_values(metric, labelvalues):
    if not metric._labelnames:
        raise ValueError("No label names were set when constructing %s" % metric)
    if len(labelvalues) != len(metric._labelnames):
        raise ValueError("Incorrect label count (expected %d, got %s)" % (len(metric._labelnames), labelvalues))
    return tuple(str(value) for value in labelvalues)


def _matching_keys(metric, keys, labels):
    """The children's label-value tuples among `keys` that agree with the dict `labels`."""
    if not metric._labelnames:
        raise ValueError("No label names were set when constructing %s" % metric)
    if not isinstance(labels, dict):
        raise TypeError("labels must be a dict of {label_name: label_value}")
    unknown = [name for name in labels if name not in metric._labelnames]
    if unknown:
        raise ValueError("Unknown label names: %s; expected %s" % (unknown, metric._labelnames))
    if not labels:
        return []  # an empty selection removes nothing (prometheus_client 0.26)
    wanted = {metric._labelnames.index(name): str(value) for name, value in labels.items()}
    return [key for key in keys if all(key[i] == value for i, value in wanted.items())]

class _Timer:
    """``with metric.time():`` and ``@metric.time()``; calls `record(seconds)` at the end.

    On a labelled metric, ``with metric.time() as timer: timer.labels(...)`` picks the child
    to record into inside the block (`parent` and `method` say how); leaving the block without
    it is the missing-label-values ValueError. ``duration`` is the last time recorded, in
    seconds (None before the first), as prometheus_client 0.26's timers have it."""

    __slots__ = ("_record", "_start", "_parent", "_method", "duration")

    def __init__(self, record, parent=None, method=None):
        self._record = record
        self._start = None
        self._parent = parent
        self._method = method
        self.duration = None

    def __enter__(self):
        self._start = time.perf_counter()
        return self

    def __exit__(self, exc_type, exc, tb):
        if self._record is None:
            raise _missing_label_values(self._parent._type)
        self.duration = max(time.perf_counter() - self._start, 0.0)
        self._record(self.duration)
        return False

    def labels(self, *args, **kwargs):
        if self._parent is None:
            raise ValueError("time() was called on a child: it has its labels already")
        self._record = getattr(self._parent.labels(*args, **kwargs), self._method)
        return self

    def __call__(self, function):
        record = self._record
        if record is None:
            raise _missing_label_values(self._parent._type)
        perf_counter = time.perf_counter
        if inspect.iscoroutinefunction(function):
            @functools.wraps(function)
            async def timed_async(*args, **kwargs):
                start = perf_counter()
                try:
                    return await function(*args, **kwargs)
                finally:
                    self.duration = max(perf_counter() - start, 0.0)
                    record(self.duration)
            return timed_async

        @functools.wraps(function)
        def timed(*args, **kwargs):
            start = perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                self.duration = max(perf_counter() - start, 0.0)
                record(self.duration)
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


class _ChildBase:
    """What every child shares: it has its labels already."""

    __slots__ = ()

    def labels(self, *labelvalues, **labelkwargs):
        raise ValueError("%s:%s already has labels set (%s); can not chain calls to .labels()"
                         % (self._parent._type, self._parent._name,
                            dict(zip(self._parent._labelnames, self._labelvalues))))

    def _renew(self):
        """Replaces this child's series by a new one at zero (its created time now)."""
        parent = self._parent
        values, count = string_array(self._labelvalues, "label value")
        status = C.family_remove(parent._f, values, count)
        if status and status != _native.ERR_NOT_FOUND:
            raise_last(status)
        out = _c_void_p()
        status = parent._getter(parent._f, values, count, out)
        if status:
            raise_last(status)
        if parent._has_created:
            _stamp_created(parent._f, values, count)
        # Re-initialised in place (the compiled series keeps its fields read-only): whoever
        # holds this child records into the new series.
        self.__init__(out, parent, self._labelvalues)


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


class CounterChild(_ChildBase, _speedups.CounterSeries if _speedups else _CtypesCounterSeries):
    """One counter series. Obtained from ``Counter.labels(...)``."""

    __slots__ = ()

    def count_exceptions(self, exception=Exception):
        """Counts exceptions of type `exception` raised in a ``with`` block or a decorated
        function (sync or async), and lets them through."""
        return _ExceptionCounter(self.inc, exception)

    def reset(self):
        """Back to zero, as a new series (its _created is now): for a logical restart."""
        self._renew()

    def get(self):
        """The current total."""
        out = _c_double()
        check(C.counter_value(self._h, _byref(out)))
        return out.value

    def __repr__(self):
        return "<CounterChild %s%r>" % (self._parent._name, self._labelvalues)


class GaugeChild(_ChildBase, _speedups.GaugeSeries if _speedups else _CtypesGaugeSeries):
    """One gauge series. Obtained from ``Gauge.labels(...)``."""

    __slots__ = ()

    def track_inprogress(self):
        """+1 while a ``with`` block or a decorated function (sync or async) runs."""
        return _InprogressTracker(self)

    def set_function(self, f):
        """Shows ``f()`` as the gauge's value: it is called at every rendering of the
        registries the gauge is in, with the GIL held (recording into the gauge is then
        overwritten by it)."""
        if not callable(f):
            raise TypeError("set_function takes a callable, not %s" % type(f).__name__)
        self._parent._functions[self._labelvalues] = (self, f)
        for registry in self._parent._registries:
            registry._add_refresher(self._parent)

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


class HistogramChild(_ChildBase, _speedups.HistogramSeries if _speedups else _CtypesHistogramSeries):
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

# The module name our own metric classes give in their repr: set to "prometheus_client.metrics"
# by compat.install_as_prometheus_client(), where that is the name code imports them by (and
# prometheus_client's repr, "prometheus_client.metrics.Counter(name)", is what its logs show).
_repr_module = None


def _metric_repr(metric):
    module = type(metric).__module__
    if module == __name__ and _repr_module:
        module = _repr_module
    # A labelled Info is held in Python by its own class, but is an Info to its users.
    return "%s.%s(%s)" % (module, getattr(type(metric), "_public_name", type(metric).__name__), metric._name)



def _describe(metric):
    """The Metric (without samples) a metric's describe() gives."""
    described = Metric.__new__(Metric)
    described.name, described.documentation, described.type = metric._name, metric._documentation, metric._type
    described.unit, described.samples = metric._unit, []
    return described


class _Family:
    _type = ""
    _reserved_labelnames = ()
    _child_class = None
    _getter = None
    # The child methods an unlabelled metric exposes directly.
    _child_methods = ()
    # Whether its series show when they were created (_created, protobuf created_timestamp).
    _has_created = False

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
        self._name = _full_name(self._type, name, namespace, subsystem, unit)
        self._documentation = documentation
        self._unit = unit
        self._labelnames = _validate_labelnames(self, labelnames)
        self._labelvalues = ()
        self._children = {}
        self._functions = {}  # set_function children: {label values: (child, f)}
        self._registries = set()
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
        """Creates the family in `registry` (checking its names there first), or unregistered
        when `registry` is None."""
        names, count = string_array(self._labelnames, "label name")
        out = _c_void_p()

        def create(target):
            check(self._new_family(_registry_handle(target), encode(self._name, "metric name"),
                                   encode(self._documentation, "documentation"), names, count, out))
            self._f = out

        if registry is None:
            scratch = CollectorRegistry()
            create(scratch)
            check(C.registry_unregister(scratch._h, out))
        else:
            registry._adopt(self, lambda: create(registry))
            self._registries.add(registry)
        if self._unit and _native.has("family_set_unit"):
            check(C.family_set_unit(self._f, encode(self._unit, "unit")))

    def _registries_add(self, registry):
        self._registries.add(registry)
        if self._functions:
            registry._add_refresher(self)

    def _registries_discard(self, registry):
        self._registries.discard(registry)
        registry._refreshers.discard(self)

    def _new_family(self, registry, name, documentation, names, count, out):
        raise NotImplementedError

    # -- children

    def labels(self, *labelvalues, **labelkwargs):
        """The child for these label values (positional, in label-name order, or by name;
        each converted with str()), made on first use and then cached: a repeated call with
        str values is one dict lookup."""
        if not labelkwargs:
            try:
                return self._children[labelvalues]
            except KeyError:
                pass
            except TypeError:  # an unhashable value: str() below makes it a key
                pass
        labelvalues = _label_values(self, labelvalues, labelkwargs)
        try:
            return self._children[labelvalues]
        except KeyError:
            return self._new_child(labelvalues)

    def _new_child(self, labelvalues):
        values, count = string_array(labelvalues, "label value")
        out = _c_void_p()
        overflowed_before = self._overflowed_lookups()
        status = self._getter(self._f, values, count, out)
        if status:
            raise_last(status)
        child = self._child_class(out, self, labelvalues)
        # A label set past the series cap gets the overflow series: not cached, or the cache
        # would grow without bound where the library's series do not (nor stamped: it was
        # created when it first overflowed).
        if not labelvalues or self._overflowed_lookups() == overflowed_before:
            if self._has_created:
                _stamp_created(self._f, values, count)
            if labelvalues:
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
        """Removes the child with these label values (each converted with str(); no error if
        there is none)."""
        labelvalues = _removal_values(self, labelvalues)
        values, count = string_array(labelvalues, "label value")
        status = C.family_remove(self._f, values, count)
        if status and status != _native.ERR_NOT_FOUND:
            raise_last(status)
        self._children.pop(labelvalues, None)
        self._functions.pop(labelvalues, None)

    def remove_by_labels(self, labels):
        """Removes every child whose labels include the pairs of the dict `labels`."""
        for key in _matching_keys(self, list(self._children), labels):
            self.remove(*key)

    def clear(self):
        """Removes every child; an unlabelled metric keeps its one series and its value, as
        in prometheus_client (clear() is about label sets)."""
        if not self._labelnames:
            return
        check(C.family_clear(self._f))
        self._children.clear()
        self._functions.clear()

    def _refresh(self):
        """Sets the set_function children to their function's value (before a rendering)."""
        for child, function in list(self._functions.values()):
            child.set(function())

    def _missing_labels(self, *args, **kwargs):
        raise _missing_label_values(self._type)

    # -- the prometheus_client collector shape

    def describe(self):
        return [_describe(self)]

    def collect(self):
        """This metric's family as a Metric, read back from the library's rendering."""
        scratch = CollectorRegistry()
        check(C.registry_register(scratch._h, self._f))
        try:
            metrics = scratch._native_metrics()
        finally:
            C.registry_unregister(scratch._h, self._f)
        return [metric for metric in metrics if metric.name == self._name] or [_describe(self)]

    def __str__(self):
        return "%s:%s" % (self._type, self._name)

    def __del__(self):
        handle = getattr(self, "_f", None)
        if handle is not None and C is not None:
            C.family_release(handle)
            self._f = None

    def __repr__(self):
        return _metric_repr(self)


def _labelled_time(method):
    """A labelled metric's time(): a timer to be given its child with ``timer.labels(...)``."""
    def time(self):
        return _Timer(None, self, method)
    time.__doc__ = "A timer for a labelled metric: call ``.labels(...)`` on it inside the block."
    return time


class Counter(_Family):
    """A counter: ``Counter(name, documentation, labelnames=(), namespace='', subsystem='',
    unit='', registry=REGISTRY)``. A trailing ``_total`` is dropped; the exposition adds it."""

    _type = _kind = "counter"
    _has_created = True
    _child_class = CounterChild
    _getter = C.counter_get
    _child_methods = ("inc", "count_exceptions", "get", "reset")

    def _new_family(self, registry, name, documentation, names, count, out):
        return C.counter_family_new(registry, name, documentation, names, count, _byref(out))

    inc = count_exceptions = get = reset = _Family._missing_labels


# In the order of the header's enum marty_gauge_mode.
_MULTIPROCESS_MODES = ("all", "liveall", "min", "livemin", "max", "livemax", "sum", "livesum",
                       "mostrecent", "livemostrecent")
# Gauges whose processes keep values of their own, renewed in a fork() child.
_per_process_gauges = weakref.WeakSet()


def _renew_gauges_in_child():
    if _native.has("multiprocess_enabled") and C.multiprocess_enabled():
        for gauge in list(_per_process_gauges):
            gauge._renew_in_child()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_renew_gauges_in_child)


class Gauge(_Family):
    """A gauge: ``Gauge(name, documentation, labelnames=(), namespace='', subsystem='',
    unit='', registry=REGISTRY)``."""

    _type = _kind = "gauge"
    _child_class = GaugeChild
    _getter = C.gauge_get
    _child_methods = ("inc", "dec", "set", "set_to_current_time", "track_inprogress", "time", "get",
                      "set_function")

    def __init__(self, name, documentation, labelnames=(), namespace="", subsystem="", unit="",
                 registry=REGISTRY, _labelvalues=None, multiprocess_mode="all"):
        # As prometheus_client's: how a scrape shows the values of pre-fork workers when
        # MARTY_METRICS_MULTIPROCESS=1 makes them share the default registry (marty_metrics.
        # multiprocess); a process alone shows its own value whatever the mode.
        if multiprocess_mode not in _MULTIPROCESS_MODES:
            raise ValueError("Invalid multiprocess mode: " + str(multiprocess_mode))
        self._multiprocess_mode = multiprocess_mode
        super().__init__(name, documentation, labelnames, namespace, subsystem, unit, registry, _labelvalues)
        if "mostrecent" not in multiprocess_mode:
            _per_process_gauges.add(self)

    def _new_family(self, registry, name, documentation, names, count, out):
        if not _native.has("gauge_family_new_multiprocess"):  # a library before pre-fork workers
            return C.gauge_family_new(registry, name, documentation, names, count, _byref(out))
        mode = _MULTIPROCESS_MODES.index(self._multiprocess_mode)
        return C.gauge_family_new_multiprocess(registry, name, documentation, names, count, mode, _byref(out))

    def _renew_in_child(self):
        # The library gave the child's lookups series of its own (a per-process gauge keeps each
        # process' value apart); the children cached here are the parent's.
        self._children.clear()
        if not self._labelnames:
            self._bind_unlabelled()

    inc = dec = set = set_to_current_time = track_inprogress = get = set_function = _Family._missing_labels
    time = _labelled_time("set")


def _float_option(value, what):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError("%s must be a number, not %s" % (what, type(value).__name__))
    return float(value)


class Histogram(_Family):
    """A histogram: ``Histogram(name, documentation, labelnames=(), namespace='',
    subsystem='', unit='', registry=REGISTRY, buckets=DEFAULT_BUCKETS)``. A trailing +Inf
    bound may be given or not; the +Inf bucket is always there."""

    _type = _kind = "histogram"
    _has_created = True
    _reserved_labelnames = ("le",)
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
        if bounds != sorted(bounds):
            raise ValueError("Buckets not in sorted order")
        if bounds and bounds[-1] == INF:
            bounds.pop()
        if not bounds and self._native is None:
            raise ValueError("Must have at least two buckets")
        self._bounds = tuple(bounds)
        self._upper_bounds = list(bounds) + [INF]
        super().__init__(name, documentation, labelnames, namespace, subsystem, unit, registry, _labelvalues)

    def _new_family(self, registry, name, documentation, names, count, out):
        bounds = (_c_double * len(self._bounds))(*self._bounds) if self._bounds else None
        if self._native is not None:
            return C.native_histogram_family_new(registry, name, documentation, names, count, bounds,
                                                 len(self._bounds), _byref(self._native), _byref(out))
        return C.histogram_family_new(registry, name, documentation, names, count, bounds,
                                      len(self._bounds), _byref(out))

    observe = get = _Family._missing_labels
    time = _labelled_time("observe")


class SummaryChild(HistogramChild):
    """One summary series (a count and a sum). Obtained from ``Summary.labels(...)``."""

    __slots__ = ()

    def get(self):
        """(count, sum), read consistently."""
        count = ctypes.c_uint64()
        total = _c_double()
        check(C.histogram_read(self._h, None, 0, _byref(count), _byref(total)))
        return count.value, total.value

    def __repr__(self):
        return "<SummaryChild %s%r>" % (self._parent._name, self._labelvalues)


class Summary(_Family):
    """A summary (count and sum of observations, no quantiles, as prometheus_client's):
    ``Summary(name, documentation, labelnames=(), namespace='', subsystem='', unit='',
    registry=REGISTRY)``."""

    _type = _kind = "summary"
    _has_created = True
    _reserved_labelnames = ("quantile",)
    _child_class = SummaryChild
    _getter = C.histogram_get
    _child_methods = ("observe", "time", "get")

    def _new_family(self, registry, name, documentation, names, count, out):
        if _native.has("summary_family_new"):
            return C.summary_family_new(registry, name, documentation, names, count, _byref(out))
        # A library before 0.3 has no summary kind: a histogram with the +Inf bucket only
        # counts and sums the same (it renders as a histogram there).
        no_bounds = (_c_double * 1)()
        return C.histogram_family_new(registry, name, documentation, names, count, no_bounds, 0, _byref(out))

    observe = get = _Family._missing_labels
    time = _labelled_time("observe")


# ---- Metrics held in Python: Info with labels, Enum ------------------------------------------


class _CollectedMetric:
    """A metric whose few values live in Python and are handed to the library when a
    registry renders (an Info with label names, an Enum). Same construction, labels(),
    remove(), clear() and errors as the native metrics."""

    _type = ""
    _reserved_labelnames = ()

    def __init__(self, name, documentation, labelnames=(), namespace="", subsystem="", unit="",
                 registry=REGISTRY, _labelvalues=None):
        if not isinstance(documentation, str):
            raise TypeError("documentation must be a str, not %s" % type(documentation).__name__)
        if isinstance(labelnames, str):
            raise TypeError("labelnames must be a sequence of str, not a str (write [%r])" % labelnames)
        self._name = _full_name(self._type, name, namespace, subsystem, unit)
        self._labelnames = _validate_labelnames(self, labelnames)
        self._labelvalues = tuple(_labelvalues or ())
        self._documentation = documentation
        self._unit = unit
        new_lock(self, "_lock")
        self._children = {}
        if not self._labelnames or self._labelvalues:
            self._init_value()
        if not self._labelvalues and registry is not None:
            registry.register(self)

    def _child_arguments(self):
        return {}

    def labels(self, *labelvalues, **labelkwargs):
        """The child for these label values (converted with str()), made on first use."""
        if self._labelvalues:
            raise ValueError("%s already has labels set (%s); can not chain calls to .labels()"
                             % (self, dict(zip(self._labelnames, self._labelvalues))))
        key = _label_values(self, labelvalues, labelkwargs)
        with self._lock:
            child = self._children.get(key)
            if child is None:
                child = type(self)(self._name, self._documentation, labelnames=self._labelnames,
                                   registry=None, _labelvalues=key, **self._child_arguments())
                self._children[key] = child
            return child

    def remove(self, *labelvalues):
        key = _removal_values(self, labelvalues)
        with self._lock:
            self._children.pop(key, None)

    def remove_by_labels(self, labels):
        with self._lock:
            for key in _matching_keys(self, list(self._children), labels):
                del self._children[key]

    def clear(self):
        with self._lock:
            self._children = {}

    def _observable(self):
        if self._labelnames and not self._labelvalues:
            raise _missing_label_values(self._type)

    def _family_samples(self):
        """(name suffix, labels, value) of every sample, the children's with their labels."""
        if self._labelnames and not self._labelvalues:
            with self._lock:
                children = list(self._children.items())
            for key, child in children:
                base = dict(zip(self._labelnames, key))
                for suffix, labels, value in child._own_samples():
                    yield suffix, dict(base, **labels), value
        else:
            yield from self._own_samples()

    def describe(self):
        return [_describe(self)]

    def collect(self):
        metric = _describe(self)
        for suffix, labels, value in self._family_samples():
            metric.samples.append(Sample(self._name + suffix, labels, value))
        return [metric]

    def __str__(self):
        return "%s:%s" % (self._type, self._name)

    def __repr__(self):
        return _metric_repr(self)


class _LabelledInfo(_CollectedMetric):
    """An Info with label names: each child holds its own pairs (Info(...) makes these)."""

    _type = "info"
    _public_name = "Info"

    def _init_value(self):
        self._value = {}
        self._labelname_set = set(self._labelnames)

    def info(self, val):
        """Sets this child's pairs (a dict of str); none may reuse a label name."""
        self._observable()
        if self._labelname_set.intersection(val.keys()):
            raise ValueError("Overlapping labels for Info metric, metric: %s child: %s"
                             % (self._labelnames, val))
        if any(value is None for value in val.values()):
            raise ValueError("Label value cannot be None")
        with self._lock:
            self._value = dict(val)

    def _own_samples(self):
        with self._lock:
            return [("_info", dict(self._value), 1.0)]


class _InfoClass(type):
    """Info's metaclass: an Info made with label names (a _LabelledInfo) is an Info too, for
    isinstance() as for prometheus_client's users."""

    def __instancecheck__(cls, instance):
        return type.__instancecheck__(cls, instance) or (cls is Info and isinstance(instance, _LabelledInfo))


class Info(_Family, metaclass=_InfoClass):
    """Info: ``Info(name, documentation, labelnames=(), registry=REGISTRY)``, exposed as
    ``<name>_info`` with value 1 and the pairs set by ``info({...})`` as labels. An unlabelled
    Info is a family of the library; one with label names is held in Python (each child has
    its own pairs) and collected at render."""

    _type = _kind = "info"

    def __new__(cls, name, documentation, labelnames=(), *args, **kwargs):
        if cls is Info and labelnames and not isinstance(labelnames, str) and tuple(labelnames):
            return _LabelledInfo(name, documentation, labelnames, *args, **kwargs)
        return super().__new__(cls)

    def __init__(self, name, documentation, labelnames=(), namespace="", subsystem="", unit="",
                 registry=REGISTRY, _labelvalues=None):
        self._registry = registry
        self._keys = ()
        super().__init__(name, documentation, (), namespace, subsystem, unit, registry, _labelvalues)

    def _new_family(self, registry, name, documentation, names, count, out):
        return C.info_family_new(registry, name, documentation, names, count, _byref(out))

    def _new_child(self, labelvalues):
        return None

    def _registries_add(self, registry):
        super()._registries_add(registry)
        self._registry = registry

    def info(self, val):
        """Sets the info's labels to the dict `val` (str keys and values)."""
        if not isinstance(val, dict):
            raise TypeError("info() takes a dict, not %s" % type(val).__name__)
        if any(value is None for value in val.values()):
            raise ValueError("Label value cannot be None")
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
            registry._forget(self)
        saved = self._labelnames
        self._labelnames = keys
        try:
            self._create(registry)
        except BaseException:
            self._labelnames = saved
            self._f = old
            if registry is not None:
                C.registry_register(registry._h, old)
                registry._record(self, registry._names_of(self))
            raise
        self._labelnames = saved
        self._keys = keys
        C.family_release(old)

    def labels(self, *labelvalues, **labelkwargs):
        raise ValueError("No label names were set when constructing %s" % self)

    def clear(self):
        pass  # no label sets to clear: the pairs stay, as in prometheus_client

    def remove(self, *labelvalues):
        raise ValueError("No label names were set when constructing %s" % self)


class Enum(_CollectedMetric):
    """A state set: ``Enum(name, documentation, labelnames=(), registry=REGISTRY,
    states=[...])``; ``state(s)`` sets the current state (the first one at the start).
    OpenMetrics shows it as a stateset, text 0.0.4 as a gauge with one sample per state."""

    _type = "stateset"

    def __init__(self, name, documentation, labelnames=(), namespace="", subsystem="", unit="",
                 registry=REGISTRY, _labelvalues=None, states=None):
        if name in labelnames:
            raise ValueError("Overlapping labels for Enum metric: %s" % (name,))
        if not states:
            raise ValueError("No states provided for Enum metric: %s" % (name,))
        self._states = [str(state) for state in states]
        super().__init__(name, documentation, labelnames, namespace, subsystem, unit, registry, _labelvalues)

    def _child_arguments(self):
        return {"states": self._states}

    def _init_value(self):
        self._value = 0

    def state(self, state):
        """Sets the current state (ValueError for one not among the states)."""
        self._observable()
        with self._lock:
            self._value = self._states.index(state)

    def _own_samples(self):
        with self._lock:
            current = self._value
        return [("", {self._name: state}, 1.0 if i == current else 0.0) for i, state in enumerate(self._states)]
