"""Delivers status changes to webhook endpoints, signed as Standard Webhooks specifies.

A supervisor starts one task per active endpoint; the task delivers only while this
instance holds the lease on the endpoint's row (store/webhooks.py), renewing it before
every attempt, so one instance at a time sends to an endpoint and another takes over when
the lease of a dead one runs out. Each change is sent until the endpoint answers 2xx, with
exponential backoff, and later changes wait behind it; after the retry period the endpoint
is FAILING until an admin replays it. A notice from the broker wakes the tasks; they also
look every `poll` seconds, so changes committed while the broker was away, or while no
instance ran, are delivered all the same.
"""

import asyncio
import contextlib
import json
import logging
import os
import socket
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from standardwebhooks import Webhook

from schema import ids
from server.metrics import Metrics
from server.settings import Settings
from server.tracing import Tracing
from store import Store, webhooks
from store.errors import Refused
from store.feed import Change, Notice, Resync
from store.tables import WebhookAttempt, WebhookEndpoint, utcnow

log = logging.getLogger("commpulse.webhooks")
BODY_CAP = 4_096  # bytes of a receiver's answer that are read at most; the rest is dropped
EVENT_TYPE = "communication.status_changed"
WAITING = 0.05  # seconds: look again this soon when changes wait behind the horizon


@dataclass(frozen=True)
class Config:
    timeout: float  # seconds for one attempt, connecting included
    retry: webhooks.Retry
    lease: float  # seconds an instance holds an endpoint without renewing
    poll: float  # seconds between looks for work without a notice
    allow_private: bool  # private and loopback addresses (tests, local receivers)

    @classmethod
    def of(cls, settings: Settings) -> "Config":
        return cls(
            timeout=settings.webhook_timeout,
            retry=webhooks.Retry(
                first=settings.webhook_retry_first,
                most=settings.webhook_retry_most,
                period=settings.webhook_retry_period,
            ),
            lease=settings.webhook_lease,
            poll=settings.webhook_poll,
            allow_private=settings.webhook_allow_private,
        )


def payload(change: Change) -> dict[str, Any]:
    """The body: the same fields as the statusChanged subscription."""
    return {
        "type": EVENT_TYPE,
        "timestamp": change.at.isoformat(),
        "data": {
            "cursor": ids.change_cursor(change.position),
            "communicationId": ids.communication_id(change.communication_id),
            "kind": change.kind,
            "action": change.action,
            "from": change.from_status,
            "to": change.to_status,
            "actor": change.actor,
            "reason": change.reason,
            "version": change.version,
            "at": change.at.isoformat(),
        },
    }


def signed(secret: str, change: Change, now: datetime) -> tuple[str, dict[str, str]]:
    """The body and the headers that sign it."""
    body = json.dumps(payload(change), separators=(",", ":"))
    message = webhooks.message_id(change)
    return body, {
        "webhook-id": message,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Webhook(secret).sign(message, now, body),
        "content-type": "application/json",
        "user-agent": "commpulse-webhooks",
    }


class WebhookSender:
    def __init__(
        self,
        store: Store,
        config: Config,
        metrics: Metrics | None = None,
        tracing: Tracing | None = None,
    ) -> None:
        self.store = store
        self.tracing = tracing or Tracing(None)
        self.config = config
        self.metrics = metrics
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.lease = timedelta(seconds=config.lease)
        self.tasks: dict[int, asyncio.Task[None]] = {}
        self._wake = asyncio.Event()
        self._client: httpx.AsyncClient | None = None

    async def run(self) -> None:
        timeout = httpx.Timeout(self.config.timeout)
        async with (
            httpx.AsyncClient(timeout=timeout, follow_redirects=False) as client,
            self.store.feed.listen() as notices,
        ):
            self._client = client
            listening = asyncio.create_task(self._listen(notices))
            try:
                while True:
                    try:
                        self._start_tasks(await webhooks.due(self.store))
                    except Exception:
                        log.exception("looking for webhook endpoints failed; trying again")
                    await self._sleep(self.config.poll)
            finally:
                listening.cancel()
                for task in self.tasks.values():
                    task.cancel()
                await asyncio.gather(listening, *self.tasks.values(), return_exceptions=True)

    def _start_tasks(self, endpoint_ids: list[int]) -> None:
        for endpoint_id in endpoint_ids:
            task = self.tasks.get(endpoint_id)
            if task is None or task.done():
                self.tasks[endpoint_id] = asyncio.create_task(self._serve(endpoint_id))

    async def _listen(self, notices: Any) -> None:
        notice: Notice
        async for notice in notices:
            if isinstance(notice, Change | Resync):
                self._wake.set()
                self._wake = asyncio.Event()

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._wake.wait()

    async def _serve(self, endpoint_id: int) -> None:
        """Deliver to one endpoint while this instance holds its lease."""
        renew = min(self.config.poll, self.config.lease / 3)
        try:
            while True:
                endpoint = await webhooks.acquire(self.store, endpoint_id, self.owner, self.lease)
                if endpoint is None:
                    return  # another instance delivers, or it is failing or gone
                if endpoint.next_attempt_at is not None and endpoint.next_attempt_at > utcnow():
                    wait = (endpoint.next_attempt_at - utcnow()).total_seconds()
                    await asyncio.sleep(min(max(wait, 0.0), renew))
                    continue
                pending, waiting = await webhooks.next_changes(self.store, endpoint)
                if not pending:
                    await self._sleep(WAITING if waiting else renew)
                    continue
                at = (endpoint.cursor_tx, endpoint.cursor_seq)
                for change in pending:
                    held = await webhooks.acquire(self.store, endpoint_id, self.owner, self.lease)
                    if held is None:
                        return
                    if (held.cursor_tx, held.cursor_seq) != at:
                        break  # replayed meanwhile: start again from the new cursor
                    if not await self._deliver(held, change):
                        break
                    if not await webhooks.advance(
                        self.store, endpoint_id, self.owner, change.position, at=at
                    ):
                        break
                    at = change.position
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                await webhooks.release(self.store, endpoint_id, self.owner)
            raise
        except Exception:
            log.exception("webhook delivery to endpoint %s failed; trying again", endpoint_id)

    async def _deliver(self, endpoint: WebhookEndpoint, change: Change) -> bool:
        """One attempt, logged and traced; True when the endpoint took it."""
        with self.tracing.span(
            "commpulse.webhook.deliver",
            **{"webhook.endpoint": endpoint.id, "webhook.id": webhooks.message_id(change)},
        ) as span:
            delivered = await self._attempt(endpoint, change)
            span.set_attribute("webhook.delivered", delivered)
            return delivered

    async def _attempt(self, endpoint: WebhookEndpoint, change: Change) -> bool:
        assert endpoint.id is not None and self._client is not None
        body, headers = signed(endpoint.secret, change, datetime.now(UTC))
        started = time.perf_counter()
        status: int | None = None
        error: str | None = None
        try:
            if not self.config.allow_private:  # again: what a name resolves to may change
                await webhooks.check_url(endpoint.url, allow_private=False)
            async with self._client.stream(
                "POST", endpoint.url, content=body, headers=headers
            ) as response:
                status = response.status_code
                read = 0
                async for chunk in response.aiter_bytes():
                    read += len(chunk)
                    if read >= BODY_CAP:
                        break
            if not 200 <= status < 300:
                error = f"HTTP {status}"
        except Refused as refused:
            error = refused.message
        except httpx.HTTPError as failure:
            error = f"{type(failure).__name__}: {failure}".rstrip(": ")
        await webhooks.log_attempt(
            self.store,
            WebhookAttempt(
                endpoint_id=endpoint.id,
                message_id=headers["webhook-id"],
                event_tx=change.tx,
                event_seq=change.seq,
                communication_id=change.communication_id,
                at=utcnow(),
                status_code=status,
                latency_ms=(time.perf_counter() - started) * 1000,
                error=error,
                delivered=error is None,
            ),
        )
        if self.metrics is not None:
            self.metrics.webhooks.labels("delivered" if error is None else "failed").inc()
        if error is None:
            return True
        after = await webhooks.failed(self.store, endpoint, error, self.config.retry)
        if after.state == webhooks.FAILING:
            log.warning("webhook endpoint %s is failing: %s", endpoint.id, error)
        return False
