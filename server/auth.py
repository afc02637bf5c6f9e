"""Who is calling: an API token from `Authorization: Bearer …` on HTTP, or from the
websocket's connection_init payload (`{"Authorization": "Bearer …"}` or `{"token": "…"}`).

A token is looked up in the database once; then its identity is kept in the process, by
the secret's SHA-256, so a request costs no database round trip. Websockets are checked at
connection_init. `guard()` keeps both honest: a revocation notice (from any instance,
through the broker) forgets the token's identity and closes its websockets (code 4403) at
once, and every few seconds it re-checks every token it keeps or has sockets for, in case
a notice was lost or the token was revoked by a process without a shared broker.
"""

import asyncio
import contextlib
import logging
from collections import OrderedDict
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
KEPT_MAX = 10_000  # identities kept in the process; the least recently used go first


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
    recheck: float  # seconds between re-checks of kept tokens and open websockets
    _sockets: dict[str, set[WebSocket]] = field(default_factory=dict)
    _kept: OrderedDict[str, Identity] = field(default_factory=OrderedDict)  # digest → identity

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
        key = tokens.digest(secret)
        if (kept := self._kept.get(key)) is not None:
            self._kept.move_to_end(key)
            return kept
        row = await tokens.authenticate(store, secret)
        if row is None:
            raise Unauthenticated("invalid or revoked API token")
        identity = self._kept[key] = Identity(row.name, ApiRole(row.role), row.rate)
        if len(self._kept) > KEPT_MAX:
            self._kept.popitem(last=False)
        return identity

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
        """Runs for the server's life: forgets revoked tokens and closes their websockets."""
        store.feed.on_revoked_here(self.forget)
        async with store.feed.listen_revoked() as revoked:
            listening = asyncio.create_task(self._on_notices(revoked))
            try:
                while True:
                    await asyncio.sleep(self.recheck)
                    self._forget_closed()
                    names = set(self._sockets) | {i.name for i in self._kept.values()}
                    if names:
                        alive = await tokens.live(store, names)
                        for name in names - alive:
                            await self.close(name)
            finally:
                listening.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await listening

    async def _on_notices(self, revoked: AsyncIterator[str]) -> None:
        async for name in revoked:
            await self.close(name)

    def forget(self, name: str) -> None:
        """Look this token up in the database again next time it is used."""
        for key in [key for key, kept in self._kept.items() if kept.name == name]:
            del self._kept[key]

    async def close(self, name: str) -> None:
        """Forget this token's identity and close every open websocket of it."""
        self.forget(name)
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
