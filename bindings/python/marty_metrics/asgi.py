"""make_asgi_app: the metrics endpoint as an ASGI 3 application (as prometheus_client's)."""

from urllib.parse import parse_qs

from .exposition import _metrics_response
from .registry import REGISTRY

__all__ = ["make_asgi_app"]


def make_asgi_app(registry=REGISTRY, disable_compression=False):
    """An ASGI application serving `registry` (every path, any method, as prometheus_client's)."""

    async def metrics_app(scope, receive, send):
        if scope["type"] != "http":
            raise ValueError("the metrics app serves HTTP only, not %r" % (scope["type"],))
        headers = {}  # repeated headers joined with commas, as HTTP allows
        for name, value in scope.get("headers", ()):
            name = name.decode("latin-1").lower()
            value = value.decode("latin-1")
            headers[name] = headers[name] + "," + value if name in headers else value
        params = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        status, response_headers, body = _metrics_response(
            registry, headers.get("accept"), headers.get("accept-encoding"), params, disable_compression)
        message = await receive()  # the request (its body, if any, is not used)
        if message.get("type") != "http.request":
            return  # the client went away
        await send({
            "type": "http.response.start",
            "status": int(status.split(" ")[0]),
            "headers": [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in response_headers],
        })
        await send({"type": "http.response.body", "body": body})

    return metrics_app
