"""marty_metrics: the Marty platform's metrics engine (libmarty_metrics) for Python.

An API shaped like prometheus_client (Counter, Gauge, Histogram, Info, CollectorRegistry,
REGISTRY, generate_latest) plus the seed's calls (start_metrics_server, get_metrics_server,
server.metrics.record_successful_operation, server.health.add_check). The gRPC interceptor
is in ``marty_metrics.grpc`` (needs grpcio), the endpoint checker is
``python -m marty_metrics.check`` (needs the ``check`` extra).
"""

from ._native import (
    VERSION as LIBRARY_VERSION,
    library_path as LIBRARY_PATH,
    MartyError,
    MartyNotFoundError,
    MartyOSError,
    MartyTypeError,
    MartyValueError,
)
from .metrics import (
    ALLOWUTF8,
    CONTENT_TYPE_LATEST,
    CONTENT_TYPE_OPENMETRICS,
    DOTS,
    REGISTRY,
    UNDERSCORES,
    VALUES,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
    disable_created_metrics,
    enable_created_metrics,
    generate_latest,
    generate_openmetrics,
    set_warning_handler,
)
from .server import (
    HealthChecker,
    MetricsServer,
    ServiceMetrics,
    get_metrics_server,
    start_metrics_server,
)

try:  # the installed distribution's version, which setup.py took from the C header
    from importlib.metadata import PackageNotFoundError, version as _distribution_version

    __version__ = _distribution_version("marty_metrics")
except (ImportError, PackageNotFoundError):  # run from a source tree: the library's own
    __version__ = LIBRARY_VERSION

__all__ = [
    "Counter", "Gauge", "Histogram", "Info", "CollectorRegistry", "REGISTRY",
    "generate_latest", "generate_openmetrics", "CONTENT_TYPE_LATEST", "CONTENT_TYPE_OPENMETRICS",
    "ALLOWUTF8", "UNDERSCORES", "DOTS", "VALUES",
    "disable_created_metrics", "enable_created_metrics", "set_warning_handler",
    "start_metrics_server", "get_metrics_server", "MetricsServer", "ServiceMetrics", "HealthChecker",
    "MartyError", "MartyValueError", "MartyNotFoundError", "MartyTypeError", "MartyOSError",
    "LIBRARY_PATH", "LIBRARY_VERSION", "__version__",
]
