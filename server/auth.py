"""Who is calling: an API token from `Authorization: Bearer …` on HTTP, or from the
websocket's connection_init payload (`{"Authorization": "Bearer …"}` or `{"token": "…"}`).

HTTP checks the token on every request, so a revocation takes effect at once. Websockets
are checked at connection_init; `guard()` closes those of a revoked token (code 4403)
when a revocation notice arrives, and re-checks every open one every few seconds in case
a notice was lost or came from a process without a shared broadcast.
"""

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field

from starlette.requests import HTTPConnection
from starlette.websockets import WebSocket, WebSocketState

from server.settings import is_loopback
from store import Store, tokens
from store.tokens import ApiRole

log = logging.getLogger("commpulse.auth")

LOCAL = "local"  # the actor of a session served without auth
REVOKED = 4403  # graphql-transport-ws' Forbidden, used for both subprotocols


@dataclass(frozen=True)
class Identity:
    name: str
    role: ApiRole
    rate: float | None = None  # the token's own rate, if it has one


class Unauthenticated(Exception):
    """No usable token; HTTP answers 401 and websockets close with the protocol's code."""


def bearer(value: str | None) -> str | None:
    if value is None:
        return None
    scheme, _, secret = value.strip().partition(" ")
    return secret.strip() if scheme.lower() == "bearer" and secret.strip() else None


def from_init_payload(payload: Mapping[str, object] | None) -> str | None:
    payload = payload or {}
    for key in ("Authorization", "authorization"):
        if isinstance(value := payload.get(key), str):
            return bearer(value)
    token = payload.get("token")
    return token if isinstance(token, str) else None


@dataclass
class Auth:
    enabled: bool
    recheck: float  # seconds between re-checks of open websockets
    _sockets: dict[str, set[WebSocket]] = field(default_factory=dict)

    async def identify(
        self, store: Store, connection: HTTPConnection, secret: str | None
    ) -> Identity:
        if not self.enabled:
            server = connection.scope.get("server")
            if server and not is_loopback(str(server[0])):
                raise Unauthenticated("auth is off: only loopback connections are served")
            return Identity(LOCAL, ApiRole.ADMIN)
        if secret is None:
            raise Unauthenticated("send an API token: Authorization: Bearer <token>")
        row = await tokens.authenticate(store, secret)
        if row is None:
            raise Unauthenticated("invalid or revoked API token")
        return Identity(row.name, ApiRole(row.role), row.rate)

    async def http(self, store: Store, connection: HTTPConnection) -> Identity:
        return await self.identify(
            store, connection, bearer(connection.headers.get("authorization"))
        )

    async def websocket(
        self, store: Store, websocket: WebSocket, payload: Mapping[str, object] | None
    ) -> Identity:
        identity = await self.identify(store, websocket, from_init_payload(payload))
        if self.enabled:
            self._sockets.setdefault(identity.name, set()).add(websocket)
        return identity

    async def guard(self, store: Store) -> None:
        """Runs for the server's life: closes websockets whose token was revoked."""
        async with store.feed.listen_revoked() as revoked:
            listening = asyncio.create_task(self._on_notices(revoked))
            try:
                while True:
                    await asyncio.sleep(self.recheck)
                    self._forget_closed()
                    if self._sockets:
                        alive = await tokens.live(store, self._sockets)
                        for name in set(self._sockets) - alive:
                            await self.close(name)
            finally:
                listening.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await listening

    async def _on_notices(self, revoked: AsyncIterator[str]) -> None:
        async for name in revoked:
            await self.close(name)

    async def close(self, name: str) -> None:
        """Close every open websocket of this token."""
        for websocket in self._sockets.pop(name, set()):
            if websocket.application_state == WebSocketState.CONNECTED:
                log.info("closing a websocket of revoked token %s", name)
                with contextlib.suppress(Exception):
                    await websocket.close(code=REVOKED, reason="API token revoked")

    def _forget_closed(self) -> None:
        for name, sockets in list(self._sockets.items()):
            sockets -= {
                ws
                for ws in sockets
                if WebSocketState.DISCONNECTED in (ws.application_state, ws.client_state)
            }
            if not sockets:
                del self._sockets[name]
