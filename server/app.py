"""The ASGI app: GraphQL over HTTP and both websocket protocols, with the background work
(scheduler, simulated sender, the token guard) and every resource opened and closed in one
lifespan."""

import asyncio
import gc
import json
import logging
from collections.abc import AsyncIterator, Coroutine
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import timedelta
from functools import cache
from typing import Any

from cross_web import AsyncHTTPRequestAdapter, HTTPException
from sqlalchemy import text
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.http import GraphQLHTTPResponse, GraphQLRequestData
from strawberry.types.unset import UNSET, UnsetType

from schema import build
from schema.context import Context
from schema.errors import Code
from schema.limits import Limits
from schema.prepared import Reads, Writes
from schema.readcache import ReadCache
from schema.sharing import Frames, Shared
from server import buckets, http, logs, reads, scheduler, web
from server.auth import Auth, Identity, Unauthenticated
from server.http import HttpOnly, LimitBody, RefuseSimplePosts
from server.logs import RequestIds
from server.metrics import Metrics
from server.metrics import endpoint as metrics_endpoint
from server.reads import KnownReads
from server.runtime import runtime
from server.sender import SimulatedSender
from server.settings import Settings
from server.tracing import Tracing
from server.tracing import from_env as traces_from_env
from server.webhooks import Config as WebhookConfig
from server.webhooks import WebhookSender
from server.websockets import App, LegacyWSHandler, TransportWSHandler, WebSocketAdapter
from store import Store, idempotency, migrate, stream
from store.database import DatabaseUnavailable
from store.webhooks import backlog as webhook_backlog

log = logging.getLogger("commpulse")

GRAPHQL_RESPONSE = http.GRAPHQL_RESPONSE


def limits(settings: Settings) -> Limits:
    return Limits(
        max_depth=settings.max_depth,
        max_aliases=settings.max_aliases,
        max_tokens=settings.max_tokens,
        max_batch=settings.max_batch,
        rate=settings.rate_limit,
        burst=settings.rate_burst,
        introspection=settings.introspection,
        field_suggestions=settings.field_suggestions,
        max_cost=settings.max_cost,
        cost_budget=settings.cost_budget,
        cost_refill=settings.cost_refill,
    )


class CommpulseGraphQL(GraphQL[Context, Shared | None]):
    graphql_transport_ws_handler_class = TransportWSHandler
    graphql_ws_handler_class = LegacyWSHandler
    websocket_adapter_class = WebSocketAdapter

    def __init__(self, settings: Settings, auth: Auth, metrics: Metrics, tracing: Tracing) -> None:
        self.buckets = buckets.for_broker(settings.broadcast_url)  # closed by the lifespan
        metered = settings.metrics != "off"
        limited = limits(settings)
        reads = ReadCache(
            settings.read_cache, shared=not settings.broadcast_url.startswith("memory:")
        )
        schema = build(
            limited,
            self.buckets,
            # metrics cost a little on every operation: only when someone can read them
            outer=[*tracing.extensions(), *([metrics.extension()] if metered else [])],
            reads=reads,
        )
        super().__init__(
            schema,
            graphql_ide="graphiql" if settings.graphiql else None,
            allowed_origins=settings.allowed_origins,
            connection_init_wait_timeout=timedelta(seconds=settings.connection_init_timeout),
            max_subscriptions_per_connection=settings.max_subscriptions,
        )
        self.auth = auth
        self.metrics = metrics
        # subscription payloads shared by subscribers (server/websockets.py)
        self.frames = Frames(outbox=settings.subscriber_queue)
        self.lease = timedelta(seconds=settings.lease_seconds)
        self.stalled_after = timedelta(seconds=settings.stalled_after)
        self.webhook_allow_private = settings.webhook_allow_private
        # reads of known queries answered before strawberry runs, unless metrics or traces
        # watch every operation
        plain = not metered and not tracing.on
        known = Reads(schema, limited, self.buckets, reads)
        writes = Writes(schema, limited, self.buckets)
        self.answers = KnownReads(known, writes, auth, self._http_context) if plain else None

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Coroutine[Any, Any, None]:
        # not a coroutine function: a websocket goes to strawberry's own, and this keeps no
        # frame on it for the connection's life (its handler counts it: server/websockets.py)
        if scope["type"] == "websocket":
            return super().__call__(scope, receive, send)
        return self._call_http(scope, receive, send)

    async def _call_http(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        except Unauthenticated as refused:
            response = JSONResponse(
                {
                    "errors": [
                        {"message": str(refused), "extensions": {"code": Code.UNAUTHENTICATED}}
                    ]
                },
                status_code=401,
                headers={"WWW-Authenticate": "Bearer"},
            )
            await response(scope, receive, send)

    def run(  # type: ignore[override]
        self,
        request: Request | WebSocket,
        context: Context = UNSET,
        root_value: None = UNSET,
    ) -> Coroutine[Any, Any, Response | WebSocket]:
        # not a coroutine function: a websocket goes to strawberry's own, and this keeps no
        # frame on it for the connection's life (server/http.py, HttpOnly)
        if isinstance(request, WebSocket):
            return super().run(request, context, root_value)
        return self._run_http(request, context)

    async def _run_http(self, request: Request, context: Context) -> Response | WebSocket:
        """A request refused before GraphQL runs (bad JSON, a bad batch, an unknown
        operation) gets its reason as a GraphQL error in JSON, not as plain text."""
        try:
            if self.answers is not None:
                accept = request.headers.get("accept", "")
                if answer := await self.answers.answer(request, http.media_type(accept)):
                    return answer
            return await super().run(request, context, UNSET)
        except HTTPException as refused:
            return JSONResponse(
                {"errors": [{"message": refused.reason, "extensions": {"code": Code.BAD_REQUEST}}]},
                status_code=refused.status_code,
            )

    def decode_json(self, data: str | bytes) -> object:
        return http.decode_json(data)  # HTTP bodies and websocket messages: depth capped

    def parse_json(self, data: str | bytes) -> Any:
        try:
            return self.decode_json(data)
        except json.JSONDecodeError as error:
            raise HTTPException(400, f"Unable to parse request body as JSON: {error.msg}") from None

    async def parse_http_body(
        self, request: AsyncHTTPRequestAdapter
    ) -> GraphQLRequestData | list[GraphQLRequestData]:
        if request.method == "POST" and "json" in (request.content_type or ""):
            body = await request.get_body()
            sent = reads.decoded(body)
            main = (request.content_type or "").partition(";")[0].strip().lower()
            if sent is not None and main == "application/json":
                # decoded once already, and a shape strawberry accepts as it is: what it
                # would make of it, without decoding it again
                extensions = sent.get("extensions")
                if isinstance(extensions, dict | None):
                    transport = self._get_stream_transport_from_headers(request.headers)
                    return GraphQLRequestData(
                        query=sent["query"],
                        variables=sent.get("variables"),
                        operation_name=sent.get("operationName"),
                        extensions=extensions,
                        protocol=transport.protocol if transport else "http",
                    )
            start = (body.encode() if isinstance(body, str) else body).lstrip()[:1]
            # an object goes to strawberry as is; anything else would crash it
            if start != b"{" and (problem := http.body_shape_error(self.parse_json(body))):
                raise HTTPException(400, problem)
        return await super().parse_http_body(request)

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket
    ) -> Context:
        context = self._context(request, response)
        if isinstance(request, Request) and not self._is_ide_page(request):
            self._identified(context, request, await self.auth.http(context.store, request))
        return context

    def _http_context(self, request: Request, identity: Identity) -> Context:
        """The context of a read or a write run before strawberry (server/reads.py):
        `get_context`'s, less what only the full path reads (the Idempotency-Key header,
        whose requests go that way, and the read stamp) and with no sub-response (no
        resolver sets a header; the Idempotency extension does, on the full path)."""
        context = self._context(request, None)
        context.actor, context.role, context.rate = identity.name, identity.role, identity.rate
        return context

    def _context(
        self, request: Request | WebSocket, response: Response | WebSocket | None
    ) -> Context:
        return Context(
            store=request.state.store,
            request=request,
            response=response,
            lease=self.lease,
            stalled_after=self.stalled_after,
            webhook_allow_private=self.webhook_allow_private,
        )

    def _identified(self, context: Context, request: Request, identity: Identity) -> Context:
        context.actor, context.role = identity.name, identity.role
        context.rate = identity.rate
        logs.TOKEN.set(identity.name)
        context.idempotency_key = request.headers.get("idempotency-key")
        context.read_stamp = getattr(request.state, "read_stamp", None)
        return context

    async def render_graphql_ide(self, request: Request) -> Response:
        return web.graphiql()  # our page, every file served from here (server/web.py)

    def _is_ide_page(self, request: Request) -> bool:
        return self.should_render_graphql_ide(self.request_adapter_class(request))

    async def on_ws_connect(self, context: Context) -> UnsetType | dict[str, object] | None:
        try:
            identity = await self.auth.websocket(
                context.store, context.request, context.connection_params
            )
        except Unauthenticated as refused:
            raise ConnectionRejectionError({"message": str(refused)}) from None
        context.actor, context.role = identity.name, identity.role
        context.rate = identity.rate
        logs.TOKEN.set(identity.name)
        return await super().on_ws_connect(context)

    async def get_sub_response(self, request: Request | WebSocket) -> Response:
        sub_response = await super().get_sub_response(request)
        sub_response.media_type = http.media_type(request.headers.get("accept", ""))
        return sub_response

    def create_response(
        self,
        response_data: GraphQLHTTPResponse | list[GraphQLHTTPResponse],
        sub_response: Response,
    ) -> Response:
        if sub_response.media_type == GRAPHQL_RESPONSE and _request_error(response_data):
            # GraphQL over HTTP: nothing executed (a parse, validation or coercion error, or
            # a refusal before execution): no `data`, and a 4xx
            assert isinstance(response_data, dict)
            response_data = response_data.copy()
            response_data.pop("data", None)
            sub_response.status_code = sub_response.status_code or 400
        response = super().create_response(response_data, sub_response)
        if sub_response.media_type == GRAPHQL_RESPONSE:
            response.headers["content-type"] = GRAPHQL_RESPONSE
        return response


def _request_error(data: GraphQLHTTPResponse | list[GraphQLHTTPResponse]) -> bool:
    """No data and no error from a field: the request failed before execution."""
    if not isinstance(data, dict) or data.get("data") is not None:
        return False
    errors: list[Any] = list(data.get("errors") or [])
    return bool(errors) and all(isinstance(e, dict) and "path" not in e for e in errors)


@asynccontextmanager
async def _background(
    store: Store, settings: Settings, auth: Auth, metrics: Metrics, tracing: Tracing
) -> AsyncIterator[None]:
    work: list[Coroutine[Any, Any, None]] = []
    if settings.scheduler_enabled:
        work.append(scheduler.run(store, settings.scheduler_interval))
    if settings.sender == "simulated":
        sender = SimulatedSender(store, settings.simulated_send_rate, settings.sender_interval)
        work.append(sender.run())
    if settings.auth:
        work.append(auth.guard(store))
    work.append(_purge_idempotency_keys(store))
    if settings.webhooks:
        work.append(WebhookSender(store, WebhookConfig.of(settings), metrics, tracing).run())
    tasks = [asyncio.create_task(w) for w in work]
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def _purge_idempotency_keys(store: Store, every: float = 3600.0) -> None:
    while True:
        try:
            await idempotency.purge(store)
        except Exception:
            log.exception("purging expired idempotency keys failed; trying again later")
        await asyncio.sleep(every)


async def ready(request: Request) -> JSONResponse:
    """200 when the database answers and the broker is connected, else 503 saying which."""
    checks = {"database": "ok", "broker": "ok" if request.state.broker.healthy else "down"}
    try:
        async with request.state.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    except Exception as error:
        checks["database"] = f"down: {type(error).__name__}"
    ready = all(value == "ok" for value in checks.values())
    return JSONResponse({"ready": ready, **checks}, status_code=200 if ready else 503)


def create_app(settings: Settings | None = None, tracing: Tracing | None = None) -> Starlette:
    """The app; `tracing` defaults to what the OTEL_* variables ask for."""
    settings = (settings or Settings.from_env()).checked()
    tracing = tracing or Tracing(traces_from_env())
    auth = Auth(enabled=settings.auth, recheck=settings.token_recheck)
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[dict[str, Any]]:
        async with AsyncExitStack() as stack:
            stack.callback(tracing.shutdown)
            stack.push_async_callback(buckets.close, graphql.buckets)  # the limits' Redis client
            metered = runtime(settings, feed=lambda broadcast: metrics.feed(broadcast, tracing))
            try:
                parts = await stack.enter_async_context(metered)
            except (migrate.NotMigrated, DatabaseUnavailable) as error:
                # `commpulse serve` checks this before uvicorn starts, in one line; here it
                # is for a server started by uvicorn itself, where Starlette adds a traceback
                log.critical("commpulse cannot start: %s", error)
                raise SystemExit(3) from None
            stack.enter_context(tracing.database(parts.engine))
            metrics.watch(parts.engine, parts.broker)
            metrics.backlog = webhook_backlog
            store = parts.store
            tail, queue = settings.stream_tail, settings.subscriber_queue
            await stack.enter_async_context(stream.serving(store, tail=tail, queue=queue))
            await stack.enter_async_context(_background(store, settings, auth, metrics, tracing))
            # Everything made so far (the schema, its types, the modules) lives as long as
            # the process. Left to the collector, each full collection walks all of it again:
            # py-spy found a quarter of a read's time in gc_collect_main. Frozen, a
            # collection walks only what requests made since; and a request makes a few
            # thousand objects, so the youngest generation is collected every few requests
            # (10,000 allocations), not several times in each (700): 13% -> 6% of a read
            # (undone on the way out, for a process that goes on: a test hosting the app)
            stack.callback(gc.set_threshold, *gc.get_threshold())
            stack.callback(gc.unfreeze)
            gc.freeze()
            gc.set_threshold(10_000, 10, 10)
            log.info("commpulse ready: %s, %s", parts.engine.url, settings.broadcast_url)
            if not settings.auth:
                log.warning(
                    "!!! AUTH IS OFF: anyone who can reach %s acts as admin. "
                    "For a local session only; loopback connections only. !!!",
                    settings.host,
                )
            yield {"store": store, "engine": parts.engine, "broker": parts.broker}

    graphql = CommpulseGraphQL(settings, auth, metrics, tracing)
    routes = [
        *web.routes(settings.graphiql),  # the status board at /, the files under /static
        Route("/healthz", lambda _request: JSONResponse({"status": "ok"})),
        Route("/readyz", ready),
        Route("/graphql", graphql),
        WebSocketRoute("/graphql", graphql),
    ]
    if settings.metrics != "off":
        routes.append(Route("/metrics", metrics_endpoint))
    # all plain ASGI (no BaseHTTPMiddleware: no task and no body copy per request), each a
    # call or two per message: request ids for the logs, then, for HTTP only, CORS and the
    # two refusals
    http_only = [
        Middleware(
            CORSMiddleware,
            allow_origins=list(settings.allowed_origins),
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type", "Idempotency-Key", "X-Request-ID"],
            expose_headers=["X-Request-ID"],
            max_age=600,
        ),
        Middleware(RefuseSimplePosts),
        Middleware(LimitBody, limit=settings.max_body_bytes),
    ]
    middleware = [Middleware(RequestIds), Middleware(HttpOnly, http_only)]
    # GraphQL's websockets skip Starlette's stack, and of the middleware only request ids
    # act on them (server/websockets.py, App)
    sockets = {"/graphql": RequestIds(graphql)}
    app = App(routes=routes, middleware=middleware, lifespan=lifespan, sockets=sockets)
    app.state.metrics = metrics
    app.state.metrics_auth = auth if settings.metrics == "token" else None
    return app


def __getattr__(name: str) -> Starlette:
    """`server.app:app`, configured from the environment, for deployments that start uvicorn
    themselves; built when first asked for, so importing this module reads nothing.
    `commpulse serve` passes its own settings to create_app instead."""
    if name != "app":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return _app_from_environment()


@cache
def _app_from_environment() -> Starlette:
    return create_app()
