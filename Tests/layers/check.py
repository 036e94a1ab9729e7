"""Checks the module layers of the README's diagram: each module imports only modules of a
lower layer (or outside libraries), so that no module reaches into one above it.

    python3 Tests/layers/check.py     # exits 1 and names each import that goes up or sideways
"""

import os
import re
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")

# Layer of each of our modules; a module may import only modules of a lower layer.
LAYERS = {
    "CMartyShims": 0,
    "MartyMetrics": 1,
    "MartyMetricsTestKit": 2, "MartyHealth": 2, "MartyProcess": 2,
    "MartyCatalog": 3,
    "MartyEndpoint": 4, "MartySwiftMetrics": 4, "MartyGRPC": 4,
    "MartyService": 5,
    "CMartyRecording": 6, "CZlib": 0, "CMartyCrypt": 0,
    "MartyCABI": 7,
}
# The endpoint must not know the product layer (MartyCatalog) although it sits above it.
FORBIDDEN = {("MartyEndpoint", "MartyCatalog"), ("MartyEndpoint", "MartyProcess")}
IMPORT = re.compile(r'^\s*(?:@testable\s+)?import\s+(\w+)|^\s*#include\s+"([^"]+)"', re.M)


def main():
    problems = []
    sources = os.path.join(ROOT, "Sources")
    for module in sorted(os.listdir(sources)):
        if module not in LAYERS:
            problems.append("Sources/%s: a module without a layer in Tests/layers/check.py" % module)
            continue
        for directory, _, files in os.walk(os.path.join(sources, module)):
            for name in files:
                if not name.endswith((".swift", ".c", ".h")):
                    continue
                path = os.path.join(directory, name)
                with open(path) as file:
                    text = file.read()
                for match in IMPORT.finditer(text):
                    imported = match.group(1)
                    if match.group(2):  # a C include of another module's header
                        header = os.path.basename(match.group(2))
                        imported = {"CMartyShims.h": "CMartyShims", "marty_metrics.h": "CMartyRecording"}.get(header)
                        if imported == "CMartyRecording" and module == "CMartyRecording":
                            continue
                    if imported not in LAYERS or imported == module:
                        continue
                    where = os.path.relpath(path, ROOT)
                    if LAYERS[imported] >= LAYERS[module]:
                        problems.append("%s imports %s, which is not below %s" % (where, imported, module))
                    elif (module, imported) in FORBIDDEN:
                        problems.append("%s imports %s, which the endpoint must not know" % (where, imported))
    for problem in problems:
        print(problem)
    print("layers: %s" % ("%d problem(s)" % len(problems) if problems else "every import goes down"))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
