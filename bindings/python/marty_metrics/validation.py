"""Name rules, as prometheus_client (>= 0.22) has them.

By default metric and label names are any UTF-8 (Prometheus 3), as the library accepts them;
``enable_legacy_validation()`` or ``PROMETHEUS_LEGACY_NAME_VALIDATION=true`` restores the
classic rules ([a-zA-Z_:][a-zA-Z0-9_:]* for metrics, [a-zA-Z_][a-zA-Z0-9_]* for labels), which
are also prometheus_client's before 0.22. Label names starting with ``__`` are reserved in
both modes. The checks run in Python, before anything reaches the library, so that the
errors are prometheus_client's ValueErrors with its messages."""

import os
import re

__all__ = [
    "get_legacy_validation", "enable_legacy_validation", "disable_legacy_validation",
    "METRIC_NAME_RE", "METRIC_LABEL_NAME_RE", "RESERVED_METRIC_LABEL_NAME_RE",
]

METRIC_NAME_RE = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
METRIC_LABEL_NAME_RE = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
RESERVED_METRIC_LABEL_NAME_RE = re.compile(r"^__.*$")
# The OpenMetrics limit on an exemplar's label names and values together, in characters.
EXEMPLAR_MAX_CHARACTERS = 128


def _init_legacy_validation():
    return os.environ.get("PROMETHEUS_LEGACY_NAME_VALIDATION", "False").lower() in ("true", "1", "t")


_legacy_validation = _init_legacy_validation()


def get_legacy_validation():
    """Whether the classic name rules are in force (else any UTF-8 name is accepted)."""
    return _legacy_validation


def disable_legacy_validation():
    """Accepts any UTF-8 metric and label name (the default)."""
    global _legacy_validation
    _legacy_validation = False


def enable_legacy_validation():
    """Accepts only names of the classic character sets."""
    global _legacy_validation
    _legacy_validation = True


def _is_utf8(text):
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate
        return False
    return True


def _validate_metric_name(name):
    """ValueError unless `name` is a metric name under the rules in force."""
    if not name:
        raise ValueError("metric name cannot be empty")
    if _legacy_validation and not METRIC_NAME_RE.match(name):
        raise ValueError("Invalid metric name: " + name)
    if not _is_utf8(name):
        raise ValueError("Invalid metric name: " + name)


def _is_valid_legacy_metric_name(name):
    return bool(name) and METRIC_NAME_RE.match(name) is not None


def _validate_labelname(label):
    """ValueError unless `label` is a label name under the rules in force."""
    if _legacy_validation:
        if not METRIC_LABEL_NAME_RE.match(label):
            raise ValueError("Invalid label metric name: " + label)
    elif not label or not _is_utf8(label):
        raise ValueError("Invalid label metric name: " + label)
    if RESERVED_METRIC_LABEL_NAME_RE.match(label):
        raise ValueError("Reserved label metric name: " + label)


def _is_valid_legacy_labelname(label):
    return (bool(label) and METRIC_LABEL_NAME_RE.match(label) is not None
            and RESERVED_METRIC_LABEL_NAME_RE.match(label) is None)


def _validate_labelnames(cls, labelnames):
    """The label names as a tuple; ValueError for an invalid one or one `cls` reserves
    (``le`` of a histogram, ``quantile`` of a summary)."""
    labelnames = tuple(labelnames)
    for label in labelnames:
        if not isinstance(label, str):
            raise TypeError("label names must be str, not %s" % type(label).__name__)
        _validate_labelname(label)
        if label in cls._reserved_labelnames:
            raise ValueError("Reserved label metric name: " + label)
    return labelnames


def _validate_exemplar(exemplar):
    """ValueError for an exemplar whose label names are not classic label names (OpenMetrics
    exemplars have no quoting) or whose names and values exceed 128 characters in all."""
    characters = 0
    for name, value in exemplar.items():
        if not isinstance(name, str) or not METRIC_LABEL_NAME_RE.match(name):
            raise ValueError("Invalid label metric name: %s" % (name,))
        if RESERVED_METRIC_LABEL_NAME_RE.match(name):
            raise ValueError("Reserved label metric name: " + name)
        if not isinstance(value, str):
            raise TypeError("exemplar label values must be str, not %s" % type(value).__name__)
        characters += len(name) + len(value)
    if characters > EXEMPLAR_MAX_CHARACTERS:
        raise ValueError("Exemplar labels have %d UTF-8 characters, exceeding the limit of %d"
                         % (characters, EXEMPLAR_MAX_CHARACTERS))
