"""AsyncMetricsInterceptor: a grpc.aio server interceptor recording every call into the
Marty catalog (marty_grpc_requests_total, marty_grpc_request_duration_seconds,
marty_grpc_errors_total, marty_grpc_active_connections).

Per RPC it makes three native calls and no Python metric lookup: marty_service_call_started
when the handler starts, and when it ends marty_service_record_call (request count by status,
duration, error count) and marty_service_call_finished. Method names are encoded once.

What is recorded:
  * method: the full name, ``/pkg.Service/Method``;
  * status: the status code name (``OK``, ``NOT_FOUND``, ...);
  * error_type (marty_grpc_errors_total), for failed calls only:
      - a handler that raises: the exception's class name, status ``UNKNOWN``;
      - ``context.abort(code, ...)``: the code's name (e.g. ``NOT_FOUND``);
      - ``context.set_code(code)`` with a non-OK code, without raising: the code's name;
      - a call cancelled (client gone, deadline): status and error_type ``CANCELLED``.
  * duration: seconds from the handler's start to its end (for streaming responses, to
    the last message).
Unknown methods (no handler) are left to gRPC and not recorded.
"""

import inspect
import time

import grpc
from grpc import aio

from ._native import C
from .server import MetricsServer, ServiceMetrics, get_metrics_server

__all__ = ["AsyncMetricsInterceptor"]

_STATUS_NAMES = {code: code.name.encode("ascii") for code in grpc.StatusCode}
_OK = grpc.StatusCode.OK
_OK_NAME = b"OK"
_UNKNOWN_NAME = b"UNKNOWN"
_CANCELLED_NAME = b"CANCELLED"
_AbortError = aio.AbortError
_perf_counter = time.perf_counter
_record_traced_call = C.service_record_traced_call
_call_started = C.service_call_started
_call_finished = C.service_call_finished


def _service_metrics(target):
    if target is None:
        server = get_metrics_server()
        if server is None:
            raise ValueError("AsyncMetricsInterceptor() needs a ServiceMetrics or a MetricsServer, "
                             "or a running metrics server (start_metrics_server)")
        return server.metrics
    if isinstance(target, ServiceMetrics):
        return target
    if isinstance(target, MetricsServer):
        return target.metrics
    if isinstance(target, str):
        return ServiceMetrics(target)
    metrics = getattr(target, "metrics", None)
    if isinstance(metrics, ServiceMetrics):
        return metrics
    raise TypeError("AsyncMetricsInterceptor takes a ServiceMetrics, a MetricsServer or a service name, not %s"
                    % type(target).__name__)


class AsyncMetricsInterceptor(aio.ServerInterceptor):
    """Records every RPC of a ``grpc.aio`` server into the Marty catalog.

    ``AsyncMetricsInterceptor(server_or_service_metrics)``; with no argument, the running
    metrics server's catalog. Pass it in ``grpc.aio.server(interceptors=[...])``."""

    def __init__(self, service_metrics_or_server=None):
        self._metrics = _service_metrics(service_metrics_or_server)
        # method -> (the handler gRPC gave, our wrapped handler)
        self._wrapped = {}

    @property
    def metrics(self):
        return self._metrics

    async def intercept_service(self, continuation, handler_call_details):
        handler = await continuation(handler_call_details)
        if handler is None:
            return None
        method = handler_call_details.method
        entry = self._wrapped.get(method)
        if entry is not None and entry[0] is handler:
            return entry[1]
        wrapped = self._wrap(handler, method)
        self._wrapped[method] = (handler, wrapped)
        return wrapped

    # -- wrapping

    def _wrap(self, handler, method):
        if isinstance(method, bytes):
            method_b = method
        else:
            method_b = str(method).encode("utf-8", "surrogatepass")
        h = self._metrics._h
        if handler.unary_unary is not None:
            behavior = _unary_response(handler.unary_unary, h, method_b)
            factory = grpc.unary_unary_rpc_method_handler
        elif handler.unary_stream is not None:
            behavior = _stream_response(handler.unary_stream, h, method_b)
            factory = grpc.unary_stream_rpc_method_handler
        elif handler.stream_unary is not None:
            behavior = _unary_response(handler.stream_unary, h, method_b)
            factory = grpc.stream_unary_rpc_method_handler
        elif handler.stream_stream is not None:
            behavior = _stream_response(handler.stream_stream, h, method_b)
            factory = grpc.stream_stream_rpc_method_handler
        else:
            return handler
        return factory(behavior, request_deserializer=handler.request_deserializer,
                       response_serializer=handler.response_serializer)


def _traceparent(context):
    """The call's W3C `traceparent` metadata as bytes, or None; the library checks it and
    gives the call's metrics the exemplar {trace_id, span_id} when it is valid."""
    try:
        metadata = context.invocation_metadata()
    except Exception:
        return None
    for key, value in metadata or ():
        if key == "traceparent":
            return value.encode("ascii", "replace") if isinstance(value, str) else None
    return None


def _record_call(h, method_b, status, duration, error_type, context):
    _record_traced_call(h, method_b, status, duration, error_type, _traceparent(context))


def _finished(h, method_b, context, start):
    """A handler that returned: OK, or the code it set with set_code()."""
    duration = _perf_counter() - start
    try:
        code = context.code()
    except Exception:
        code = None
    if code is None or code is _OK:
        _record_call(h, method_b, _OK_NAME, duration, None, context)
    else:
        name = _STATUS_NAMES.get(code, _UNKNOWN_NAME)
        _record_call(h, method_b, name, duration, name, context)
    _call_finished(h)


def _failed(h, method_b, context, start, error):
    """A handler that raised: abort() (its code), a cancellation, or an exception (UNKNOWN)."""
    duration = _perf_counter() - start
    if isinstance(error, _AbortError):
        try:
            code = context.code()
        except Exception:
            code = None
        name = _STATUS_NAMES.get(code, _UNKNOWN_NAME) if code is not None and code is not _OK else _UNKNOWN_NAME
        _record_call(h, method_b, name, duration, name, context)
    elif isinstance(error, Exception):
        _record_call(h, method_b, _UNKNOWN_NAME, duration,
                     type(error).__name__.encode("utf-8", "surrogatepass"), context)
    else:  # asyncio.CancelledError, GeneratorExit, ...: the call was cancelled
        _record_call(h, method_b, _CANCELLED_NAME, duration, _CANCELLED_NAME, context)
    _call_finished(h)


def _unary_response(behavior, h, method_b):
    """unary-unary and stream-unary handlers; keeps the handler's kind (async or not), which
    grpc.aio looks at to decide how to run it."""
    if inspect.iscoroutinefunction(behavior):
        async def wrapped(request, context):
            _call_started(h)
            start = _perf_counter()
            try:
                response = await behavior(request, context)
            except BaseException as error:
                _failed(h, method_b, context, start, error)
                raise
            _finished(h, method_b, context, start)
            return response
    else:
        def wrapped(request, context):
            _call_started(h)
            start = _perf_counter()
            try:
                response = behavior(request, context)
            except BaseException as error:
                _failed(h, method_b, context, start, error)
                raise
            _finished(h, method_b, context, start)
            return response
    return wrapped


def _stream_response(behavior, h, method_b):
    """unary-stream and stream-stream handlers: async generators, coroutines writing with
    context.write(), or plain generators."""
    if inspect.isasyncgenfunction(behavior):
        async def wrapped(request, context):
            _call_started(h)
            start = _perf_counter()
            try:
                async for response in behavior(request, context):
                    yield response
            except BaseException as error:
                _failed(h, method_b, context, start, error)
                raise
            _finished(h, method_b, context, start)
    elif inspect.iscoroutinefunction(behavior):
        async def wrapped(request, context):
            _call_started(h)
            start = _perf_counter()
            try:
                result = await behavior(request, context)
            except BaseException as error:
                _failed(h, method_b, context, start, error)
                raise
            _finished(h, method_b, context, start)
            return result
    else:
        def wrapped(request, context):
            _call_started(h)
            start = _perf_counter()
            try:
                for response in behavior(request, context):
                    yield response
            except BaseException as error:
                _failed(h, method_b, context, start, error)
                raise
            _finished(h, method_b, context, start)
    return wrapped
