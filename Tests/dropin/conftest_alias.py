"""Copied as conftest.py next to prometheus_client's extracted tests by run.py: before any of
them is imported, ``prometheus_client`` becomes marty_metrics (its public alias function)."""

import marty_metrics.compat

marty_metrics.compat.install_as_prometheus_client()


def pytest_report_header(config):
    import prometheus_client
    from marty_metrics import _native
    return "prometheus_client is %s (%s); library %s" % (
        prometheus_client.__name__, prometheus_client.__file__, _native.library_path)
