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
"""

import argparse
import contextlib
import json
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
def subscribers(target: Target, count: int) -> Iterator[None]:
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
        yield
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
        with commpulse(engine) as target, subscribers(target, args.subscribers):
            before = _history_rows(target)
            moves = load(target, transitions(target), args.seconds, args.connections)
            made = _history_rows(target) - before
            figures[f"{engine}: transitions"] = (
                f"{moves:,.0f}/s ({moves / strawberry:.2f}x bare; {made:,} history rows)"
            )
            news = load(target, creates(target), args.seconds, args.connections)
            figures[f"{engine}: creates"] = f"{news:,.0f}/s ({news / strawberry:.2f}x bare)"
        print(json.dumps(figures, indent=1), flush=True)
    print()
    for name, figure in figures.items():
        print(f"| {name} | {figure} |")


if __name__ == "__main__":
    main()
