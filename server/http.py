"""HTTP hygiene in front of the GraphQL view: a cap on request bodies, no POST that a
browser could send cross-site without a CORS preflight, and JSON that is too deep or of
the wrong shape refused with a reason (for HTTP bodies and websocket messages alike)."""

import json
from collections.abc import Awaitable, Sequence
from typing import Any

from starlette.middleware import Middleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# the content types a cross-site form or fetch may send without a preflight
SIMPLE_TYPES = frozenset({"text/plain", "application/x-www-form-urlencoded", "multipart/form-data"})


GRAPHQL_RESPONSE = "application/graphql-response+json"


def media_type(accept: str) -> str:
    """GraphQL over HTTP: the new media type when the client lists it before plain JSON."""
    wants = GRAPHQL_RESPONSE in accept and (
        "application/json" not in accept
        or accept.index(GRAPHQL_RESPONSE) < accept.index("application/json")
    )
    return GRAPHQL_RESPONSE if wants else "application/json"


MAX_JSON_DEPTH = 64  # arrays and objects in one another; GraphQL variables never need more


class TooDeep(json.JSONDecodeError):
    def __init__(self, document: str | bytes) -> None:
        text = document if isinstance(document, str) else document.decode(errors="replace")
        super().__init__(f"nested deeper than {MAX_JSON_DEPTH} levels", text, 0)


def decode_json(document: str | bytes) -> Any:
    """json.loads, refusing (as a JSONDecodeError) anything nested deeper than
    MAX_JSON_DEPTH, which code walking it recursively could not handle."""
    try:
        value = json.loads(document)
    except RecursionError:
        raise TooDeep(document) from None
    level, depth = [value], 0
    while level:
        depth += 1
        if depth > MAX_JSON_DEPTH:
            raise TooDeep(document)
        level = [
            child
            for item in level
            if isinstance(item, dict | list)
            for child in (item.values() if isinstance(item, dict) else item)
            if isinstance(child, dict | list)
        ]
    return value


# what each member of an operation may be: strawberry checks them for a single operation
# but not for each operation of a batch
OPERATION_FIELDS: dict[str, tuple[type, str]] = {
    "query": (str, "a string"),
    "variables": (dict, "an object"),
    "operationName": (str, "a string"),
    "extensions": (dict, "an object"),
}


def body_shape_error(body: object) -> str | None:
    """Why a JSON body cannot be a GraphQL request, or None if it can: an object, or for a
    batch a non-empty array of objects whose members have the right types."""
    if isinstance(body, dict):
        return None
    if isinstance(body, list):
        if not body:
            return "an empty batch: send at least one operation"
        if not all(isinstance(item, dict) for item in body):
            return "each operation of a batch must be a JSON object"
        for item in body:
            for name, (kind, described) in OPERATION_FIELDS.items():
                if not isinstance(item.get(name), kind | None):
                    return f"each operation's `{name}` must be {described} or null"
        return None
    name = {type(None): "null", bool: "a boolean", str: "a string"}.get(type(body), "a number")
    return f"the request must be a JSON object, not {name}"


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


class HttpOnly:
    """`middleware` (outermost first) for HTTP requests only; a websocket, which none of
    them acts on, goes straight to the app. Each would otherwise keep a suspended frame of
    its own on every websocket for the connection's life, on the way to the app (0.25-0.5
    KiB each per idle subscriber, bench/fanout.py). Not a coroutine function: it hands on
    the app's call, so it keeps no frame either."""

    def __init__(self, app: ASGIApp, middleware: Sequence[Middleware]) -> None:
        self.app = app
        self.http = app
        for cls, args, options in reversed(middleware):
            self.http = cls(self.http, *args, **options)

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        return (self.http if scope["type"] == "http" else self.app)(scope, receive, send)


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
