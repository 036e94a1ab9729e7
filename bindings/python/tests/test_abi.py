"""The ctypes declarations match the loaded library's C structs.

marty_endpoint_options_init_sized writes the library's whole marty_endpoint_options when given
a large enough size, so a ctypes EndpointOptions shorter than the library's would miss fields;
the 0.1 entry point marty_endpoint_options_init, which programs built against a 0.1 header
call, writes only the 0.1 fields. (In 0.2 development builds it wrote the whole struct, 16 bytes past a 0.1
caller's: under ASan a heap-buffer-overflow, without it a heap corruption that later crashed
CPython's garbage collector.)"""

import ctypes

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
