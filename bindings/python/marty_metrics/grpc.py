"""Recording every call of a ``grpc.aio`` server into the Marty catalog
(marty_grpc_requests_total, marty_grpc_request_duration_seconds, marty_grpc_errors_total,
marty_grpc_active_connections), in one of two ways:

  * ``instrument(server)``: wraps the method handlers themselves as services are added to the
    server (``add_generic_rpc_handlers``, ``add_registered_method_handlers``). No interceptor,
    so gRPC runs no interceptor coroutines per call: the cheaper way. Call it before adding
    services; ``InstrumentedGenericHandler`` wraps one GenericRpcHandler for
    ``grpc.aio.server(handlers=[...])``.
  * ``AsyncMetricsInterceptor``: a ``grpc.aio.ServerInterceptor``, for servers built with
    interceptors already, or whose services are added where ``instrument`` cannot reach.

Both record the same thing through the same wrapped handlers. Per RPC: one native call when
the handler starts (marty_service_call_started) and, when it ends, one call recording the
request count by status, the duration, the error count and the trace exemplar
(marty_service_record_traced_call) and marty_service_call_finished: in the compiled extension
these are two C calls (grpc_call_started, grpc_call_ended); through ctypes, three foreign calls.
Method names are encoded once.

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
  * a valid W3C ``traceparent`` metadata value gives the request count and the duration's
    bucket the exemplar {trace_id, span_id}.
Unknown methods (no handler) are left to gRPC and not recorded.
"""

import inspect
import time

import grpc
from grpc import aio

from . import _native
from . import metrics as _metrics
from ._native import C
from .server import MetricsServer, ServiceMetrics, get_metrics_server

__all__ = ["AsyncMetricsInterceptor", "InstrumentedGenericHandler", "instrument"]

_STATUS_NAMES = {code: code.name.encode("ascii") for code in grpc.StatusCode}
_OK = grpc.StatusCode.OK
_OK_NAME = b"OK"
_UNKNOWN_NAME = b"UNKNOWN"
_CANCELLED_NAME = b"CANCELLED"
_AbortError = aio.AbortError
_perf_counter = time.perf_counter
_service_record_traced_call = C.service_record_traced_call
_service_call_started = C.service_call_started
_service_call_finished = C.service_call_finished


def _service_metrics(target, who="AsyncMetricsInterceptor"):
    if target is None:
        server = get_metrics_server()
        if server is None:
            raise ValueError("%s() needs a ServiceMetrics or a MetricsServer, "
                             "or a running metrics server (start_metrics_server)" % who)
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
    raise TypeError("%s takes a ServiceMetrics, a MetricsServer or a service name, not %s"
                    % (who, type(target).__name__))


class _WrappedHandlers:
    """Each method's handler wrapped once: method -> (the handler gRPC gave, ours). A method
    whose handler changes (a service added again) is wrapped again."""

    def __init__(self, metrics):
        self._metrics = metrics
        self._by_method = {}

    def get(self, handler, method):
        entry = self._by_method.get(method)
        if entry is not None and entry[0] is handler:
            return entry[1]
        wrapped = _wrap_handler(handler, method, self._metrics)
        self._by_method[method] = (handler, wrapped)
        return wrapped


class AsyncMetricsInterceptor(aio.ServerInterceptor):
    """Records every RPC of a ``grpc.aio`` server into the Marty catalog.

    ``AsyncMetricsInterceptor(server_or_service_metrics)``; with no argument, the running
    metrics server's catalog. Pass it in ``grpc.aio.server(interceptors=[...])``."""

    def __init__(self, service_metrics_or_server=None):
        self._metrics = _service_metrics(service_metrics_or_server)
        self._wrapped = _WrappedHandlers(self._metrics)

    @property
    def metrics(self):
        return self._metrics

    async def intercept_service(self, continuation, handler_call_details):
        handler = await continuation(handler_call_details)
        if handler is None:
            return None
        return self._wrapped.get(handler, handler_call_details.method)


class InstrumentedGenericHandler(grpc.GenericRpcHandler):
    """A ``grpc.GenericRpcHandler`` whose method handlers record every call: wraps `handler`
    (e.g. ``grpc.method_handlers_generic_handler(...)``). For
    ``grpc.aio.server(handlers=[InstrumentedGenericHandler(h, metrics)])``; ``instrument(server)``
    applies it to every service added later. With no `service_metrics_or_server`, the running
    metrics server's catalog."""

    def __init__(self, handler, service_metrics_or_server=None):
        if not callable(getattr(handler, "service", None)):
            raise TypeError("InstrumentedGenericHandler wraps a grpc.GenericRpcHandler, not %s"
                            % type(handler).__name__)
        self._handler = handler
        self._metrics = _service_metrics(service_metrics_or_server, "InstrumentedGenericHandler")
        self._wrapped = _WrappedHandlers(self._metrics)

    @property
    def metrics(self):
        return self._metrics

    def service(self, handler_call_details):
        handler = self._handler.service(handler_call_details)
        if handler is None:
            return None
        return self._wrapped.get(handler, handler_call_details.method)


def instrument(server, service_metrics_or_server=None):
    """Records every call of the ``grpc.aio`` `server` into the catalog of
    `service_metrics_or_server` (a ServiceMetrics, a MetricsServer or a service name; none:
    the running metrics server's), without an interceptor: the services added to `server`
    from now on (``add_generic_rpc_handlers``, ``add_registered_method_handlers``, which
    generated ``add_XServicer_to_server`` functions call) have their method handlers wrapped
    once, when added. Services added before this call are not recorded, so call it right
    after ``grpc.aio.server(...)``. Returns `server`.

    Same records as AsyncMetricsInterceptor, at less cost per call: gRPC runs no interceptor
    coroutines. Use one or the other on a server, not both (every call would count twice)."""
    if not isinstance(server, aio.Server):
        raise TypeError("instrument() takes a grpc.aio server, not %s" % type(server).__name__)
    if getattr(server, "_marty_metrics", None) is not None:
        raise ValueError("this server is instrumented already")
    metrics = _service_metrics(service_metrics_or_server, "instrument")
    add_generic_rpc_handlers = server.add_generic_rpc_handlers
    add_registered_method_handlers = getattr(server, "add_registered_method_handlers", None)

    def add_instrumented_generic_rpc_handlers(generic_rpc_handlers):
        add_generic_rpc_handlers(tuple(InstrumentedGenericHandler(handler, metrics)
                                       for handler in generic_rpc_handlers))

    def add_instrumented_registered_method_handlers(service_name, method_handlers):
        # The registered methods' handlers are found by gRPC without any Python call: wrapped
        # here once, they cost nothing more per call than the recording itself.
        add_registered_method_handlers(service_name, {
            name: _wrap_handler(handler, "/%s/%s" % (service_name, name), metrics)
            for name, handler in method_handlers.items()})

    server.add_generic_rpc_handlers = add_instrumented_generic_rpc_handlers
    if add_registered_method_handlers is not None:
        server.add_registered_method_handlers = add_instrumented_registered_method_handlers
    server._marty_metrics = metrics
    return server


# ---- Recording one call ------------------------------------------------------------------


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


def _status_name(code):
    """The name (bytes) of a non-OK status code; UNKNOWN for what is no grpc.StatusCode."""
    try:
        return _STATUS_NAMES.get(code, _UNKNOWN_NAME)
    except TypeError:  # unhashable
        return _UNKNOWN_NAME


def _call_started_through_ctypes(h):
    """marty_service_call_started; the start time."""
    _service_call_started(h)
    return _perf_counter()


def _call_ended_through_ctypes(h, method_b, start, context, status=None, error_type=None):
    """Records a call's end: `status` and `error_type` as given (a handler that raised) or, with
    none, from context.code(): OK, or the code set with set_code() (then also the error type)."""
    duration = _perf_counter() - start
    if status is None:
        try:
            code = context.code()
        except Exception:
            code = None
        if code is None or code is _OK:
            status = _OK_NAME
        else:
            status = error_type = _status_name(code)
    _service_record_traced_call(h, method_b, status, duration, error_type, _traceparent(context))
    _service_call_finished(h)


# The compiled extension's grpc_call_started / grpc_call_ended do the same in C (one call each
# instead of up to three ctypes calls and the metadata loop), unless the package records
# through ctypes (MARTY_METRICS_PURE_PYTHON=1, or no extension built).
_speedups = _native.bind_grpc_speedups(_metrics._speedups, _STATUS_NAMES, _OK)
if _speedups is not None:
    _call_started = _speedups.grpc_call_started
    _call_ended = _speedups.grpc_call_ended
else:
    _call_started = _call_started_through_ctypes
    _call_ended = _call_ended_through_ctypes


def _failed(h, method_b, context, start, error):
    """A handler that raised: abort() (its code), a cancellation, or an exception (UNKNOWN)."""
    if isinstance(error, _AbortError):
        try:
            code = context.code()
        except Exception:
            code = None
        name = _status_name(code) if code is not None and code is not _OK else _UNKNOWN_NAME
        _call_ended(h, method_b, start, context, name, name)
    elif isinstance(error, Exception):
        _call_ended(h, method_b, start, context, _UNKNOWN_NAME,
                    type(error).__name__.encode("utf-8", "surrogatepass"))
    else:  # asyncio.CancelledError, GeneratorExit, ...: the call was cancelled
        _call_ended(h, method_b, start, context, _CANCELLED_NAME, _CANCELLED_NAME)


# ---- Wrapping a method handler -----------------------------------------------------------


def _wrap_handler(handler, method, metrics):
    """`handler` (a grpc.RpcMethodHandler) with its behavior recording every call of `method`
    into `metrics`; the same handler when it has no behavior we know."""
    if isinstance(method, bytes):
        method_b = method
    else:
        method_b = str(method).encode("utf-8", "surrogatepass")
    h = metrics._h.value  # the catalog's handle as an int: what both recording paths take
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


# The wrapped behaviors take _call_started and _call_ended as closure variables (read faster
# than globals, on every call).

def _unary_response(behavior, h, method_b):
    """unary-unary and stream-unary handlers; keeps the handler's kind (async or not), which
    grpc.aio looks at to decide how to run it."""
    started, ended = _call_started, _call_ended
    if inspect.iscoroutinefunction(behavior):
        async def wrapped(request, context):
            start = started(h)
            try:
                response = await behavior(request, context)
            except BaseException as error:
                _failed(h, method_b, context, start, error)
                raise
            ended(h, method_b, start, context)
            return response
    else:
        def wrapped(request, context):
            start = started(h)
            try:
                response = behavior(request, context)
            except BaseException as error:
                _failed(h, method_b, context, start, error)
                raise
            ended(h, method_b, start, context)
            return response
    return wrapped


def _stream_response(behavior, h, method_b):
    """unary-stream and stream-stream handlers: async generators, coroutines writing with
    context.write(), or plain generators."""
    started, ended = _call_started, _call_ended
    if inspect.isasyncgenfunction(behavior):
        async def wrapped(request, context):
            start = started(h)
            try:
                async for response in behavior(request, context):
                    yield response
            except BaseException as error:
                _failed(h, method_b, context, start, error)
                raise
            ended(h, method_b, start, context)
    elif inspect.iscoroutinefunction(behavior):
        async def wrapped(request, context):
            start = started(h)
            try:
                result = await behavior(request, context)
            except BaseException as error:
                _failed(h, method_b, context, start, error)
                raise
            ended(h, method_b, start, context)
            return result
    else:
        def wrapped(request, context):
            start = started(h)
            try:
                for response in behavior(request, context):
                    yield response
            except BaseException as error:
                _failed(h, method_b, context, start, error)
                raise
            ended(h, method_b, start, context)
    return wrapped
