"""Idempotency keys: a retried mutation gets the first response instead of running again.

The first request with a key claims it by inserting its row (the primary key is the token's
name and the key, so of two racing requests exactly one insert wins); it runs, then stores
its response on the row. A request that finds the row compares fingerprints: another
operation or other variables under the same key is refused, the same one gets the stored
response, or waits for it while the first still runs. Rows live for a day.
"""

import asyncio
import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import delete, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col

from store import Store
from store.tables import IdempotencyKey, utcnow

KEEP = timedelta(hours=24)
# a claim whose request never stored a response (its process died) is taken over after this
ABANDONED = timedelta(seconds=60)
KEY_MAX = 255


class Outcome(StrEnum):
    CLAIMED = "CLAIMED"  # run the request, then `complete` (or `release` if it failed)
    REPLAY = "REPLAY"  # the first response is in `response`
    REUSED = "REUSED"  # the key was used for another request
    IN_FLIGHT = "IN_FLIGHT"  # the first request still runs


@dataclass(frozen=True)
class Claim:
    outcome: Outcome
    response: dict[str, Any] | None = None


def valid_key(key: str) -> bool:
    """1 to 255 printable ASCII characters, as Stripe allows."""
    return 0 < len(key) <= KEY_MAX and key.isascii() and key.isprintable()


def fingerprint(query: str, operation_name: str | None, variables: dict[str, Any] | None) -> str:
    text = json.dumps([query, operation_name, variables or {}], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


async def claim(store: Store, owner: str, key: str, fingerprint: str) -> Claim:
    now = utcnow()
    found = await _read(store, owner, key)
    if found is not None and not _stale(found, now):
        return _decide(found, fingerprint)  # a retry reads only
    async with store.sessions() as session:
        if found is not None:  # expired, or abandoned by a process that died
            await session.exec(
                delete(IdempotencyKey).where(
                    col(IdempotencyKey.owner) == owner,
                    col(IdempotencyKey.key) == key,
                    col(IdempotencyKey.created_at) == found.created_at,
                )
            )
        session.add(
            IdempotencyKey(
                owner=owner, key=key, fingerprint=fingerprint, created_at=now, expires_at=now + KEEP
            )
        )
        try:
            await session.commit()
            return Claim(Outcome.CLAIMED)
        except IntegrityError:
            await session.rollback()  # another request claimed it first
    found = await _read(store, owner, key)
    if found is None:  # expired and deleted meanwhile: try again
        return await claim(store, owner, key, fingerprint)
    return _decide(found, fingerprint)


async def _read(store: Store, owner: str, key: str) -> IdempotencyKey | None:
    async with store.sessions() as session:
        return await session.get(IdempotencyKey, (owner, key))


def _stale(row: IdempotencyKey, now: datetime) -> bool:
    return row.expires_at < now or (row.response is None and row.created_at < now - ABANDONED)


def _decide(row: IdempotencyKey, fingerprint: str) -> Claim:
    if row.fingerprint != fingerprint:
        return Claim(Outcome.REUSED)
    if row.response is None:
        return Claim(Outcome.IN_FLIGHT)
    return Claim(Outcome.REPLAY, row.response)


async def wait(
    store: Store, owner: str, key: str, fingerprint: str, *, patience: float, every: float = 0.05
) -> Claim:
    """Claim, and while the first request runs, look again until it
    is done or `patience` seconds pass."""
    deadline = asyncio.get_running_loop().time() + patience
    while True:
        found = await claim(store, owner, key, fingerprint)
        if found.outcome is not Outcome.IN_FLIGHT:
            return found
        if asyncio.get_running_loop().time() >= deadline:
            return found
        await asyncio.sleep(every)


async def complete(store: Store, owner: str, key: str, response: dict[str, Any]) -> None:
    async with store.sessions() as session:
        await session.exec(
            update(IdempotencyKey)
            .where(col(IdempotencyKey.owner) == owner, col(IdempotencyKey.key) == key)
            .values(response=response)
        )
        await session.commit()


async def release(store: Store, owner: str, key: str) -> None:
    """Forget a claim whose request failed unexpectedly, so that a retry runs it."""
    async with store.sessions() as session:
        await session.exec(
            delete(IdempotencyKey).where(
                col(IdempotencyKey.owner) == owner,
                col(IdempotencyKey.key) == key,
                col(IdempotencyKey.response).is_(None),
            )
        )
        await session.commit()


async def purge(store: Store) -> int:
    """Delete expired keys; the number deleted."""
    async with store.sessions() as session:
        result = await session.exec(
            delete(IdempotencyKey).where(col(IdempotencyKey.expires_at) < utcnow())
        )
        await session.commit()
    return int(result.rowcount)
