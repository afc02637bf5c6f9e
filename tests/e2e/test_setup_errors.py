"""Setup mistakes get one clear line and a non-zero exit, never a traceback: a database
that is down or named wrong, an unsupported URL, an unmigrated database. An unreachable
broker at start-up is one warning, and the server serves on. What clients get wrong is
logged as one line at INFO with the request id."""

import sys
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import Server, StartServer, free_port
from tests.e2e.test_unmigrated import environment, run

pytestmark = pytest.mark.e2e

DOWN = f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/commpulse"  # nothing listens
MISTAKES = {
    "database down": (DOWN, "cannot reach the database at"),
    "no such host": (
        "postgresql://postgres@no-such-host.invalid:5432/commpulse",
        "cannot reach the database at",
    ),
    "no such database": (
        "postgresql://postgres@127.0.0.1:5432/commpulse_never_created",
        'database "commpulse_never_created" does not exist',
    ),
    "unsupported scheme": ("mysql://app:secret@127.0.0.1/commpulse", "unsupported database"),
}


def one_line(output: str) -> str:
    lines = [line for line in output.splitlines() if line.strip()]
    assert len(lines) == 1, output
    assert "Traceback" not in output
    return lines[0]


@pytest.mark.parametrize("command", ["migrate", "serve"])
@pytest.mark.parametrize("mistake", MISTAKES)
async def test_a_database_mistake_is_one_line_and_a_non_zero_exit(
    command: str, mistake: str
) -> None:
    """`commpulse migrate` and `serve` with an unusable database URL: one line, exit 1."""
    url, says = MISTAKES[mistake]
    port = ["--port", str(free_port())] if command == "serve" else []
    code, output = await run(
        sys.executable, "-m", "server.cli", command, *port, env=environment(url)
    )
    line = one_line(output)
    assert code == 1
    assert line.startswith("commpulse: ") and says in line
    assert "secret" not in line  # a password in the URL is never printed


async def test_serve_on_an_unmigrated_database_is_one_line(tmp_path: Path) -> None:
    """The unmigrated-database exit says to migrate, without Starlette's traceback."""
    url = f"sqlite+aiosqlite:///{tmp_path}/empty.db"
    serve = (sys.executable, "-m", "server.cli", "serve", "--port", str(free_port()))
    code, output = await run(*serve, env=environment(url))
    line = one_line(output)
    assert code == 1
    assert "has no commpulse tables yet" in line and "commpulse migrate" in line


async def test_an_unreachable_broker_at_start_up_is_one_warning_and_the_server_serves(
    start_server: StartServer, tmp_path: Path
) -> None:
    """With Redis away at start-up the server starts, says so once, answers queries and
    reports itself not ready; `commpulse migrate` needs no broker at all."""
    broker = f"redis://127.0.0.1:{free_port()}"
    env = environment(f"sqlite+aiosqlite:///{tmp_path}/other.db") | {
        "COMMPULSE_BROADCAST_URL": broker
    }
    server = await start_server(COMMPULSE_BROADCAST_URL=broker)
    async with httpx.AsyncClient() as client:
        ready = await client.get(f"http://127.0.0.1:{server.port}/readyz")
        answered = await client.post(server.http_url, json={"query": "{ __typename }"})
    assert ready.status_code == 503 and ready.json()["broker"] == "down"
    assert answered.json()["data"] == {"__typename": "Query"}
    warnings = [line for line in server.log.splitlines() if "broker at" in line]
    assert len(warnings) == 1 and warnings[0].startswith("WARNING:"), server.log
    assert "Redis broker at redis://127.0.0.1" in warnings[0]
    assert "Traceback" not in server.log

    code, output = await run(sys.executable, "-m", "server.cli", "migrate", env=env)
    assert code == 0, output


async def _logged(server: Server, request_id: str) -> list[str]:
    return [line for line in server.log.splitlines() if f"request {request_id}" in line]


async def test_client_mistakes_are_one_info_line_with_the_request_id(server: Server) -> None:
    """A validation error and a refused argument are each logged as one INFO line that
    carries the request id the response names; no traceback reaches the log."""
    mistakes = {
        "validation-1": "{ nope }",
        "argument-1": "{ communications(first: 101) { totalCount } }",
    }
    async with httpx.AsyncClient() as client:
        for request_id, query in mistakes.items():
            response = await client.post(
                server.http_url, json={"query": query}, headers={"X-Request-ID": request_id}
            )
            assert response.headers["x-request-id"] == request_id
            assert "errors" in response.json()
        generated = await client.post(server.http_url, json={"query": "{ nope }"})
    last = generated.headers["x-request-id"]
    assert len(last) == 32
    await server.stop()  # and so the whole log is read
    for request_id in [*mistakes, last]:
        lines = await _logged(server, request_id)
        assert len(lines) == 1 and lines[0].startswith("INFO:"), server.log
    assert "Traceback" not in server.log
    assert "INVALID_INPUT at communications" in (await _logged(server, "argument-1"))[0]


async def test_a_token_file_that_cannot_be_written_is_one_line(tmp_path: Path) -> None:
    """`commpulse tokens ensure --file` naming a folder: one line and exit 1, no traceback."""
    env = environment(f"sqlite+aiosqlite:///{tmp_path}/c.db")
    assert (await run(sys.executable, "-m", "server.cli", "migrate", env=env))[0] == 0
    ensure = ("tokens", "ensure", "ops", "--role", "admin", "--file", str(tmp_path))
    code, output = await run(sys.executable, "-m", "server.cli", *ensure, env=env)
    assert code == 1
    assert one_line(output).startswith("commpulse: ") and "Is a directory" in output
