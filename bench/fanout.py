"""Fan-out: p99 from a change's commit to the last subscriber, against a raw broadcast.

    python -m bench.fanout [subscribers ...] [--changes N] [--only KIND] [--clients K]
        [--broker memory|redis|postgres] [--instances N] [--detail]
        [--soak SECONDS [--rate R] [--writers W] [--every S]]
    (make bench: 1000 5000 10000)

For each number of subscribers, each on a websocket of its own (graphql-transport-ws),
it measures, against commpulse (uvicorn processes; SQLite, or PostgreSQL with its broker):

- `statusChanged`: every subscriber gets every change;
- `communication(id)`, everyone watching one landing page;
- `communication(id)`, spread over 100 landing pages (a change reaches its watchers);

and, as the anchor, a raw Starlette websocket route (uvicorn processes of its own, as many
as commpulse's) that sends one pre-serialized frame to every socket. A sample is the time
from sending the request (the mutation; the anchor's broadcast request) to one
subscriber's receipt; the figure is the p99 of all samples, and the ratio to the anchor's
p99 is what to quote: machines here are shared and noisy. The subscribers live in `K`
client processes (the same ones for the anchor and for commpulse), so the client is not
what is measured. Beside each figure: the server's RSS growth per subscriber while the
subscribers sit idle (attached, after their first frame), the anchor's beside commpulse's.
And the CPU the servers' event loops ran per change (/proc/PID/schedstat, the median
change, summed over the instances) beside the anchor's, with how long they waited,
runnable, for a CPU meanwhile: on a shared machine the latency is mostly that wait (a
loop that runs 15 ms for a change waited 40 to 230 ms at a load average of 7.5 on 2
cores), so a p99 over a few changes is the unluckiest change's wait, and the CPU ratio
is what holds from one run to the next. `--detail` prints every change: its last frame
and median per instance, each process's run and wait, and, with BENCH_GCLOG=DIR, the
servers' garbage collections during it (bench/gclog.py).

`--soak SECONDS` instead runs 1,000 (the first count) `statusChanged` subscribers while
`--writers` concurrent writers make changes at `--rate` a second (with a broker, straight
into the database, as another instance would; see `writer`), and prints the server's RSS
every `--every` seconds.

COMMPULSE_BENCH_PORTS=FIRST-LAST keeps every server in those ports; BENCH_TRACEMALLOC=DIR
prints, for each figure, where the first server's memory for the idle subscribers was allocated
(bench/tracemem.py); BENCH_PROFILE=DIR records py-spy profiles (BENCH_PYSPY: its options);
BENCH_PIDS prints the pids.
"""

import argparse
import asyncio
import contextlib
import functools
import gc
import json
import os
import resource
import signal
import statistics
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from bench import free_port, gclog, py_spy, throwaway_database, tracemem
from schema import ids
from server.cli import WEBSOCKETS
from server.runtime import runtime
from server.settings import Settings
from store import changes
from store.lifecycle import Action, Trigger

ROOT = Path(__file__).parents[1]
PAGES = 100
BATCH = 50  # websockets opened at once, per client process
POSTGRES = os.environ.get("COMMPULSE_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_SERVER = "/usr/bin/redis-server"
WAIT = 600.0  # seconds for every expected frame; only so a lost one fails instead of hanging

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


@dataclass
class Server:
    base: str
    pid: int
    snapshots: int = 0  # taken so far (BENCH_TRACEMALLOC)
    dumps: int = 0  # garbage collection records taken so far (BENCH_GCLOG)
    env: dict[str, str] = field(default_factory=dict)  # commpulse's settings

    def rss(self) -> int:
        """Resident set size in bytes."""
        status = Path(f"/proc/{self.pid}/status").read_text()
        [line] = [line for line in status.splitlines() if line.startswith("VmRSS:")]
        return int(line.split()[1]) * 1024

    async def snapshot(self) -> Path:
        """A tracemalloc snapshot of the server (run by bench.tracemem), once it is written."""
        target = Path(os.environ["BENCH_TRACEMALLOC"]) / f"{self.pid}-{self.snapshots}.snap"
        self.snapshots += 1
        os.kill(self.pid, signal.SIGUSR1)
        while not target.exists():  # noqa: ASYNC110 (another process writes it)
            await asyncio.sleep(0.2)
        return target

    async def collections(self) -> list[gclog.Collection]:
        """Its garbage collections since the last call (BENCH_GCLOG; else none)."""
        directory = os.environ.get("BENCH_GCLOG")
        if not directory or os.environ.get("BENCH_TRACEMALLOC"):
            return []
        target = Path(directory) / f"{self.pid}-{self.dumps}.gc"
        self.dumps += 1
        os.kill(self.pid, signal.SIGUSR2)
        while not target.exists():  # noqa: ASYNC110 (another process writes it)
            await asyncio.sleep(0.05)
        return gclog.read(target)


def _python(module: str, *args: str) -> list[str]:
    """The arguments to run `module`: under tracemalloc when BENCH_TRACEMALLOC is set, else
    recording its garbage collections when BENCH_GCLOG is (bench/gclog.py)."""
    if os.environ.get("BENCH_TRACEMALLOC"):
        return ["-m", "bench.tracemem", module, *args]
    if os.environ.get("BENCH_GCLOG"):
        return ["-m", "bench.gclog", module, *args]
    return ["-m", module, *args]


@contextlib.asynccontextmanager
async def _process(args: list[str], port: int, env: dict[str, str]) -> AsyncIterator[Server]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        *args,
        cwd=ROOT,
        env={**os.environ, **env},
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    if os.environ.get("BENCH_PIDS"):  # for a profiler to attach to
        print(f"pid {process.pid}: {' '.join(args)}", flush=True)
    base = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient() as client:
            for _ in range(600):
                with contextlib.suppress(httpx.TransportError):
                    await client.get(base + "/healthz")
                    break
                await asyncio.sleep(0.1)
        yield Server(base, process.pid)
    finally:
        process.terminate()
        await process.wait()


@dataclass
class Deployment:
    """How commpulse runs: its broker, its database, how many instances."""

    broker: str = "memory"
    instances: int = 1

    @contextlib.asynccontextmanager
    async def database(self) -> AsyncIterator[str]:
        # several instances share a PostgreSQL database, as deployed; the LISTEN/NOTIFY
        # broker lives in its database
        shared = self.broker == "postgres" or self.instances > 1
        async with throwaway_database(POSTGRES if shared else None) as url:
            yield url

    @contextlib.asynccontextmanager
    async def broadcast(self, database: str) -> AsyncIterator[str]:
        if self.broker == "memory":
            yield "memory://"
        elif self.broker == "postgres":
            yield database
        else:
            async with _redis() as url:
                yield url


@contextlib.asynccontextmanager
async def _redis() -> AsyncIterator[str]:
    """A private redis-server, so nobody else's traffic shares it."""
    port = free_port()
    args = ["--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    process = await asyncio.create_subprocess_exec(
        REDIS_SERVER, *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    assert process.stdout is not None
    try:
        while b"Ready to accept connections" not in await process.stdout.readline():
            pass
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        await process.wait()


@contextlib.asynccontextmanager
async def commpulse(deployment: Deployment) -> AsyncIterator[list[Server]]:
    async with (
        deployment.database() as url,
        deployment.broadcast(url) as broker,
        contextlib.AsyncExitStack() as stack,
    ):
        env = {
            "COMMPULSE_DATABASE_URL": url,
            "COMMPULSE_BROADCAST_URL": broker,
            "COMMPULSE_AUTH": "off",
            "COMMPULSE_SENDER": "none",
            "COMMPULSE_SCHEDULER": "off",
            # every subscriber here is the same local identity: a real token's rate and cost
            # budget would refuse the second figure's 5,000 subscribes (10 points each, 50,000
            # a token), and the refused subscribers would wait for changes that never come
            "COMMPULSE_RATE_LIMIT": "1000000000",
            "COMMPULSE_RATE_BURST": "1000000000",
            "COMMPULSE_COST_BUDGET": "1000000000000",
            "COMMPULSE_COST_REFILL": "1000000000000",
        }
        migrate = await asyncio.create_subprocess_exec(
            sys.executable,
            *("-m", "server.cli", "migrate"),
            cwd=ROOT,
            env={**os.environ, **env},
            stdout=asyncio.subprocess.DEVNULL,
        )
        await migrate.wait()
        servers = []
        for _ in range(deployment.instances):
            port = free_port()
            args = _python("server.cli", "serve", "--host", "127.0.0.1", "--port", str(port))
            server = await stack.enter_async_context(_process(args, port, env))
            server.env = env
            servers.append(server)
        yield servers


@contextlib.asynccontextmanager
async def raw(instances: int) -> AsyncIterator[list[Server]]:
    async with contextlib.AsyncExitStack() as stack:
        servers = []
        for _ in range(instances):
            port = free_port()
            args = _python("uvicorn", "bench.fanout:raw_app", "--port", str(port))
            args += ["--log-level", "error", *_raw_options()]
            servers.append(await stack.enter_async_context(_process(args, port, {})))
        yield servers


def deflate() -> bool:
    """Whether commpulse offers permessage-deflate (its setting, from this environment)."""
    return Settings.from_env().ws_per_message_deflate


def _raw_options() -> list[str]:
    """The anchor serves websockets as commpulse does: with the same protocol (uvicorn's,
    corked), with permessage-deflate or not."""
    settings = Settings.from_env()
    deflate = [] if settings.ws_per_message_deflate else ["--ws-per-message-deflate", "false"]
    return ["--ws", WEBSOCKETS[settings.ws_implementation], *deflate]


# --- subscribers: client processes, driven over their stdin and stdout --------------------


class Worker:
    """In a client process: websockets that record when each frame arrived."""

    def __init__(self) -> None:
        self.sockets: list[ClientConnection] = []
        self.readers: list[asyncio.Task[None]] = []
        self.times: list[tuple[float, int]] = []  # when a frame came, to a socket of which instance
        self.wanted = 0
        self.frames = 0  # every frame ever received
        self.dropped = 0  # subscriptions ended with an error (SLOW_CONSUMER)
        self.done = asyncio.Event()

    async def open(
        self, urls: list[str], query: str | None, variables: list[Any], instances: list[int]
    ) -> int:
        for batch in range(0, len(urls), BATCH):
            chunk = range(batch, min(len(urls), batch + BATCH))
            self.sockets += await asyncio.gather(
                *(_subscriber(urls[i], query, variables[i]) for i in chunk)
            )
        self.readers = [
            asyncio.create_task(self._read(ws, instance))
            for ws, instance in zip(self.sockets, instances, strict=True)
        ]
        return len(self.sockets)

    async def _read(self, ws: ClientConnection, instance: int) -> None:
        with contextlib.suppress(ConnectionClosed):
            async for frame in ws:
                self.frames += 1
                if '"errors"' in frame:
                    self.dropped += 1
                if len(self.times) < self.wanted:
                    # one clock for every process here
                    self.times.append((time.monotonic(), instance))
                    if len(self.times) == self.wanted:
                        self.done.set()

    def expect(self, count: int) -> None:
        self.times, self.wanted = [], count
        self.done.clear()
        if count <= 0:
            self.done.set()
        gc.collect()  # now, not while the frames come (see `untimed_collection`)
        gc.disable()

    async def wait(self) -> list[tuple[float, int]]:
        try:
            async with asyncio.timeout(WAIT):
                await self.done.wait()
        finally:
            gc.enable()
        return self.times

    async def close(self) -> None:
        for reader in self.readers:
            reader.cancel()
        for batch in range(0, len(self.sockets), BATCH):
            await asyncio.gather(*(ws.close() for ws in self.sockets[batch : batch + BATCH]))
        self.sockets, self.readers = [], []


async def _subscriber(url: str, query: str | None, variables: Any) -> ClientConnection:
    if query is None:
        return await connect(url, open_timeout=WAIT, max_queue=None)
    ws = await connect(
        url,
        subprotocols=["graphql-transport-ws"],  # type: ignore[list-item]
        open_timeout=WAIT,
        max_queue=None,
    )
    await ws.send(json.dumps({"type": "connection_init", "payload": {}}))
    assert json.loads(await ws.recv())["type"] == "connection_ack"
    payload = {"query": query, "variables": variables}
    await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": payload}))
    return ws


async def worker_main() -> None:
    """A client process: one JSON command a line on stdin, one JSON answer a line on stdout."""
    worker = Worker()
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=2**26)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    waiting: asyncio.Task[None] | None = None

    def answer(value: object) -> None:
        sys.stdout.write(json.dumps(value) + "\n")
        sys.stdout.flush()

    async def times() -> None:
        answer({"times": await worker.wait()})

    while line := await reader.readline():
        command = json.loads(line)
        match command["op"]:
            case "open":
                answer({"opened": await worker.open(**command["args"])})
            case "expect":
                worker.expect(command["count"])
                waiting = asyncio.create_task(times())
                answer({"ok": True})
            case "count":
                answer({"count": worker.frames, "dropped": worker.dropped})
            case "close":
                if waiting is not None:
                    waiting.cancel()
                await worker.close()
                answer({"closed": True})


class Client:
    """The coordinator's handle on one client process."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process

    async def ask(self, op: str, **fields: object) -> Any:
        await self.send(op, **fields)
        return await self.read()

    async def send(self, op: str, **fields: object) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps({"op": op, **fields}).encode() + b"\n")
        await self.process.stdin.drain()

    async def read(self) -> Any:
        assert self.process.stdout is not None
        line = await self.process.stdout.readline()
        if not line:
            raise RuntimeError("a client process ended")
        return json.loads(line)


@dataclass
class Crowd:
    """Subscribers spread over the client processes; subscriber i uses variables[i % len]."""

    clients: list[Client]
    slices: list[range] = field(default_factory=list)
    variables: list[Any] = field(default_factory=list)

    async def open(
        self, servers: list[Server], path: str, count: int, query: str | None, variables: list[Any]
    ) -> None:
        self.variables = variables
        size = -(-count // len(self.clients))
        self.slices = [range(i, min(count, i + size)) for i in range(0, count, size)]

        def url(i: int) -> str:  # subscribers spread evenly over the instances
            return servers[i % len(servers)].base.replace("http", "ws") + path

        await asyncio.gather(
            *(
                client.ask(
                    "open",
                    args={
                        "urls": [url(i) for i in part],
                        "query": query,
                        "variables": [variables[i % len(variables)] for i in part],
                        "instances": [i % len(servers) for i in part],
                    },
                )
                for client, part in zip(self.clients, self.slices, strict=False)
            )
        )

    async def expect(self, reach: Any = None, frames: int = 1) -> None:
        """Expect `frames` frames at every subscriber whose variables are `reach` (None: all)."""
        await asyncio.gather(
            *(
                client.ask("expect", count=frames * sum(self._reached(i, reach) for i in part))
                for client, part in self._pairs()
            )
        )

    def _reached(self, i: int, reach: Any) -> bool:
        return reach is None or self.variables[i % len(self.variables)] == reach

    async def wait(self) -> list[tuple[float, int]]:
        """When each expected frame came, and to which instance's subscriber."""
        answers = await asyncio.gather(*(client.read() for client, _ in self._pairs()))
        return [(t, instance) for answer in answers for t, instance in answer["times"]]

    def pids(self) -> dict[str, int]:
        return {f"client {n}": client.process.pid for n, (client, _) in enumerate(self._pairs())}

    async def received(self) -> tuple[int, int]:
        """Frames received, and subscriptions ended with an error, by every subscriber."""
        answers = await asyncio.gather(*(client.ask("count") for client, _ in self._pairs()))
        return sum(a["count"] for a in answers), sum(a["dropped"] for a in answers)

    async def close(self) -> None:
        await asyncio.gather(*(client.ask("close") for client, _ in self._pairs()))

    def _pairs(self) -> list[tuple[Client, range]]:
        return list(zip(self.clients, self.slices, strict=False))


@contextlib.asynccontextmanager
async def clients(count: int) -> AsyncIterator[list[Client]]:
    processes = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            *("-m", "bench.fanout", "--worker"),
            cwd=ROOT,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            limit=2**26,  # a line of a few hundred thousand receipt times
        )
        for _ in range(count)
    ]
    try:
        yield [Client(process) for process in processes]
    finally:
        for process in processes:
            assert process.stdin is not None
            process.stdin.close()
        for process in processes:
            await process.wait()


@contextlib.contextmanager
def untimed_collection() -> Iterator[None]:
    """No garbage collection of this process while a sample is timed: it imports the whole
    server, and one full collection of it (320 ms on a loaded machine) counted into every
    sample of its round when it fell between the start and the request. The client processes
    collect before each round too (`Worker.expect`). The servers collect as they would."""
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def p99(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


@dataclass
class Baseline:
    """The servers before the subscribers attach: their RSS, and with BENCH_TRACEMALLOC a
    tracemalloc snapshot of the first."""

    rss: list[int]
    snapshot: Path | None


async def baseline(servers: Sequence[Server]) -> Baseline:
    snapshot = await servers[0].snapshot() if os.environ.get("BENCH_TRACEMALLOC") else None
    return Baseline([s.rss() for s in servers], snapshot)


async def per_subscriber(
    servers: Sequence[Server], before: Baseline, count: int, label: str
) -> float:
    """RSS growth per subscriber, KiB, over all the instances; with BENCH_TRACEMALLOC, also
    prints where the first instance's new memory was allocated (RSS is then inflated by
    tracemalloc's own bookkeeping: read the diff, not the figure)."""
    grown = sum(s.rss() - b for s, b in zip(servers, before.rss, strict=True)) / count / 1024
    if before.snapshot is not None:
        after = await servers[0].snapshot()
        print(f"  tracemalloc, {label}, {count} subscribers over {len(servers)} instance(s):")
        for line in tracemem.diff(before.snapshot, after):
            print("    " + line, flush=True)
    return grown


# --- scenarios --------------------------------------------------------------------------

STATUS_CHANGED = """subscription($after: String) {
  statusChanged(after: $after) { cursor communicationId action from to at } }"""
BEGINNING = ids.change_cursor((0, 0))
WATCH = """subscription($id: ID!) { communication(id: $id) {
  ... on LandingPage { id status version updatedAt availableActions } } }"""
CREATE = """mutation($input: CreateLandingPageInput!) {
  createLandingPage(input: $input) { communication { ... on LandingPage { id } } } }"""
TOGGLE = """mutation($id: ID!) { %s(id: $id) { userErrors { code } } }"""
KINDS = {
    "statusChanged": "statusChanged",
    "one": "communication(id), all on one",
    "spread": f"communication(id), over {PAGES}",
}


@dataclass
class Figure:
    p99: float  # seconds
    memory: float  # KiB per idle subscriber
    last: float  # seconds to the last subscriber, the median change
    cpu: float  # seconds the servers' event loops ran per change (the median change)
    waited: float  # seconds they waited for a CPU meanwhile, the most of any instance

    @classmethod
    def of(cls, rounds: "list[Round]", memory: float) -> "Figure":
        servers = [[v for k, v in r.scheduled.items() if k.startswith("server")] for r in rounds]
        return cls(
            p99([t for r in rounds for t, _ in r.samples]),
            memory,
            statistics.median(max(t for t, _ in r.samples) for r in rounds),
            statistics.median(sum(ran for ran, _ in s) for s in servers),
            statistics.median(max(waited for _, waited in s) for s in servers),
        )


Scheduled = dict[str, tuple[float, float]]  # by process: seconds run, and waiting for a CPU


def _scheduled(servers: Sequence[Server], crowd: Crowd) -> Scheduled:
    """How long each process's main thread (the servers' event loops, the client processes,
    this one) has run so far, and waited to run while runnable (/proc/PID/schedstat)."""
    pids = {f"server {n}": s.pid for n, s in enumerate(servers)} | crowd.pids()
    pids["bench"] = os.getpid()
    found = {}
    for name, pid in pids.items():
        ran, waited, _ = Path(f"/proc/{pid}/schedstat").read_text().split()
        found[name] = (int(ran) / 1e9, int(waited) / 1e9)
    return found


@dataclass
class Round:
    """One change: when it was requested, each sample (seconds from the request to a frame,
    and the instance whose subscriber got it), and what each process ran and waited for a
    CPU meanwhile."""

    start: float
    samples: list[tuple[float, int]]
    scheduled: Scheduled

    @classmethod
    def of(
        cls,
        start: float,
        frames: list[tuple[float, int]],
        before: Scheduled,
        servers: Sequence[Server],
        crowd: Crowd,
    ) -> "Round":
        after = _scheduled(servers, crowd)
        scheduled = {
            name: (ran - before[name][0], waited - before[name][1])
            for name, (ran, waited) in after.items()
        }
        return cls(start, [(t - start, instance) for t, instance in frames], scheduled)


DETAIL = False  # --detail: each round of each figure, and where its time went


async def _collections(servers: Sequence[Server]) -> list[list[gclog.Collection]]:
    return [await server.collections() for server in servers]


async def details(rounds: list[Round], servers: Sequence[Server], label: str) -> None:
    """With --detail, per round: the last frame and the median, per instance; each
    process's run and wait for a CPU; the servers' garbage collections in the round
    (BENCH_GCLOG)."""
    collections = await _collections(servers)
    if not DETAIL:
        return
    print(f"  {label}, per round (ms):", flush=True)
    for n, round_ in enumerate(rounds, 1):
        last = max(t for t, _ in round_.samples)
        end = round_.start + last
        by = [
            sorted(t for t, i in round_.samples if i == instance)
            for instance in range(len(servers))
        ]
        reach = " ".join(f"{d[-1] * 1000:.0f}/{d[len(d) // 2] * 1000:.0f}" for d in by if d)
        cpu = " ".join(
            f"{name.replace('server ', 's').replace('client ', 'c')}"
            f" {ran * 1000:.0f}+{waited * 1000:.0f}"
            for name, (ran, waited) in round_.scheduled.items()
        )
        paused = []
        for instance, found in enumerate(collections):
            inside = [c for c in found if round_.start <= c[0] <= end]
            if inside:
                _, gen, took, work = max(inside, key=lambda c: c[2])
                paused.append(
                    f"s{instance} {len(inside)}x {sum(c[2] for c in inside) * 1000:.1f}"
                    f" (longest gen{gen} {took * 1000:.1f}, of it CPU {work * 1000:.1f})"
                )
        print(
            f"    {n:>2}: last {last * 1000:.0f}; last/median by instance {reach};"
            f" ran+waited {cpu}; gc {', '.join(paused) or '-'}",
            flush=True,
        )


async def anchor(crowd: Crowd, instances: int, count: int, rounds: int) -> Figure:
    async with raw(instances) as servers:
        before = await baseline(servers)
        await crowd.open(servers, "/ws", count, None, [{}])
        await asyncio.sleep(1)  # every socket registered
        memory = await per_subscriber(servers, before, count, "raw")
        taken: list[Round] = []
        async with httpx.AsyncClient(timeout=WAIT) as client:
            await _collections(servers)
            for _ in range(rounds):
                await crowd.expect()
                with untimed_collection():
                    ran = _scheduled(servers, crowd)
                    start = time.monotonic()
                    await asyncio.gather(*(client.post(s.base + "/send") for s in servers))
                    taken.append(Round.of(start, await crowd.wait(), ran, servers, crowd))
            await details(taken, servers, "raw")
        await crowd.close()
    return Figure.of(taken, memory)


async def scenario(
    crowd: Crowd, servers: list[Server], count: int, rounds: int, kind: str, pages: list[str]
) -> Figure:
    base = servers[0].base  # mutations go to the first instance
    variables: list[Any]
    async with httpx.AsyncClient(timeout=WAIT) as client:
        if kind == "statusChanged":
            # from the change before the last: every subscriber gets the last one, then is
            # live, however long its subscribe took (no race with the next change)
            if not _made:
                await _toggle(client, base, pages[0])
            after = await _last_but_one(servers[0])
            query, variables, first = STATUS_CHANGED, [{"after": after}], 1
        else:  # the current state first, then live
            spread = pages if kind == "spread" else pages[:1]
            query, variables, first = WATCH, [{"id": p} for p in spread], 1
        before = await baseline(servers)
        _, dropped = await crowd.received()
        await crowd.expect(frames=first)
        await crowd.open(servers, "/graphql", count, query, variables)
        await crowd.wait()
        if (refused := (await crowd.received())[1] - dropped) > 0:  # else a wait without end
            raise SystemExit(f"{refused} of {count} subscriptions got an error, not a first frame")
        memory = await per_subscriber(servers, before, count, KINDS[kind])
        taken: list[Round] = []
        profilers = [await _profile(server, kind) for server in servers]
        await _collections(servers)
        for round_ in range(1, rounds + 1):
            page = pages[round_ % len(pages)] if kind == "spread" else pages[0]
            await crowd.expect({"id": page} if kind == "spread" else None)
            with untimed_collection():
                ran = _scheduled(servers, crowd)
                start = time.monotonic()
                await _toggle(client, base, page)
                taken.append(Round.of(start, await crowd.wait(), ran, servers, crowd))
        await details(taken, servers, KINDS[kind])
        for profiler in profilers:
            if profiler is not None:
                profiler.send_signal(signal.SIGINT)
                await profiler.wait()
    await crowd.close()
    await asyncio.sleep(2)  # the server lets go of the closed sockets before the next figure
    return Figure.of(taken, memory)


async def _last_but_one(server: Server) -> str:
    """The cursor of the change before the last: the stream holds one per page made (its
    creation) and one per change made since."""
    url = server.base.replace("http", "ws") + "/graphql"
    ws = await _subscriber(url, STATUS_CHANGED, {"after": BEGINNING})
    async with ws:
        cursors = []
        for _ in range(PAGES + len(_made)):
            message = json.loads(await ws.recv())
            cursors.append(message["payload"]["data"]["statusChanged"]["cursor"])
    return str(cursors[-2])


async def _profile(server: Server, kind: str) -> asyncio.subprocess.Process | None:
    """py-spy recording a server while the changes go out (`py_spy`)."""
    command = py_spy(server.pid, kind)
    if command is None:
        return None
    profiler = await asyncio.create_subprocess_exec(
        *command, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL
    )
    await asyncio.sleep(1)  # attached
    return profiler


def _flip(page: str) -> bool:
    """Whether the page is published, before it changes now: each page starts as a DRAFT,
    is published, then unpublished, in turn."""
    state = _published.setdefault(page, False)
    _published[page] = not state
    _made.append(page)
    return state


async def _toggle(client: httpx.AsyncClient, base: str, page: str) -> None:
    field = "unpublishLandingPage" if _flip(page) else "publishLandingPage"
    body = {"query": TOGGLE % field, "variables": {"id": page}}
    response = await client.post(base + "/graphql", json=body)
    assert response.json()["data"][field]["userErrors"] == [], response.text


_published: dict[str, bool] = {}
_made: list[str] = []  # the changes made on this server, in order


async def _pages(base: str, count: int) -> list[str]:
    _published.clear()  # a new database: every page starts as a DRAFT
    _made.clear()
    pages = []
    async with httpx.AsyncClient(timeout=WAIT) as client:
        for i in range(count):
            variables = {"input": {"name": f"p{i}", "title": "t", "slug": f"bench-{i}"}}
            made = await client.post(
                base + "/graphql", json={"query": CREATE, "variables": variables}
            )
            pages.append(made.json()["data"]["createLandingPage"]["communication"]["id"])
    return pages


def _row(count: int, label: str, figure: Figure, anchor: Figure) -> str:
    return (
        f"{count:>11} {label:<34} {figure.p99 * 1000:>8.0f} {figure.p99 / anchor.p99:>7.2f}"
        f" {figure.memory:>9.1f} {anchor.memory:>9.1f}"
        f" {figure.last * 1000:>7.0f} {figure.last / anchor.last:>7.2f}"
        f" {figure.cpu * 1000:>7.1f} {figure.cpu / anchor.cpu:>7.2f} {figure.waited * 1000:>7.0f}"
    )


async def main(options: argparse.Namespace) -> None:
    deployment = Deployment(options.broker, options.instances)
    kinds = options.only or list(KINDS)
    rounds = options.changes
    print(
        f"p99 commit -> last subscriber, {rounds} changes per figure, one websocket each; "
        f"broker {deployment.broker}, {deployment.instances} instance(s), "
        f"{options.clients} client processes; websockets by uvicorn's "
        f"{Settings.from_env().ws_implementation}, permessage-deflate "
        f"{'on' if deflate() else 'off'} (commpulse and the anchor alike)"
    )
    print(
        "last: to the last subscriber, the median change; CPU: what the servers' event loops"
        " ran per change (the median change), summed over the instances; waited: how long"
        " the instance that waited most was runnable but had no CPU meanwhile (the median"
        " change): the machine's other load"
    )
    print(
        f"{'subscribers':>11} {'what':<34} {'p99 ms':>8} {'x raw':>7} {'KiB/sub':>9} {'raw KiB':>9}"
        f" {'last ms':>7} {'x raw':>7} {'CPU ms':>7} {'x raw':>7} {'waited':>7}"
    )
    async with clients(options.clients) as processes:
        crowd = Crowd(processes)
        for count in options.subscribers:
            base = await anchor(crowd, deployment.instances, count, rounds)
            print(_row(count, "raw broadcast (anchor)", base, base), flush=True)
            async with commpulse(deployment) as servers:
                pages = await _pages(servers[0].base, PAGES)
                for kind in kinds:
                    figure = await scenario(crowd, servers, count, rounds, kind, pages)
                    print(_row(count, KINDS[kind], figure, base), flush=True)


async def soak(options: argparse.Namespace) -> None:
    """`statusChanged` subscribers while changes come at a steady rate: the servers' RSS."""
    count, rate, seconds = options.subscribers[0], options.rate, options.soak
    deployment = Deployment(options.broker, options.instances)
    print(
        f"soak: {count} statusChanged subscribers, {rate} changes/s for {seconds} s, "
        f"{options.writers} writers ({_how(deployment)})"
    )
    print(
        f"{'s':>6} {'changes':>8} {'per s':>6} {'frames':>10} {'behind':>9} {'dropped':>7}"
        f" {'RSS MiB':>8}"
    )
    async with clients(options.clients) as processes, commpulse(deployment) as servers:
        crowd = Crowd(processes)
        pages = await _pages(servers[0].base, PAGES)
        await crowd.open(servers, "/graphql", count, STATUS_CHANGED, [{"after": BEGINNING}])
        made = 0
        started = time.monotonic()

        async def write(toggle: Callable[[str], Awaitable[None]]) -> None:
            nonlocal made
            while (elapsed := time.monotonic() - started) < seconds:
                if made < elapsed * rate:  # behind the schedule: the next change
                    made += 1
                    await toggle(pages[(made - 1) % PAGES])  # in flight: distinct pages
                else:
                    await asyncio.sleep(1 / rate)

        async def report() -> None:
            while (elapsed := time.monotonic() - started) < seconds:
                await asyncio.sleep(min(options.every, seconds - elapsed))
                elapsed = time.monotonic() - started
                frames, dropped = await crowd.received()
                rss = sum(s.rss() for s in servers) / 2**20
                wanted = (PAGES + made) * count  # every page's creation is a change too
                print(
                    f"{elapsed:>6.0f} {made:>8} {made / elapsed:>6.1f} {frames:>10}"
                    f" {wanted - frames:>9} {dropped:>7} {rss:>8.1f}",
                    flush=True,
                )

        async with writer(deployment, servers[0]) as toggle:
            await asyncio.gather(report(), *(write(toggle) for _ in range(options.writers)))
        await crowd.close()


def _how(deployment: Deployment) -> str:
    if deployment.broker == "memory":
        return "HTTP mutations, a connection each"
    return "straight to the database, notices through the broker, as another instance would"


@contextlib.asynccontextmanager
async def writer(
    deployment: Deployment, server: Server
) -> AsyncIterator[Callable[[str], Awaitable[None]]]:
    """How the soak changes a page. With a broker, the changes are written to the database
    from here, as another instance would: the server only fans them out, as it would for
    the instances of a cluster, and no HTTP mutation competes with the fan-out for its
    cores (a writer through HTTP reached 2.6 changes a second at 1,000 subscribers). With
    `memory://` only the server can notify, so they go as HTTP mutations."""
    if deployment.broker == "memory":
        async with httpx.AsyncClient(timeout=WAIT, limits=httpx.Limits()) as client:
            yield functools.partial(_toggle, client, server.base)
        return
    settings = Settings(
        database_url=server.env["COMMPULSE_DATABASE_URL"],
        broadcast_url=server.env["COMMPULSE_BROADCAST_URL"],
    )
    async with runtime(settings) as parts:

        async def toggle(page: str) -> None:
            action = Action.UNPUBLISH if _flip(page) else Action.PUBLISH
            pk = ids.communication_pk(page)
            await changes.apply(parts.store, pk, action, by=Trigger.PERSON, actor="bench")

        yield toggle


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("subscribers", nargs="*", type=int, default=[1_000, 5_000])
    parser.add_argument("--changes", type=int, default=5)
    parser.add_argument("--only", choices=list(KINDS), action="append", help="these scenarios")
    parser.add_argument("--clients", type=int, default=4, help="client processes")
    parser.add_argument("--broker", choices=["memory", "redis", "postgres"], default="memory")
    parser.add_argument("--instances", type=int, default=1, help="commpulse processes")
    parser.add_argument("--soak", type=float, help="seconds of steady changes instead")
    parser.add_argument("--rate", type=float, default=100.0, help="changes a second (soak)")
    parser.add_argument("--every", type=float, default=30.0, help="seconds between reports")
    parser.add_argument("--writers", type=int, default=8, help="concurrent writers (soak)")
    parser.add_argument("--detail", action="store_true", help="each round, and its time")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    options = parser.parse_args()
    DETAIL = options.detail
    # every socket is a file descriptor, in the servers and in the client processes
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if options.worker:
        asyncio.run(worker_main())
    elif options.instances > 1 and options.broker == "memory":
        parser.error("several instances need a broker: --broker redis or postgres")
    elif options.soak:
        asyncio.run(soak(options))
    else:
        asyncio.run(main(options))
