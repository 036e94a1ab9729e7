"""AsyncMetricsInterceptor and instrument() (and InstrumentedGenericHandler) with a real
grpc.aio server and client on 127.0.0.1 (ephemeral port, JSON messages through generic or
registered method handlers, so no protoc is needed), read back from generate_latest with
prometheus_client's parser. Every recording test runs once for each way of instrumenting."""

import asyncio
import json

import pytest

grpc = pytest.importorskip("grpc")
from grpc import aio  # noqa: E402

import marty_metrics as mm  # noqa: E402
from marty_metrics.grpc import AsyncMetricsInterceptor, InstrumentedGenericHandler, instrument  # noqa: E402
from conftest import samples  # noqa: E402

SERVICE = "grpc-test"
PREFIX = "/marty.test.Echo/"


def encode(message):
    return json.dumps(message).encode()


def decode(data):
    return json.loads(data.decode())


class Handlers:
    def __init__(self):
        self.in_call = asyncio.Event()
        self.release = asyncio.Event()
        self.hanging = asyncio.Event()

    async def unary(self, request, context):
        return {"echo": request["text"]}

    def sync_unary(self, request, context):
        return {"echo": request["text"].upper()}

    async def raises(self, request, context):
        raise KeyError("no such document")

    async def aborts(self, request, context):
        await context.abort(grpc.StatusCode.NOT_FOUND, "document not found")

    async def sets_code(self, request, context):
        context.set_code(grpc.StatusCode.ALREADY_EXISTS)
        context.set_details("exists already")
        return {}

    async def waits(self, request, context):
        self.in_call.set()
        await self.release.wait()
        return {"waited": True}

    async def hangs(self, request, context):
        self.hanging.set()
        await asyncio.Event().wait()

    async def client_stream(self, request_iterator, context):
        total = 0
        async for request in request_iterator:
            total += request["n"]
        return {"sum": total}

    async def server_stream(self, request, context):
        for index in range(request["count"]):
            yield {"index": index}

    async def server_stream_fails(self, request, context):
        yield {"index": 0}
        raise RuntimeError("stream broke")

    async def bidi(self, request_iterator, context):
        async for request in request_iterator:
            yield {"double": request["n"] * 2}

    async def bidi_aborts(self, request_iterator, context):
        async for request in request_iterator:
            await context.abort(grpc.StatusCode.PERMISSION_DENIED, "no")
            yield request


def method_handlers(handlers):
    options = {"request_deserializer": decode, "response_serializer": encode}
    return {
        "Unary": grpc.unary_unary_rpc_method_handler(handlers.unary, **options),
        "SyncUnary": grpc.unary_unary_rpc_method_handler(handlers.sync_unary, **options),
        "Raises": grpc.unary_unary_rpc_method_handler(handlers.raises, **options),
        "Aborts": grpc.unary_unary_rpc_method_handler(handlers.aborts, **options),
        "SetsCode": grpc.unary_unary_rpc_method_handler(handlers.sets_code, **options),
        "Waits": grpc.unary_unary_rpc_method_handler(handlers.waits, **options),
        "Hangs": grpc.unary_unary_rpc_method_handler(handlers.hangs, **options),
        "ClientStream": grpc.stream_unary_rpc_method_handler(handlers.client_stream, **options),
        "ServerStream": grpc.unary_stream_rpc_method_handler(handlers.server_stream, **options),
        "ServerStreamFails": grpc.unary_stream_rpc_method_handler(handlers.server_stream_fails, **options),
        "Bidi": grpc.stream_stream_rpc_method_handler(handlers.bidi, **options),
        "BidiAborts": grpc.stream_stream_rpc_method_handler(handlers.bidi_aborts, **options),
    }


def generic_handler(handlers):
    return grpc.method_handlers_generic_handler("marty.test.Echo", method_handlers(handlers))


# The ways a server records its calls: each makes a server serving `handlers` into `metrics`.

def with_interceptor(handlers, metrics):
    server = aio.server(interceptors=[AsyncMetricsInterceptor(metrics)])
    server.add_generic_rpc_handlers((generic_handler(handlers),))
    return server


def instrumented_generic(handlers, metrics):
    server = instrument(aio.server(), metrics)
    server.add_generic_rpc_handlers((generic_handler(handlers),))
    return server


def instrumented_registered(handlers, metrics):
    # As generated add_XServicer_to_server functions do: both, the registered ones first in line.
    server = instrument(aio.server(), metrics)
    server.add_generic_rpc_handlers((generic_handler(handlers),))
    server.add_registered_method_handlers("marty.test.Echo", method_handlers(handlers))
    return server


def generic_handler_given_at_construction(handlers, metrics):
    return aio.server(handlers=[InstrumentedGenericHandler(generic_handler(handlers), metrics)])


WAYS = {
    "interceptor": with_interceptor,
    "instrument-generic": instrumented_generic,
    "instrument-registered": instrumented_registered,
    "InstrumentedGenericHandler": generic_handler_given_at_construction,
}


async def exercise(metrics, registry, make_server):
    handlers = Handlers()
    server = make_server(handlers, metrics)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    observed = {}
    try:
        async with aio.insecure_channel("127.0.0.1:%d" % port) as channel:
            def unary(name):
                return channel.unary_unary(PREFIX + name, request_serializer=encode, response_deserializer=decode)

            for text in ("a", "b", "c"):
                assert await unary("Unary")({"text": text}) == {"echo": text}
            assert await unary("SyncUnary")({"text": "x"}) == {"echo": "X"}

            for name, code in (("Raises", grpc.StatusCode.UNKNOWN), ("Aborts", grpc.StatusCode.NOT_FOUND),
                               ("SetsCode", grpc.StatusCode.ALREADY_EXISTS)):
                with pytest.raises(aio.AioRpcError) as caught:
                    await unary(name)({"text": "x"})
                assert caught.value.code() == code
            with pytest.raises(aio.AioRpcError) as caught:
                await unary("Raises")({"text": "again"})

            # in flight: the gauge reads 1 while a call waits in its handler
            waiting = asyncio.ensure_future(unary("Waits")({}))
            await asyncio.wait_for(handlers.in_call.wait(), 10)
            observed["in_flight"] = samples(registry)[
                ("marty_grpc_active_connections", frozenset({"service": SERVICE}.items()))]
            handlers.release.set()
            assert await waiting == {"waited": True}

            # a call the client cancels
            hanging = unary("Hangs")({})
            await asyncio.wait_for(handlers.hanging.wait(), 10)
            hanging.cancel()
            key = ("marty_grpc_requests_total",
                   frozenset({"service": SERVICE, "method": PREFIX + "Hangs", "status": "CANCELLED"}.items()))
            for _ in range(500):
                if key in samples(registry):
                    break
                await asyncio.sleep(0.01)

            client_stream = channel.stream_unary(PREFIX + "ClientStream", request_serializer=encode,
                                                 response_deserializer=decode)
            assert await client_stream(iter([{"n": 1}, {"n": 2}, {"n": 3}])) == {"sum": 6}

            server_stream = channel.unary_stream(PREFIX + "ServerStream", request_serializer=encode,
                                                 response_deserializer=decode)
            assert [m["index"] async for m in server_stream({"count": 4})] == [0, 1, 2, 3]

            fails = channel.unary_stream(PREFIX + "ServerStreamFails", request_serializer=encode,
                                         response_deserializer=decode)
            received = []
            with pytest.raises(aio.AioRpcError) as caught:
                async for message in fails({}):
                    received.append(message)
            assert caught.value.code() == grpc.StatusCode.UNKNOWN and received == [{"index": 0}]

            bidi = channel.stream_stream(PREFIX + "Bidi", request_serializer=encode, response_deserializer=decode)
            assert [m["double"] async for m in bidi(iter([{"n": 1}, {"n": 5}]))] == [2, 10]

            bidi_aborts = channel.stream_stream(PREFIX + "BidiAborts", request_serializer=encode,
                                                response_deserializer=decode)
            with pytest.raises(aio.AioRpcError) as caught:
                async for _ in bidi_aborts(iter([{"n": 1}])):
                    pass
            assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED

            with pytest.raises(aio.AioRpcError) as caught:
                await unary("NoSuchMethod")({})
            assert caught.value.code() == grpc.StatusCode.UNIMPLEMENTED
    finally:
        await server.stop(None)
    return observed


@pytest.fixture(scope="module", params=list(WAYS))
def recorded(request):
    registry = mm.CollectorRegistry()
    metrics = mm.ServiceMetrics(SERVICE, version="1", registry=registry)
    observed = asyncio.run(exercise(metrics, registry, WAYS[request.param]))
    return registry, observed, samples(registry)


def requests(got, method, status):
    return got.get(("marty_grpc_requests_total",
                    frozenset({"service": SERVICE, "method": PREFIX + method, "status": status}.items())))


def errors(got, method, error_type):
    return got.get(("marty_grpc_errors_total",
                    frozenset({"service": SERVICE, "method": PREFIX + method, "error_type": error_type}.items())))


def duration_count(got, method):
    return got.get(("marty_grpc_request_duration_seconds_count",
                    frozenset({"service": SERVICE, "method": PREFIX + method}.items())))


def test_unary_successes_are_counted_with_their_durations(recorded):
    _, _, got = recorded
    assert requests(got, "Unary", "OK") == 3
    assert duration_count(got, "Unary") == 3
    assert errors(got, "Unary", "UNKNOWN") is None
    assert requests(got, "SyncUnary", "OK") == 1
    bucket = got[("marty_grpc_request_duration_seconds_bucket",
                  frozenset({"service": SERVICE, "method": PREFIX + "Unary", "le": "+Inf"}.items()))]
    assert bucket == 3


def test_a_handler_that_raises_is_unknown_with_the_exception_class(recorded):
    _, _, got = recorded
    assert requests(got, "Raises", "UNKNOWN") == 2
    assert errors(got, "Raises", "KeyError") == 2
    assert duration_count(got, "Raises") == 2


def test_abort_records_the_code(recorded):
    _, _, got = recorded
    assert requests(got, "Aborts", "NOT_FOUND") == 1
    assert errors(got, "Aborts", "NOT_FOUND") == 1
    assert requests(got, "Aborts", "UNKNOWN") is None


def test_set_code_without_raising_records_the_code(recorded):
    _, _, got = recorded
    assert requests(got, "SetsCode", "ALREADY_EXISTS") == 1
    assert errors(got, "SetsCode", "ALREADY_EXISTS") == 1
    assert requests(got, "SetsCode", "OK") is None


def test_streaming_calls(recorded):
    _, _, got = recorded
    assert requests(got, "ClientStream", "OK") == 1
    assert requests(got, "ServerStream", "OK") == 1
    assert requests(got, "Bidi", "OK") == 1
    assert requests(got, "ServerStreamFails", "UNKNOWN") == 1
    assert errors(got, "ServerStreamFails", "RuntimeError") == 1
    assert requests(got, "BidiAborts", "PERMISSION_DENIED") == 1
    assert errors(got, "BidiAborts", "PERMISSION_DENIED") == 1
    for method in ("ClientStream", "ServerStream", "Bidi", "ServerStreamFails", "BidiAborts"):
        assert duration_count(got, method) == 1, method


def test_a_call_the_client_cancels_is_cancelled(recorded):
    _, _, got = recorded
    assert requests(got, "Hangs", "CANCELLED") == 1
    assert errors(got, "Hangs", "CANCELLED") == 1


def test_in_flight_gauge_counts_running_calls_and_returns_to_zero(recorded):
    _, observed, got = recorded
    assert observed["in_flight"] == 1
    assert got[("marty_grpc_active_connections", frozenset({"service": SERVICE}.items()))] == 0
    assert requests(got, "Waits", "OK") == 1


def test_unknown_methods_are_not_recorded(recorded):
    _, _, got = recorded
    assert not [key for key in got if any(v == PREFIX + "NoSuchMethod" for _, v in key[1])]


def test_every_exposed_method_and_status_is_what_the_calls_made(recorded):
    _, _, got = recorded
    seen = sorted((dict(labels)["method"], dict(labels)["status"]) for name, labels in got
                  if name == "marty_grpc_requests_total")
    assert seen == sorted([
        (PREFIX + "Aborts", "NOT_FOUND"), (PREFIX + "Bidi", "OK"), (PREFIX + "BidiAborts", "PERMISSION_DENIED"),
        (PREFIX + "ClientStream", "OK"), (PREFIX + "Hangs", "CANCELLED"), (PREFIX + "Raises", "UNKNOWN"), (PREFIX + "ServerStream", "OK"),
        (PREFIX + "ServerStreamFails", "UNKNOWN"), (PREFIX + "SetsCode", "ALREADY_EXISTS"),
        (PREFIX + "SyncUnary", "OK"), (PREFIX + "Unary", "OK"), (PREFIX + "Waits", "OK"),
    ])


def test_interceptor_accepts_a_server_and_refuses_other_things(server):
    assert AsyncMetricsInterceptor(server).metrics is server.metrics
    assert AsyncMetricsInterceptor().metrics is server.metrics  # the running server
    with pytest.raises(TypeError):
        AsyncMetricsInterceptor(42)


def test_interceptor_without_a_server_needs_an_argument():
    assert mm.get_metrics_server() is None
    with pytest.raises(ValueError, match="start_metrics_server"):
        AsyncMetricsInterceptor()


TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = "00-%s-00f067aa0ba902b7-01" % TRACE_ID


@pytest.mark.parametrize("way", list(WAYS))
def test_calls_with_w3c_trace_context_give_exemplars(way):
    from prometheus_client.openmetrics.parser import text_string_to_metric_families

    registry = mm.CollectorRegistry()
    metrics = mm.ServiceMetrics("traced", version="1", registry=registry)

    async def run():
        server = WAYS[way](Handlers(), metrics)
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        try:
            async with aio.insecure_channel("127.0.0.1:%d" % port) as channel:
                def unary(name):
                    return channel.unary_unary(PREFIX + name, request_serializer=encode, response_deserializer=decode)
                await unary("Unary")({"text": "a"}, metadata=(("traceparent", TRACEPARENT),))
                with pytest.raises(aio.AioRpcError):
                    await unary("Raises")({"text": "a"}, metadata=(("traceparent", TRACEPARENT),))
                # Not valid trace context (upper-case hex): ignored.
                await unary("SyncUnary")({"text": "a"}, metadata=(("traceparent", TRACEPARENT.upper()),))
        finally:
            await server.stop(None)

    asyncio.run(run())
    text = mm.generate_openmetrics(registry).decode()
    exemplars = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.exemplar is not None:
                exemplars[(s.name, s.labels.get("method"), s.labels.get("status"), s.labels.get("le"))] = s.exemplar
    expected = {"trace_id": TRACE_ID, "span_id": "00f067aa0ba902b7"}
    assert exemplars[("marty_grpc_requests_total", PREFIX + "Unary", "OK", None)].labels == expected
    assert exemplars[("marty_grpc_requests_total", PREFIX + "Raises", "UNKNOWN", None)].labels == expected
    buckets = [k for k in exemplars if k[0] == "marty_grpc_request_duration_seconds_bucket"]
    assert sorted(k[1] for k in buckets) == [PREFIX + "Raises", PREFIX + "Unary"]
    assert not any(k[1] == PREFIX + "SyncUnary" for k in exemplars)


def test_instrument_takes_what_the_interceptor_takes_and_refuses_other_things(server):
    async def check():  # a grpc.aio server is made in a running event loop
        assert instrument(aio.server())._marty_metrics is server.metrics  # the running server
        assert instrument(aio.server(), server)._marty_metrics is server.metrics
        assert InstrumentedGenericHandler(generic_handler(Handlers())).metrics is server.metrics
        with pytest.raises(TypeError):
            instrument(aio.server(), 42)
        with pytest.raises(TypeError, match="grpc.aio server"):
            instrument(object(), server)
        with pytest.raises(TypeError, match="GenericRpcHandler"):
            InstrumentedGenericHandler(object(), server)
        instrumented = instrument(aio.server(), server)
        with pytest.raises(ValueError, match="instrumented already"):
            instrument(instrumented, server)

    asyncio.run(check())


def test_instrument_without_a_server_needs_an_argument():
    async def check():
        assert mm.get_metrics_server() is None
        with pytest.raises(ValueError, match="start_metrics_server"):
            instrument(aio.server())
        with pytest.raises(ValueError, match="start_metrics_server"):
            InstrumentedGenericHandler(generic_handler(Handlers()))

    asyncio.run(check())


def test_instrument_records_the_services_added_after_it_only():
    registry = mm.CollectorRegistry()
    metrics = mm.ServiceMetrics("late", version="1", registry=registry)

    async def run():
        server = aio.server()
        server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(
            "marty.test.Before", {"Unary": grpc.unary_unary_rpc_method_handler(
                Handlers().unary, request_deserializer=decode, response_serializer=encode)}),))
        instrument(server, metrics)
        server.add_generic_rpc_handlers((generic_handler(Handlers()),))
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        try:
            async with aio.insecure_channel("127.0.0.1:%d" % port) as channel:
                for service in ("marty.test.Before", "marty.test.Echo"):
                    call = channel.unary_unary("/%s/Unary" % service, request_serializer=encode,
                                               response_deserializer=decode)
                    assert await call({"text": "a"}) == {"echo": "a"}
        finally:
            await server.stop(None)

    asyncio.run(run())
    methods = {dict(labels)["method"] for name, labels in samples(registry) if name == "marty_grpc_requests_total"}
    assert methods == {PREFIX + "Unary"}


def test_calls_are_recorded_through_the_path_the_package_records_through():
    from marty_metrics import grpc as marty_grpc
    from marty_metrics import metrics as marty_metrics_module

    if marty_metrics_module._speedups is None:  # ctypes (MARTY_METRICS_PURE_PYTHON=1, or not built)
        assert marty_grpc._call_ended is marty_grpc._call_ended_through_ctypes
    else:
        assert marty_grpc._call_started is marty_metrics_module._speedups.grpc_call_started
        assert marty_grpc._call_ended is marty_metrics_module._speedups.grpc_call_ended
