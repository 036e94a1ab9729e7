"""Fails when a public symbol declared in our sources has no doc comment.

usage: coverage.py SYMBOL_GRAPH_DIR SOURCES_DIR MODULE..."""

import glob
import json
import os
import sys


def main():
    graphs, sources, modules = sys.argv[1], os.path.realpath(sys.argv[2]), sys.argv[3:]
    missing = []
    total = 0
    for module in modules:
        for path in glob.glob(os.path.join(graphs, module + ".symbols.json")) + glob.glob(
                os.path.join(graphs, module + "@*.symbols.json")):
            with open(path) as file:
                graph = json.load(file)
            for symbol in graph["symbols"]:
                uri = symbol.get("location", {}).get("uri", "")
                if symbol["accessLevel"] not in ("public", "open") or sources not in uri:
                    continue
                if symbol["pathComponents"][-1].startswith("_"):
                    continue
                total += 1
                if not symbol.get("docComment"):
                    line = symbol["location"]["position"]["line"] + 1
                    missing.append("%s:%d: %s" % (uri.split(sources + "/", 1)[-1], line,
                                                  ".".join(symbol["pathComponents"])))
    print("docs: %d public symbols, %d without a doc comment" % (total, len(missing)))
    for entry in sorted(set(missing)):
        print("  Sources/" + entry)
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
