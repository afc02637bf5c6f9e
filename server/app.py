"""The ASGI app: GraphQL over HTTP and both websocket protocols, with the background work
(scheduler, simulated sender) and every resource opened and closed in one lifespan."""

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

from sqlalchemy import text
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL

from schema import schema
from schema.context import Context
from server import brokers, scheduler
from server.sender import SimulatedSender
from server.settings import Settings
from store import Store, migrate
from store.database import create_engine, sessions
from store.feed import Feed

log = logging.getLogger("commpulse")


class CommpulseGraphQL(GraphQL[Context, None]):
    def __init__(self, settings: Settings) -> None:
        super().__init__(schema, allowed_origins=settings.allowed_origins)
        self.lease = timedelta(seconds=settings.lease_seconds)
        self.stalled_after = timedelta(seconds=settings.stalled_after)

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket
    ) -> Context:
        return Context(
            store=request.state.store,
            request=request,
            response=response,
            lease=self.lease,
            stalled_after=self.stalled_after,
        )


@asynccontextmanager
async def _background(store: Store, settings: Settings) -> AsyncIterator[None]:
    tasks: list[asyncio.Task[None]] = []
    if settings.scheduler_enabled:
        tasks.append(asyncio.create_task(scheduler.run(store, settings.scheduler_interval)))
    if settings.sender == "simulated":
        sender = SimulatedSender(store, settings.simulated_send_rate, settings.sender_interval)
        tasks.append(asyncio.create_task(sender.run()))
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
    settings = settings or Settings.from_env()

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
                async with _background(store, settings):
                    log.info("commpulse ready: %s, %s", engine.url, settings.broadcast_url)
                    yield {"store": store, "engine": engine, "broker": broker}
        finally:
            await engine.dispose()

    graphql = CommpulseGraphQL(settings)
    routes = [
        Route("/", lambda _request: RedirectResponse("/graphql")),
        Route("/healthz", lambda _request: JSONResponse({"status": "ok"})),
        Route("/readyz", ready),
        Route("/graphql", graphql),
        WebSocketRoute("/graphql", graphql),
    ]
    return Starlette(routes=routes, lifespan=lifespan)


app = create_app()
