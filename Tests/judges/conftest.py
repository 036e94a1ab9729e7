"""Shared machinery of the independent exposition judges.

Loads libmarty_metrics.so through ctypes (every function used gets argtypes and restype;
handles are c_void_p so 64-bit pointers are never cut to 32 bits), and offers a small
*model* that drives the library and records, on the Python side, what each series must show.
The judges then compare what third-party parsers read from the rendered exposition with
what the model recorded.
"""

import ctypes
import glob
import importlib
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

# The library links the Swift runtime statically and installs no handler, but if a build
# with the shared runtime is ever judged, keep its crash backtracer out of this process.
os.environ.setdefault("SWIFT_BACKTRACE", "enable=no")

REPO_ROOT = Path(__file__).resolve().parents[2]

MARTY_OK = 0
MARTY_ERR_INVALID_VALUE = 6
MARTY_ERR_INVALID_ARGUMENT = 11
MARTY_FORMAT_TEXT = 0
MARTY_FORMAT_OPENMETRICS = 1

KIND_COUNTER = 0
KIND_GAUGE = 1
KIND_HISTOGRAM = 2
KIND_INFO = 3

DEFAULT_BOUNDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def find_library():
    """MARTY_METRICS_LIBRARY, else the newest <repo>/.build*/release/libmarty_metrics.so."""
    explicit = os.environ.get("MARTY_METRICS_LIBRARY")
    if explicit:
        if not os.path.exists(explicit):
            raise FileNotFoundError(f"MARTY_METRICS_LIBRARY={explicit!r} does not exist")
        return explicit
    candidates = glob.glob(str(REPO_ROOT / ".build*" / "release" / "libmarty_metrics.so"))
    candidates = [c for c in candidates if os.path.exists(c)]
    if not candidates:
        raise FileNotFoundError(
            "no libmarty_metrics.so under %s/.build*/release/: build it with "
            "`swift build -c release --product marty_metrics` or set MARTY_METRICS_LIBRARY"
            % REPO_ROOT)
    return max(candidates, key=os.path.getmtime)


c_int = ctypes.c_int
c_size_t = ctypes.c_size_t
c_double = ctypes.c_double
c_uint64 = ctypes.c_uint64
c_char_p = ctypes.c_char_p
c_void_p = ctypes.c_void_p
P = ctypes.POINTER

# name: (restype, argtypes)
SIGNATURES = {
    "marty_version": (c_char_p, []),
    "marty_version_number": (c_int, []),
    "marty_errmsg": (c_char_p, []),
    "marty_status_string": (c_char_p, [c_int]),
    "marty_free": (None, [c_void_p]),
    "marty_registry_new": (c_int, [P(c_void_p)]),
    "marty_registry_free": (c_int, [c_void_p]),
    "marty_counter_family_new": (c_int, [c_void_p, c_char_p, c_char_p, P(c_char_p), c_size_t, P(c_void_p)]),
    "marty_gauge_family_new": (c_int, [c_void_p, c_char_p, c_char_p, P(c_char_p), c_size_t, P(c_void_p)]),
    "marty_histogram_family_new": (c_int, [c_void_p, c_char_p, c_char_p, P(c_char_p), c_size_t,
                                           P(c_double), c_size_t, P(c_void_p)]),
    "marty_info_family_new": (c_int, [c_void_p, c_char_p, c_char_p, P(c_char_p), c_size_t, P(c_void_p)]),
    "marty_info_set": (c_int, [c_void_p, P(c_char_p), c_size_t]),
    "marty_family_kind": (c_int, [c_void_p, P(c_int)]),
    "marty_family_remove": (c_int, [c_void_p, P(c_char_p), c_size_t]),
    "marty_family_clear": (c_int, [c_void_p]),
    "marty_registry_unregister": (c_int, [c_void_p, c_void_p]),
    "marty_family_release": (c_int, [c_void_p]),
    "marty_counter_get": (c_int, [c_void_p, P(c_char_p), c_size_t, P(c_void_p)]),
    "marty_gauge_get": (c_int, [c_void_p, P(c_char_p), c_size_t, P(c_void_p)]),
    "marty_histogram_get": (c_int, [c_void_p, P(c_char_p), c_size_t, P(c_void_p)]),
    "marty_counter_inc": (c_int, [c_void_p]),
    "marty_counter_add_int": (c_int, [c_void_p, c_uint64]),
    "marty_counter_add": (c_int, [c_void_p, c_double]),
    "marty_counter_value": (c_int, [c_void_p, P(c_double)]),
    "marty_gauge_set": (c_int, [c_void_p, c_double]),
    "marty_gauge_inc": (c_int, [c_void_p]),
    "marty_gauge_dec": (c_int, [c_void_p]),
    "marty_gauge_add": (c_int, [c_void_p, c_double]),
    "marty_gauge_value": (c_int, [c_void_p, P(c_double)]),
    "marty_histogram_observe": (c_int, [c_void_p, c_double]),
    "marty_histogram_read": (c_int, [c_void_p, P(c_uint64), c_size_t, P(c_uint64), P(c_double)]),
    "marty_histogram_bucket_count": (c_int, [c_void_p, P(c_size_t)]),
    "marty_registry_render": (c_int, [c_void_p, c_int, P(c_void_p), P(c_size_t)]),
}


class MartyError(AssertionError):
    pass


class Library:
    def __init__(self, path):
        self.path = path
        self.dll = ctypes.CDLL(path)
        for name, (restype, argtypes) in SIGNATURES.items():
            fn = getattr(self.dll, name)
            fn.restype = restype
            fn.argtypes = argtypes
            setattr(self, name[len("marty_"):], fn)

    def check(self, status, what):
        if status != MARTY_OK:
            message = self.errmsg().decode("utf-8", "replace")
            raise MartyError(f"{what} failed with status {status}: {message}")

    def render(self, registry, fmt):
        """Renders and returns the raw bytes; checks *length against the NUL terminator."""
        out = c_void_p()
        length = c_size_t(12345)
        self.check(self.registry_render(registry, fmt, ctypes.byref(out), ctypes.byref(length)),
                   f"marty_registry_render(format={fmt})")
        assert out.value is not None, "render returned OK but a NULL buffer"
        try:
            data = ctypes.string_at(out.value, length.value)
            up_to_nul = ctypes.string_at(out.value)  # reads up to the first NUL
            terminator = ctypes.string_at(out.value + length.value, 1)
        finally:
            self.free(out)
        assert terminator == b"\x00", "the buffer is not NUL-terminated at *length"
        assert up_to_nul == data, (
            f"*length ({length.value}) disagrees with the NUL-terminated length ({len(up_to_nul)})")
        return data


def _strings(values):
    values = list(values)
    if not values:
        return None, 0
    array = (c_char_p * len(values))(*[v.encode("utf-8") for v in values])
    return array, len(values)


class SeriesModel:
    """One series and what it must show."""

    def __init__(self, family, values, handle):
        self.family = family
        self.values = tuple(values)
        self.handle = handle
        self.value = 0            # int while only whole numbers were added (exact)
        self.rel_tol = 0.0        # 0: must be exactly equal
        self.observations = []    # histograms

    @property
    def lib(self):
        return self.family.model.lib

    # counters
    def inc(self):
        self.lib.check(self.lib.counter_inc(self.handle), "marty_counter_inc")
        self.value = self.value + 1
        return self

    def add_int(self, amount):
        self.lib.check(self.lib.counter_add_int(self.handle, amount), "marty_counter_add_int")
        self.value = self.value + amount
        return self

    def add(self, amount, rel_tol=0.0):
        self.lib.check(self.lib.counter_add(self.handle, amount), "marty_counter_add")
        self.value = float(self.value) + amount
        self.rel_tol = max(self.rel_tol, rel_tol)
        return self

    # gauges
    def set(self, value):
        self.lib.check(self.lib.gauge_set(self.handle, value), "marty_gauge_set")
        self.value = float(value)
        self.rel_tol = 0.0
        return self

    def gauge_inc(self):
        self.lib.check(self.lib.gauge_inc(self.handle), "marty_gauge_inc")
        self.value = float(self.value) + 1.0
        return self

    def gauge_dec(self):
        self.lib.check(self.lib.gauge_dec(self.handle), "marty_gauge_dec")
        self.value = float(self.value) - 1.0
        return self

    def gauge_add(self, amount):
        self.lib.check(self.lib.gauge_add(self.handle, amount), "marty_gauge_add")
        self.value = float(self.value) + amount
        return self

    # histograms
    def observe(self, value, rel_tol=0.0):
        self.lib.check(self.lib.histogram_observe(self.handle, value), "marty_histogram_observe")
        self.observations.append(value)
        self.rel_tol = max(self.rel_tol, rel_tol)
        return self

    def expected_buckets(self):
        """[(bound, cumulative count)] including +Inf."""
        bounds = list(self.family.bounds) + [math.inf]
        return [(b, sum(1 for o in self.observations if o <= b)) for b in bounds]

    def expected_sum(self):
        total = 0.0
        for o in self.observations:
            total += o
        return total

    # what the library itself reports through its reading calls
    def api_reading(self):
        lib = self.lib
        kind = self.family.kind
        if kind == "counter":
            out = c_double()
            lib.check(lib.counter_value(self.handle, ctypes.byref(out)), "marty_counter_value")
            return out.value
        if kind == "gauge":
            out = c_double()
            lib.check(lib.gauge_value(self.handle, ctypes.byref(out)), "marty_gauge_value")
            return out.value
        if kind == "histogram":
            n = c_size_t()
            lib.check(lib.histogram_bucket_count(self.handle, ctypes.byref(n)), "marty_histogram_bucket_count")
            counts = (c_uint64 * (n.value + 1))()
            count = c_uint64()
            total = c_double()
            lib.check(lib.histogram_read(self.handle, counts, n.value + 1, ctypes.byref(count),
                                         ctypes.byref(total)), "marty_histogram_read")
            return list(counts), count.value, total.value
        return 1


class FamilyModel:
    def __init__(self, model, kind, name, help_text, label_names, handle, bounds=None):
        self.model = model
        self.kind = kind
        self.name = name
        self.help = help_text
        self.label_names = tuple(label_names)
        self.handle = handle
        self.bounds = tuple(bounds) if bounds is not None else None
        self.series = {}
        self.registered = True

    @property
    def lib(self):
        return self.model.lib

    def get(self, *values):
        values = tuple(values)
        if values in self.series:
            # Looking up again must give the same handle.
            handle = self._lookup(values)
            assert handle == self.series[values].handle, f"{self.name}{values}: a second lookup gave another handle"
            return self.series[values]
        series = SeriesModel(self, values, self._lookup(values))
        self.series[values] = series
        return series

    def _lookup(self, values):
        getter = {"counter": self.lib.counter_get, "gauge": self.lib.gauge_get,
                  "histogram": self.lib.histogram_get}[self.kind]
        array, count = _strings(values)
        out = c_void_p()
        self.lib.check(getter(self.handle, array, count, ctypes.byref(out)),
                       f"marty_{self.kind}_get({self.name}, {values!r})")
        assert out.value, "NULL series handle"
        return out.value

    def info_set(self, *values):
        assert self.kind == "info"
        array, count = _strings(values)
        self.lib.check(self.lib.info_set(self.handle, array, count), f"marty_info_set({self.name})")
        self.series = {tuple(values): SeriesModel(self, values, None)}
        self.series[tuple(values)].value = 1
        return self

    def remove(self, *values):
        array, count = _strings(values)
        self.lib.check(self.lib.family_remove(self.handle, array, count), f"marty_family_remove({self.name})")
        del self.series[tuple(values)]

    def clear(self):
        self.lib.check(self.lib.family_clear(self.handle), f"marty_family_clear({self.name})")
        self.series = {}

    def unregister(self):
        self.lib.check(self.lib.registry_unregister(self.model.registry, self.handle),
                       f"marty_registry_unregister({self.name})")
        self.registered = False


class Model:
    """A fresh registry plus the expectations recorded for it."""

    def __init__(self, lib):
        self.lib = lib
        out = c_void_p()
        lib.check(lib.registry_new(ctypes.byref(out)), "marty_registry_new")
        self.registry = out.value
        self.families = []
        # promtool lint findings that the *input* of a scenario provokes on purpose (e.g. an
        # empty HELP, upper-case names): substrings of the lint lines that are acceptable.
        self.expected_lint = []

    def _family(self, kind, creator, name, help_text, label_names, *extra, bounds=None):
        array, count = _strings(label_names)
        out = c_void_p()
        self.lib.check(creator(self.registry, name.encode(), help_text.encode("utf-8"), array, count,
                               *extra, ctypes.byref(out)),
                       f"marty_{kind}_family_new({name!r})")
        family = FamilyModel(self, kind, name, help_text, label_names, out.value, bounds)
        self.families.append(family)
        return family

    def counter(self, name, help_text, label_names=()):
        return self._family("counter", self.lib.counter_family_new, name, help_text, label_names)

    def gauge(self, name, help_text, label_names=()):
        return self._family("gauge", self.lib.gauge_family_new, name, help_text, label_names)

    def info(self, name, help_text, label_names=()):
        return self._family("info", self.lib.info_family_new, name, help_text, label_names)

    def histogram(self, name, help_text, label_names=(), bounds=None):
        if bounds is None:
            pointer, count, model_bounds = None, 0, DEFAULT_BOUNDS
        else:
            pointer, count, model_bounds = (c_double * len(bounds))(*bounds), len(bounds), bounds
        return self._family("histogram", self.lib.histogram_family_new, name, help_text, label_names,
                            pointer, count, bounds=model_bounds)

    def render(self, fmt):
        return self.lib.render(self.registry, fmt)

    def close(self):
        for family in self.families:
            self.lib.check(self.lib.family_release(family.handle), "marty_family_release")
        self.families = []
        if self.registry:
            self.lib.check(self.lib.registry_free(self.registry), "marty_registry_free")
            self.registry = None


@pytest.fixture(scope="session")
def lib():
    return Library(find_library())


@pytest.fixture
def new_model(lib):
    """Returns a factory of fresh registries (each freed at teardown)."""
    made = []

    def make():
        model = Model(lib)
        made.append(model)
        return model

    yield make
    for model in made:
        model.close()


# ---- The protobuf judges' decoder -----------------------------------------------------------


@pytest.fixture(scope="module")
def pb(tmp_path_factory):
    """metrics.proto (client_model's field numbers) compiled by Debian's protoc, imported."""
    pytest.importorskip("google.protobuf")
    protoc = shutil.which("protoc")
    if protoc is None:
        pytest.skip("protoc not found (apt-get install protobuf-compiler)")
    here = Path(__file__).resolve().parent
    out = tmp_path_factory.mktemp("proto")
    subprocess.run([protoc, f"--proto_path={here}", f"--python_out={out}", str(here / "metrics.proto")], check=True)
    sys.path.insert(0, str(out))
    try:
        return importlib.import_module("metrics_pb2")
    finally:
        sys.path.remove(str(out))


def decode(pb, data):
    """The MetricFamily messages of a delimited protobuf exposition."""
    from google.protobuf.internal.decoder import _DecodeVarint32

    families, position = [], 0
    while position < len(data):
        length, position = _DecodeVarint32(data, position)
        family = pb.MetricFamily()
        family.ParseFromString(data[position:position + length])
        families.append(family)
        position += length
    return families
