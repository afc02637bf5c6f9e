"""HTTP hygiene in front of the GraphQL view: a cap on request bodies, and no POST that a
browser could send cross-site without a CORS preflight."""

import json
import re
import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from schema.errors import REQUEST_ID

# the content types a cross-site form or fetch may send without a preflight
SIMPLE_TYPES = frozenset({"text/plain", "application/x-www-form-urlencoded", "multipart/form-data"})


async def _refuse(send: Send, status: int, message: str) -> None:
    body = json.dumps({"errors": [{"message": message}]}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class _TooLarge(Exception):
    pass


class LimitBody:
    """413 for a request body over `limit` bytes, declared or streamed."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        too_large = f"request body over {self.limit} bytes"
        length = dict(scope["headers"]).get(b"content-length", b"0")
        if not length.isdigit() or int(length) > self.limit:
            await _refuse(send, 413, too_large if length.isdigit() else "bad Content-Length")
            return
        seen = 0
        started = False

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.limit:
                raise _TooLarge
            return message

        async def watched(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, watched)
        except _TooLarge:
            if started:
                raise
            await _refuse(send, 413, too_large)


class RefuseSimplePosts:
    """415 for a POST whose content type needs no preflight (a form, text/plain): such
    requests can come from any page a user visits."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            raw = dict(scope["headers"]).get(b"content-type", b"").decode("latin-1")
            essence = raw.split(";", 1)[0].strip().lower()
            if not essence or essence in SIMPLE_TYPES:
                await _refuse(send, 415, "send GraphQL as application/json")
                return
        await self.app(scope, receive, send)


REQUEST_ID_HEADER = b"x-request-id"
REQUEST_ID_SHAPE = re.compile(r"[A-Za-z0-9._-]{1,64}")


class RequestId:
    """Each HTTP request and websocket gets an id: the client's X-Request-ID when it is a
    plain token, else a new one. Log lines about the request carry it, and HTTP responses
    send it back in X-Request-ID."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        given = dict(scope["headers"]).get(REQUEST_ID_HEADER, b"").decode("latin-1")
        request = given if REQUEST_ID_SHAPE.fullmatch(given) else uuid.uuid4().hex
        token = REQUEST_ID.set(request)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [*message.get("headers", []), (REQUEST_ID_HEADER, request.encode())]
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            REQUEST_ID.reset(token)
