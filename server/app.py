"""The ASGI app: GraphQL over HTTP and both websocket protocols, with the background work
(scheduler, simulated sender) and every resource opened and closed in one lifespan."""

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

from broadcaster import Broadcast
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL

from schema import schema
from schema.context import Context
from server import scheduler
from server.sender import SimulatedSender
from server.settings import Settings
from store import Store
from store.database import create_engine, create_schema, sessions
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


def create_app(settings: Settings | None = None) -> Starlette:
    settings = settings or Settings.from_env()

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[dict[str, Any]]:
        engine = create_engine(settings.database_url)
        try:
            await create_schema(engine)
            async with Broadcast(settings.broadcast_url) as broadcast:
                store = Store(sessions(engine), Feed(broadcast))
                async with _background(store, settings):
                    log.info(
                        "commpulse ready: %s, %s",
                        engine.url.render_as_string(),
                        settings.broadcast_url,
                    )
                    yield {"store": store}
        finally:
            await engine.dispose()

    graphql = CommpulseGraphQL(settings)
    routes = [
        Route("/", lambda _request: RedirectResponse("/graphql")),
        Route("/healthz", lambda _request: JSONResponse({"status": "ok"})),
        Route("/graphql", graphql),
        WebSocketRoute("/graphql", graphql),
    ]
    return Starlette(routes=routes, lifespan=lifespan)


app = create_app()
