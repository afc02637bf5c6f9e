"""Notices published after commit, as JSON strings through broadcaster, and decoded back.

The event table is the source of truth; a notice tells listeners that something new
committed so they can read it, and carries only its type and the communication's id.
The memory backend would pass Python objects through, but Redis and PostgreSQL carry only
strings, so every backend gets strings.
"""

import json
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime

from broadcaster import Broadcast

from store.tables import StatusEvent

CHANNEL = "commpulse"
TOKENS_CHANNEL = "commpulse.tokens"  # revoked token names, apart from communication notices
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Change:
    """A committed status change: a history row and a stream event."""

    tx: int
    seq: int
    communication_id: int
    kind: str
    action: str
    from_status: str | None
    to_status: str
    actor: str
    reason: str | None
    version: int
    at: datetime

    @property
    def position(self) -> tuple[int, int]:
        """Where it stands in the stream: ordered by (tx, seq), see store/changes.py."""
        return self.tx, self.seq


@dataclass(frozen=True)
class Changed:
    """The notice of a committed status change: read it from the table."""

    communication_id: int


@dataclass(frozen=True)
class Touch:
    """A communication changed without changing status: an edit, progress, a delete."""

    communication_id: int


@dataclass(frozen=True)
class Resync:
    """Not published: the broker was away and is back, so notices may have been lost."""

    communication_id: None = None


Notice = Changed | Touch | Resync


def as_change(row: StatusEvent) -> Change:
    assert row.seq is not None
    return Change(
        tx=row.tx,
        seq=row.seq,
        communication_id=row.communication_id,
        kind=row.kind,
        action=row.action,
        from_status=row.from_status,
        to_status=row.to_status,
        actor=row.actor,
        reason=row.reason,
        version=row.version,
        at=row.at,
    )


def encode(notice: Change | Touch) -> str:
    """Only what listeners use: what happened (a status change or another change) and to
    which communication. The table is the truth; listeners read it. So a notice is small
    on every broker, always far under PostgreSQL's 8,000-byte NOTIFY limit."""
    kind = "change" if isinstance(notice, Change) else "touch"
    return json.dumps({"type": kind, "communication_id": notice.communication_id})


RESYNC = json.dumps({"type": "resync"})  # what a broker backend hands out after reconnecting


def decode(message: str) -> Notice:
    data = json.loads(message)
    kind = data["type"]
    if kind == "resync":
        return Resync()
    pk = int(data["communication_id"])
    return Changed(pk) if kind == "change" else Touch(pk)


class Feed:
    def __init__(self, broadcast: Broadcast) -> None:
        self._broadcast = broadcast
        self._revoked_here: list[Callable[[str], None]] = []
        # moves whenever this process publishes a notice or a listener receives one: what
        # was read before it moved may be stale (schema/readcache.py)
        self.generation = 0

    def on_revoked_here(self, forget: Callable[[str], None]) -> None:
        """Call `forget(name)` as soon as this process revokes a token, before the broker's
        notice goes out: a request this process serves next must not pass with it."""
        self._revoked_here.append(forget)

    async def publish(self, *notices: Change | Touch) -> None:
        """Best effort: the change is committed already; listeners catch up from the table."""
        self.generation += 1  # before the mutation answers, whenever the broker delivers
        for notice in notices:
            try:
                await self._broadcast.publish(CHANNEL, encode(notice))
            except Exception as error:
                log.warning("could not publish %s: %s", notice, error)

    async def publish_revoked(self, name: str) -> None:
        """Best effort too: instances also re-check their tokens periodically."""
        for forget in self._revoked_here:
            forget(name)
        try:
            await self._broadcast.publish(TOKENS_CHANNEL, json.dumps({"revoked": name}))
        except Exception as error:
            log.warning("could not publish the revocation of %s: %s", name, error)

    @asynccontextmanager
    async def listen_revoked(self) -> AsyncIterator[AsyncIterator[str]]:
        """Names of tokens as they are revoked, on any instance sharing the broadcast."""
        async with self._broadcast.subscribe(TOKENS_CHANNEL) as subscriber:

            async def names() -> AsyncIterator[str]:
                async for event in subscriber:  # type: ignore[union-attr]
                    if event is not None:
                        yield str(json.loads(event.message)["revoked"])

            yield names()

    @asynccontextmanager
    async def listen(self) -> AsyncIterator[AsyncIterator[Notice]]:
        async with self._broadcast.subscribe(CHANNEL) as subscriber:

            async def notices() -> AsyncIterator[Notice]:
                async for event in subscriber:  # type: ignore[union-attr]
                    if event is not None:
                        self.generation += 1
                        yield decode(event.message)

            yield notices()
