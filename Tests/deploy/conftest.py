"""Fixtures of the deployment tests: the real tools and the built binaries (see
deploy_support.py for where they are looked for)."""

import pytest

from deploy_support import REPO_ROOT, find_binary, tool


@pytest.fixture(scope="session")
def promtool():
    return tool("promtool", "PROMTOOL")


@pytest.fixture(scope="session")
def prometheus_binary():
    return tool("prometheus", "PROMETHEUS")


@pytest.fixture(scope="session")
def demo_binary():
    candidates = [d / mode / "marty-demo" for d in REPO_ROOT.glob(".build*") for mode in ("debug", "release")]
    candidates += list(REPO_ROOT.glob("build*/swiftpm/release/marty-demo"))
    return find_binary("MARTY_DEMO_BINARY", candidates, "marty-demo (swift build --product marty-demo)")


@pytest.fixture(scope="session")
def c_service_binary():
    candidates = list(REPO_ROOT.glob("build*/examples/marty_c_service"))
    return find_binary("MARTY_C_SERVICE_BINARY", candidates,
                       "marty_c_service (cmake --build <dir> --target marty_c_service)")
