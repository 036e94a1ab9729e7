"""Only marty_metrics objects reach C: anything else handed to the package where it expects a
metric or a registry is a TypeError.

Before the fix, ``CollectorRegistry().register(obj)`` passed any ``_f`` attribute to C as a
family handle, so an object that merely had one crashed the interpreter (SIGSEGV). Each case
therefore runs in a child interpreter: a crash fails that case and the suite goes on."""

import subprocess
import sys
import textwrap

import pytest

from conftest import python_env

PRELUDE = """
import ctypes
import marty_metrics as mm

class LooksLikeAMetric:
    _f = 0xDEADBEEF                      # an integer where a family pointer would be

class CarriesAPointer:
    _f = ctypes.c_void_p(0x10)           # a ctypes pointer to nothing

class Borrowed:
    pass                                 # given a real family's handle below

class LooksLikeARegistry:
    _h = ctypes.c_void_p(0x10)
    def render(self, openmetrics=False):
        return b""

def expect_type_error(call, what):
    try:
        call()
    except TypeError as error:
        print("TypeError:", what, "-", error)
        return
    raise SystemExit("no TypeError for %s" % what)

registry = mm.CollectorRegistry()
"""

CASES = {
    "register_int_handle": "expect_type_error(lambda: registry.register(LooksLikeAMetric()), 'register')",
    "register_pointer_handle": "expect_type_error(lambda: registry.register(CarriesAPointer()), 'register')",
    "unregister_int_handle": "expect_type_error(lambda: registry.unregister(LooksLikeAMetric()), 'unregister')",
    "unregister_pointer_handle": "expect_type_error(lambda: registry.unregister(CarriesAPointer()), 'unregister')",
    # A look-alike carrying a real family's handle is still not a marty metric.
    "register_borrowed_handle": """
real = mm.Counter("borrowed_total", "b", registry=None)
fake = Borrowed()
fake._f = real._f
expect_type_error(lambda: registry.register(fake), 'register of a look-alike')
assert b"borrowed_total" not in registry.render()
""",
    # A prometheus_client metric has collect(): it is a custom collector like any other, read
    # through collect() at render time; its object never reaches C. A family handle is asked
    # of it (unregister) only by type, which it fails.
    "register_prometheus_client_metric": """
import prometheus_client
foreign = prometheus_client.Counter("foreign_total", "f", registry=None)
registry.register(foreign)
foreign.inc(2)
assert registry.get_sample_value("foreign_total") == 2.0
expect_type_error(lambda: mm.registry._family_handle(foreign), 'the family handle of a prometheus_client metric')
""",
    "register_none_and_builtins": """
for thing in (None, 1, "counter", b"x", object()):
    expect_type_error(lambda: registry.register(thing), 'register(%r)' % (thing,))
""",
    "generate_latest_foreign_registry": """
expect_type_error(lambda: mm.generate_latest(LooksLikeARegistry()), 'generate_latest')
expect_type_error(lambda: mm.generate_openmetrics(LooksLikeARegistry()), 'generate_openmetrics')
""",
    "metric_in_foreign_registry": (
        "expect_type_error(lambda: mm.Counter('x_total', 'x', registry=LooksLikeARegistry()), 'Counter(registry=...)')"
    ),
    "service_metrics_foreign_registry": (
        "expect_type_error(lambda: mm.ServiceMetrics('csca-service', registry=LooksLikeARegistry()), 'ServiceMetrics')"
    ),
    "server_foreign_registry": """
expect_type_error(lambda: mm.start_metrics_server(service="test-service", metrics_port=0, health_port=0,
                                                  bind_address="127.0.0.1", registry=LooksLikeARegistry()),
                  'start_metrics_server')
assert mm.get_metrics_server() is None
""",
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_foreign_objects_are_type_errors_not_crashes(case):
    code = PRELUDE + textwrap.dedent(CASES[case]) + "\nprint('done')\n"
    result = subprocess.run([sys.executable, "-c", code], env=python_env(), capture_output=True,
                            text=True, timeout=60)
    output = result.stdout + result.stderr
    assert result.returncode >= 0, "the interpreter died of signal %d (a foreign object reached C):\n%s" % (
        -result.returncode, output)
    assert result.returncode == 0, output
    assert "TypeError:" in result.stdout and result.stdout.rstrip().endswith("done"), output
