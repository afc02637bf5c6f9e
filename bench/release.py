"""The executing member leaves: what the next change costs a group riding along.

    python -m bench.release [subscribers ...] [--runs N] [--only KIND] [--clients K]

N subscribers share one group (schema/sharing.py): the first to subscribe (from this
process) executes for the group, the others ride along. Then either that first
subscriber closes its websocket and a change is made ("leave"), or the change is made
with everyone staying ("stay", the anchor). The figure is the time from that moment
(the close; for "stay", the mutation) until every remaining subscriber has the change,
and the server's CPU (user + system) from then until it had, plus one settled second;
each as a ratio of "leave" to "stay" of the same run, on a fresh server each.
KIND: `statusChanged` (everyone with one `after`) or `one` (everyone watching one page).
"""

import argparse
import asyncio
import json
import os
import resource
import time
from pathlib import Path
from typing import Any

import httpx

from bench.fanout import BEGINNING as FROM_START
from bench.fanout import (
    STATUS_CHANGED,
    WAIT,
    WATCH,
    Crowd,
    Deployment,
    Server,
    _pages,
    _subscriber,
    _toggle,
    clients,
    commpulse,
)

KINDS = ("statusChanged", "one")
TICKS = os.sysconf("SC_CLK_TCK")


def cpu(server: Server) -> float:
    """The server's CPU seconds so far, user and system."""
    fields = Path(f"/proc/{server.pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


async def _first_cursor(server: Server) -> str:
    """The cursor of the stream's first change (the page's creation)."""
    ws = await _subscriber(
        server.base.replace("http", "ws") + "/graphql", STATUS_CHANGED, {"after": FROM_START}
    )
    async with ws:
        message = json.loads(await ws.recv())
    return str(message["payload"]["data"]["statusChanged"]["cursor"])


def say(*a: object) -> None:
    if os.environ.get("BENCH_DEBUG"):
        print(*a, flush=True)


async def figure(crowd: Crowd, count: int, kind: str, leave: bool) -> tuple[float, float]:
    """(seconds until every remaining subscriber has the change, server CPU seconds)."""
    async with commpulse(Deployment()) as servers, httpx.AsyncClient(timeout=WAIT) as client:
        server = servers[0]
        [page] = await _pages(server.base, 1)
        say("page", page)
        await _toggle(client, server.base, page)  # the second change: everyone's first frame
        if kind == "statusChanged":
            query, variables = STATUS_CHANGED, {"after": await _first_cursor(server)}
        else:
            query, variables = WATCH, {"id": page}
        url = server.base.replace("http", "ws") + "/graphql"
        first = await _subscriber(url, query, variables)  # it executes for the group
        say("first", await first.recv())
        size = -(-(count - 1) // len(crowd.clients))  # as `open` spreads them, known before
        crowd.slices = [range(i, min(count - 1, i + size)) for i in range(0, count - 1, size)]
        crowd.variables = [variables]
        await crowd.expect()
        await crowd.open(servers, "/graphql", count - 1, query, [variables])
        await crowd.wait()
        say("opened")
        for _ in range(2):  # in step: everyone but the first rides along
            await crowd.expect()
            await _toggle(client, server.base, page)
            await first.recv()
            await crowd.wait()
        await asyncio.sleep(1)
        await crowd.expect()
        used = cpu(server)
        start = time.monotonic()
        if leave:
            await first.close()
        await _toggle(client, server.base, page)
        took = max(await crowd.wait()) - start
        await asyncio.sleep(1)
        used = cpu(server) - used
        if not leave:
            await first.close()
        await crowd.close()
    return took, used


async def main(options: argparse.Namespace) -> None:
    print(f"load average at start: {os.getloadavg()}")
    print(
        f"{'subscribers':>11} {'what':<14} {'run':>3} {'stay ms':>8} {'leave ms':>9} "
        f"{'x':>6} {'stay CPU s':>10} {'leave CPU s':>11} {'x':>6}"
    )
    async with clients(options.clients) as processes:
        crowd = Crowd(processes)
        for count in options.subscribers:
            for kind in options.only or KINDS:
                for run in range(1, options.runs + 1):
                    stay = await figure(crowd, count, kind, leave=False)
                    gone = await figure(crowd, count, kind, leave=True)
                    print(
                        f"{count:>11} {kind:<14} {run:>3} {stay[0] * 1000:>8.0f} "
                        f"{gone[0] * 1000:>9.0f} {gone[0] / stay[0]:>6.2f} {stay[1]:>10.2f} "
                        f"{gone[1]:>11.2f} {gone[1] / max(stay[1], 0.01):>6.2f}  "
                        f"load {os.getloadavg()[0]:.1f}",
                        flush=True,
                    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("subscribers", nargs="*", type=int, default=[1_000, 5_000])
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--only", choices=KINDS, action="append", help="these kinds")
    parser.add_argument("--clients", type=int, default=3, help="client processes")
    options: Any = parser.parse_args()
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    asyncio.run(main(options))
