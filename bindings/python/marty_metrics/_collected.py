"""The one place where Python collectors meet the library's render-time collectors.

Each CollectorRegistry that has Python collectors (custom collectors, Enum, labelled Info,
target_info) gets one C collector (marty_registry_add_collector). The library calls it at every
rendering of that registry, generate_latest and the native endpoint's scrapes alike; ctypes
takes the GIL for the call, and only then: native metrics are rendered without it. The
callback walks the registry's Python collectors and hands each family to the library
(marty_collection_add_family / add_sample / set_exemplar), which renders it in every format.

Everything is checked here before it reaches C, and refused as prometheus_client's exposition
refuses it: a value float() cannot convert raises its TypeError or ValueError, a label value
that is not a str an AttributeError, an exemplar outside a counter's _total or a bucket a
ValueError (OpenMetrics only, as there); the failing Metric is appended to the exception's
args. An exception inside the callback cannot cross C: it is kept and re-raised by the
render() that caused it (a scrape of the native endpoint logs it instead).
"""

import ctypes
import logging
import math
import threading
import weakref

from . import _native
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


class RegistryGlue:
    """The C collector of one registry. Holds the registry weakly (the registry holds it)."""

    def __init__(self, registry):
        self._registry = weakref.ref(registry)
        self._state = threading.local()
        self._collector = None
        self._callback = None
        self._registry_handle = registry._h
        if not _native.has("registry_add_collector"):
            return  # an older library: render() says so when there is something to collect
        self._callback = _native.COLLECT_CALLBACK(self._collect)
        out = ctypes.c_void_p()
        status = C.registry_add_collector(registry._h, self._callback, None, ctypes.byref(out))
        if status:
            raise error_for(status)
        self._collector = out

    # -- the render that Python starts (generate_latest): errors come back to it

    def begin(self, openmetrics=False):
        if self._collector is None:
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

    def close(self):
        if self._collector is not None:
            C.registry_remove_collector(self._registry_handle, self._collector)
            self._collector = None

    # -- called by the library

    def _collect(self, _user_data, collection):
        state = self._state
        if getattr(state, "paused", False):
            return
        registry = self._registry()
        if registry is None:
            return
        openmetrics = getattr(state, "openmetrics", True) if getattr(state, "active", False) else True
        try:
            for metric in _python_families(registry):
                feed(collection, metric, openmetrics)
        except BaseException as error:  # nothing may unwind through C
            if getattr(state, "active", False):
                if state.failure is None:
                    state.failure = error
            else:
                _log.error("a custom collector failed during a scrape", exc_info=error)


def _python_families(registry):
    target_info = registry._target_info_metric()
    if target_info is not None:
        yield target_info
    with registry._lock:
        collectors = list(registry._python_collectors)
    for collector in collectors:
        yield from collector.collect()


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
