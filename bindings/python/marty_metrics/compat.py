"""Running code written for prometheus_client on marty_metrics, unchanged.

    import marty_metrics.compat
    marty_metrics.compat.install_as_prometheus_client()
    import prometheus_client          # now marty_metrics
    from prometheus_client.core import GaugeMetricFamily   # marty_metrics.core

After the call, ``prometheus_client`` and every ``prometheus_client.X`` module resolve to
``marty_metrics`` and ``marty_metrics.X`` (the same module objects), for the modules a service
or a custom collector imports: core, exposition, metrics, metrics_core, registry, samples,
decorator, validation, utils, openmetrics, openmetrics.exposition, asgi. A submodule that
marty_metrics does not have (twisted, bridge, parser, ...) raises
ModuleNotFoundError naming it. With PROMETHEUS_MULTIPROC_DIR set, pre-fork workers then share the
default registry as MARTY_METRICS_MULTIPROCESS=1 makes them (marty_metrics.multiprocess; nothing
is written to that directory). Call it first, before anything imports the real
prometheus_client; it raises RuntimeError if that already happened (two copies of the API in
one process would split metrics between two registries)."""

import importlib
import importlib.abc
import importlib.util
import os
import sys

__all__ = ["install_as_prometheus_client", "uninstall_as_prometheus_client", "ALIASED_MODULES"]

ALIAS = "prometheus_client"
TARGET = "marty_metrics"
# The submodules bound eagerly: the ones prometheus_client's users import by name.
ALIASED_MODULES = (
    "core", "exposition", "metrics", "metrics_core", "registry", "samples", "decorator",
    "validation", "utils", "openmetrics", "openmetrics.exposition", "asgi",
)


class _AliasFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds ``prometheus_client.X`` as ``marty_metrics.X`` for submodules not bound eagerly."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname != ALIAS and not fullname.startswith(ALIAS + "."):
            return None
        target_name = TARGET + fullname[len(ALIAS):]
        if importlib.util.find_spec(target_name) is None:
            raise ModuleNotFoundError(
                "%s has no module %r: %s (installed as prometheus_client) does not provide it"
                % (TARGET, target_name, TARGET), name=fullname)
        return importlib.util.spec_from_loader(fullname, self)

    def create_module(self, spec):
        return None  # a placeholder, replaced by the real module in exec_module

    def exec_module(self, module):
        # The import system reads the module back from sys.modules after this call, so the
        # alias resolves to marty_metrics' own module object, not to a copy.
        target = importlib.import_module(TARGET + module.__name__[len(ALIAS):])
        sys.modules[module.__name__] = target


_finder = _AliasFinder()


def install_as_prometheus_client():
    """Makes ``import prometheus_client`` (and its submodules) give marty_metrics. Idempotent."""
    existing = sys.modules.get(ALIAS)
    if existing is not None and getattr(existing, "__name__", None) != TARGET:
        raise RuntimeError(
            "the real prometheus_client is already imported (%s); call "
            "marty_metrics.compat.install_as_prometheus_client() before anything imports it"
            % getattr(existing, "__file__", existing))
    sys.modules[ALIAS] = importlib.import_module(TARGET)
    for name in ALIASED_MODULES:
        sys.modules[ALIAS + "." + name] = importlib.import_module(TARGET + "." + name)
    if _finder not in sys.meta_path:
        sys.meta_path.insert(0, _finder)
    # Metrics name the module they are imported by in their repr, as prometheus_client's do.
    importlib.import_module(TARGET + ".metrics")._repr_module = ALIAS + ".metrics"
    # Code written for prometheus_client's multiprocess mode names a directory for its files;
    # here the same setting makes the shared segment (no files are written to it), so that
    # pre-fork workers share the default registry as they expect. Install before any metric is
    # made in the default registry: one made earlier stays in its own process.
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from ._native import C, has
        if has("multiprocess_enable") and not C.multiprocess_enabled():
            C.multiprocess_enable(0)


def uninstall_as_prometheus_client():
    """Undoes install_as_prometheus_client: ``prometheus_client`` is imported normally again
    (modules that already imported the alias keep what they got)."""
    if _finder in sys.meta_path:
        sys.meta_path.remove(_finder)
    importlib.import_module(TARGET + ".metrics")._repr_module = None
    for name in list(sys.modules):
        if (name == ALIAS or name.startswith(ALIAS + ".")) and sys.modules[name].__name__.startswith(TARGET):
            del sys.modules[name]
