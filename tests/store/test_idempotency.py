"""Idempotency keys in the store: one claim wins, the first response is replayed, a key is
never shared by two requests, and a key frees up after its day or when its request failed."""

import asyncio
from datetime import timedelta

from sqlalchemy import update
from sqlmodel import col

from store import Store, idempotency
from store.idempotency import Outcome
from store.tables import IdempotencyKey, utcnow

FIRST = idempotency.fingerprint("mutation { a }", None, {"x": 1})
OTHER = idempotency.fingerprint("mutation { a }", None, {"x": 2})


async def test_first_response_is_replayed(store: Store) -> None:
    """The first claim runs; once it stored its response, the same request gets that."""
    assert (await idempotency.claim(store, "ops", "k1", FIRST)).outcome is Outcome.CLAIMED
    await idempotency.complete(store, "ops", "k1", {"created": {"id": "1"}})
    again = await idempotency.claim(store, "ops", "k1", FIRST)
    assert again == idempotency.Claim(Outcome.REPLAY, {"created": {"id": "1"}})


async def test_other_request_with_the_key_is_refused(store: Store) -> None:
    """The same key with other variables is REUSED, before and after the first finished."""
    await idempotency.claim(store, "ops", "k1", FIRST)
    assert (await idempotency.claim(store, "ops", "k1", OTHER)).outcome is Outcome.REUSED
    await idempotency.complete(store, "ops", "k1", {"a": 1})
    assert (await idempotency.claim(store, "ops", "k1", OTHER)).outcome is Outcome.REUSED


async def test_keys_are_per_token(store: Store) -> None:
    """Two tokens may use the same key for different requests."""
    await idempotency.claim(store, "ops", "k1", FIRST)
    assert (await idempotency.claim(store, "wallboard", "k1", OTHER)).outcome is Outcome.CLAIMED


async def test_racing_claims_one_wins(store: Store) -> None:
    """Of ten identical claims at once exactly one may run; the others see it in flight."""
    claims = await asyncio.gather(
        *(idempotency.claim(store, "ops", "race", FIRST) for _ in range(10))
    )
    outcomes = sorted(c.outcome for c in claims)
    assert outcomes == [Outcome.CLAIMED] + [Outcome.IN_FLIGHT] * 9


async def test_waiting_retry_gets_the_response(store: Store) -> None:
    """A retry that arrives while the first runs waits for, and gets, its response."""
    await idempotency.claim(store, "ops", "k1", FIRST)
    waiting = asyncio.create_task(idempotency.wait(store, "ops", "k1", FIRST, patience=30))
    await idempotency.complete(store, "ops", "k1", {"a": 1})
    assert await waiting == idempotency.Claim(Outcome.REPLAY, {"a": 1})


async def test_released_and_expired_keys_run_again(store: Store) -> None:
    """A claim released after a failure, or a key past its 24 hours, may be claimed anew."""
    await idempotency.claim(store, "ops", "k1", FIRST)
    await idempotency.release(store, "ops", "k1")
    assert (await idempotency.claim(store, "ops", "k1", OTHER)).outcome is Outcome.CLAIMED
    await idempotency.complete(store, "ops", "k1", {"a": 1})
    async with store.sessions() as session:
        await session.exec(
            update(IdempotencyKey)
            .where(col(IdempotencyKey.key) == "k1")
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
        await session.commit()
    assert (await idempotency.claim(store, "ops", "k1", FIRST)).outcome is Outcome.CLAIMED
    assert await idempotency.purge(store) == 0


async def test_abandoned_claim_is_taken_over(store: Store) -> None:
    """A claim whose process died before storing a response frees up after a minute."""
    await idempotency.claim(store, "ops", "k1", FIRST)
    async with store.sessions() as session:
        await session.exec(
            update(IdempotencyKey).values(created_at=utcnow() - idempotency.ABANDONED * 2)
        )
        await session.commit()
    assert (await idempotency.claim(store, "ops", "k1", FIRST)).outcome is Outcome.CLAIMED
