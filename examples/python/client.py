"""A small client loop for service.py: signs documents (a few bad ones on purpose), lists
them, then prints what /metrics says about the calls."""

import asyncio
import json
import os
import sys
import time
import urllib.request

from grpc import aio

GRPC_PORT = int(os.environ.get("GRPC_PORT", "8082"))
HEALTH_PORT = int(os.environ.get("MARTY_HEALTH_PORT", "8083"))
METRICS_PORT = int(os.environ.get("MARTY_METRICS_PORT", "9082"))
PREFIX = "/marty.signer.DocumentSigner/"


def encode(message):
    return json.dumps(message).encode()


def decode(data):
    return json.loads(data)


def wait_ready(timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen("http://127.0.0.1:%d/health/ready" % HEALTH_PORT, timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    sys.exit("the service did not become ready")


async def main(rounds):
    async with aio.insecure_channel("127.0.0.1:%d" % GRPC_PORT) as channel:
        sign = channel.unary_unary(PREFIX + "SignDocument", request_serializer=encode, response_deserializer=decode)
        listing = channel.unary_stream(PREFIX + "ListSignatures", request_serializer=encode,
                                       response_deserializer=decode)
        outcomes = {}
        for index in range(rounds):
            request = {"id": "doc-%03d" % index, "content": "passport %d" % index,
                       "algorithm": "sha512" if index % 4 == 0 else "sha256"}
            if index % 10 == 9:
                request["content"] = ""  # aborted: INVALID_ARGUMENT
            if index % 25 == 24:
                request["algorithm"] = "md5"  # set_code: UNIMPLEMENTED
            try:
                await sign(request)
                outcome = "OK"
            except aio.AioRpcError as error:
                outcome = error.code().name
            outcomes[outcome] = outcomes.get(outcome, 0) + 1
        listed = [item async for item in listing({"limit": 5})]
    print("client: %d calls %s, listed %d signatures" % (rounds, outcomes, len(listed)))


if __name__ == "__main__":
    wait_ready()
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 50))
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % METRICS_PORT, timeout=5) as response:
        lines = response.read().decode().splitlines()
    print("\n".join(line for line in lines if line.startswith(("marty_grpc_requests_total", "marty_grpc_errors_total",
                                                               "documents_signed_total"))))
