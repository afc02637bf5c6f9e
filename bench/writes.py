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
BENCH_PROFILE=DIR records a py-spy profile of the server for each figure (BENCH_PYSPY: py-spy's
options, "--nonblocking" unless set; "--gil" samples only the thread holding the GIL).
"""

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench import py_spy
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
from wsproto import ConnectionType, WSConnection
from wsproto.events import AcceptConnection, Message, Pong, Request

url, token, query, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
host, _, rest = url.removeprefix("ws://").partition("/")
received = [0]

async def follow():
    reader, writer = await asyncio.open_connection(*host.split(":"))
    ws = WSConnection(ConnectionType.CLIENT)
    writer.write(ws.send(Request(host=host, target="/" + rest,
                                 subprotocols=["graphql-transport-ws"])))
    init = {"type": "connection_init", "payload": {"Authorization": "Bearer " + token}}
    subscribe = {"id": "1", "type": "subscribe", "payload": {"query": query}}
    while True:  # wsproto for the handshake and the two messages sent
        ws.receive_data(await reader.read(65536))
        if any(isinstance(event, AcceptConnection) for event in ws.events()):
            break
    writer.write(ws.send(Message(data=json.dumps(init))))
    writer.write(ws.send(Message(data=json.dumps(subscribe))))
    print("subscribed", flush=True)
    # then the frames received are only counted: a server's frames are unmasked, with a
    # 2, 4 or 10 byte header (RFC 6455, 5.2), and a ping (opcode 9) is answered
    buffer, at = b"", 0
    while data := await reader.read(1 << 20):
        buffer = buffer[at:] + data
        at, end = 0, len(buffer)
        while end - at >= 2:
            size, head = buffer[at + 1] & 127, 2
            if size == 126:
                size, head = int.from_bytes(buffer[at + 2 : at + 4]), 4
            elif size == 127:
                size, head = int.from_bytes(buffer[at + 2 : at + 10]), 10
            if end - at < head + size:
                break
            opcode = buffer[at] & 15
            if opcode == 1:
                received[0] += 1
            elif opcode == 9:
                writer.write(ws.send(Pong(payload=buffer[at + head : at + head + size])))
            at += head + size

async def report():
    loop = asyncio.get_running_loop()
    while await loop.run_in_executor(None, sys.stdin.readline):
        print(received[0], flush=True)

async def main():
    tasks = [asyncio.ensure_future(follow()) for _ in range(count)]
    await report()

asyncio.run(main())
"""


@dataclass
class Followers:
    """The subscribers' process, which tells how many result frames it has received."""

    process: subprocess.Popen[str]

    def received(self) -> int:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write("\n")
        self.process.stdin.flush()
        return int(self.process.stdout.readline())


@contextlib.contextmanager
def subscribers(target: Target, count: int) -> Iterator[Followers]:
    """`count` websockets following every status change, in a process of their own, which
    costs little for each frame (it counts them; wsproto makes what it sends): the
    `websockets` client took about 10 us of this machine's CPU a frame, 1 ms of the 2 that
    a write may have at 1,000 a second with 100 subscribers."""
    url = target.url.replace("http://", "ws://", 1)
    process = subprocess.Popen(
        [sys.executable, "-c", _FOLLOWER, url, target.token or "", FOLLOW, str(count)],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        for _ in range(count):
            if process.stdout.readline().strip() != "subscribed":
                raise SystemExit("the subscribers could not subscribe")
        yield Followers(process)
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


@contextlib.contextmanager
def _profiled(server: int | None, bodies: list[str]) -> Iterator[None]:
    """py-spy recording the server meanwhile (`py_spy`), one raw profile per figure."""
    name = "creates" if "createInAppMessage" in bodies[0] else "transitions"
    command = None if server is None else py_spy(server, name)
    if command is None:
        yield
        return
    profiler = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield
    finally:
        profiler.send_signal(signal.SIGINT)  # py-spy writes what it has on SIGINT
        profiler.wait()


def _measured(
    target: Target,
    bodies: list[str],
    args: argparse.Namespace,
    server: int | None,
    followers: Followers | None,
) -> tuple[float, str]:
    """The rate of `bodies` sent (`load`), and the CPU per operation of the server, its
    event loop's thread and the subscribers' process, as far as /proc tells; and the result
    frames the subscribers received for each (each subscriber gets every change)."""
    seconds = args.seconds
    client = None if followers is None else followers.process.pid
    received = 0 if followers is None else followers.received()
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
    with _profiled(server, bodies):
        rate = load(target, bodies, seconds, args.connections)
    parts = []
    for name, path in stats.items():
        start, end = before[name], _cpu(path)
        if start is not None and end is not None and rate:
            parts.append(f"{name} {(end - start) * 1000 / (rate * seconds):.2f}")
    figure = f"; CPU ms each: {', '.join(parts)}" if parts else ""
    if followers is not None and rate:
        last, now = -1, followers.received()
        while now != last:  # until the last frame has come
            time.sleep(0.5)
            last, now = now, followers.received()
        figure += f"; frames received each: {(now - received) / (rate * seconds):.1f}"
    return rate, figure


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
