"""Writes a second through the whole server, beside the anchors from the same run.

    python -m bench.writes [--seconds S] [--connections C] [--subscribers N]
                           [--engines sqlite,postgres]

(`make bench` runs it.) commpulse runs as in bench/requests.py: a uvicorn process with auth
on and a real admin token, 1,000 communications made through the API, on SQLite and on
PostgreSQL. While `--subscribers` (default 100) websockets follow `statusChanged`, 32
connections send:

- transitions: publishLandingPage for every landing page, then unpublishLandingPage for
  each, round-robin: each request finds its page in the status it needs;
- creates: createInAppMessage, a different name each time.

The anchors are bench/requests.py's: raw Starlette answering a fixed JSON body, and the
bare strawberry app answering `{ __typename }`, measured in the same run. Every answer is
checked afterwards: the history must hold one row per transition counted.

Beside each figure, where /proc can tell: the server's CPU time per write, and how much
of it the event loop's thread spent (one thread: at 1,000 writes a second it has 1 ms for
each), and the CPU the subscribers' client process spent per write, on the same machine.
"""

import argparse
import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx

from bench.requests import TYPENAME, Target, _uvicorn, bare, body, commpulse, load

ROOT = Path(__file__).parents[1]
PUBLISH = "mutation($id: ID!) { publishLandingPage(id: $id) { userErrors { code } } }"
UNPUBLISH = "mutation($id: ID!) { unpublishLandingPage(id: $id) { userErrors { code } } }"
CREATE = (
    "mutation($input: CreateInAppMessageInput!) { createInAppMessage(input: $input) "
    "{ communication { ... on InAppMessage { id } } userErrors { code } } }"
)
KINDS = "query($id: ID!) { communication(id: $id) { __typename } }"
FOLLOW = "subscription { statusChanged { cursor } }"


def _landing_pages(target: Target) -> list[str]:
    with httpx.Client(timeout=60, headers=target.headers()) as client:
        return [
            i
            for i in target.ids
            if client.post(target.url, json={"query": KINDS, "variables": {"id": i}}).json()[
                "data"
            ]["communication"]["__typename"]
            == "LandingPage"
        ]


def transitions(target: Target) -> list[str]:
    pages = _landing_pages(target)
    return [body(PUBLISH, id=i) for i in pages] + [body(UNPUBLISH, id=i) for i in pages]


def creates(_target: Target) -> list[str]:
    return [body(CREATE, input={"name": f"bench {n}", "title": "t"}) for n in range(20_000)]


_FOLLOWER = """
import asyncio, json, sys
import websockets

async def follow(url, token):
    async with websockets.connect(url, subprotocols=["graphql-transport-ws"]) as ws:
        await ws.send(json.dumps({"type": "connection_init",
                                  "payload": {"Authorization": "Bearer " + token}}))
        await ws.recv()
        await ws.send(json.dumps({"id": "1", "type": "subscribe",
                                  "payload": {"query": sys.argv[3]}}))
        print("subscribed", flush=True)
        async for _ in ws:
            pass

async def main():
    await asyncio.gather(*(follow(sys.argv[1], sys.argv[2]) for _ in range(int(sys.argv[4]))))

asyncio.run(main())
"""


@contextlib.contextmanager
def subscribers(target: Target, count: int) -> Iterator[int]:
    """`count` websockets following every status change, in a process of their own."""
    url = target.url.replace("http://", "ws://", 1)
    process = subprocess.Popen(
        [sys.executable, "-c", _FOLLOWER, url, target.token or "", FOLLOW, str(count)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        for _ in range(count):
            if process.stdout.readline().strip() != "subscribed":
                raise SystemExit("the subscribers could not subscribe")
        yield process.pid
    finally:
        process.terminate()
        process.wait()


def _history_rows(target: Target) -> int:
    query = "query($id: ID!) { communication(id: $id) { ... on LandingPage { version } } }"
    with httpx.Client(timeout=60, headers=target.headers()) as client:
        versions = [
            client.post(target.url, json={"query": query, "variables": {"id": i}}).json()
            for i in target.ids
        ]
    return sum(
        (v["data"]["communication"] or {}).get("version", 1) - 1 for v in versions if "data" in v
    )


def _children() -> set[int]:
    """This process's child processes (Linux), or nothing."""
    found: set[int] = set()
    with contextlib.suppress(OSError):
        for task in Path(f"/proc/{os.getpid()}/task").iterdir():
            found.update(int(pid) for pid in (task / "children").read_text().split())
    return found


def _cpu(stat: str) -> float | None:
    """CPU seconds (user and system) of a /proc stat file, or None."""
    try:
        fields = Path(stat).read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _measured(
    target: Target,
    bodies: list[str],
    args: argparse.Namespace,
    server: int | None,
    client: int | None,
) -> tuple[float, str]:
    """The rate of `bodies` sent (`load`), and the CPU per operation of the server, its
    event loop's thread and the subscribers' process, as far as /proc tells."""
    seconds = args.seconds
    stats = {
        "server": f"/proc/{server}/stat",
        "its event loop": f"/proc/{server}/task/{server}/stat",
        "subscribers' client": f"/proc/{client}/stat",
    }
    if server is None:
        stats = {}
    if client is None:
        stats.pop("subscribers' client", None)
    before = {name: _cpu(path) for name, path in stats.items()}
    rate = load(target, bodies, seconds, args.connections)
    parts = []
    for name, path in stats.items():
        start, end = before[name], _cpu(path)
        if start is not None and end is not None and rate:
            parts.append(f"{name} {(end - start) * 1000 / (rate * seconds):.2f}")
    return rate, f"; CPU ms each: {', '.join(parts)}" if parts else ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--subscribers", type=int, default=100)
    parser.add_argument("--engines", default="sqlite,postgres")
    args = parser.parse_args()
    figures: dict[str, str] = {}

    with _uvicorn("bench.requests:raw_app") as raw:
        anchor = load(Target("raw", raw), [body(TYPENAME)], args.seconds, args.connections)
        figures["raw JSON, { __typename }"] = f"{anchor:,.0f}/s"
    with bare() as target:
        strawberry = load(target, [body(TYPENAME)], args.seconds, args.connections)
        figures["bare strawberry, { __typename }"] = f"{strawberry:,.0f}/s"
    for engine in [e for e in args.engines.split(",") if e]:
        with commpulse(engine) as target:
            servers = _children()  # the server is the one child running now
            server = servers.pop() if len(servers) == 1 else None
            with subscribers(target, args.subscribers) as client:
                following = client if args.subscribers else None
                moving, making = transitions(target), creates(target)
                before = _history_rows(target)
                moves, cpu = _measured(target, moving, args, server, following)
                made = _history_rows(target) - before
                figures[f"{engine}: transitions"] = (
                    f"{moves:,.0f}/s ({moves / strawberry:.2f}x bare; {made:,} history rows{cpu})"
                )
                news, cpu = _measured(target, making, args, server, following)
                figures[f"{engine}: creates"] = (
                    f"{news:,.0f}/s ({news / strawberry:.2f}x bare{cpu})"
                )
        print(json.dumps(figures, indent=1), flush=True)
    print()
    for name, figure in figures.items():
        print(f"| {name} | {figure} |")


if __name__ == "__main__":
    main()
