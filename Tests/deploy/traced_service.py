"""A Python gRPC service (grpc.aio with marty_metrics' interceptor) whose calls carry W3C trace
context, for the end-to-end test of exemplars and native histograms with a real Prometheus.

Usage: traced_service.py METRICS_PORT TRACE_FILE. Serves /metrics on 127.0.0.1:METRICS_PORT,
then makes one traced unary call every 50 ms (trace ids appended to TRACE_FILE, one per line)
until it is terminated. The catalog's duration histogram is native when the environment says so
(MARTY_METRICS_NATIVE_HISTOGRAM_BUCKET_FACTOR); `e2e_known_seconds`, a native histogram of
factor 1.1, holds the values 0.001, 0.002, ..., 1.000 once each, whose quantiles are known.
"""

import asyncio
import json
import os
import random
import sys

import grpc
from grpc import aio

import marty_metrics as mm
from marty_metrics.grpc import AsyncMetricsInterceptor

SERVICE = "document-signer"
METHOD = "/marty.e2e.Signer/Sign"


async def sign(request, context):
    await asyncio.sleep(random.uniform(0.001, 0.02))
    return {"signed": request["n"]}


async def main(metrics_port, trace_file):
    known = mm.Histogram("e2e_known_seconds", "Known values.", native_histogram_bucket_factor=1.1)
    for ms in range(1, 1001):
        known.observe(ms / 1000)
    server_metrics = mm.start_metrics_server(service=SERVICE, metrics_port=metrics_port, health_port=0,
                                             bind_address="127.0.0.1")
    server = aio.server(interceptors=[AsyncMetricsInterceptor(server_metrics)])
    options = {"request_deserializer": lambda b: json.loads(b), "response_serializer": lambda m: json.dumps(m).encode()}
    handler = grpc.method_handlers_generic_handler(
        "marty.e2e.Signer", {"Sign": grpc.unary_unary_rpc_method_handler(sign, **options)})
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    async with aio.insecure_channel("127.0.0.1:%d" % port) as channel:
        call = channel.unary_unary(METHOD, request_serializer=lambda m: json.dumps(m).encode(),
                                   response_deserializer=lambda b: json.loads(b))
        with open(trace_file, "a", buffering=1) as traces:
            for n in range(100000):
                trace_id = "%032x" % random.getrandbits(128)
                await call({"n": n}, metadata=(("traceparent", "00-%s-%016x-01" % (trace_id, n + 1)),))
                traces.write(trace_id + "\n")
                await asyncio.sleep(0.05)


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), sys.argv[2]))
