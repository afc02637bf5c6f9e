"""End-to-end fixtures: a real uvicorn in a subprocess on a free loopback port, and clients.

`start_server` is a factory, so one test can stop a server and start another on the same
SQLite file. Readiness is read from the server's stderr: "Application startup complete"
(the lifespan ran) and then "Uvicorn running on" (the socket listens). A server runs on
PostgreSQL, or with a broker, when given COMMPULSE_DATABASE_URL or COMMPULSE_BROADCAST_URL
as extra environment; `postgres_url` (a fresh database per test) and `private_redis` (a
redis-server of the test's own, which it may kill and restart) provide them.
"""

import asyncio
import atexit
import contextlib
import itertools
import json
import os
import random
import shutil
import signal
import socket
import sys
import tempfile
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import asyncpg
import pytest
import pytest_asyncio
from broadcaster import Broadcast
from gql import Client, GraphQLRequest
from gql.client import AsyncClientSession
from gql.transport.httpx import HTTPXAsyncTransport
from gql.transport.websockets import WebsocketsTransport
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from store import Store, migrate, tokens
from store.database import create_engine, sessions
from store.feed import Feed
from store.tokens import ApiRole
from tests.conftest import POSTGRES, sqlite_url, unavailable

ROOT = Path(__file__).parents[2]
STARTUP_TIMEOUT = 60.0  # seconds for uvicorn to import the app and run the lifespan: a deadline for
# failing, not a measure (a loaded 2-core machine took 30 s to import the server)
SHUTDOWN_TIMEOUT = 10.0
ITEM_TIMEOUT = 10.0  # seconds to wait for one subscription item before failing

TRANSPORT_WS = WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL  # "graphql-transport-ws"
LEGACY_WS = WebsocketsTransport.APOLLO_SUBPROTOCOL  # "graphql-ws"

Json = dict[str, Any]


def _ephemeral_low() -> int:
    """The lowest port the kernel hands to outgoing connections (32768 on Linux by default)."""
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def _band() -> range:
    """This test process's own ports: below the ephemeral range, one band per xdist worker.

    A port the kernel picked (bind to 0) comes from the ephemeral range, where any outgoing
    connection (to PostgreSQL, Redis, a websocket) may take it before the server binds it:
    CI lost a run to "[Errno 98] address already in use" that way. Ports below that range
    are never handed out to clients, and a band per worker keeps two workers apart.
    """
    low, high = 10_000, min(_ephemeral_low(), 32_768)
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw")
    size = 2_000
    bands = max((high - low) // size, 1)
    start = low + (int(worker or 0) % bands) * size
    return range(start, start + size)


_BAND = _band()
_START = random.randrange(len(_BAND))  # another checkout's suite here has the same bands
_PORTS: Iterator[int] = itertools.cycle([*_BAND[_START:], *_BAND[:_START]])


def free_port() -> int:
    """A loopback port nobody listens on, from this process's band (see `_band`)."""
    for candidate in itertools.islice(_PORTS, len(_BAND)):
        with socket.socket() as sock, contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
            sock.bind(("127.0.0.1", candidate))
            return candidate
    raise RuntimeError(f"no free loopback port in {_BAND}")


@dataclass
class Server:
    """One uvicorn process serving commpulse."""

    port: int
    database: Path
    process: asyncio.subprocess.Process
    output: list[str] = field(default_factory=list)
    drain: asyncio.Task[None] | None = None
    token: str | None = None  # an admin token's secret, where the test made one for it

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/graphql"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/graphql"

    @property
    def log(self) -> str:
        return "".join(self.output)

    async def stop(self) -> None:
        """SIGTERM, then wait for a clean exit (uvicorn runs the lifespan shutdown)."""
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                async with asyncio.timeout(SHUTDOWN_TIMEOUT):
                    await self.process.wait()
            except TimeoutError:
                self.process.kill()
                await self.process.wait()
                pytest.fail(
                    f"server did not stop within {SHUTDOWN_TIMEOUT}s on SIGTERM:\n{self.log}"
                )
        if self.drain is not None:
            await self.drain
            self.drain = None
        # uvicorn re-raises the signal it caught once shutdown is done, so -SIGTERM is clean too
        assert self.process.returncode in (0, -signal.SIGTERM), (
            f"exit {self.process.returncode}:\n{self.log}"
        )
        assert "Application shutdown complete" in self.log, (
            f"no clean lifespan shutdown:\n{self.log}"
        )

    async def kill(self) -> None:
        """SIGKILL: the process dies at once, as in a crash; no lifespan shutdown runs."""
        if self.process.returncode is None:
            self.process.kill()
        await self.process.wait()
        if self.drain is not None:
            await self.drain
            self.drain = None
        assert self.process.returncode == -signal.SIGKILL, f"exit {self.process.returncode}"


class StartServer(Protocol):
    def __call__(
        self, database: Path | None = None, *, migrated: bool = True, **env: str
    ) -> Awaitable[Server]: ...  # pragma: no cover


async def _read_until_ready(server: Server, stream: asyncio.StreamReader) -> None:
    # uvicorn logs "Application startup complete" when the lifespan has started, which is
    # BEFORE it binds the socket; "Uvicorn running on" follows once it is listening.
    # Waiting for the first line alone lost the race (connection refused), so wait for both.
    started = False
    listening = f"Uvicorn running on http://127.0.0.1:{server.port}".encode()
    while line := await stream.readline():
        server.output.append(line.decode(errors="replace"))
        started = started or b"Application startup complete" in line
        if started and listening in line:
            return
    code = await server.process.wait()
    if "address already in use" in server.log:
        raise _PortTaken(server.port)
    pytest.fail(f"server exited ({code}) before it was ready:\n{server.log}")


class _PortTaken(Exception):
    """Another process bound the server's port between `free_port` and uvicorn's bind."""


async def _drain(server: Server, stream: asyncio.StreamReader) -> None:
    while line := await stream.readline():
        server.output.append(line.decode(errors="replace"))


async def launch(
    database: Path, started: list[Server], *, migrated: bool = True, **env: str
) -> Server:
    """One server on `database`, appended to `started` before it is ready (so it is stopped)."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("COMMPULSE_")}
    environ |= {
        "COMMPULSE_DATABASE_URL": sqlite_url(database),
        "COMMPULSE_SIMULATED_SEND_RATE": "200",
        "COMMPULSE_SENDER_INTERVAL": "0.05",
        "COMMPULSE_SCHEDULER_INTERVAL": "0.2",
        "COMMPULSE_AUTH": "off",
    }
    environ |= env
    if migrated:  # as `commpulse migrate` would; a server refuses an unmigrated database
        new = not database.exists()  # noqa: ASYNC240 (one stat of a local file)
        if environ["COMMPULSE_DATABASE_URL"] == sqlite_url(database) and new:
            await migrated_copy(database)
        else:
            engine = create_engine(environ["COMMPULSE_DATABASE_URL"])
            await migrate.upgrade(engine)
            await engine.dispose()
    for _ in range(PORT_ATTEMPTS - 1):
        with contextlib.suppress(_PortTaken):
            return await _serve(free_port(), database, environ, started)
    return await _serve(free_port(), database, environ, started)


PORT_ATTEMPTS = 3  # a port lost to another process between the check and the bind: pick another


async def _serve(
    port: int, database: Path, environ: dict[str, str], started: list[Server]
) -> Server:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "server.cli",
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        cwd=ROOT,
        env=environ,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,  # uvicorn's access log
        stderr=asyncio.subprocess.PIPE,
    )
    server = Server(port=port, database=database, process=process)
    started.append(server)
    assert process.stderr is not None
    try:
        async with asyncio.timeout(STARTUP_TIMEOUT):
            await _read_until_ready(server, process.stderr)
    except TimeoutError:
        process.kill()
        await process.wait()
        pytest.fail(f"server not ready within {STARTUP_TIMEOUT}s:\n{server.log}")
    except _PortTaken:
        started.remove(server)  # it exited, and stopping it would report a failed exit
        raise
    # keep reading so a chatty server never blocks on a full pipe
    server.drain = asyncio.create_task(_drain(server, process.stderr))
    return server


_SQLITE_TEMPLATE: list[Path] = []  # one migrated SQLite file per test process


async def migrated_copy(database: Path) -> None:
    """A new SQLite file at `database` with the newest schema: a copy of a file migrated once
    per process. Migrating each server's own file cost up to a second of fsyncs a start."""
    if not _SQLITE_TEMPLATE:
        directory = Path(tempfile.mkdtemp(prefix="commpulse-e2e-"))
        atexit.register(shutil.rmtree, directory, ignore_errors=True)
        await migrate_database(sqlite_url(directory / "template.db"))
        _SQLITE_TEMPLATE.append(directory / "template.db")
    shutil.copy(_SQLITE_TEMPLATE[0], database)


async def stop_all(started: list[Server]) -> None:
    for server in reversed(started):
        if server.process.returncode is None or server.drain is not None:
            await server.stop()


@contextlib.asynccontextmanager
async def serving(directory: Path) -> AsyncIterator[StartServer]:
    """Start servers (on directory/e2e.db unless told) and stop every one still running at the end.

    Keyword arguments are extra environment, e.g. COMMPULSE_SCHEDULER="off". Servers run
    without auth (on loopback, as `make run` does) unless given COMMPULSE_AUTH="on".
    """
    started: list[Server] = []

    async def start(database: Path | None = None, *, migrated: bool = True, **env: str) -> Server:
        return await launch(database or directory / "e2e.db", started, migrated=migrated, **env)

    try:
        yield start
    finally:
        await stop_all(started)


@pytest.fixture
async def start_server(tmp_path: Path) -> AsyncIterator[StartServer]:
    """`serving` in the test's tmp_path."""
    async with serving(tmp_path) as start:
        yield start


@pytest.fixture
async def server(start_server: StartServer) -> Server:
    """One server with the default e2e settings (scheduler and simulated sender on)."""
    return await start_server()


SHARED_SERVER = pytest.mark.asyncio(loop_scope="module")  # the tests on a module's `shared_server`


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def shared_server(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Server]:
    """One server with the default e2e settings for a whole module (a start costs a second or
    more), for tests marked SHARED_SERVER that change nothing another of them counts."""
    async with serving(tmp_path_factory.mktemp("shared")) as start:
        yield await start()


# --- PostgreSQL and a private Redis ---------------------------------------------------------

REDIS_SERVER = "/usr/bin/redis-server"


def postgres_url_for(name: str) -> str:
    """The asyncpg URL of database `name` on the test PostgreSQL server."""
    return POSTGRES.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1) + (
        f"/{name}"
    )


async def postgres_admin(statement: str, *args: Any) -> list[asyncpg.Record]:
    """Run one statement on the admin database (COMMPULSE_TEST_POSTGRES)."""
    conn = await asyncpg.connect(POSTGRES, timeout=5)
    try:
        rows: list[asyncpg.Record] = await conn.fetch(statement, *args)
        return rows
    finally:
        await conn.close()


async def migrate_database(url: str) -> None:
    """What `commpulse migrate` does, for `url`."""
    engine = create_engine(url)
    try:
        await migrate.upgrade(engine)
    finally:
        await engine.dispose()


@pytest.fixture
async def postgres_url() -> AsyncIterator[str]:
    """A new, empty (unmigrated) PostgreSQL database of this test's own, dropped at the end.

    Missing PostgreSQL skips the test, except under CI=true, where it fails.
    """
    async with new_postgres_database() as url:
        yield url


@contextlib.asynccontextmanager
async def new_postgres_database(prefix: str = "commpulse_e2e") -> AsyncIterator[str]:
    """The URL of a new, empty PostgreSQL database, dropped on leaving."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    try:
        await postgres_admin(f'CREATE DATABASE "{name}"')
    except (OSError, asyncpg.PostgresError) as error:
        unavailable("PostgreSQL", error)
    try:
        yield postgres_url_for(name)
    finally:
        await postgres_admin(f'DROP DATABASE "{name}" WITH (FORCE)')


@dataclass
class RedisServer:
    """A redis-server of one test's own on a free port, which the test may kill and restart."""

    port: int
    process: asyncio.subprocess.Process | None = None
    output: list[str] = field(default_factory=list)
    drain: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    async def start(self) -> None:
        """Start it (again, on the same port) and return once it accepts connections."""
        assert self.process is None, "already running"
        self.process = await asyncio.create_subprocess_exec(
            REDIS_SERVER,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        assert self.process.stdout is not None
        ready = False
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(STARTUP_TIMEOUT):
                while not ready and (line := await self.process.stdout.readline()):
                    self.output.append(line.decode(errors="replace"))
                    ready = b"Ready to accept connections" in line
        if not ready:
            await self.kill()
            pytest.fail(f"redis-server did not start:\n{''.join(self.output)}")
        self.drain = asyncio.create_task(self._drain(self.process.stdout))

    async def _drain(self, stream: asyncio.StreamReader) -> None:
        while line := await stream.readline():
            self.output.append(line.decode(errors="replace"))

    async def kill(self) -> None:
        """SIGKILL, as in a crash, and wait until it is gone."""
        if self.process is None:
            return
        if self.process.returncode is None:
            self.process.kill()
        await self.process.wait()
        if self.drain is not None:
            await self.drain
            self.drain = None
        self.process = None


@pytest.fixture
async def private_redis() -> AsyncIterator[RedisServer]:
    """A running redis-server of this test's own (never the shared one), killed at the end."""
    async with running_redis() as redis:
        yield redis


@contextlib.asynccontextmanager
async def running_redis() -> AsyncIterator[RedisServer]:
    """A redis-server of the caller's own on a free port, killed on leaving."""
    if not os.access(REDIS_SERVER, os.X_OK):
        unavailable("redis-server", FileNotFoundError(REDIS_SERVER))
    redis = RedisServer(port=free_port())
    await redis.start()
    try:
        yield redis
    finally:
        await redis.kill()


CLUSTER = {  # as a site deploys: auth on; rates high, as the tests write fast on one token
    "COMMPULSE_AUTH": "on",
    "COMMPULSE_RATE_LIMIT": "100000",
    "COMMPULSE_RATE_BURST": "100000",
}


async def start_cluster(start_server: StartServer, count: int, **env: str) -> list[Server]:
    """`count` servers started together with the same environment (a migrated database),
    with auth on: each carries the secret of an admin token made for them."""
    env = CLUSTER | env
    token = await token_in(env["COMMPULSE_DATABASE_URL"], f"cluster-{uuid.uuid4().hex[:6]}")
    starting = (start_server(None, migrated=False, **env) for _ in range(count))
    servers = list(await asyncio.gather(*starting))
    for server in servers:
        server.token = token
    return servers


async def token_in(database_url: str, name: str, role: ApiRole = ApiRole.ADMIN) -> str:
    """A new token's secret, made in that database as `commpulse tokens create` does."""
    engine = create_engine(database_url)
    try:
        async with Broadcast("memory://") as broadcast:
            _, secret = await tokens.create(Store(sessions(engine), Feed(broadcast)), name, role)
    finally:
        await engine.dispose()
    return secret


# --- clients -------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def server_store(server: Server) -> AsyncIterator[Store]:
    """The server's SQLite file opened from the test, as the `commpulse` CLI opens it."""
    engine = create_engine(f"sqlite+aiosqlite:///{server.database}")
    try:
        async with Broadcast("memory://") as broadcast:
            yield Store(sessions(engine), Feed(broadcast))
    finally:
        await engine.dispose()


async def make_token(server: Server, name: str, role: ApiRole) -> str:
    """A new token's secret, made in the server's database as `commpulse tokens create` does."""
    async with server_store(server) as store:
        _, secret = await tokens.create(store, name, role)
    return secret


def bearer(token: str | None) -> dict[str, str]:
    return {} if token is None else {"Authorization": f"Bearer {token}"}


@contextlib.asynccontextmanager
async def http_session(
    server: Server, token: str | None = None
) -> AsyncIterator[AsyncClientSession]:
    """A gql session that sends queries and mutations as HTTP POSTs (with `token`, if given)."""
    transport = HTTPXAsyncTransport(url=server.http_url, headers=bearer(token))
    client = Client(transport=transport, execute_timeout=ITEM_TIMEOUT)
    async with client as session:
        yield session


@contextlib.asynccontextmanager
async def ws_session(
    server: Server, subprotocol: str = TRANSPORT_WS, token: str | None = None
) -> AsyncIterator[AsyncClientSession]:
    """A gql session over one websocket speaking `subprotocol`; many subscriptions share it.
    A token goes in the connection_init payload."""
    transport = WebsocketsTransport(
        url=server.ws_url, subprotocols=[subprotocol], init_payload=bearer(token)
    )
    client = Client(transport=transport, execute_timeout=ITEM_TIMEOUT)
    async with client as session:
        yield session


async def execute(session: AsyncClientSession, query: str, **variables: Any) -> Json:
    """Run one operation; a GraphQL error fails the test (gql raises TransportQueryError)."""
    return await session.execute(GraphQLRequest(query, variable_values=variables or None))


@contextlib.asynccontextmanager
async def subscribe(
    session: AsyncClientSession, query: str, **variables: Any
) -> AsyncIterator[AsyncGenerator[Json, None]]:
    """A subscription as an async generator, closed (the server told `complete`) on exit."""
    items: AsyncGenerator[Json, None] = session.subscribe(
        GraphQLRequest(query, variable_values=variables or None)
    )
    try:
        yield items
    finally:
        await items.aclose()


async def next_item(items: AsyncGenerator[Json, None], what: str = "item") -> Json:
    """The next subscription item, failing the test clearly if none comes in time."""
    try:
        async with asyncio.timeout(ITEM_TIMEOUT):
            return await anext(items)
    except TimeoutError:
        pytest.fail(f"no {what} within {ITEM_TIMEOUT}s")


async def until(
    items: AsyncGenerator[Json, None], done: Callable[[Json], bool], what: str
) -> list[Json]:
    """Items up to and including the first for which `done` is true."""
    seen: list[Json] = []
    while True:
        item = await next_item(items, what)
        seen.append(item)
        if done(item):
            return seen


# --- operations the tests share -----------------------------------------------------------

PAYLOAD_ERRORS = "userErrors { code message field }"

COMMON = """
    id kind version
    history(first: 100) { edges { cursor node { action from to actor } } }
"""

CREATE_EMAIL = f"""
mutation CreateEmail($input: CreateEmailCampaignInput!) {{
  createEmailCampaign(input: $input) {{
    communication {{ ... on EmailCampaign {{ {COMMON} status audienceSize sentCount }} }}
    {PAYLOAD_ERRORS}
  }}
}}
"""

CREATE_IN_APP = f"""
mutation CreateInApp($input: CreateInAppMessageInput!) {{
  createInAppMessage(input: $input) {{
    communication {{ ... on InAppMessage {{ {COMMON} status }} }}
    {PAYLOAD_ERRORS}
  }}
}}
"""

CREATE_LANDING_PAGE = f"""
mutation CreatePage($input: CreateLandingPageInput!) {{
  createLandingPage(input: $input) {{
    communication {{ ... on LandingPage {{ {COMMON} status }} }}
    {PAYLOAD_ERRORS}
  }}
}}
"""


def mutation(field: str, arguments: str = "$id: ID!", call: str = "id: $id") -> str:
    """A status-action mutation returning the communication's id, status and version."""
    return f"""
    mutation Act({arguments}) {{
      {field}({call}) {{
        communication {{
          ... on CommunicationBase {{ id version }}
          ... on EmailCampaign {{ emailStatus: status }}
          ... on InAppMessage {{ inAppStatus: status }}
          ... on LandingPage {{ pageStatus: status }}
        }}
        {PAYLOAD_ERRORS}
      }}
    }}
    """


SCHEDULE = mutation(
    "scheduleCommunication", "$id: ID!, $startAt: DateTime!", "id: $id, startAt: $startAt"
)
LAUNCH = mutation("launchCommunication")
PAUSE = mutation("pauseCommunication")
RESUME = mutation("resumeCommunication")
PUBLISH = mutation("publishLandingPage")


def ok(result: Json, field: str) -> Json:
    """The communication from a payload, failing the test on any userErrors."""
    payload = result[field]
    assert payload["userErrors"] == [], payload["userErrors"]
    communication: Json = payload["communication"]
    return communication


async def create_email(session: AsyncClientSession, name: str, audience: int = 20) -> Json:
    result = await execute(
        session,
        CREATE_EMAIL,
        input={"name": name, "subject": f"{name} subject", "audienceSize": audience},
    )
    return ok(result, "createEmailCampaign")


async def create_in_app(session: AsyncClientSession, name: str) -> Json:
    result = await execute(session, CREATE_IN_APP, input={"name": name, "title": name})
    return ok(result, "createInAppMessage")


async def act(session: AsyncClientSession, query: str, field: str, **variables: Any) -> Json:
    """Run a `mutation()`; the communication comes back as {id, version, status}."""
    found = ok(await execute(session, query, **variables), field)
    statuses = [
        found.pop(key) for key in ("emailStatus", "inAppStatus", "pageStatus") if key in found
    ]
    return found | {"status": statuses[0]}


# --- raw websockets, for what gql hides: close codes and protocol abuse ----------------------


@contextlib.asynccontextmanager
async def raw_ws(
    server: Server, subprotocol: str = TRANSPORT_WS, **options: Any
) -> AsyncIterator[ClientConnection]:
    async with connect(server.ws_url, subprotocols=[subprotocol], **options) as ws:  # type: ignore[list-item]
        yield ws


async def send(ws: ClientConnection, message: Json) -> None:
    await ws.send(json.dumps(message))


async def receive(ws: ClientConnection) -> Json:
    """The next message from the server, failing the test if none comes in time."""
    try:
        async with asyncio.timeout(ITEM_TIMEOUT):
            message: Json = json.loads(await ws.recv())
            return message
    except TimeoutError:
        pytest.fail(f"no websocket message within {ITEM_TIMEOUT}s")


async def init(ws: ClientConnection, payload: Json | None = None) -> None:
    """connection_init (legacy or current), expecting the ack."""
    await send(ws, {"type": "connection_init", "payload": payload or {}})
    assert (await receive(ws))["type"] == "connection_ack"


async def close_code(ws: ClientConnection) -> int | None:
    """Read until the server closes the socket; its close code (None: no close frame)."""
    try:
        async with asyncio.timeout(ITEM_TIMEOUT):
            while True:
                await ws.recv()
    except ConnectionClosed as closed:
        return closed.rcvd.code if closed.rcvd else None
    except TimeoutError:
        pytest.fail(f"the server did not close the websocket within {ITEM_TIMEOUT}s")
