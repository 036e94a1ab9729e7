"""Small PromQL helpers for the deployment tests: the metric names an expression reads, and
Grafana's template variables replaced by values Prometheus accepts.

Parsing itself is left to the real tools (promtool and Prometheus' /api/v1/query); this only
finds the names, after dropping what cannot hold one (strings, label matchers, ranges,
grouping label lists, numbers).
"""

import re

KEYWORDS = {"and", "or", "unless", "by", "without", "on", "ignoring", "group_left",
            "group_right", "bool", "offset", "inf", "nan", "atan2", "start", "end"}


def metric_names(expr):
    text = re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`', '""', expr)
    text = re.sub(r"\{[^}]*\}", "{}", text)
    text = re.sub(r"\[[^\]]*\]", "[]", text)
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    text = re.sub(r"\boffset\s+-?\w+", " ", text)
    text = re.sub(r"(?<![A-Za-z0-9_:])\d+(?:\.\d+)?(?:[eE][+-]?\d+)?", " ", text)
    names = set()
    for match in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", text):
        word = match.group()
        following = text[match.end():].lstrip()
        if following.startswith("("):
            continue  # a function or an aggregation
        if word.lower() in KEYWORDS:
            continue
        names.add(word)
    return names


def grafana_to_promql(expr, rate_interval="1m"):
    """Replaces the dashboard's variables: $service/$method by '.*', $__rate_interval etc."""
    replaced = expr.replace("$__rate_interval", rate_interval).replace("$__interval", rate_interval)
    replaced = re.sub(r"\$\{?(service|method)\}?", ".*", replaced)
    leftover = re.search(r"\$\{?\w+", replaced)
    assert not leftover, f"unknown Grafana variable {leftover.group()} in {expr!r}"
    return replaced
