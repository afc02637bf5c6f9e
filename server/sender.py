"""Senders move SENDING message campaigns through their audience.

`SimulatedSender` is a stand-in for real delivery workers. It is an ordinary client of the
same store functions the worker API calls (claim recipients, report them SENT), handing
out `rate` recipients a second per campaign. Real workers use `claimRecipients` and
`reportDeliveries` over GraphQL instead.
"""

import asyncio
import logging
from datetime import timedelta

from store import Store, changes, deliveries
from store.audience import Delivery
from store.deliveries import Report
from store.errors import Refused
from store.tables import Communication, utcnow

log = logging.getLogger(__name__)


class SimulatedSender:
    actor = "simulated-sender"

    def __init__(self, store: Store, rate: float, interval: float) -> None:
        self.store = store
        self.rate = rate
        self.interval = interval
        self.lease = timedelta(seconds=max(5.0, 10 * interval))
        self.owed: dict[int, float] = {}  # fractions of a recipient carried to the next tick

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        last = loop.time()
        while True:
            await asyncio.sleep(self.interval)
            now = loop.time()
            # time off (a stall, a restart) does not count as sending
            elapsed, last = min(now - last, 2 * self.interval), now
            try:
                await self.tick(elapsed)
            except Exception:
                log.exception("simulated sender tick failed; trying again")

    async def tick(self, elapsed: float) -> None:
        campaigns = await changes.sending(self.store)
        self.owed = {row.id: self.owed.get(row.id, 0.0) for row in campaigns if row.id}
        for row in campaigns:
            await self._advance(row, elapsed)

    async def _advance(self, row: Communication, elapsed: float) -> None:
        assert row.id is not None
        budget = self.owed[row.id] + elapsed * self.rate
        count = min(int(budget), row.pending_count)
        self.owed[row.id] = budget - count
        if count == 0 and row.pending_count > 0:
            return
        try:
            while True:
                claimed = await deliveries.claim(
                    self.store,
                    row.id,
                    limit=max(1, min(count, deliveries.CLAIM_MAX)),
                    worker_id=self.actor,
                    lease=self.lease,
                    actor=self.actor,
                )
                if claimed:
                    at = utcnow()
                    sent = [
                        Report(c.recipient_id, c.lease_id, Delivery.SENT, None, at) for c in claimed
                    ]
                    await deliveries.report(self.store, row.id, sent, actor=self.actor)
                count -= len(claimed)
                if count <= 0 or not claimed:
                    return
        except Refused as refused:  # stopped or failed meanwhile
            log.info("simulated sender left %s: %s", row.id, refused.message)
