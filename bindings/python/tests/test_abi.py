"""The ctypes declarations match the loaded library's C structs.

marty_endpoint_options_init_sized writes the library's whole marty_endpoint_options when given
a large enough size, so a ctypes EndpointOptions shorter than the library's would miss fields;
the 0.1 entry point marty_endpoint_options_init, which programs built against a 0.1 header
call, writes only the 0.1 fields. (In 0.2 development builds it wrote the whole struct, 16 bytes past a 0.1
caller's: under ASan a heap-buffer-overflow, without it a heap corruption that later crashed
CPython's garbage collector.)"""

import ctypes
import os
import re

import marty_metrics as mm  # noqa: F401  (loads the library)
from marty_metrics import _native


def _filled(call):
    buffer = (ctypes.c_ubyte * 1024)()
    call(ctypes.cast(buffer, ctypes.POINTER(_native.EndpointOptions)))
    return buffer, ctypes.c_size_t.from_buffer(buffer).value


def test_endpoint_options_has_the_librarys_size():
    # A buffer far larger than any version of the struct, filled by the library itself.
    buffer, library_size = _filled(lambda options: _native.C.endpoint_options_init_sized(options, 1024))
    assert library_size == ctypes.sizeof(_native.EndpointOptions), (
        "marty_endpoint_options is %d bytes in the library, %d in marty_metrics._native.EndpointOptions"
        % (library_size, ctypes.sizeof(_native.EndpointOptions)))
    # Nothing written past the struct the library declares.
    assert not any(buffer[library_size:])


def test_the_0_1_init_writes_only_the_0_1_struct():
    init = _native.lib.marty_endpoint_options_init
    init.argtypes = [ctypes.POINTER(_native.EndpointOptions)]
    init.restype = None
    buffer, written_size = _filled(init)
    assert written_size == _native.EndpointOptions.request_head_timeout_seconds.offset
    assert not any(buffer[written_size:])


# ---- One source for each fact: what the binding reads from the library ---------------------

HEADER = os.path.join(os.path.dirname(__file__), "..", "..", "..", "include", "marty_metrics.h")


def test_status_codes_are_the_headers_enum():
    with open(HEADER) as header:
        text = header.read()
    enum = text[text.index("enum marty_status {"):]
    enum = enum[:enum.index("};")]
    in_header = {name: int(value) for name, value in re.findall(r"MARTY_(\w+) = (\d+)", enum)}
    assert len(in_header) == 15
    assert _native.STATUS_CODES == in_header
    assert _native.ERR_NOT_FOUND == in_header["ERR_NOT_FOUND"]


def test_the_port_table_comes_from_the_library():
    # An independent copy of the seed's table, as an oracle.
    assert _native.service_ports() == {
        "csca-service": (8081, 8082, 9081),
        "document-signer": (8082, 8083, 9082),
        "inspection-system": (8083, 8084, 9083),
        "passport-engine": (8084, 8085, 9084),
        "mdl-engine": (8085, 8086, 9085),
        "mdoc-engine": (8086, 8087, 9086),
        "trust-anchor": (9080, 9081, 10080),
        "pkd-service": (9090, 9091, 10090),
    }
    grpc = ctypes.c_int(-7)
    assert _native.C.service_ports(b"my-daemon", ctypes.byref(grpc), None, None) == _native.ERR_NOT_FOUND
    assert grpc.value == -7
    assert _native.C.service_ports(None, None, None, None) == _native.ERR_NULL_ARGUMENT


def test_the_package_version_is_the_headers():
    with open(HEADER) as header:
        version = re.search(r'#define MARTY_METRICS_VERSION_STRING "([^"]+)"', header.read()).group(1)
    assert mm.__version__ == version == mm.LIBRARY_VERSION
