"""marty_metrics: the Marty platform's metrics engine (libmarty_metrics) for Python.

The API of prometheus_client (Counter, Gauge, Histogram, Summary, Info, Enum,
CollectorRegistry, REGISTRY, custom collectors, generate_latest, the HTTP servers, WSGI/ASGI
apps, the Pushgateway calls), served by the native engine, plus the seed's calls
(start_metrics_server, get_metrics_server, server.metrics.record_successful_operation,
server.health.add_check). ``marty_metrics.compat.install_as_prometheus_client()`` makes
``import prometheus_client`` give this package. The gRPC interceptor is in
``marty_metrics.grpc`` (needs grpcio), the endpoint checker is ``python -m marty_metrics.check``.
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
from . import metrics, metrics_core, registry, samples  # noqa: F401 (prometheus_client's submodules)
from .metrics import (
    ALLOWUTF8,
    CONTENT_TYPE_OPENMETRICS,
    DOTS,
    UNDERSCORES,
    VALUES,
    Counter,
    Enum,
    Gauge,
    Histogram,
    Info,
    Summary,
    disable_created_metrics,
    enable_created_metrics,
    generate_openmetrics,
    set_warning_handler,
    set_process_max_series,
    process_series,
)
from .metrics_core import Metric
from .registry import REGISTRY, CollectorRegistry
from . import exposition  # noqa: E402
from .exposition import (
    CONTENT_TYPE_LATEST,
    CONTENT_TYPE_PLAIN_0_0_4,
    CONTENT_TYPE_PLAIN_1_0_0,
    MetricsHandler,
    delete_from_gateway,
    generate_latest,
    instance_ip_grouping_key,
    make_wsgi_app,
    push_to_gateway,
    pushadd_to_gateway,
    start_http_server,
    start_wsgi_server,
    write_to_textfile,
)
from .asgi import make_asgi_app
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
    "Counter", "Gauge", "Histogram", "Summary", "Info", "Enum", "Metric", "CollectorRegistry", "REGISTRY",
    "generate_latest", "generate_openmetrics", "CONTENT_TYPE_LATEST", "CONTENT_TYPE_OPENMETRICS",
    "CONTENT_TYPE_PLAIN_0_0_4", "CONTENT_TYPE_PLAIN_1_0_0",
    "ALLOWUTF8", "UNDERSCORES", "DOTS", "VALUES",
    "disable_created_metrics", "enable_created_metrics", "set_warning_handler",
    "set_process_max_series", "process_series",
    "MetricsHandler", "make_wsgi_app", "make_asgi_app", "start_http_server", "start_wsgi_server",
    "write_to_textfile", "push_to_gateway", "pushadd_to_gateway", "delete_from_gateway",
    "instance_ip_grouping_key",
    "start_metrics_server", "get_metrics_server", "MetricsServer", "ServiceMetrics", "HealthChecker",
    "MartyError", "MartyValueError", "MartyNotFoundError", "MartyTypeError", "MartyOSError",
    "LIBRARY_PATH", "LIBRARY_VERSION", "__version__",
]
