"""Webhook endpoints: what each wants, how far its delivery got, and who delivers it.

Each endpoint's row is its cursor over the status-change stream, `(cursor_tx,
cursor_seq)`, the position of the last change delivered to it (or skipped, for not
matching its filter). Delivery is at least once and in order: the change after the cursor
is sent until the endpoint takes it, and only then does the cursor move, so later changes
wait behind a failing one. One instance at a time delivers to an endpoint: the one whose
lease on the row (`lease_owner`, `lease_until`) is current; when it dies, another takes the
row once the lease runs out. The HTTP side is in server/webhooks.py.
"""

import asyncio
import base64
import ipaddress
import secrets
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import and_, func, or_, update
from sqlmodel import col, select

from store import Store, changes
from store.changes import Position
from store.database import on_postgresql
from store.errors import ErrorCode, Refused, invalid
from store.feed import Change
from store.lifecycle import Kind, Status
from store.tables import StatusEvent, WebhookAttempt, WebhookEndpoint, utcnow

ACTIVE = "ACTIVE"
FAILING = "FAILING"
URL_MAX = 2_000
ERROR_MAX = 500
BATCH = 100


def not_found() -> Refused:
    return Refused(ErrorCode.NOT_FOUND, "no webhook endpoint has this id", ["id"])


def new_secret() -> str:
    """A Standard Webhooks secret: whsec_ and 24 random bytes in base64."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


def message_id(change: Change) -> str:
    """The webhook-id of a change: the same on every attempt, replay and instance."""
    return f"msg_{change.seq}"


# Which URLs may be called


def _public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%")[0])
    return ip.is_global and not ip.is_multicast


async def check_url(url: str, *, allow_private: bool) -> str:
    """The URL if it may be called, else `Refused`: http(s) only, with a host that resolves
    to public addresses only unless private ones (loopback, LAN, link-local) are allowed."""
    url = url.strip()
    if len(url) > URL_MAX:
        raise invalid("url", f"the URL is longer than {URL_MAX} characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:
        raise invalid("url", f"not a valid URL: {error}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise invalid("url", "the URL needs http:// or https:// and a host")
    if parts.username is not None or parts.password is not None:
        raise invalid("url", "the URL may not carry a user or password")
    if allow_private:
        return url
    try:
        found = await asyncio.get_running_loop().getaddrinfo(
            parts.hostname,
            port or (443 if parts.scheme == "https" else 80),
            type=socket.SOCK_STREAM,
        )
    except (OSError, UnicodeError) as error:
        raise invalid("url", f"the host {parts.hostname} does not resolve: {error}") from None
    private = sorted({str(info[4][0]) for info in found if not _public(str(info[4][0]))})
    if private:
        raise invalid(
            "url",
            f"the host {parts.hostname} resolves to a private or loopback address "
            f"({', '.join(private)}); refused unless COMMPULSE_WEBHOOK_ALLOW_PRIVATE=on",
        )
    return url


# Managing endpoints (the admin API)


def _names(values: Sequence[str] | None, known: type[Kind] | type[Status]) -> list[str] | None:
    if values is None:
        return None
    return sorted({known(v).value for v in values})


async def create(
    store: Store,
    url: str,
    *,
    kinds: Sequence[str] | None = None,
    statuses: Sequence[str] | None = None,
    allow_private: bool = False,
) -> tuple[WebhookEndpoint, str]:
    """A new endpoint, delivering the changes committed from now on, and its secret."""
    url = await check_url(url, allow_private=allow_private)
    tx, seq = await changes.head(store)
    secret = new_secret()
    row = WebhookEndpoint(
        url=url,
        secret=secret,
        kinds=_names(kinds, Kind),
        statuses=_names(statuses, Status),
        cursor_tx=tx,
        cursor_seq=seq,
        created_at=utcnow(),
    )
    async with store.sessions() as session:
        session.add(row)
        await session.commit()
    return row, secret


async def get(store: Store, endpoint_id: int | None) -> WebhookEndpoint:
    async with store.sessions() as session:
        row = await session.get(WebhookEndpoint, endpoint_id) if endpoint_id else None
    if row is None or row.deleted_at is not None:
        raise not_found()
    return row


async def endpoints(store: Store) -> list[WebhookEndpoint]:
    statement = (
        select(WebhookEndpoint)
        .where(col(WebhookEndpoint.deleted_at).is_(None))
        .order_by(col(WebhookEndpoint.id))
    )
    async with store.sessions() as session:
        return list(await session.exec(statement))


async def delete(store: Store, endpoint_id: int | None) -> WebhookEndpoint:
    row = await get(store, endpoint_id)
    await _update(store, row.id, deleted_at=utcnow())
    return await get_any(store, row.id)


async def replay(store: Store, endpoint_id: int | None, after: Position) -> WebhookEndpoint:
    """Deliver again every matching change after `after`, and make a failing endpoint
    active. Receivers drop what they already had by its webhook-id."""
    row = await get(store, endpoint_id)
    await _update(
        store,
        row.id,
        cursor_tx=after[0],
        cursor_seq=after[1],
        state=ACTIVE,
        attempts=0,
        failing_since=None,
        next_attempt_at=None,
    )
    return await get_any(store, row.id)


async def get_any(store: Store, endpoint_id: int | None) -> WebhookEndpoint:
    async with store.sessions() as session:
        row = await session.get(WebhookEndpoint, endpoint_id)
    assert row is not None
    return row


async def _update(store: Store, endpoint_id: int | None, *where: object, **values: object) -> bool:
    async with store.sessions() as session:
        result = await session.exec(
            update(WebhookEndpoint)
            .where(col(WebhookEndpoint.id) == endpoint_id, *where)  # type: ignore[arg-type]
            .values(**values)
        )
        await session.commit()
    return bool(result.rowcount == 1)


async def attempts(
    store: Store, endpoint_id: int | None, *, after: int, first: int
) -> tuple[list[WebhookAttempt], bool]:
    """The delivery log, oldest first, and whether there is more."""
    endpoint = await get(store, endpoint_id)
    statement = (
        select(WebhookAttempt)
        .where(col(WebhookAttempt.endpoint_id) == endpoint.id, col(WebhookAttempt.id) > after)
        .order_by(col(WebhookAttempt.id))
        .limit(first + 1)
    )
    async with store.sessions() as session:
        rows = list(await session.exec(statement))
    return rows[:first], len(rows) > first


# Delivering (server/webhooks.py drives these)


def wants(endpoint: WebhookEndpoint, change: Change) -> bool:
    return (endpoint.kinds is None or change.kind in endpoint.kinds) and (
        endpoint.statuses is None or change.to_status in endpoint.statuses
    )


async def acquire(
    store: Store, endpoint_id: int, owner: str, lease: timedelta
) -> WebhookEndpoint | None:
    """Take or renew the lease on the endpoint's row; None if another instance holds it
    (or the endpoint is gone or failing)."""
    now = utcnow()
    free = or_(
        col(WebhookEndpoint.lease_owner).is_(None),
        col(WebhookEndpoint.lease_owner) == owner,
        col(WebhookEndpoint.lease_until) < now,
    )
    taken = await _update(
        store,
        endpoint_id,
        free,
        col(WebhookEndpoint.deleted_at).is_(None),
        col(WebhookEndpoint.state) == ACTIVE,
        lease_owner=owner,
        lease_until=now + lease,
    )
    return await get_any(store, endpoint_id) if taken else None


async def release(store: Store, endpoint_id: int, owner: str) -> None:
    await _update(
        store,
        endpoint_id,
        col(WebhookEndpoint.lease_owner) == owner,
        lease_owner=None,
        lease_until=None,
    )


async def next_changes(store: Store, endpoint: WebhookEndpoint) -> tuple[list[Change], bool]:
    """The changes the endpoint wants after its cursor, oldest first, and whether newer
    committed ones wait behind PostgreSQL's horizon (look again soon). Changes it does not
    want are passed over: the cursor moves beyond them when no wanted one is before them."""
    position = (endpoint.cursor_tx, endpoint.cursor_seq)
    found, waiting = await changes.changes_after(store, position, limit=BATCH)
    wanted = [change for change in found if wants(endpoint, change)]
    if not wanted and found:
        assert endpoint.id is not None and endpoint.lease_owner is not None
        await advance(store, endpoint.id, endpoint.lease_owner, found[-1].position, at=position)
    return wanted, waiting


def _at(position: Position) -> Any:
    return and_(
        col(WebhookEndpoint.cursor_tx) == position[0],
        col(WebhookEndpoint.cursor_seq) == position[1],
    )


async def advance(
    store: Store, endpoint_id: int, owner: str, position: Position, *, at: Position
) -> bool:
    """Move the cursor from `at` past a delivered change; False if this instance lost the
    lease or an admin replayed meanwhile (the cursor is no longer at `at`)."""
    return await _update(
        store,
        endpoint_id,
        col(WebhookEndpoint.lease_owner) == owner,
        _at(at),
        cursor_tx=position[0],
        cursor_seq=position[1],
        attempts=0,
        failing_since=None,
        next_attempt_at=None,
        last_error=None,
    )


@dataclass(frozen=True)
class Retry:
    first: float  # seconds before the first retry; each later one waits twice as long
    most: float  # the longest wait between two attempts
    period: float  # seconds of failing after which the endpoint is marked FAILING

    def delay(self, attempts: int) -> float:
        return float(min(self.most, self.first * 2 ** max(0, attempts - 1)))


async def failed(
    store: Store, endpoint: WebhookEndpoint, error: str, retry: Retry
) -> WebhookEndpoint:
    """Count a failed attempt: retry later, or mark the endpoint FAILING once it has failed
    for longer than the retry period."""
    assert endpoint.id is not None
    now = utcnow()
    since = endpoint.failing_since or now
    attempts = endpoint.attempts + 1
    giving_up = (now - since).total_seconds() >= retry.period
    await _update(
        store,
        endpoint.id,
        col(WebhookEndpoint.lease_owner) == endpoint.lease_owner,
        _at((endpoint.cursor_tx, endpoint.cursor_seq)),  # not if an admin replayed meanwhile
        attempts=attempts,
        failing_since=since,
        last_error=error[:ERROR_MAX],
        next_attempt_at=now + timedelta(seconds=retry.delay(attempts)),
        state=FAILING if giving_up else ACTIVE,
    )
    return await get_any(store, endpoint.id)


async def log_attempt(store: Store, attempt: WebhookAttempt) -> None:
    attempt.error = attempt.error[:ERROR_MAX] if attempt.error else None
    async with store.sessions() as session:
        session.add(attempt)
        await session.commit()


async def due(store: Store) -> list[int]:
    """Endpoints that may be delivered to: active, not deleted."""
    statement = select(WebhookEndpoint.id).where(
        col(WebhookEndpoint.deleted_at).is_(None), col(WebhookEndpoint.state) == ACTIVE
    )
    async with store.sessions() as session:
        return [i for i in await session.exec(statement) if i is not None]


async def lag(store: Store, endpoint: WebhookEndpoint) -> int:
    """How many wanted changes wait after the endpoint's cursor (committed or not)."""
    postgresql = on_postgresql(store.sessions)
    after = changes.after_position(endpoint.cursor_tx, endpoint.cursor_seq, postgresql=postgresql)
    statement = select(func.count()).where(after)
    if endpoint.kinds is not None:
        statement = statement.where(col(StatusEvent.kind).in_(endpoint.kinds))
    if endpoint.statuses is not None:
        statement = statement.where(col(StatusEvent.to_status).in_(endpoint.statuses))
    async with store.sessions() as session:
        return int((await session.exec(statement)).one())


async def backlog(store: Store) -> dict[int, int]:
    """Each endpoint's lag."""
    result: dict[int, int] = {}
    for endpoint in await endpoints(store):
        assert endpoint.id is not None
        result[endpoint.id] = await lag(store, endpoint)
    return result


async def last_attempt(store: Store, endpoint_id: int) -> WebhookAttempt | None:
    """The endpoint's newest delivery attempt, if it had any."""
    statement = (
        select(WebhookAttempt)
        .where(col(WebhookAttempt.endpoint_id) == endpoint_id)
        .order_by(col(WebhookAttempt.id).desc())
        .limit(1)
    )
    async with store.sessions() as session:
        return (await session.exec(statement)).first()
