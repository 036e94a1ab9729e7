"""Reading the library's own OpenMetrics rendering back into Metric objects, for
``CollectorRegistry.collect()`` and ``get_sample_value``: the native families stay rendered by
the library, and Python sees them as prometheus_client's collect() would give them. The input
is always the library's output rendered with ALLOWUTF8, so names outside the legacy set are
quoted; this is not a general OpenMetrics parser (prometheus_client's parser is for that)."""

from .metrics_core import Metric
from .samples import Exemplar, Sample

__all__ = ["parse_openmetrics"]

_ESCAPES = {"n": "\n", "\\": "\\", '"': '"'}


def _unescape(text):
    if "\\" not in text:
        return text
    out = []
    i = 0
    while i < len(text):
        if text[i] == "\\" and i + 1 < len(text):
            out.append(_ESCAPES.get(text[i + 1], "\\" + text[i + 1]))
            i += 2
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def _quoted(line, i):
    """The unescaped text of the quoted string starting at line[i] ('"'), and the index after it."""
    j = i + 1
    while line[j] != '"':
        j += 2 if line[j] == "\\" else 1
    return _unescape(line[i + 1:j]), j + 1


def _name(line, i):
    """A metric name at line[i], quoted or bare, and the index after it."""
    if line[i] == '"':
        return _quoted(line, i)
    j = i
    while j < len(line) and line[j] not in " {":
        j += 1
    return line[i:j], j


def _labels(line, i):
    """({label: value}, metric name if quoted inside the braces or None, index after '}'),
    for line[i] == '{'."""
    labels = {}
    name = None
    i += 1
    while line[i] != "}":
        if line[i] in ", ":
            i += 1
            continue
        if line[i] == '"':
            key, i = _quoted(line, i)
        else:
            equals = line.index("=", i)
            key, i = line[i:equals], equals
        if i >= len(line) or line[i] != "=":  # a quoted metric name, first inside the braces
            name = key
            continue
        labels[key], i = _quoted(line, i + 1)
    return labels, name, i + 1


def _metric(name, documentation, typ, unit):
    """A Metric as the library rendered it, without re-validating its name (a UTF-8 name is
    valid whatever the validation mode was switched to since it was created)."""
    metric = Metric.__new__(Metric)
    metric.name, metric.documentation, metric.type, metric.unit = name, documentation, typ, unit
    metric.samples = []
    return metric


def _sample(line):
    name = None
    i = 0
    if line[0] != "{":
        name, i = _name(line, 0)
    labels = {}
    if i < len(line) and line[i] == "{":
        labels, quoted_name, i = _labels(line, i)
        name = name or quoted_name
    rest = line[i:].strip()
    exemplar = None
    if " # " in rest:
        rest, exemplar_text = rest.split(" # ", 1)
        exemplar_labels, _, j = _labels(exemplar_text, exemplar_text.index("{"))
        parts = exemplar_text[j:].split()
        exemplar = Exemplar(exemplar_labels, float(parts[0]), float(parts[1]) if len(parts) > 1 else None)
    parts = rest.split()
    timestamp = float(parts[1]) if len(parts) > 1 else None
    return Sample(name, labels, float(parts[0]), timestamp, exemplar)


def parse_openmetrics(text):
    """The families of an OpenMetrics rendering of the library, in order, as Metric objects."""
    metrics = []
    current = None
    for line in text.splitlines():
        if not line:
            continue
        if line.startswith("# "):
            keyword = line[2:6]
            if keyword == "EOF":
                break
            name, i = _name(line, 7)
            value = line[i + 1:] if i < len(line) else ""
            if current is None or current.name != name:
                current = _metric(name, "", "unknown", "")
                metrics.append(current)
            if keyword == "HELP":
                current.documentation = _unescape(value)
            elif keyword == "TYPE":
                current.type = value
            elif keyword == "UNIT":
                current.unit = value
            continue
        current.samples.append(_sample(line))
    return metrics
