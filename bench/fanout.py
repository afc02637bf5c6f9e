"""Fan-out: p99 from a change's commit to the last subscriber, against a raw broadcast.

    python -m bench.fanout [subscribers ...] [--changes N]     (make bench: 1000 5000)

For each number of subscribers, each on a websocket of its own (graphql-transport-ws),
it measures, against one commpulse server (a uvicorn process, SQLite, memory://):

- `statusChanged`: every subscriber gets every change;
- `communication(id)`, everyone watching one landing page;
- `communication(id)`, spread over 100 landing pages (a change reaches its watchers);

and, as the anchor, a raw Starlette websocket route (its own uvicorn process) that sends
one pre-serialized frame to every socket. A sample is the time from sending the request
(the mutation; the anchor's broadcast request) to one subscriber's receipt; the figure is
the p99 of all samples, and the ratio to the anchor's p99 is what to quote: machines here
are shared and noisy.
"""

import argparse
import asyncio
import contextlib
import json
import os
import socket
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

ROOT = Path(__file__).parents[1]
PAGES = 100
BATCH = 100  # websockets opened at once

# --- the anchor: a raw broadcast of one pre-serialized frame ------------------------------

_sockets: set[WebSocket] = set()
_FRAME = json.dumps({"id": "1", "type": "next", "payload": {"data": {"change": "x" * 120}}})


async def _raw_ws(websocket: WebSocket) -> None:
    await websocket.accept()
    _sockets.add(websocket)
    try:
        while True:
            await websocket.receive_text()
    except WebSocketDisconnect:
        _sockets.discard(websocket)


async def _raw_send(_request: Request) -> Response:
    for websocket in list(_sockets):
        await websocket.send_text(_FRAME)
    return Response("sent")


raw_app = Starlette(
    routes=[WebSocketRoute("/ws", _raw_ws), Route("/send", _raw_send, methods=["POST"])]
)

# --- servers -----------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.asynccontextmanager
async def _process(args: list[str], port: int, env: dict[str, str]) -> AsyncIterator[str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        *args,
        cwd=ROOT,
        env={**os.environ, **env},
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient() as client:
            for _ in range(200):
                with contextlib.suppress(httpx.TransportError):
                    await client.get(base + "/healthz")
                    break
                await asyncio.sleep(0.1)
        yield base
    finally:
        process.terminate()
        await process.wait()


@contextlib.asynccontextmanager
async def commpulse() -> AsyncIterator[str]:
    with tempfile.TemporaryDirectory() as directory:
        url = f"sqlite+aiosqlite:///{directory}/bench.db"
        env = {
            "COMMPULSE_DATABASE_URL": url,
            "COMMPULSE_AUTH": "off",
            "COMMPULSE_SENDER": "none",
            "COMMPULSE_SCHEDULER": "off",
            "COMMPULSE_RATE_BURST": "1000000",
        }
        migrate = await asyncio.create_subprocess_exec(
            sys.executable,
            *("-m", "server.cli", "migrate"),
            cwd=ROOT,
            env={**os.environ, **env},
            stdout=asyncio.subprocess.DEVNULL,
        )
        await migrate.wait()
        port = _free_port()
        args = ["-m", "server.cli", "serve", "--host", "127.0.0.1", "--port", str(port)]
        async with _process(args, port, env) as base:
            yield base


@contextlib.asynccontextmanager
async def raw() -> AsyncIterator[str]:
    port = _free_port()
    args = ["-m", "uvicorn", "bench.fanout:raw_app", "--port", str(port), "--log-level", "error"]
    async with _process(args, port, {}) as base:
        yield base


# --- subscribers ------------------------------------------------------------------------


class Crowd:
    def __init__(self) -> None:
        self.sockets: list[ClientConnection] = []
        self.times: list[float] = []
        self.wanted = 0
        self.done = asyncio.Event()
        self.readers: list[asyncio.Task[None]] = []

    async def _read(self, ws: ClientConnection) -> None:
        with contextlib.suppress(ConnectionClosed):
            async for _ in ws:
                self.times.append(time.perf_counter())
                if len(self.times) >= self.wanted:
                    self.done.set()

    def expect(self, count: int) -> None:
        self.times, self.wanted = [], count
        self.done.clear()

    async def wait(self) -> list[float]:
        async with asyncio.timeout(120):
            await self.done.wait()
        return self.times

    def start(self) -> None:
        self.readers = [asyncio.create_task(self._read(ws)) for ws in self.sockets]

    async def close(self) -> None:
        for reader in self.readers:
            reader.cancel()
        for batch in range(0, len(self.sockets), BATCH):
            await asyncio.gather(*(ws.close() for ws in self.sockets[batch : batch + BATCH]))


async def _subscriber(base: str, query: str | None, variables: dict[str, str]) -> ClientConnection:
    if query is None:
        return await connect(base.replace("http", "ws") + "/ws", open_timeout=120)
    ws = await connect(
        base.replace("http", "ws") + "/graphql", subprotocols=["graphql-transport-ws"]
    )  # type: ignore[list-item]
    await ws.send(json.dumps({"type": "connection_init", "payload": {}}))
    assert json.loads(await ws.recv())["type"] == "connection_ack"
    payload = {"query": query, "variables": variables}
    await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": payload}))
    return ws


async def crowd(base: str, count: int, query: str | None, variables: list[dict[str, str]]) -> Crowd:
    opened = Crowd()
    for batch in range(0, count, BATCH):
        opened.sockets += await asyncio.gather(
            *(
                _subscriber(base, query, variables[i % len(variables)])
                for i in range(batch, min(count, batch + BATCH))
            )
        )
    return opened


def p99(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


# --- scenarios --------------------------------------------------------------------------

STATUS_CHANGED = "subscription { statusChanged { cursor communicationId action from to at } }"
WATCH = """subscription($id: ID!) { communication(id: $id) {
  ... on LandingPage { id status version updatedAt availableActions } } }"""
CREATE = """mutation($input: CreateLandingPageInput!) {
  createLandingPage(input: $input) { communication { ... on LandingPage { id } } } }"""
TOGGLE = """mutation($id: ID!) { %s(id: $id) { userErrors { code } } }"""


async def anchor(count: int, rounds: int) -> float:
    async with raw() as base:
        subscribers = await crowd(base, count, None, [{}])
        await asyncio.sleep(0.5)  # every socket registered
        subscribers.start()
        samples: list[float] = []
        async with httpx.AsyncClient(timeout=120) as client:
            for _ in range(rounds):
                subscribers.expect(count)
                start = time.perf_counter()
                await client.post(base + "/send")
                samples += [t - start for t in await subscribers.wait()]
        await subscribers.close()
    return p99(samples)


async def scenario(base: str, count: int, rounds: int, kind: str, pages: list[str]) -> float:
    if kind == "statusChanged":
        query, variables, initial = STATUS_CHANGED, [{}], 0
    else:
        spread = pages if kind == "spread" else pages[:1]
        query, variables, initial = WATCH, [{"id": p} for p in spread], count
    subscribers = await crowd(base, count, query, variables)
    subscribers.expect(initial)
    subscribers.start()
    async with httpx.AsyncClient(timeout=120) as client:
        if initial:
            await subscribers.wait()  # everyone has the current state
        else:  # every subscription listens: one change reaches everyone
            subscribers.expect(count)
            await _toggle(client, base, pages[0], 0)
            await subscribers.wait()
        samples: list[float] = []
        for round_ in range(1, rounds + 1):
            page = pages[round_ % len(pages)] if kind == "spread" else pages[0]
            reach = count // PAGES if kind == "spread" else count
            subscribers.expect(reach)
            start = time.perf_counter()
            await _toggle(client, base, page, round_ if kind != "spread" else 0)
            samples += [t - start for t in await subscribers.wait()]
    await subscribers.close()
    await asyncio.sleep(2)  # the server lets go of the closed sockets before the next figure
    return p99(samples)


async def _toggle(client: httpx.AsyncClient, base: str, page: str, round_: int) -> None:
    # each page starts as a DRAFT: publish it, then unpublish, in turn
    state = _published.setdefault(page, False)
    field = "unpublishLandingPage" if state else "publishLandingPage"
    _published[page] = not state
    body = {"query": TOGGLE % field, "variables": {"id": page}}
    response = await client.post(base + "/graphql", json=body)
    assert response.json()["data"][field]["userErrors"] == [], response.text


_published: dict[str, bool] = {}


async def main(counts: list[int], rounds: int) -> None:
    print(f"p99 commit -> last subscriber, {rounds} changes per figure, one websocket each")
    print(f"{'subscribers':>11} {'what':<34} {'p99 ms':>8} {'x raw':>7}")
    for count in counts:
        base_p99 = await anchor(count, rounds)
        print(f"{count:>11} {'raw broadcast (anchor)':<34} {base_p99 * 1000:>8.0f} {1:>7.2f}")
        async with commpulse() as base, httpx.AsyncClient() as client:
            pages = []
            _published.clear()  # a new database: every page starts as a DRAFT
            for i in range(PAGES):
                variables = {"input": {"name": f"p{i}", "title": "t", "slug": f"bench-{i}"}}
                made = await client.post(
                    base + "/graphql", json={"query": CREATE, "variables": variables}
                )
                pages.append(made.json()["data"]["createLandingPage"]["communication"]["id"])
            for kind, label in (
                ("statusChanged", "statusChanged"),
                ("one", "communication(id), all on one"),
                ("spread", f"communication(id), over {PAGES}"),
            ):
                figure = await scenario(base, count, rounds, kind, pages)
                print(
                    f"{count:>11} {label:<34} {figure * 1000:>8.0f} {figure / base_p99:>7.2f}",
                    flush=True,
                )


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("subscribers", nargs="*", type=int, default=[1_000, 5_000])
    parser.add_argument("--changes", type=int, default=5)
    options = parser.parse_args()
    asyncio.run(main(options.subscribers, options.changes))
