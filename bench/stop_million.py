"""How fast a stop turns a 1,000,000-recipient campaign's audience into not-sent events.

    python -m bench.stop_million [recipients] [--postgres URL | --engines sqlite,postgres]

Prints recipients per second for `stopCommunication`'s store function, and for a bare
baseline measured in the same run on an identical campaign: one UPDATE of the same rows
with no events, which is what rewriting every recipient would cost at the least (a stop
writes one marker row instead: store/audience.py). Then it reads a page of the not-sent
events from the start and one from near the end, to show they are there and cost a page.
Machines here are shared and noisy, so the ratio is the figure to quote.
On SQLite files by default; with --postgres (a server URL, e.g.
postgresql://postgres@127.0.0.1:5432/postgres) in a database made and dropped here.
`--engines sqlite,postgres` (`make bench`) runs both, PostgreSQL at bench/requests.py's
COMMPULSE_BENCH_POSTGRES, and skips it when that server cannot be reached.
"""

import argparse
import asyncio
import time

from sqlalchemy import text

from bench import scratch_store
from bench.requests import POSTGRES, _postgres_reachable
from store import Store, changes, communications, deliveries
from store.lifecycle import Action, Kind, Origin, Trigger


async def campaign(store: Store, size: int) -> int:
    row = await communications.create(
        store,
        Kind.EMAIL,
        name="bench",
        origin=Origin.CAMPAIGN,
        content={"subject": "bench"},
        audience_size=size,
        actor="bench",
    )
    await changes.apply(store, row.id, Action.LAUNCH, by=Trigger.PERSON, actor="bench")
    assert row.id is not None
    return row.id


async def main(size: int, server: str | None) -> None:
    async with scratch_store(server) as store:
        stopped, bare = await campaign(store, size), await campaign(store, size)

        started = time.perf_counter()
        async with store.sessions() as session:
            await (await session.connection()).execute(
                text("UPDATE recipient SET state = 'NOT_SENT' WHERE communication_id = :c"),
                {"c": bare},
            )
            await session.commit()
        baseline = time.perf_counter() - started

        started = time.perf_counter()
        _, summary = await changes.stop(store, stopped, actor="bench", reason="benchmark")
        took = time.perf_counter() - started
        pages, after = [], (0, 0)
        for _ in range(2):
            started = time.perf_counter()
            page, _ = await deliveries.events(
                store, stopped, names=None, recipient_id=None, after=after, first=20
            )
            pages.append(time.perf_counter() - started)
            assert [e.name for _, e in page] == ["message.notSent"] * 20
            after = (page[0][0][0], size - 20)  # the marker's seq, the last positions
    assert summary.not_sent_now == size
    print(
        f"{'postgresql' if server else 'sqlite'}: stop of {size:,} recipients: {took:.2f} s, "
        f"{size / took:,.0f} recipients/s"
    )
    print(
        f"baseline (bare UPDATE, no events): {baseline:.2f} s, {size / baseline:,.0f} recipients/s"
    )
    print(f"stop / baseline time ratio: {took / baseline:.2f}")
    print(
        f"a page of 20 not-sent events: first {pages[0] * 1e3:.1f} ms, last {pages[1] * 1e3:.1f} ms"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("recipients", nargs="?", type=int, default=1_000_000)
    parser.add_argument("--postgres", help="a PostgreSQL server URL; a SQLite file without it")
    parser.add_argument("--engines", help="sqlite,postgres: each in turn (`make bench`)")
    given = parser.parse_args()
    engines = [e for e in (given.engines or "").split(",") if e]
    if unknown := [e for e in engines if e not in ("sqlite", "postgres")]:
        parser.error(f"--engines: {', '.join(unknown)}: each is sqlite or postgres")
    if not engines:
        asyncio.run(main(given.recipients, given.postgres))
    for engine in engines:
        if engine == "sqlite":
            asyncio.run(main(given.recipients, None))
        elif _postgres_reachable():
            asyncio.run(main(given.recipients, f"{POSTGRES}/postgres"))
        else:
            print(f"PostgreSQL not reachable at {POSTGRES} (COMMPULSE_BENCH_POSTGRES): skipped")
