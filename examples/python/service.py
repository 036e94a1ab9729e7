"""document-signer: a small Marty-style gRPC service instrumented with marty_metrics.

JSON messages through generic handlers (no protoc needed). Ports come from the Marty port
table (gRPC 8082, health 8083, metrics 9082) unless GRPC_PORT, MARTY_HEALTH_PORT or
MARTY_METRICS_PORT say otherwise.
"""

import asyncio
import hashlib
import json
import os
import signal
import sqlite3
import threading

import grpc
from grpc import aio

from marty_metrics import Counter, Histogram, start_metrics_server
from marty_metrics.grpc import AsyncMetricsInterceptor

SERVICE = "document-signer"
GRPC_PORT = int(os.environ.get("GRPC_PORT", "8082"))
BIND = os.environ.get("MARTY_METRICS_BIND", "127.0.0.1")

# A custom metric next to the Marty catalog.
SIGNED = Counter("documents_signed", "Documents signed, by algorithm.", ["algorithm"])
DOCUMENT_BYTES = Histogram("document_size_bytes", "Size of signed documents.",
                           buckets=[64, 256, 1024, 4096, 16384])


class Database:
    """An SQLite database of signatures; one connection, shared under a lock."""

    def __init__(self, path):
        self.lock = threading.Lock()
        self.connection = sqlite3.connect(path, check_same_thread=False)
        self.connection.execute("CREATE TABLE IF NOT EXISTS signatures (id TEXT PRIMARY KEY, digest TEXT)")

    def ping(self):  # the health callback: runs on a thread of the library at probe time
        with self.lock:
            self.connection.execute("SELECT 1").fetchone()
        return True

    def save(self, document_id, digest):
        with self.lock, self.connection:
            self.connection.execute("INSERT OR REPLACE INTO signatures VALUES (?, ?)", (document_id, digest))

    def all(self):
        with self.lock:
            return self.connection.execute("SELECT id, digest FROM signatures ORDER BY id").fetchall()


class Signer:
    def __init__(self, database, metrics):
        self.database = database
        self.metrics = metrics

    async def sign(self, request, context):
        content = request.get("content", "")
        if not content:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "empty document")
        if request.get("algorithm", "sha256") not in ("sha256", "sha512"):
            context.set_code(grpc.StatusCode.UNIMPLEMENTED)
            context.set_details("unsupported algorithm")
            return {}
        algorithm = request.get("algorithm", "sha256")
        digest = hashlib.new(algorithm, content.encode()).hexdigest()
        self.database.save(request["id"], digest)
        SIGNED.labels(algorithm).inc()
        DOCUMENT_BYTES.observe(len(content))
        self.metrics.record_successful_operation("sign")
        return {"id": request["id"], "signature": digest}

    async def list_signatures(self, request, context):
        for document_id, digest in self.database.all()[: request.get("limit", 10)]:
            yield {"id": document_id, "signature": digest}


def encode(message):
    return json.dumps(message).encode()


def decode(data):
    return json.loads(data)


async def main():
    server = start_metrics_server(service=SERVICE, version="1.0.0", bind_address=BIND)
    database = Database(os.environ.get("SIGNER_DATABASE", ":memory:"))
    server.health.add_callback("database", database.ping, timeout=1.0, probe="readiness")
    server.metrics.set_database_connections(1, database="signatures")

    signer = Signer(database, server.metrics)
    grpc_server = aio.server(interceptors=[AsyncMetricsInterceptor(server)])
    options = {"request_deserializer": decode, "response_serializer": encode}
    grpc_server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler("marty.signer.DocumentSigner", {
        "SignDocument": grpc.unary_unary_rpc_method_handler(signer.sign, **options),
        "ListSignatures": grpc.unary_stream_rpc_method_handler(signer.list_signatures, **options),
    }),))
    grpc_server.add_insecure_port("%s:%d" % (BIND, GRPC_PORT))
    await grpc_server.start()
    server.health.add_check("grpc_server", True)
    print("%s: gRPC on %s:%d, metrics on :%d/metrics, health on :%d/health" % (
        SERVICE, BIND, GRPC_PORT, server.metrics_port, server.health_port), flush=True)

    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(signum, stop.set)
    await stop.wait()
    server.health.add_check("grpc_server", False, message="shutting down")
    await grpc_server.stop(grace=2)
    server.stop()


if __name__ == "__main__":
    asyncio.run(main())
