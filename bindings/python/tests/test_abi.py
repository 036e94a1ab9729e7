"""The ctypes declarations match the loaded library's C structs.

marty_endpoint_options_init writes the whole marty_endpoint_options of the library's header.
A ctypes EndpointOptions shorter than that is overwritten past its end: under ASan this was a
heap-buffer-overflow in marty_endpoint_start (it copies struct_size bytes), and without ASan a
silent heap corruption that later crashed CPython's garbage collector."""

import ctypes

import marty_metrics as mm  # noqa: F401  (loads the library)
from marty_metrics import _native


def test_endpoint_options_has_the_librarys_size():
    # A buffer far larger than any version of the struct, filled by the library itself.
    buffer = (ctypes.c_ubyte * 1024)()
    _native.C.endpoint_options_init(ctypes.cast(buffer, ctypes.POINTER(_native.EndpointOptions)))
    library_size = ctypes.c_size_t.from_buffer(buffer).value
    assert library_size == ctypes.sizeof(_native.EndpointOptions), (
        "marty_endpoint_options is %d bytes in the library, %d in marty_metrics._native.EndpointOptions"
        % (library_size, ctypes.sizeof(_native.EndpointOptions)))
    # Nothing written past the struct the library declares.
    assert not any(buffer[library_size:])
