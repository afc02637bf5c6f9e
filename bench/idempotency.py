"""What an idempotency key costs a mutation, in the store, on SQLite.

    python -m bench.idempotency [count]

Times `count` creations of a communication alone (the anchor), then `count` more each
wrapped as a keyed mutation is: claim the key, create, store the response; and `count`
replays of a stored response. Machines here are shared and noisy, so the ratios to the
anchor, measured in the same run, are the figures to quote.
"""

import asyncio
import sys
import time

from bench import scratch_store
from store import Store, communications, idempotency
from store.lifecycle import Kind, Origin


async def create(store: Store, n: int) -> None:
    await communications.create(
        store, Kind.IN_APP, name=f"bench {n}", origin=Origin.CAMPAIGN,
        content={"title": "bench"}, audience_size=None, actor="bench",
    )  # fmt: skip


async def keyed(store: Store, n: int) -> None:
    fingerprint = idempotency.fingerprint("mutation", None, {"n": n})
    claim = await idempotency.claim(store, "bench", f"key-{n}", fingerprint)
    assert claim.outcome is idempotency.Outcome.CLAIMED
    await create(store, n)
    await idempotency.complete(store, "bench", f"key-{n}", {"created": n})


async def replay(store: Store, n: int) -> None:
    fingerprint = idempotency.fingerprint("mutation", None, {"n": n})
    claim = await idempotency.claim(store, "bench", f"key-{n}", fingerprint)
    assert claim.outcome is idempotency.Outcome.REPLAY


async def timed(store: Store, work: object, count: int) -> float:
    started = time.perf_counter()
    for n in range(count):
        await work(store, n)  # type: ignore[operator]
    return time.perf_counter() - started


async def main(count: int) -> None:
    async with scratch_store() as store:
        await timed(store, create, 20)  # warm up
        anchor = await timed(store, create, count)
        with_key = await timed(store, keyed, count)
        replayed = await timed(store, replay, count)
    print(f"create alone:        {anchor / count * 1000:6.2f} ms  (anchor)")
    print(f"create with a key:   {with_key / count * 1000:6.2f} ms  {with_key / anchor:4.2f} x")
    print(f"replay of a key:     {replayed / count * 1000:6.2f} ms  {replayed / anchor:4.2f} x")


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 300))
