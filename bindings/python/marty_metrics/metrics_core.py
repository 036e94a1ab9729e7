"""Metric and the metric families that custom collectors return from ``collect()``.

Plain data, as prometheus_client defines it: a family's name (a counter's without
``_total``), help, type, unit and samples. Values are kept as given; they are converted and
checked when a registry renders them (see ``_collected``), so a bad value is reported there
with the family attached, as prometheus_client reports it."""

from .samples import Exemplar, Sample, Timestamp
from .validation import METRIC_LABEL_NAME_RE, METRIC_NAME_RE, RESERVED_METRIC_LABEL_NAME_RE, _validate_metric_name

__all__ = [
    "Metric", "UnknownMetricFamily", "UntypedMetricFamily", "CounterMetricFamily", "GaugeMetricFamily",
    "SummaryMetricFamily", "HistogramMetricFamily", "GaugeHistogramMetricFamily", "InfoMetricFamily",
    "StateSetMetricFamily", "METRIC_TYPES", "Exemplar", "Sample", "Timestamp",
]

METRIC_TYPES = ("counter", "gauge", "summary", "histogram", "gaugehistogram", "unknown", "info", "stateset")
# Re-exported for code that takes them from here, as from prometheus_client.metrics_core.
METRIC_NAME_RE = METRIC_NAME_RE
METRIC_LABEL_NAME_RE = METRIC_LABEL_NAME_RE
RESERVED_METRIC_LABEL_NAME_RE = RESERVED_METRIC_LABEL_NAME_RE


class Metric:
    """One metric family and its samples. ``typ`` is one of METRIC_TYPES (``untyped`` is
    taken as ``unknown``); a unit not already ending the name is appended to it."""

    def __init__(self, name, documentation, typ, unit=""):
        if unit and not name.endswith("_" + unit):
            name += "_" + unit
        _validate_metric_name(name)
        self.name = name
        self.documentation = documentation
        self.unit = unit
        if typ == "untyped":
            typ = "unknown"
        if typ not in METRIC_TYPES:
            raise ValueError("Invalid metric type: " + str(typ))
        self.type = typ
        self.samples = []

    def add_sample(self, name, labels, value, timestamp=None, exemplar=None):
        """Appends one sample (a name such as ``x_total``, a dict of labels, a value)."""
        self.samples.append(Sample(name, labels, value, timestamp, exemplar))

    def __eq__(self, other):
        return (isinstance(other, Metric) and self.name == other.name
                and self.documentation == other.documentation and self.type == other.type
                and self.unit == other.unit and self.samples == other.samples)

    __hash__ = None  # mutable, compared by value

    def __repr__(self):
        return "Metric(%s, %s, %s, %s, %s)" % (self.name, self.documentation, self.type, self.unit, self.samples)

    def _restricted_metric(self, names):
        """A copy holding only the samples named in `names`, or None when none is."""
        samples = [sample for sample in self.samples if sample.name in names]
        if not samples:
            return None
        metric = Metric(self.name, self.documentation, self.type)
        metric.samples = samples
        return metric


def _one_of_value_and_labels(value, labels):
    if labels is not None and value is not None:
        raise ValueError("Can only specify at most one of value and labels.")
    return tuple(labels) if labels is not None else ()


class UnknownMetricFamily(Metric):
    """A family of untyped samples: ``value`` for one unlabelled sample, or ``labels`` and
    then ``add_metric(label_values, value)``."""

    def __init__(self, name, documentation, value=None, labels=None, unit=""):
        Metric.__init__(self, name, documentation, "unknown", unit)
        self._labelnames = _one_of_value_and_labels(value, labels)
        if value is not None:
            self.add_metric([], value)

    def add_metric(self, labels, value, timestamp=None):
        self.samples.append(Sample(self.name, dict(zip(self._labelnames, labels)), value, timestamp))


UntypedMetricFamily = UnknownMetricFamily


class CounterMetricFamily(Metric):
    """A counter family; a trailing ``_total`` of the name is dropped (the samples carry it).
    ``created`` adds a ``_created`` sample (seconds since the epoch)."""

    def __init__(self, name, documentation, value=None, labels=None, created=None, unit="", exemplar=None):
        if name.endswith("_total"):
            name = name[:-6]
        Metric.__init__(self, name, documentation, "counter", unit)
        self._labelnames = _one_of_value_and_labels(value, labels)
        if value is not None:
            self.add_metric([], value, created, exemplar=exemplar)

    def add_metric(self, labels, value, created=None, timestamp=None, exemplar=None):
        labels = dict(zip(self._labelnames, labels))
        self.samples.append(Sample(self.name + "_total", labels, value, timestamp, exemplar))
        if created is not None:
            self.samples.append(Sample(self.name + "_created", labels, created, timestamp))


class GaugeMetricFamily(Metric):
    """A gauge family."""

    def __init__(self, name, documentation, value=None, labels=None, unit=""):
        Metric.__init__(self, name, documentation, "gauge", unit)
        self._labelnames = _one_of_value_and_labels(value, labels)
        if value is not None:
            self.add_metric([], value)

    def add_metric(self, labels, value, timestamp=None):
        self.samples.append(Sample(self.name, dict(zip(self._labelnames, labels)), value, timestamp))


class SummaryMetricFamily(Metric):
    """A summary family of ``_count`` and ``_sum`` samples (given together)."""

    def __init__(self, name, documentation, count_value=None, sum_value=None, labels=None, unit=""):
        Metric.__init__(self, name, documentation, "summary", unit)
        if (sum_value is None) != (count_value is None):
            raise ValueError("count_value and sum_value must be provided together.")
        self._labelnames = _one_of_value_and_labels(count_value, labels)
        if count_value is not None:
            self.add_metric([], count_value, sum_value)

    def add_metric(self, labels, count_value, sum_value, timestamp=None):
        labels = dict(zip(self._labelnames, labels))
        self.samples.append(Sample(self.name + "_count", labels, count_value, timestamp))
        self.samples.append(Sample(self.name + "_sum", labels, sum_value, timestamp))


def _bucket_samples(name, labelnames, labels, buckets, timestamp):
    """The ``_bucket`` samples of (le, cumulative count[, exemplar]) pairs."""
    base = list(zip(labelnames, labels))
    samples = []
    for bucket in buckets:
        bound, value = bucket[:2]
        exemplar = bucket[2] if len(bucket) == 3 else None
        samples.append(Sample(name + "_bucket", dict(base + [("le", bound)]), value, timestamp, exemplar))
    return samples


class HistogramMetricFamily(Metric):
    """A histogram family: ``buckets`` is a list of (le, cumulative count[, exemplar]) ending
    with ``+Inf``, whose count is the ``_count``; ``sum_value`` may be left out (it is, in
    prometheus_client, when buckets are negative)."""

    def __init__(self, name, documentation, buckets=None, sum_value=None, labels=None, unit=""):
        Metric.__init__(self, name, documentation, "histogram", unit)
        if sum_value is not None and buckets is None:
            raise ValueError("sum value cannot be provided without buckets.")
        self._labelnames = _one_of_value_and_labels(buckets, labels)
        if buckets is not None:
            self.add_metric([], buckets, sum_value)

    def add_metric(self, labels, buckets, sum_value, timestamp=None):
        self.samples.extend(_bucket_samples(self.name, self._labelnames, labels, buckets, timestamp))
        labels = dict(zip(self._labelnames, labels))
        # The +Inf bucket, last, is the count (a KeyError or IndexError without buckets).
        self.samples.append(Sample(self.name + "_count", labels, buckets[-1][1], timestamp))
        if sum_value is not None:
            self.samples.append(Sample(self.name + "_sum", labels, sum_value, timestamp))


class GaugeHistogramMetricFamily(Metric):
    """A gauge histogram family: buckets as for HistogramMetricFamily, then ``_gcount`` (the
    +Inf bucket) and ``_gsum``."""

    def __init__(self, name, documentation, buckets=None, gsum_value=None, labels=None, unit=""):
        Metric.__init__(self, name, documentation, "gaugehistogram", unit)
        self._labelnames = _one_of_value_and_labels(buckets, labels)
        if buckets is not None:
            self.add_metric([], buckets, gsum_value)

    def add_metric(self, labels, buckets, gsum_value, timestamp=None):
        self.samples.extend(_bucket_samples(self.name, self._labelnames, labels, buckets, timestamp))
        labels = dict(zip(self._labelnames, labels))
        self.samples.append(Sample(self.name + "_gcount", labels, buckets[-1][1], timestamp))
        self.samples.append(Sample(self.name + "_gsum", labels, gsum_value, timestamp))


class InfoMetricFamily(Metric):
    """An info family: each sample ``<name>_info`` has value 1 and the info's pairs as labels."""

    def __init__(self, name, documentation, value=None, labels=None):
        Metric.__init__(self, name, documentation, "info")
        self._labelnames = _one_of_value_and_labels(value, labels)
        if value is not None:
            self.add_metric([], value)

    def add_metric(self, labels, value, timestamp=None):
        pairs = dict(zip(self._labelnames, labels))
        pairs.update(value)
        self.samples.append(Sample(self.name + "_info", pairs, 1, timestamp))


class StateSetMetricFamily(Metric):
    """A state set family: one sample per state, labelled ``<name>=<state>``, 1 when the
    state is set and 0 otherwise."""

    def __init__(self, name, documentation, value=None, labels=None):
        Metric.__init__(self, name, documentation, "stateset")
        self._labelnames = _one_of_value_and_labels(value, labels)
        if value is not None:
            self.add_metric([], value)

    def add_metric(self, labels, value, timestamp=None):
        base = list(zip(self._labelnames, labels))
        for state, enabled in sorted(value.items()):
            self.samples.append(Sample(self.name, dict(base + [(self.name, state)]), 1 if enabled else 0, timestamp))
