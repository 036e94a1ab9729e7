"""Build glue of the marty_metrics package: bundles libmarty_metrics into the package.

At build time (pip install ./bindings/python), the library bundled as
marty_metrics/_lib/libmarty_metrics.so.0 comes from, in this order:
  1. MARTY_METRICS_LIBRARY, when it names a built library: that file is copied;
  2. the marty-metrics repository two levels up (a folder with Package.swift), built with
     `swift build -c release --product marty_metrics --scratch-path <repo>/.build-python`;
  3. nothing: the package installs without a bundled library and, at import, uses
     MARTY_METRICS_LIBRARY or an installed libmarty_metrics.so.0.
Set MARTY_METRICS_NO_BUILD=1 to skip step 2. The bundled copy is stripped (strip
--strip-unneeded) when `strip` is available, unless MARTY_METRICS_NO_STRIP=1.

The compiled recording path, the CPython extension marty_metrics._speedups
(marty_metrics/_speedups.c), is built with the system's C compiler. It needs no library at
build time (it calls the functions ctypes resolved, see _native.load_speedups). When it
cannot be built (no compiler, no Python headers) the install goes on without it, with a
warning, and the package records through ctypes. MARTY_METRICS_NO_SPEEDUPS=1 skips it.
A wheel with the extension is tagged for this Python (cp311-cp311-linux_x86_64); without it,
for any Python 3 on this platform (py3-none-linux_x86_64).
"""

import os
import shutil
import subprocess
import sys

from setuptools import Distribution, Extension, setup
from setuptools.command.build_ext import build_ext
from setuptools.command.build_py import build_py

try:
    from setuptools.command.bdist_wheel import bdist_wheel
except ImportError:  # setuptools < 70.1
    try:
        from wheel.bdist_wheel import bdist_wheel
    except ImportError:  # no wheel either (a build without isolation): keep the default
        bdist_wheel = None

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
SONAME = "libmarty_metrics.so.0"


def header_version():
    """MARTY_METRICS_VERSION_STRING of the repository's header: the version's one source.
    Outside the repository (an sdist), the PKG-INFO that setuptools wrote from it."""
    import re

    for path, pattern in ((os.path.join(REPO, "include", "marty_metrics.h"),
                           r'#define MARTY_METRICS_VERSION_STRING "([^"]+)"'),
                          (os.path.join(HERE, "PKG-INFO"), r"^Version: (\S+)$")):
        if os.path.exists(path):
            with open(path) as file:
                match = re.search(pattern, file.read(), re.M)
            if match:
                return match.group(1)
    raise SystemExit("marty_metrics setup: cannot find the version (include/marty_metrics.h)")


def log(message):
    sys.stderr.write("marty_metrics setup: %s\n" % message)


def find_library():
    """The path of a built library to bundle, or None."""
    explicit = os.environ.get("MARTY_METRICS_LIBRARY")
    if explicit:
        if not os.path.isfile(explicit):
            raise SystemExit("marty_metrics setup: MARTY_METRICS_LIBRARY=%r is not a file" % explicit)
        log("bundling %s (MARTY_METRICS_LIBRARY)" % explicit)
        return explicit
    if os.environ.get("MARTY_METRICS_NO_BUILD") == "1":
        log("MARTY_METRICS_NO_BUILD=1: installing without a bundled library")
        return None
    if not os.path.isfile(os.path.join(REPO, "Package.swift")):
        log("no marty-metrics repository at %s: installing without a bundled library "
            "(at import: MARTY_METRICS_LIBRARY or an installed %s)" % (REPO, SONAME))
        return None
    swift = shutil.which("swift")
    if swift is None:
        raise SystemExit(
            "marty_metrics setup: the repository %s is here but `swift` is not on PATH: install the Swift "
            "toolchain, or build the library elsewhere and set MARTY_METRICS_LIBRARY to it "
            "(or MARTY_METRICS_NO_BUILD=1 to install without it)" % REPO)
    scratch = os.path.join(REPO, ".build-python")
    command = [swift, "build", "-c", "release", "--product", "marty_metrics", "--scratch-path", scratch]
    log("building the library: %s (the first build takes a few minutes)" % " ".join(command))
    subprocess.check_call(command, cwd=REPO, stdout=sys.stderr)
    built = os.path.join(scratch, "release", "libmarty_metrics.so")
    if not os.path.isfile(built):
        raise SystemExit("marty_metrics setup: swift build did not produce %s" % built)
    return built


class BuildPy(build_py):
    def run(self):
        super().run()
        library = find_library()
        if library is None:
            return
        target_dir = os.path.join(self.build_lib, "marty_metrics", "_lib")
        os.makedirs(target_dir, exist_ok=True)
        target = os.path.join(target_dir, SONAME)
        shutil.copyfile(os.path.realpath(library), target)
        os.chmod(target, 0o755)
        # Drop the symbol table and debug info (30 MB -> 12 MB); the exported marty_* symbols stay.
        strip = shutil.which("strip")
        if strip and os.environ.get("MARTY_METRICS_NO_STRIP") != "1":
            if subprocess.call([strip, "--strip-unneeded", target]) != 0:
                log("strip failed; bundling the library unstripped")
                shutil.copyfile(os.path.realpath(library), target)


SPEEDUPS = Extension(
    "marty_metrics._speedups",
    sources=["marty_metrics/_speedups.c"],
    # In the repository the C declarations are checked against the header (a mismatch is a
    # compile error, which then leaves the ctypes path: the tests that require the extension
    # catch it).
    include_dirs=[os.path.join(REPO, "include")] if os.path.isfile(os.path.join(REPO, "include", "marty_metrics.h")) else [],
    define_macros=[("MARTY_METRICS_HAVE_HEADER", "1")]
    if os.path.isfile(os.path.join(REPO, "include", "marty_metrics.h")) else [],
    optional=True,
)

# Set by BuildExt: whether the extension was built, which decides the wheel's tag.
built_extensions = []


class BuildExt(build_ext):
    """Builds the extension, or warns and goes on without it: a failed compile must never fail
    the install (the ctypes path does everything the extension does, only slower)."""

    def run(self):
        if os.environ.get("MARTY_METRICS_NO_SPEEDUPS") == "1":
            log("MARTY_METRICS_NO_SPEEDUPS=1: not building the compiled extension (ctypes only)")
            self.extensions = []
            return
        try:
            super().run()
        except Exception as error:  # no compiler at all (DistutilsPlatformError, ...)
            self._warn(error)

    def build_extension(self, ext):
        try:
            super().build_extension(ext)
        except Exception as error:  # CompileError, LinkError, a missing Python.h, ...
            self._warn(error)
            return
        built_extensions.append(ext.name)

    def _warn(self, error):
        log("WARNING: the compiled extension marty_metrics._speedups was not built (%s). The package "
            "works without it, recording through ctypes (several times slower per call). Install a C "
            "compiler and the Python development headers, then reinstall, to get it." % error)


class BinaryDistribution(Distribution):
    """The package carries a native library: platform-specific, installed into platlib."""

    def has_ext_modules(self):
        return True


commands = {"build_py": BuildPy, "build_ext": BuildExt}
if bdist_wheel is not None:
    class BdistWheel(bdist_wheel):
        """With the extension: tagged for this Python's ABI (as setuptools does). Without it,
        for any Python 3 on this platform: the library is loaded by ctypes, not built against
        the Python ABI. Either way a platform wheel."""

        def get_tag(self):
            implementation, abi, platform = super().get_tag()
            if built_extensions:
                return implementation, abi, platform
            return "py3", "none", platform

    commands["bdist_wheel"] = BdistWheel

setup(version=header_version(), distclass=BinaryDistribution, cmdclass=commands, ext_modules=[SPEEDUPS])
