"""Senders move SENDING message campaigns through their audience and finish them.

`SimulatedSender` is a stand-in for real delivery workers: it pretends to hand
`rate` recipients a second to providers. Real workers will report through the API.
"""

import asyncio
import logging
from datetime import datetime, timedelta
from typing import Protocol

from store import Store, changes
from store.errors import Refused
from store.lifecycle import Action, Role
from store.tables import Communication, utcnow

log = logging.getLogger(__name__)


class Sender(Protocol):
    async def run(self) -> None: ...


class SimulatedSender:
    actor = "simulated-sender"

    def __init__(self, store: Store, rate: float, interval: float) -> None:
        self.store = store
        self.rate = rate
        self.interval = interval
        # time off (a restart) does not count as sending: progress resumes where it stopped
        self.gap = timedelta(seconds=max(2 * interval, 2 / rate))

    async def run(self) -> None:
        while True:
            try:
                await self.tick(utcnow())
            except Exception:
                log.exception("simulated sender tick failed; trying again")
            await asyncio.sleep(self.interval)

    async def tick(self, now: datetime) -> None:
        for row in await changes.sending(self.store):
            await self._advance(row, now)

    async def _advance(self, row: Communication, now: datetime) -> None:
        audience = row.audience_size or 0
        since = row.progress_at or now
        if now - since > self.gap:
            since = now - self.gap
        count = int((now - since).total_seconds() * self.rate)
        sent = min(audience, row.sent_count + count)
        if sent > row.sent_count:
            at = since + timedelta(seconds=count / self.rate)
            if not await changes.record_progress(self.store, row, sent, min(at, now)):
                return  # stopped or failed meanwhile
        if sent >= audience:
            try:
                await changes.apply(
                    self.store, row.id, Action.FINISH, by=Role.SENDER, actor=self.actor
                )
            except Refused as refused:
                log.info("simulated sender could not finish %s: %s", row.id, refused.message)
