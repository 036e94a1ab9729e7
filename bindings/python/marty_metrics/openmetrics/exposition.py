"""OpenMetrics 1.0 exposition, as prometheus_client.openmetrics.exposition offers it."""

from ..metrics import ALLOWUTF8, DOTS, UNDERSCORES, VALUES, CONTENT_TYPE_OPENMETRICS
from ..registry import REGISTRY, CollectorRegistry, RestrictedRegistry

__all__ = ["CONTENT_TYPE_LATEST", "generate_latest", "ALLOWUTF8", "UNDERSCORES", "DOTS", "VALUES"]

CONTENT_TYPE_LATEST = CONTENT_TYPE_OPENMETRICS


def generate_latest(registry=REGISTRY, escaping=UNDERSCORES):
    """The OpenMetrics 1.0 exposition of `registry`, as bytes (ending with ``# EOF``), names
    outside the legacy character set written as `escaping` says."""
    if not isinstance(registry, (CollectorRegistry, RestrictedRegistry)):
        raise TypeError("registry must be a marty_metrics CollectorRegistry, not %s" % type(registry).__name__)
    return registry.render(openmetrics=True, escaping=escaping)
