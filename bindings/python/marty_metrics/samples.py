"""The sample data types of custom collectors: Timestamp, Exemplar and Sample, with the fields,
equality and string forms prometheus_client's have, so code written for it works unchanged."""

from typing import Dict, NamedTuple, Optional, Union

__all__ = ["Timestamp", "Exemplar", "Sample"]


class Timestamp:
    """A time with nanosecond resolution: whole seconds and nanoseconds (0 <= nsec < 1e9).
    A negative time keeps its sign on both parts, so float() gives back the time."""

    def __init__(self, sec, nsec):
        if nsec < 0 or nsec >= 1e9:
            raise ValueError("Invalid value for nanoseconds in Timestamp: %s" % (nsec,))
        if sec < 0:
            nsec = -nsec
        self.sec = int(sec)
        self.nsec = int(nsec)

    def __str__(self):
        return "%d.%09d" % (self.sec, self.nsec)

    def __repr__(self):
        return "Timestamp(%d, %d)" % (self.sec, self.nsec)

    def __float__(self):
        return float(self.sec) + float(self.nsec) / 1e9

    def __eq__(self, other):
        return isinstance(other, Timestamp) and (self.sec, self.nsec) == (other.sec, other.nsec)

    def __ne__(self, other):
        return not self == other

    def __gt__(self, other):
        return (self.sec, self.nsec) > (other.sec, other.nsec)

    def __lt__(self, other):
        return (self.sec, self.nsec) < (other.sec, other.nsec)

    def __hash__(self):
        return hash((self.sec, self.nsec))


class Exemplar(NamedTuple):
    """Labels pointing from a sample to something outside the metrics (a trace), the value
    they were recorded with, and when (seconds or a Timestamp; None for unknown)."""

    labels: Dict[str, str]
    value: float
    timestamp: Optional[Union[float, Timestamp]] = None


class Sample(NamedTuple):
    """One sample of a metric family: its full name (``x_total``, ``x_bucket``...), labels,
    value, and optionally a timestamp and an exemplar."""

    name: str
    labels: Dict[str, str]
    value: float
    timestamp: Optional[Union[float, Timestamp]] = None
    exemplar: Optional[Exemplar] = None
