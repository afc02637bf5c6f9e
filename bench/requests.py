"""Requests a second through the whole server, each beside its anchor from the same run.

    python -m bench.requests [--seconds S] [--connections C] [--engines sqlite,postgres]

(`make bench` runs it.) Against commpulse, a uvicorn process with auth on and a real admin
token, over 1,000 communications made through the API, on SQLite and on PostgreSQL; and
against two anchors, each a uvicorn process of its own:

- `bare`: a bare strawberry app (`bench.requests:bare_app`) serving the same union shapes
  from memory, with strawberry's `ParserCache` and `ValidationCache`;
- `raw`: a raw Starlette route answering a fixed JSON body.

Each scenario in `SCENARIOS` is a list of request bodies sent round-robin: one body is the
same read repeated (a dashboard polling; served from the read cache), many bodies a
different variable on every request. The union queries alias the members' `status` fields,
as a dashboard must (their enums differ). Each figure is printed with its ratio to the
anchor measured in the same run: machines here are shared and noisy, the ratio is what to
quote.

Beside each rate, the server process's CPU time a request (from /proc, on Linux), and a
second table of those with the bare app's over commpulse's: on a shared machine the rates
follow whatever CPU the other work leaves, the CPU a request much less. PostgreSQL's own
CPU, in its own processes, is not in it.

The load comes from `wrk` when it is on PATH (Debian: `apt-get install wrk`), else from
Python clients in separate processes (slower: they saturate less, so the figures are
lower, the ratios still comparable). uvicorn's access log is off on every server. On a
shared machine, COMMPULSE_BENCH_PORTS=9100-9199 keeps the servers in a range of ports and
COMMPULSE_DB_PREFIX names the PostgreSQL databases a run makes.
"""

import argparse
import asyncio
import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import httpx
import strawberry
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from strawberry.asgi import GraphQL
from strawberry.extensions import ParserCache, ValidationCache

from bench import database_name, free_port, postgres_execute
from server.cli import HTTP, WEBSOCKETS
from server.settings import Settings

ROOT = Path(__file__).parents[1]
ROWS = 1_000
READ_CACHE = 100  # results commpulse keeps
POSTGRES = os.environ.get(
    "COMMPULSE_BENCH_POSTGRES", "postgresql+asyncpg://postgres@127.0.0.1:5432"
)
# on a machine shared with other runs, the ports to serve on (e.g. 9400-9499; any free port
# when unset); the databases are named after COMMPULSE_DB_PREFIX (bench.database_name)

# --- the documents, the same for commpulse and the bare app --------------------------------

MEMBERS = (
    "... on LandingPage { id name kind lpStatus: status } "
    "... on InAppMessage { id name kind iaStatus: status }"
)
TYPENAME = "{ __typename }"
ONE = f"query One($id: ID!) {{ communication(id: $id) {{ {MEMBERS} }} }}"
LIST = (
    "query List($after: String) { communications(first: 50, after: $after) "
    f"{{ edges {{ node {{ {MEMBERS} }} }} }} }}"
)
CREATE_LANDING = (
    "mutation($input: CreateLandingPageInput!) { createLandingPage(input: $input) "
    "{ communication { ... on LandingPage { id } } userErrors { code } } }"
)
PAGE = (
    "query($after: String) { communications(first: 100, after: $after) "
    "{ edges { cursor node { ... on CommunicationBase { id } } } pageInfo { hasNextPage } } }"
)
CREATE_IN_APP = (
    "mutation($input: CreateInAppMessageInput!) { createInAppMessage(input: $input) "
    "{ communication { ... on InAppMessage { id } } userErrors { code } } }"
)

# --- the anchors ----------------------------------------------------------------------------


@strawberry.enum
class CommunicationKind(Enum):
    IN_APP = "IN_APP"
    LANDING_PAGE = "LANDING_PAGE"


@strawberry.enum
class LandingPageStatus(Enum):
    DRAFT = "DRAFT"
    PUBLISHED = "PUBLISHED"


@strawberry.enum
class InAppMessageStatus(Enum):
    DRAFT = "DRAFT"
    ACTIVE = "ACTIVE"


@strawberry.type
class LandingPage:
    id: strawberry.ID
    name: str
    kind: CommunicationKind
    status: LandingPageStatus


@strawberry.type
class InAppMessage:
    id: strawberry.ID
    name: str
    kind: CommunicationKind
    status: InAppMessageStatus


Communication = Annotated[LandingPage | InAppMessage, strawberry.union("Communication")]


@strawberry.type
class Edge:
    cursor: str
    node: Communication


@strawberry.type
class Connection:
    edges: list[Edge]


def _bare_rows() -> list[LandingPage | InAppMessage]:
    rows: list[LandingPage | InAppMessage] = []
    for i in range(ROWS):
        if i % 2:
            rows.append(
                InAppMessage(
                    id=strawberry.ID(f"c{i}"),
                    name=f"message {i}",
                    kind=CommunicationKind.IN_APP,
                    status=InAppMessageStatus.DRAFT,
                )
            )
        else:
            rows.append(
                LandingPage(
                    id=strawberry.ID(f"c{i}"),
                    name=f"page {i}",
                    kind=CommunicationKind.LANDING_PAGE,
                    status=LandingPageStatus.DRAFT,
                )
            )
    return rows


BARE_ROWS = _bare_rows()
BARE_INDEX = {row.id: i for i, row in enumerate(BARE_ROWS)}


@strawberry.type
class BareQuery:
    @strawberry.field
    def communication(self, id: strawberry.ID) -> Communication | None:
        found = BARE_INDEX.get(id)
        return None if found is None else BARE_ROWS[found]

    @strawberry.field
    def communications(self, first: int = 50, after: str | None = None) -> Connection:
        start = 0 if after is None else BARE_INDEX.get(strawberry.ID(after), -1) + 1
        rows = BARE_ROWS[start : start + first]
        return Connection(edges=[Edge(cursor=row.id, node=row) for row in rows])


bare_app = GraphQL[None, None](
    strawberry.Schema(
        query=BareQuery,
        extensions=[lambda: ParserCache(maxsize=None), lambda: ValidationCache(maxsize=None)],
    ),
    graphql_ide=None,
)

_RAW = json.dumps({"data": {"__typename": "Query"}}).encode()


async def _raw(_request: Request) -> Response:
    return Response(_RAW, media_type="application/json")


raw_app = Starlette(routes=[Route("/graphql", _raw, methods=["POST"])])

# --- scenarios ------------------------------------------------------------------------------


@dataclass
class Target:
    """One server under load, and what the scenarios need to know about its data."""

    name: str
    url: str
    token: str | None = None
    pid: int | None = None  # its server process, whose CPU time is read around each figure
    ids: list[str] = field(default_factory=list)  # every communication's id, in list order
    cursors: list[str] = field(default_factory=list)  # each one's cursor in the default list

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}


def body(query: str, **variables: Any) -> str:
    return json.dumps({"query": query, "variables": variables} if variables else {"query": query})


@dataclass(frozen=True)
class Scenario:
    """Request bodies sent round-robin (one: the same request repeated), and the anchors
    its figure is compared with. Writes add theirs to `SCENARIOS` the same way."""

    name: str
    bodies: Callable[[Target], list[str]]
    anchors: tuple[str, ...] = ("bare",)


def _ones(target: Target) -> list[str]:
    return [body(ONE, id=i) for i in target.ids]


def _lists(target: Target) -> list[str]:
    return [body(LIST, after=c) for c in target.cursors[: len(target.cursors) - 50]]


SCENARIOS: list[Scenario] = [
    Scenario("{ __typename }", lambda _t: [body(TYPENAME)], ("raw", "bare")),
    Scenario("one communication, 4 fields", lambda t: _ones(t)[:1]),
    Scenario("50 communications, 4 fields", lambda t: [body(LIST)]),
    Scenario("one communication, a different id each time", _ones),
    Scenario("50 communications, a different cursor each time", _lists),
]

# --- load -----------------------------------------------------------------------------------

WRK_SCRIPT = """
local bodies = {}
for line in io.lines(os.getenv("BENCH_BODIES")) do bodies[#bodies + 1] = line end
local i = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local token = os.getenv("BENCH_TOKEN")
if token ~= nil and token ~= "" then wrk.headers["Authorization"] = "Bearer " .. token end
request = function()
  i = i % #bodies + 1
  return wrk.format(nil, nil, nil, bodies[i])
end
local errors = 0
response = function(status, headers, body)
  if status ~= 200 or string.find(body, '"errors"', 1, true) then errors = errors + 1 end
end
done = function(summary, latency, requests)
  io.write(string.format("BENCH %d %f\\n", summary.requests, summary.duration / 1e6))
end
"""


def _check(target: Target, bodies: list[str]) -> None:
    """Each body once, by a plain client: a scenario that answers errors measures nothing."""
    with httpx.Client(timeout=30) as client:
        for sent in bodies[:3]:
            answer = client.post(
                target.url,
                content=sent,
                headers={"Content-Type": "application/json", **target.headers()},
            )
            data = answer.json()
            if answer.status_code != 200 or data.get("errors"):
                raise SystemExit(f"{target.name}: {sent[:80]} answered {answer.text[:300]}")


@dataclass(frozen=True)
class Figure:
    rate: float  # requests a second
    cpu: float | None  # the server process's CPU seconds a request (None: not on Linux)


def cpu_seconds(pid: int) -> float | None:
    """User and system CPU time of a process so far (all its threads), from /proc."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def load(target: Target, bodies: list[str], seconds: float, connections: int) -> float:
    """Requests a second answered, with `connections` kept busy for `seconds`."""
    return measure(target, bodies, seconds, connections).rate


def measure(target: Target, bodies: list[str], seconds: float, connections: int) -> Figure:
    """`load`'s figure, and the server's CPU time a request meanwhile."""
    _check(target, bodies)
    before = None if target.pid is None else cpu_seconds(target.pid)
    with tempfile.TemporaryDirectory() as directory:
        lines = Path(directory) / "bodies"
        lines.write_text("\n".join(bodies) + "\n")
        env = {**os.environ, "BENCH_BODIES": str(lines), "BENCH_TOKEN": target.token or ""}
        if shutil.which("wrk"):
            script = Path(directory) / "bench.lua"
            script.write_text(WRK_SCRIPT)
            command = ["wrk", "-t1", f"-c{connections}", f"-d{seconds:g}s", "-s", str(script)]
            run = [*command, target.url]
        else:
            args = [str(lines), target.url, str(seconds), str(connections)]
            run = [sys.executable, "-m", "bench.requests", "--client", *args]
        out = subprocess.run(run, env=env, cwd=ROOT, capture_output=True, text=True, check=True)
        found = re.search(r"BENCH (\d+) ([\d.]+)", out.stdout)
        if found is None:
            raise SystemExit(f"no figure from the load generator:\n{out.stdout}\n{out.stderr}")
        after = None if target.pid is None else cpu_seconds(target.pid)
        answered = int(found.group(1))
        cpu = None if before is None or after is None else (after - before) / max(answered, 1)
        return Figure(answered / float(found.group(2)), cpu)


# the fallback client: a few processes of keep-alive connections over raw asyncio streams


async def _connection(host: str, port: int, requests: list[bytes], until: float) -> int:
    reader, writer = await asyncio.open_connection(host, port)
    done = 0
    try:
        while time.monotonic() < until:
            writer.write(requests[done % len(requests)])
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(re.search(rb"(?i)content-length: *(\d+)", head).group(1))  # type: ignore[union-attr]
            await reader.readexactly(length)
            done += 1
    finally:
        writer.close()
    return done


async def _client(lines: str, url: str, seconds: float, connections: int) -> int:
    target = httpx.URL(url)
    token = os.environ.get("BENCH_TOKEN")
    auth = f"Authorization: Bearer {token}\r\n" if token else ""
    requests = []
    for line in Path(lines).read_text().splitlines():  # noqa: ASYNC240 (before the clock starts)
        payload = line.encode()
        requests.append(
            f"POST {target.path} HTTP/1.1\r\nHost: {target.host}\r\n{auth}"
            f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n".encode()
            + payload
        )
    until = time.monotonic() + seconds
    port = target.port or 80
    counts = await asyncio.gather(
        *(_connection(target.host, port, requests, until) for _ in range(connections))
    )
    return sum(counts)


def client_main(lines: str, url: str, seconds: float, connections: int) -> None:
    """Two processes of connections/2 each (the machine has two cores)."""
    processes = 2
    started = time.monotonic()
    with tempfile.TemporaryDirectory():
        children = [
            subprocess.Popen(
                [sys.executable, "-c", _CHILD, lines, url, str(seconds), str(connections // 2)],
                cwd=ROOT,
                stdout=subprocess.PIPE,
                text=True,
            )
            for _ in range(processes)
        ]
        total = sum(int((child.communicate()[0] or "0").strip()) for child in children)
    print(f"BENCH {total} {time.monotonic() - started:f}")


_CHILD = (
    "import asyncio, sys; from bench.requests import _client; "
    "print(asyncio.run(_client(sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4]))))"
)

# --- servers --------------------------------------------------------------------------------


@contextlib.contextmanager
def _uvicorn(app: str, env: dict[str, str] | None = None) -> Iterator[str]:
    """A uvicorn process serving `app` on a free loopback port, access log off."""
    with _served(app, env) as (url, _pid):
        yield url


@contextlib.contextmanager
def _served(app: str, env: dict[str, str] | None = None) -> Iterator[tuple[str, int]]:
    """`_uvicorn`'s GraphQL URL, and its process id."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", app, "--port", str(port), "--no-access-log"],
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            with contextlib.suppress(httpx.TransportError):
                httpx.get(base + "/healthz")
                break
            if process.poll() is not None:
                raise SystemExit(f"{app} exited with {process.returncode}")
            time.sleep(0.1)
        yield base + "/graphql", process.pid
    finally:
        process.terminate()
        process.wait()


def _commpulse_env(url: str) -> dict[str, str]:
    return {
        "COMMPULSE_DATABASE_URL": url,
        "COMMPULSE_BROADCAST_URL": "memory://",
        "COMMPULSE_AUTH": "on",
        "COMMPULSE_SENDER": "none",
        "COMMPULSE_SCHEDULER": "off",
        "COMMPULSE_WEBHOOKS": "off",
        # the limits stay on, with budgets a benchmark does not exhaust
        "COMMPULSE_RATE_LIMIT": "1000000000",
        "COMMPULSE_RATE_BURST": "1000000000",
        "COMMPULSE_COST_BUDGET": "1000000000000",
        "COMMPULSE_COST_REFILL": "1000000000000",
        # fewer results than the scenarios' distinct bodies (about 1,000, sent round-robin):
        # "a different variable each time" is a miss every time, as it should be
        "COMMPULSE_READ_CACHE": str(READ_CACHE),
        # HTTP and websockets served as `commpulse serve` serves them (uvicorn reads UVICORN_*)
        "UVICORN_HTTP": HTTP,
        "UVICORN_WS": WEBSOCKETS[Settings.from_env().ws_implementation],
        "UVICORN_WS_PER_MESSAGE_DEFLATE": str(Settings.from_env().ws_per_message_deflate),
    }


def _cli(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "server.cli", *args],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout


@contextlib.contextmanager
def _database(engine: str) -> Iterator[str]:
    if engine == "sqlite":
        with tempfile.TemporaryDirectory() as directory:
            yield f"sqlite+aiosqlite:///{directory}/bench.db"
        return
    name = database_name()
    url = f"{POSTGRES}/{name}"
    try:
        yield url
    finally:
        _psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _psql(statement: str) -> None:
    asyncio.run(postgres_execute(f"{POSTGRES}/postgres", statement))


def _postgres_reachable() -> bool:
    try:
        _psql("SELECT 1")
    except (OSError, ImportError) as error:
        print(error)
        return False
    return True


async def _fill(target: Target) -> None:
    """ROWS communications through the API, half landing pages, half in-app messages; then
    their ids and cursors in the default order, as the list reads them."""
    async with httpx.AsyncClient(timeout=60, headers=target.headers()) as client:

        async def create(i: int) -> None:
            if i % 2:
                query, inputs = CREATE_IN_APP, {"name": f"message {i}", "title": "t"}
            else:
                query, inputs = CREATE_LANDING, {"name": f"page {i}", "slug": f"p{i}", "title": "t"}
            sent = {"query": query, "variables": {"input": inputs}}
            answer = (await client.post(target.url, json=sent)).json()
            assert "errors" not in answer, answer

        for start in range(0, ROWS, 16):
            await asyncio.gather(*(create(i) for i in range(start, min(ROWS, start + 16))))
        after = None
        while True:
            asked = {"query": PAGE, "variables": {"after": after}}
            page = (await client.post(target.url, json=asked)).json()
            found = page["data"]["communications"]
            target.ids += [e["node"]["id"] for e in found["edges"]]
            target.cursors += [e["cursor"] for e in found["edges"]]
            if not found["pageInfo"]["hasNextPage"]:
                break
            after = target.cursors[-1]


@contextlib.contextmanager
def commpulse(engine: str) -> Iterator[Target]:
    with _database(engine) as url:
        env = _commpulse_env(url)
        _cli(env, "migrate", "--create")
        secret = _cli(env, "tokens", "create", "bench", "--role", "admin").strip().splitlines()[-1]
        with _served("server.app:app", env) as (graphql, pid):
            target = Target(f"commpulse, {engine}", graphql, token=secret, pid=pid)
            asyncio.run(_fill(target))
            if engine == "postgres":
                # statistics, as a table that has lived a while has them: just filled, the
                # planner took it for nearly empty and sorted every row after a cursor
                asyncio.run(postgres_execute(url, "ANALYZE communication"))
            yield target


@contextlib.contextmanager
def bare() -> Iterator[Target]:
    with _served("bench.requests:bare_app") as (graphql, pid):
        target = Target("bare strawberry", graphql, pid=pid)
        target.ids = [row.id for row in BARE_ROWS]
        target.cursors = list(target.ids)
        yield target


# --- the run --------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--engines", default="sqlite,postgres")
    parser.add_argument("--only", help="scenarios whose name contains this")
    args = parser.parse_args()
    scenarios = [s for s in SCENARIOS if not args.only or args.only in s.name]
    rate: dict[tuple[str, str], Figure] = {}

    engines = [e for e in args.engines.split(",") if e]
    if "postgres" in engines and not _postgres_reachable():
        print(f"PostgreSQL not reachable at {POSTGRES} (COMMPULSE_BENCH_POSTGRES): skipped")
        engines.remove("postgres")
    with contextlib.ExitStack() as servers:
        # every server up at once, and each scenario measured on each back to back: the
        # machine's load drifts, and a ratio should compare figures taken under the same
        raw = Target("raw", servers.enter_context(_uvicorn("bench.requests:raw_app")))
        targets = [servers.enter_context(bare())]
        targets += [servers.enter_context(commpulse(engine)) for engine in engines]
        for scenario in scenarios:
            if "raw" in scenario.anchors:
                rate[scenario.name, "raw"] = measure(
                    raw, [body(TYPENAME)], args.seconds, args.connections
                )
            for target in targets:
                figure = measure(target, scenario.bodies(target), args.seconds, args.connections)
                rate[scenario.name, target.name] = figure
                cpu = f", {figure.cpu * 1e6:,.0f} µs CPU a request" if figure.cpu else ""
                print(f"  {target.name}: {scenario.name}: {figure.rate:,.0f}/s{cpu}", flush=True)

    columns = ["raw JSON", "bare strawberry", *(f"commpulse, {e}" for e in engines)]
    print()
    print("| request | " + " | ".join(columns) + " |")
    print("|---|" + "---|" * len(columns))
    for scenario in scenarios:
        bare_rate = rate.get((scenario.name, "bare strawberry"))
        raw_rate = rate.get((scenario.name, "raw"))
        cells = [
            f"{raw_rate.rate:,.0f}/s" if raw_rate else "",
            f"{bare_rate.rate:,.0f}/s" if bare_rate else "",
        ]
        for engine in engines:
            figure = rate[scenario.name, f"commpulse, {engine}"]
            ratio = f" ({figure.rate / bare_rate.rate:.2f}x)" if bare_rate else ""
            cells.append(f"{figure.rate:,.0f}/s{ratio}")
        print(f"| {scenario.name} | " + " | ".join(cells) + " |")
    _cpu_table(scenarios, engines, rate)


def _cpu_table(
    scenarios: list[Scenario], engines: list[str], rate: dict[tuple[str, str], Figure]
) -> None:
    """The server process's CPU time a request, and the bare app's over commpulse's: on a
    machine shared with other work, steadier than requests a second, which follow the CPU
    the machine has left. PostgreSQL's own CPU is not in it (another process)."""
    if any(figure.cpu is None for (_, name), figure in rate.items() if name != "raw"):
        return
    columns = ["bare strawberry", *(f"commpulse, {e}" for e in engines)]
    print()
    print("| server CPU a request | " + " | ".join(columns) + " |")
    print("|---|" + "---|" * len(columns))
    for scenario in scenarios:
        bare_cpu = rate[scenario.name, "bare strawberry"].cpu or 0.0
        cells = [f"{bare_cpu * 1e6:,.0f} µs"]
        for engine in engines:
            cpu = rate[scenario.name, f"commpulse, {engine}"].cpu or 0.0
            cells.append(f"{cpu * 1e6:,.0f} µs ({bare_cpu / cpu:.2f}x)" if cpu else "")
        print(f"| {scenario.name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--client"]:
        client_main(sys.argv[2], sys.argv[3], float(sys.argv[4]), int(sys.argv[5]))
    else:
        main()
