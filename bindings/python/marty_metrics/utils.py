"""Number formatting shared by the Python-side code: floats written as Go (and so Prometheus
and prometheus_client) write them."""

import math

__all__ = ["INF", "MINUS_INF", "NaN", "floatToGoString"]

INF = float("inf")
MINUS_INF = float("-inf")
NaN = float("NaN")


def floatToGoString(d):
    """`d` as Prometheus writes sample values and bucket bounds: ``+Inf``, ``-Inf``, ``NaN``,
    integers with ``.0``, exponents (``1.0e+06``) from 1e6 on as Go's strconv does."""
    d = float(d)
    if d == INF:
        return "+Inf"
    if d == MINUS_INF:
        return "-Inf"
    if math.isnan(d):
        return "NaN"
    text = repr(d)
    # Go writes integral values of a million and more with an exponent (1.0e+06), Python
    # plainly (1000000.0); smaller ones and those Python already writes with one agree.
    if abs(d) >= 1e6 and text.endswith(".0"):
        digits = text[:-2].lstrip("-")
        significant = digits.rstrip("0")
        mantissa = significant[0] + "." + (significant[1:] or "0")
        return "%s%se+%02d" % ("-" if d < 0 else "", mantissa, len(digits) - 1)
    return text
