"""CollectorRegistry: the library's registry (``marty_registry``) plus the Python collectors
registered in it.

A registry holds two kinds of collectors:
  * native metrics (Counter, Gauge, Histogram, Summary, unlabelled Info): families of the
    library, rendered by it; recording into them never touches Python or the GIL;
  * Python collectors: any object with ``collect()`` (custom collectors, Enum, labelled Info,
    target_info). The library calls them at every rendering of the registry, generate_latest
    and the native endpoint's scrapes alike, through one C collector per Python collector,
    added as it is registered (see ``_collected``), with the GIL held; only they take it.

Every registry renders in the library's prometheus_client style (marty_registry_set_style):
families and collectors in registration order, series in creation order, numbers spelled as
Python spells floats, text 0.0.4 with _created gauge families. That is what a drop-in for
prometheus_client has to write: scrapers do not care, but tests, golden files and diffs of a
service's /metrics before and after the move do.

Name clashes are found as prometheus_client finds them, from each collector's ``describe()``
(or ``collect()`` with auto_describe), before anything is registered.
"""

import ctypes
import weakref

from ._collected import REFRESHER, TARGET_INFO, RegistryGlue

from . import _native
from ._forksafe import new_lock
from ._native import C, check
from ._parse import parse_openmetrics

__all__ = ["Collector", "CollectorRegistry", "REGISTRY", "RestrictedRegistry"]

_byref = ctypes.byref
_c_void_p = ctypes.c_void_p

# The names of the samples a family of each type writes besides its own name, as
# prometheus_client counts them for clashes.
_TYPE_SUFFIXES = {
    "counter": ("_total", "_created"),
    "summary": ("_sum", "_count", "_created"),
    "histogram": ("_bucket", "_sum", "_count", "_created"),
    "gaugehistogram": ("_bucket", "_gsum", "_gcount"),
    "info": ("_info",),
}

# Every live registry, so that disable_created_metrics() reaches them all.
_registries = weakref.WeakSet()


class DuplicateTimeseries(ValueError):
    """Registering a collector whose names are already taken (prometheus_client 0.26's
    ValueError subclass: ``duplicates`` holds the clashing names)."""

    def __init__(self, duplicates):
        super().__init__("Duplicated timeseries in CollectorRegistry: %s" % (duplicates,))
        self.duplicates = duplicates


class _LibraryDuplicateTimeseries(DuplicateTimeseries, _native.MartyValueError):
    """A name clash the library found between two of its families: prometheus_client's
    DuplicateTimeseries, with the library's message (it names both families) and status."""

    def __init__(self, duplicates, error):
        ValueError.__init__(self, "%s (Duplicated timeseries in CollectorRegistry: %s)" % (error, duplicates))
        self.duplicates = duplicates
        self.status = error.status


class Collector:
    """The shape of a collector: ``collect()`` returns Metric objects (``describe()``,
    optional, returns them without having to compute values)."""

    def collect(self):
        raise NotImplementedError

    def describe(self):
        return []


class CollectorRegistry(Collector):
    """A registry of metric families: ``CollectorRegistry(auto_describe=False,
    target_info=None)`` makes a new, independent one; ``REGISTRY`` is the process-wide default
    (the library's), which the embedded endpoint serves unless told otherwise."""

    def __init__(self, auto_describe=False, target_info=None, support_collectors_without_names=False,
                 _handle=None):
        if _handle is None:
            out = _c_void_p()
            check(C.registry_new(_byref(out)))
            self._owned = True
        else:
            out = _c_void_p(_handle)
            self._owned = False
        self._h = out
        if _native.has("registry_set_style"):
            check(C.registry_set_style(out, _native.STYLE_PROMETHEUS_CLIENT))
        self._auto_describe = auto_describe
        # Collectors that name nothing (no describe(), or an empty one) are left out of a
        # restricted registry's collect() unless this is set (prometheus_client 0.26); then a
        # restricted collect() calls them too and keeps the samples it was asked for.
        self._support_collectors_without_names = support_collectors_without_names
        self._collectors_without_names = []
        new_lock(self, "_lock")
        self._collector_to_names = {}
        self._names_to_collectors = {}
        # Python collectors in registration order (what the library calls back into).
        self._python_collectors = []
        self._refreshers = weakref.WeakSet()  # gauges with set_function
        self._glue = RegistryGlue(self)  # the C collectors of the Python collectors
        self._target_info = {}
        self._created_override = None  # set_created_timestamps(); None follows the global switch
        self._created_applied = True
        _registries.add(self)
        self.set_target_info(target_info)

    # -- registration

    def register(self, collector):
        """Adds a collector: a marty_metrics metric made with ``registry=None``, or any object
        with ``collect()``. ValueError when one of its names is taken."""
        from .metrics import _Family

        if isinstance(collector, _Family):
            with self._lock:
                names = self._names_of(collector)
                self._check_free(names)
                check(C.registry_register(self._handle(), _family_handle(collector)))
                self._record(collector, names)
                collector._registries_add(self)
            return
        if not callable(getattr(collector, "collect", None)):
            raise TypeError("a collector needs a collect() method (a marty_metrics metric or a custom "
                            "collector), not %s %r" % (type(collector).__name__, collector))
        with self._glue.order_lock:
            with self._lock:
                names = self._names_of(collector)
                self._check_free(names)
                self._record(collector, names)
                self._python_collectors.append(collector)
                if self._support_collectors_without_names and not names:
                    self._collectors_without_names.append(collector)
                if hasattr(collector, "_registries_add"):
                    collector._registries_add(self)
            # Added now, so the library writes its families where it was registered.
            self._glue.add(collector, collector.collect)

    def unregister(self, collector):
        """Removes a collector (KeyError, as prometheus_client, if it is not registered here)."""
        from .metrics import _Family

        if not isinstance(collector, _Family) and not callable(getattr(collector, "collect", None)):
            raise TypeError("not a collector (no collect() method): %s %r" % (type(collector).__name__, collector))
        with self._glue.order_lock:
            with self._lock:
                if collector not in self._collector_to_names:
                    if isinstance(collector, _Family):
                        raise _native.MartyNotFoundError("%r is not registered in this registry" % (collector,))
                    raise KeyError(collector)
                if isinstance(collector, _Family):
                    check(C.registry_unregister(self._handle(), _family_handle(collector)))
                else:
                    self._python_collectors.remove(collector)
                    if collector in self._collectors_without_names:
                        self._collectors_without_names.remove(collector)
                for name in self._collector_to_names.pop(collector):
                    del self._names_to_collectors[name]
                if hasattr(collector, "_registries_discard"):
                    collector._registries_discard(self)
            self._glue.remove(collector)

    def _adopt(self, metric, create):
        """Registers a native metric while it is made: `create()` makes its family in this
        registry. A clash with another native family is the library's error (it names both);
        the clashes only prometheus_client's rules see (a gauge named like a histogram) and
        those with Python collectors are its ValueError."""
        with self._lock:
            names = self._names_of(metric)
            clashes = set(self._names_to_collectors).intersection(names)
            if any(not _is_native(self._names_to_collectors[name]) for name in clashes):
                self._check_free(names)
            try:
                create()
            except _native.MartyValueError as error:
                if clashes and error.status == _native.ERR_CONFLICT:
                    raise _LibraryDuplicateTimeseries(clashes, error) from None
                raise
            if clashes:
                C.registry_unregister(self._handle(), metric._f)
                self._check_free(names)
            self._record(metric, names)

    def _names_of(self, collector):
        describe = None
        if hasattr(collector, "describe"):
            describe = collector.describe
        elif self._auto_describe:
            describe = collector.collect
        if describe is None:
            return []
        names = []
        for metric in describe():
            names.append(metric.name)
            for suffix in _TYPE_SUFFIXES.get(metric.type, ()):
                names.append(metric.name + suffix)
        return names

    def _check_free(self, names):
        duplicates = set(self._names_to_collectors).intersection(names)
        if duplicates:
            raise DuplicateTimeseries(duplicates)

    def _record(self, collector, names):
        for name in names:
            self._names_to_collectors[name] = collector
        self._collector_to_names[collector] = names

    def _forget(self, collector):
        """Drops the names of a native metric whose family was replaced or dropped."""
        with self._lock:
            for name in self._collector_to_names.pop(collector, ()):
                self._names_to_collectors.pop(name, None)

    # -- target info

    def set_target_info(self, labels):
        """Sets the ``target_info`` family's labels (an info family named ``target``); None or
        {} removes it. ValueError if ``target_info`` is taken by another collector.

        prometheus_client writes target_info first; here it comes where it was first set
        (first when given to the constructor)."""
        with self._glue.order_lock:
            with self._lock:
                if labels:
                    if not self._target_info and "target_info" in self._names_to_collectors:
                        raise ValueError("CollectorRegistry already contains a target_info metric")
                    self._names_to_collectors["target_info"] = _TARGET_INFO
                elif self._target_info:
                    self._names_to_collectors.pop("target_info", None)
                # Replaced, never changed in place: the collector reads it without the lock.
                self._target_info = dict(labels or {})
            if self._target_info:
                self._glue.add(TARGET_INFO, self._glue_target_info)
            else:
                self._glue.remove(TARGET_INFO)

    def _glue_target_info(self):
        metric = self._target_info_metric(self._target_info)
        return [metric] if metric is not None else []

    def get_target_info(self):
        """The target_info labels, or None."""
        with self._lock:
            return dict(self._target_info) if self._target_info else None

    def _target_info_metric(self, labels=None):
        from .metrics_core import Metric

        if labels is None:
            labels = self.get_target_info()
        if not labels:
            return None
        metric = Metric("target", "Target metadata", "info")
        metric.add_sample("target_info", labels, 1)
        return metric

    # -- reading

    def _prepare_render(self):
        """What every rendering Python starts does first: the created switch, and the
        set_function gauges where the library cannot call them (no collectors before 0.3)."""
        from . import metrics

        wanted = self._created_override if self._created_override is not None else metrics._use_created
        if wanted != self._created_applied:
            check(C.registry_set_created_timestamps(self._handle(), 1 if wanted else 0))
            self._created_applied = wanted
        if not self._glue.supported():
            self._refresh_functions()

    def _refresh_functions(self):
        for gauge in list(self._refreshers):
            gauge._refresh()

    def _add_refresher(self, gauge):
        """A gauge with set_function: the library calls the functions before each render
        (one C collector per registry, adding no family)."""
        self._refreshers.add(gauge)
        registry = weakref.ref(self)

        def refresh():
            target = registry()
            if target is not None:
                target._refresh_functions()

        with self._glue.order_lock:
            self._glue.add(REFRESHER, refresh)

    def set_created_timestamps(self, enabled):
        """Whether this registry's renderings show when counters, histograms and summaries were
        created (else as disable_created_metrics()/enable_created_metrics() say)."""
        self._created_override = None if enabled is None else bool(enabled)
        self._prepare_render()

    def render(self, openmetrics=False, protobuf=False, escaping="underscores"):
        """The exposition of the registry, as bytes: text 0.0.4, OpenMetrics 1.0, or delimited
        protobuf MetricFamily messages, names outside the legacy set written as `escaping` says
        (``allow-utf-8``, ``underscores``, ``dots``, ``values``). Rendered by the library; the
        Python collectors are called from inside it."""
        scheme = _escaping_code(escaping)
        self._prepare_render()
        if protobuf:
            fmt = _native.FORMAT_PROTOBUF
        else:
            fmt = _native.FORMAT_OPENMETRICS if openmetrics else _native.FORMAT_TEXT
        return self._render_bytes(fmt, scheme, openmetrics, python_collectors=True)

    def _native_metrics(self):
        """The library's own families, as Metric objects (from its OpenMetrics rendering)."""
        self._prepare_render()
        # Rendered with the Python collectors left out: their families are read from them directly.
        text = self._render_bytes(_native.FORMAT_OPENMETRICS, _native.ESCAPINGS["allow-utf-8"], True,
                                  python_collectors=False)
        return parse_openmetrics(text.decode("utf-8"))

    def _render_bytes(self, fmt, scheme, openmetrics, python_collectors):
        """The library's rendering; an exception a collector (or a set_function) raised during it
        is raised here. Without `python_collectors`, their C collectors add nothing."""
        glue = self._glue
        if glue.supported() or (python_collectors and (self._python_collectors or self._target_info)):
            glue.begin(openmetrics=openmetrics)  # (raises without collectors in the library)
        if not python_collectors:
            glue.pause()
        out = _c_void_p()
        length = ctypes.c_size_t()
        try:
            status = C.registry_render_escaped(self._handle(), fmt, scheme, _byref(out), _byref(length))
        finally:
            if not python_collectors:
                glue.resume()
            failure = glue.end()
        if failure is not None:
            if not status:
                C.free(out)
            raise failure
        check(status)
        try:
            return ctypes.string_at(out.value, length.value)
        finally:
            C.free(out)

    def collect(self):
        """Every family of the registry as Metric objects: target_info, the native families,
        then each Python collector's."""
        target_info = self._target_info_metric()
        if target_info is not None:
            yield target_info
        yield from self._native_metrics()
        with self._lock:
            collectors = list(self._python_collectors)
        for collector in collectors:
            yield from collector.collect()

    def restricted_registry(self, names):
        """A view of this registry showing only the samples named in `names` (and calling
        only the collectors that describe one of them)."""
        return RestrictedRegistry(names, self)

    def get_sample_value(self, name, labels=None):
        """The value of one sample, or None. It collects the whole registry: for tests."""
        if labels is None:
            labels = {}
        for metric in self.collect():
            for sample in metric.samples:
                if sample.name == name and sample.labels == labels:
                    return sample.value
        return None

    def _handle(self):
        return _registry_handle(self)

    def __del__(self):
        glue = self.__dict__.get("_glue")
        if glue is not None and C is not None:
            glue.close()
        if getattr(self, "_owned", False) and C is not None:
            C.registry_free(self._h)
            self._owned = False

    def __repr__(self):
        return "<%s %s>" % (type(self).__name__, "default" if not self._owned else hex(self._h.value or 0))


class RestrictedRegistry:
    """A registry's families restricted to some sample names (``restricted_registry``)."""

    def __init__(self, names, registry):
        self._name_set = set(names)
        self._registry = registry

    def collect(self):
        registry = self._registry
        with registry._lock:
            collectors = {registry._names_to_collectors[name] for name in self._name_set
                          if name in registry._names_to_collectors}
            collectors.update(registry._collectors_without_names)
        metrics = []
        if _TARGET_INFO in collectors:
            metrics.append(registry._target_info_metric())
        if any(_is_native(collector) for collector in collectors):
            metrics.extend(registry._native_metrics())
        for collector in [c for c in registry._python_collectors if c in collectors]:
            metrics.extend(collector.collect())
        for metric in metrics:
            if metric is None:
                continue
            restricted = metric._restricted_metric(self._name_set)
            if restricted is not None:
                yield restricted

    def render(self, openmetrics=False, protobuf=False, escaping="underscores"):
        """The registry's exposition with only the families and samples named (text formats);
        the filtering keeps the library's rendering of each kept line as it is."""
        if protobuf:
            raise ValueError("a restricted registry renders the text formats only")
        text = self._registry.render(openmetrics=openmetrics, escaping=escaping).decode("utf-8")
        return _restrict_text(text, self._name_set).encode("utf-8")


def _restrict_text(text, names):
    """The lines of a text rendering whose samples are named in `names`, with the comment lines
    of their families."""
    out = []
    comments = []
    for line in text.splitlines():
        if line.startswith("# EOF"):
            out.append(line)
        elif line.startswith("#"):
            if comments and comments[-1].split(" ", 3)[2:3] != line.split(" ", 3)[2:3]:
                comments = []
            comments.append(line)
        else:
            name = line.split("{", 1)[0].split(" ", 1)[0]
            if name in names:
                out.extend(comments)
                comments = []
                out.append(line)
    return "".join(line + "\n" for line in out)


def _is_native(collector):
    from .metrics import _Family

    return isinstance(collector, _Family)


class _TargetInfoMarker:
    """Stands for the target_info family in a registry's name table."""

    def __repr__(self):
        return "<target_info>"


_TARGET_INFO = _TargetInfoMarker()


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
    from .metrics import _Family

    if not isinstance(metric, _Family):
        raise TypeError("not a marty_metrics metric (Counter, Gauge, Histogram, Summary or Info): %s %r"
                        % (type(metric).__name__, metric))
    handle = metric.__dict__.get("_f")
    if type(handle) is not _c_void_p or not handle.value:
        raise TypeError("%r has no live marty_metrics family" % (metric,))
    return handle


def _registry_handle(registry):
    """The C registry handle of a marty_metrics CollectorRegistry; a TypeError for anything
    else (checked by type, as for metrics)."""
    if not isinstance(registry, CollectorRegistry):
        raise TypeError("registry must be a marty_metrics CollectorRegistry, not %s" % type(registry).__name__)
    handle = registry.__dict__.get("_h")
    if type(handle) is not _c_void_p or not handle.value:
        raise TypeError("%r has no live marty_metrics registry" % (registry,))
    return handle


REGISTRY = CollectorRegistry(auto_describe=True, _handle=C.registry_default())
