"""The one place where Python collectors meet the library's render-time collectors.

Every Python collector registered in a CollectorRegistry (a custom collector, an Enum, a
labelled Info) gets a C collector of its own (marty_registry_add_collector), added when it is
registered and removed when it is unregistered. The library orders collectors among the
registry's families by when they were added, so the families come out in registration order,
as prometheus_client writes them. target_info has one too (added when it is first set), and
so do a registry's set_function gauges (one that adds nothing and sets the gauges: the library
runs every collector before it writes anything, so even a scrape of the native endpoint shows
the function's value).

The library calls them at every rendering of the registry, generate_latest and the native
endpoint's scrapes alike; ctypes takes the GIL for the call, and only then: native metrics are
rendered without it. Each callback hands its collector's families to the library
(marty_collection_add_family / add_sample / set_exemplar), which renders them in every format.

Everything is checked here before it reaches C, and refused as prometheus_client's exposition
refuses it: a value float() cannot convert raises its TypeError or ValueError, a label value
that is not a str an AttributeError, an exemplar outside a counter's _total or a bucket a
ValueError (OpenMetrics only, as there); the failing Metric is appended to the exception's
args. An exception inside a callback cannot cross C: it is kept and re-raised by the render()
that caused it (a scrape of the native endpoint logs it instead); the collectors after it in
that render add nothing, as prometheus_client stops at the first failing collector.
"""

import ctypes
import logging
import math
import threading
import weakref

from . import _native
from ._forksafe import new_lock
from ._native import C, encode, error_for
from .samples import Timestamp

__all__ = ["RegistryGlue", "TYPE_CODES"]

# enum marty_collected_type.
TYPE_CODES = {
    "unknown": 0, "untyped": 0, "counter": 1, "gauge": 2, "histogram": 3, "summary": 4,
    "info": 5, "stateset": 6, "gaugehistogram": 7,
}
NAN = float("nan")
_log = logging.getLogger("marty_metrics")

# The keys of the two collectors that stand for no Python collector.
TARGET_INFO = "target_info"
REFRESHER = "set_function"


class RegistryGlue:
    """The C collectors of one registry and the state of the renders Python starts in it.
    Holds the registry weakly (the registry holds it)."""

    def __init__(self, registry):
        self._registry = weakref.ref(registry)
        self._registry_handle = registry._h
        self._state = threading.local()
        # Serialises adding and removing, so the library's order is the order of the calls.
        # Never held by a callback, nor taken while a registry's lock is held.
        new_lock(self, "order_lock", threading.RLock)
        self._collectors = {}  # key (a Python collector, TARGET_INFO, REFRESHER) -> (handle, callback)

    @staticmethod
    def supported():
        return _native.has("registry_add_collector")

    def add(self, key, families):
        """Adds a C collector after every family and collector the registry has: at each
        render it feeds the library `families()`, an iterable of Metric objects (or, for
        REFRESHER, just calls it). Nothing happens on a library without collectors (render()
        says so)."""
        if not self.supported() or key in self._collectors:
            return
        if key == REFRESHER:
            def collect(_user_data, _collection):
                self._refresh(families)
        else:
            def collect(_user_data, collection):
                self._collect(collection, families)
        callback = _native.COLLECT_CALLBACK(collect)
        out = ctypes.c_void_p()
        status = C.registry_add_collector(self._registry_handle, callback, None, ctypes.byref(out))
        if status:
            raise error_for(status)
        self._collectors[key] = (out, callback)

    def remove(self, key):
        entry = self._collectors.pop(key, None)
        if entry is not None:
            # Waits for a call of it in progress (with the GIL released: "lib").
            C.registry_remove_collector(self._registry_handle, entry[0])

    def __contains__(self, key):
        return key in self._collectors

    def close(self):
        for key in list(self._collectors):
            self.remove(key)

    # -- the render that Python starts (generate_latest): errors come back to it

    def begin(self, openmetrics=False):
        if not self.supported():
            raise _native.MartyError(
                "this registry has custom collectors, which need libmarty_metrics 0.3 or later "
                "(marty_registry_add_collector); %s is %s" % (_native.library_path, _native.VERSION))
        self._state.failure = None
        self._state.openmetrics = openmetrics
        self._state.active = True

    def end(self):
        failure = getattr(self._state, "failure", None)
        self._state.failure = None
        self._state.active = False
        return failure

    def pause(self):
        """Renders on this thread leave the Python collectors out (collect() reads them directly)."""
        self._state.paused = True

    def resume(self):
        self._state.paused = False

    # -- called by the library

    def _collect(self, collection, families):
        state = self._state
        if getattr(state, "paused", False) or getattr(state, "failure", None) is not None:
            return
        active = getattr(state, "active", False)
        openmetrics = getattr(state, "openmetrics", True) if active else True
        try:
            for metric in families():
                feed(collection, metric, openmetrics)
        except BaseException as error:  # nothing may unwind through C
            if active:
                state.failure = error
            else:
                _log.error("a custom collector failed during a scrape", exc_info=error)

    def _refresh(self, refresh):
        try:
            refresh()
        except BaseException as error:  # nothing may unwind through C
            state = self._state
            if getattr(state, "active", False):
                if getattr(state, "failure", None) is None:
                    state.failure = error
            else:
                _log.error("a set_function gauge's function failed during a scrape", exc_info=error)


def feed(collection, metric, openmetrics):
    """Checks one Metric and adds it to the library's collection; on a bad value, raises as
    prometheus_client does, with the metric as the exception's last argument."""
    try:
        family = _checked_family(metric, openmetrics)
    except Exception as error:
        error.args = (error.args or ("",)) + (metric,)
        raise
    name, documentation, type_code, unit, samples = family
    _call(C.collection_add_family, collection, name, documentation, type_code, unit)
    for sample_name, names, values, count, value, timestamp, exemplar in samples:
        _call(C.collection_add_sample, collection, sample_name, names, values, count, value, timestamp)
        if exemplar is not None:
            _call(C.collection_set_exemplar, collection, *exemplar)


def _call(function, *args):
    status = function(*args)
    if status:
        raise error_for(status)


def _checked_family(metric, openmetrics):
    """The family as C arguments, every field checked and converted."""
    type_code = TYPE_CODES.get(metric.type)
    if type_code is None:
        raise ValueError("Invalid metric type: %r" % (metric.type,))
    name = encode(metric.name, "metric name")
    documentation = encode(metric.documentation, "documentation")
    unit = encode(metric.unit, "unit") if metric.unit else None
    samples = []
    for sample in metric.samples:
        names, values, count = _label_arrays(sample.labels)
        exemplar = None
        if sample.exemplar is not None:
            if openmetrics:
                _check_exemplar_place(metric, sample)
            exemplar = _exemplar_arguments(sample.exemplar)
        samples.append((encode(sample.name, "sample name"), names, values, count, float(sample.value),
                        _seconds(sample.timestamp), exemplar))
    return name, documentation, type_code, unit, samples


def _label_arrays(labels):
    count = len(labels)
    if not count:
        return None, None, 0
    names = (ctypes.c_char_p * count)()
    values = (ctypes.c_char_p * count)()
    for i, (name, value) in enumerate(labels.items()):
        if not isinstance(value, str):
            # prometheus_client's exposition escapes values with str methods: anything else
            # fails there with an AttributeError, and so here.
            raise AttributeError("label %r has the value %r, not a str" % (name, value))
        names[i] = encode(name, "label name")
        values[i] = encode(value, "label value")
    return names, values, count


def _check_exemplar_place(metric, sample):
    """OpenMetrics allows exemplars on a counter's _total and on histogram buckets only."""
    if metric.type == "counter" and sample.name.endswith("_total"):
        return
    if metric.type in ("histogram", "gaugehistogram") and sample.name.endswith("_bucket"):
        return
    raise ValueError("Metric %s has exemplars, but is not a histogram bucket or counter" % metric.name)


def _exemplar_arguments(exemplar):
    names, values, count = _label_arrays(exemplar.labels)
    return names, values, count, float(exemplar.value), _seconds(exemplar.timestamp)


def _seconds(timestamp):
    if timestamp is None:
        return NAN
    seconds = float(timestamp) if isinstance(timestamp, Timestamp) else float(timestamp)
    if math.isnan(seconds):
        raise ValueError("a sample timestamp cannot be NaN")
    return seconds
