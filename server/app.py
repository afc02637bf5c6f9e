"""The ASGI app: GraphQL over HTTP and both websocket protocols, with the background work
(scheduler, simulated sender, the token guard) and every resource opened and closed in one
lifespan."""

import asyncio
import logging
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

from sqlalchemy import text
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.http import GraphQLHTTPResponse
from strawberry.types.unset import UnsetType

from schema import build
from schema.context import Context
from schema.limits import Limits
from schema.sharing import Frames, Shared
from server import brokers, scheduler
from server.auth import Auth, Unauthenticated
from server.http import LimitBody, RefuseSimplePosts
from server.sender import SimulatedSender
from server.settings import Settings
from server.websockets import Frame, LegacyWSHandler, TransportWSHandler
from store import Store, migrate, stream
from store.database import create_engine, sessions
from store.feed import Feed

log = logging.getLogger("commpulse")

GRAPHQL_RESPONSE = "application/graphql-response+json"


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
    )


class CommpulseGraphQL(GraphQL[Context, Shared | None]):
    graphql_transport_ws_handler_class = TransportWSHandler
    graphql_ws_handler_class = LegacyWSHandler

    def __init__(self, settings: Settings, auth: Auth) -> None:
        super().__init__(
            build(limits(settings)),
            graphql_ide="graphiql" if settings.graphiql else None,
            allowed_origins=settings.allowed_origins,
            connection_init_wait_timeout=timedelta(seconds=settings.connection_init_timeout),
            max_subscriptions_per_connection=settings.max_subscriptions,
        )
        self.auth = auth
        self.frames = Frames()  # subscription payloads shared by subscribers (server/websockets.py)
        self.lease = timedelta(seconds=settings.lease_seconds)
        self.stalled_after = timedelta(seconds=settings.stalled_after)

    def encode_json(self, data: object) -> str | bytes:
        return data if isinstance(data, Frame) else super().encode_json(data)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        except Unauthenticated as refused:
            response = JSONResponse(
                {"errors": [{"message": str(refused), "extensions": {"code": "UNAUTHENTICATED"}}]},
                status_code=401,
                headers={"WWW-Authenticate": "Bearer"},
            )
            await response(scope, receive, send)

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket
    ) -> Context:
        context = Context(
            store=request.state.store,
            request=request,
            response=response,
            lease=self.lease,
            stalled_after=self.stalled_after,
        )
        if isinstance(request, Request) and not self._is_ide_page(request):
            identity = await self.auth.http(context.store, request)
            context.actor, context.role = identity.name, identity.role
        return context

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
        return await super().on_ws_connect(context)

    async def get_sub_response(self, request: Request | WebSocket) -> Response:
        sub_response = await super().get_sub_response(request)
        accept = request.headers.get("accept", "")
        # GraphQL over HTTP: the new media type when the client lists it before plain JSON
        wants = GRAPHQL_RESPONSE in accept and (
            "application/json" not in accept
            or accept.index(GRAPHQL_RESPONSE) < accept.index("application/json")
        )
        sub_response.media_type = GRAPHQL_RESPONSE if wants else "application/json"
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
async def _background(store: Store, settings: Settings, auth: Auth) -> AsyncIterator[None]:
    work: list[Coroutine[Any, Any, None]] = []
    if settings.scheduler_enabled:
        work.append(scheduler.run(store, settings.scheduler_interval))
    if settings.sender == "simulated":
        sender = SimulatedSender(store, settings.simulated_send_rate, settings.sender_interval)
        work.append(sender.run())
    if settings.auth:
        work.append(auth.guard(store))
    tasks = [asyncio.create_task(w) for w in work]
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


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


def create_app(settings: Settings | None = None) -> Starlette:
    settings = (settings or Settings.from_env()).checked()
    auth = Auth(enabled=settings.auth, recheck=settings.token_recheck)

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[dict[str, Any]]:
        engine = create_engine(settings.database_url)
        try:
            try:
                await migrate.check(engine)
            except migrate.NotMigrated as error:
                log.critical("commpulse cannot start: %s", error)
                raise SystemExit(3) from None
            broadcast, broker = brokers.broadcast(settings.broadcast_url)
            async with broadcast:
                store = Store(sessions(engine), Feed(broadcast))
                reading = stream.serving(
                    store, tail=settings.stream_tail, queue=settings.subscriber_queue
                )
                async with reading, _background(store, settings, auth):
                    log.info(
                        "commpulse ready: %s, %s",
                        engine.url,
                        settings.broadcast_url,
                    )
                    if not settings.auth:
                        log.warning(
                            "!!! AUTH IS OFF: anyone who can reach %s acts as admin. "
                            "For a local session only; loopback connections only. !!!",
                            settings.host,
                        )
                    yield {"store": store, "engine": engine, "broker": broker}
        finally:
            await engine.dispose()

    graphql = CommpulseGraphQL(settings, auth)
    routes = [
        Route("/", lambda _request: RedirectResponse("/graphql")),
        Route("/healthz", lambda _request: JSONResponse({"status": "ok"})),
        Route("/readyz", ready),
        Route("/graphql", graphql),
        WebSocketRoute("/graphql", graphql),
    ]
    middleware = [
        Middleware(
            CORSMiddleware,
            allow_origins=list(settings.allowed_origins),
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type"],
            max_age=600,
        ),
        Middleware(RefuseSimplePosts),
        Middleware(LimitBody, limit=settings.max_body_bytes),
    ]
    return Starlette(routes=routes, middleware=middleware, lifespan=lifespan)


app = create_app()
