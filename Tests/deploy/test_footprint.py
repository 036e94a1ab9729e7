"""The chart's resources against the measured footprint: the demo service and the C service,
scraped every second and probed as the kubelet would, must fit in the chart's memory request
(with the limit at least twice what they use) and stay near its CPU request.

measure_footprint.py gives the full figures (run it by hand for a minute: see
examples/kubernetes/README.md).
"""

import re

import pytest

from deploy_support import CHART_DIR, load_yaml
from measure_footprint import measure


def chart_resources():
    resources = load_yaml(CHART_DIR / "values.yaml")["resources"]

    def mebibytes(quantity):
        number, unit = re.fullmatch(r"(\d+)(Mi|Gi)", quantity).groups()
        return int(number) * (1024 if unit == "Gi" else 1)

    cpu = resources["requests"]["cpu"]
    millicores = int(cpu[:-1]) if cpu.endswith("m") else float(cpu) * 1000
    return (mebibytes(resources["requests"]["memory"]), mebibytes(resources["limits"]["memory"]),
            millicores)


@pytest.mark.parametrize("which", ["demo", "c_service"])
def test_footprint_fits_the_chart(which, request):
    binary = request.getfixturevalue(f"{which}_binary")
    command = [binary, "csca-service" if which == "demo" else "document-signer"]
    request_mib, limit_mib, request_millicores = chart_resources()
    figures = measure(command, seconds=6, scrapes_per_second=1, probes_per_second=0.5)
    print(figures)
    assert figures["scrapes"] >= 5
    assert figures["rss_peak_vmhwm_mib"] <= request_mib, figures
    assert 2 * figures["rss_peak_vmhwm_mib"] <= limit_mib, figures
    # CPU over 6 s on a shared machine is noisy: only a gross excess fails.
    assert figures["cpu_millicores"] <= 3 * request_millicores, figures
