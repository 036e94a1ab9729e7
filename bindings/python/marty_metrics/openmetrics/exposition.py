"""OpenMetrics 1.0 exposition, as prometheus_client.openmetrics.exposition offers it, and the
name escaping schemes as functions on one name (escape_metric_name, escape_label_name).

The expositions are rendered by the library, which escapes names itself; the two functions
here are for code that builds names or URLs on its own (they follow the same rules:
https://prometheus.io/docs/instrumenting/escaping_schemes/)."""

from ..metrics import ALLOWUTF8, DOTS, UNDERSCORES, VALUES, CONTENT_TYPE_OPENMETRICS
from ..registry import REGISTRY, CollectorRegistry, RestrictedRegistry
from ..validation import _is_valid_legacy_labelname, _is_valid_legacy_metric_name

__all__ = [
    "CONTENT_TYPE_LATEST", "CONTENT_TYPE_LATEST_2_0", "ESCAPING_HEADER_TAG", "generate_latest",
    "escape_metric_name", "escape_label_name", "ALLOWUTF8", "UNDERSCORES", "DOTS", "VALUES",
]

CONTENT_TYPE_LATEST = CONTENT_TYPE_OPENMETRICS
# Named for prometheus_client 0.26's users; the library writes OpenMetrics 1.0 only.
CONTENT_TYPE_LATEST_2_0 = "application/openmetrics-text; version=2.0.0; charset=utf-8"
ESCAPING_HEADER_TAG = "escaping"


def generate_latest(registry=REGISTRY, escaping=UNDERSCORES, version="1.0.0"):
    """The OpenMetrics 1.0 exposition of `registry`, as bytes (ending with ``# EOF``), names
    outside the legacy character set written as `escaping` says. `version` is accepted for
    prometheus_client 0.26's signature: what 2.0.0 adds there (native histograms) marty_metrics
    does not record, so every version gets the same text."""
    if not isinstance(registry, (CollectorRegistry, RestrictedRegistry)):
        raise TypeError("registry must be a marty_metrics CollectorRegistry, not %s" % type(registry).__name__)
    return registry.render(openmetrics=True, escaping=escaping)


def escape_metric_name(name, escaping=UNDERSCORES):
    """`name` as a metric name written under `escaping`: legacy names are left alone (except
    by dots, which doubles their underscores); ALLOWUTF8 quotes the others."""
    return _escape_name(name, escaping, _is_valid_legacy_metric_name(name), _legacy_metric_character)


def escape_label_name(name, escaping=UNDERSCORES):
    """`name` as a label name written under `escaping` (as escape_metric_name; ``:`` is not
    a legacy character of label names)."""
    return _escape_name(name, escaping, _is_valid_legacy_labelname(name), _legacy_label_character)


def _legacy_metric_character(character, index):
    return character.isascii() and (character.isalpha() or character in "_:" or (character.isdigit() and index > 0))


def _legacy_label_character(character, index):
    return character.isascii() and (character.isalpha() or character == "_" or (character.isdigit() and index > 0))


def _quoted(text):
    return text.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _escape_name(name, escaping, is_legacy, is_legacy_character):
    if not name:
        return name
    if escaping == ALLOWUTF8:
        return name if is_legacy else '"%s"' % _quoted(name)
    if escaping == UNDERSCORES:
        if is_legacy:
            return name
        return "".join(c if is_legacy_character(c, i) else "_" for i, c in enumerate(name))
    if escaping == DOTS:
        # Reversible for dotted names: "_" becomes "__" so that "_dot_" stands only for ".".
        pieces = []
        for i, c in enumerate(name):
            if c == "_":
                pieces.append("__")
            elif c == ".":
                pieces.append("_dot_")
            elif is_legacy_character(c, i):
                pieces.append(c)
            else:
                pieces.append("__")
        return "".join(pieces)
    if escaping == VALUES:
        if is_legacy:
            return name
        # "U__", then every character that is not legacy as _<hex code point>_ ("_" as "__").
        pieces = ["U__"]
        for i, c in enumerate(name):
            if c == "_":
                pieces.append("__")
            elif is_legacy_character(c, i):
                pieces.append(c)
            elif 0xD800 <= ord(c) <= 0xDFFF:  # a lone surrogate: not UTF-8
                pieces.append("_FFFD_")
            else:
                pieces.append("_%x_" % ord(c))
        return "".join(pieces)
    raise ValueError("Unknown escaping scheme %r" % (escaping,))
