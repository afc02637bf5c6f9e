"""A server given an unmigrated PostgreSQL database refuses to start and says what to do;
`commpulse migrate` on that database lets it start."""

import asyncio
import os
import sys

import asyncpg
import pytest

from tests.e2e.conftest import (
    ROOT,
    SHUTDOWN_TIMEOUT,
    STARTUP_TIMEOUT,
    StartServer,
    execute,
    free_port,
    http_session,
)

pytestmark = pytest.mark.e2e


def environment(database_url: str) -> dict[str, str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("COMMPULSE_")}
    return environ | {"COMMPULSE_DATABASE_URL": database_url, "PYTHONPATH": str(ROOT)}


async def run(*args: str, env: dict[str, str]) -> tuple[int, str]:
    """Run a command to its exit; its exit code and everything it wrote."""
    process = await asyncio.create_subprocess_exec(
        *args,
        cwd=ROOT,
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        async with asyncio.timeout(STARTUP_TIMEOUT + SHUTDOWN_TIMEOUT):
            output, _ = await process.communicate()
    except TimeoutError:
        process.kill()
        output, _ = await process.communicate()
        pytest.fail(f"{args} did not exit:\n{output.decode(errors='replace')}")
    assert process.returncode is not None
    return process.returncode, output.decode(errors="replace")


async def tables(database_url: str) -> list[str]:
    conn = await asyncpg.connect(database_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        rows = await conn.fetch(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
        )
    finally:
        await conn.close()
    return sorted(row["table_name"] for row in rows)


async def test_server_on_an_unmigrated_postgres_database_exits_saying_to_migrate(
    postgres_url: str, start_server: StartServer
) -> None:
    """A server on an unmigrated PostgreSQL database exits non-zero, saying to run migrate."""
    env = environment(postgres_url)
    port = str(free_port())
    serve = (sys.executable, "-m", "uvicorn", "server.app:app", "--host", "127.0.0.1")
    code, log = await run(*serve, "--port", port, env=env)

    assert code != 0, log
    assert "commpulse cannot start" in log
    assert "has no commpulse tables yet" in log
    assert "Run `commpulse migrate`" in log
    assert f"Uvicorn running on http://127.0.0.1:{port}" not in log  # never served
    assert await tables(postgres_url) == []  # and created nothing

    code, log = await run(sys.executable, "-m", "server.cli", "migrate", env=env)
    assert code == 0, log
    assert "database at revision" in log
    server = await start_server(migrated=False, COMMPULSE_DATABASE_URL=postgres_url)
    async with http_session(server) as http:
        result = await execute(http, "{ communications(first: 1) { totalCount } }")
    assert result == {"communications": {"totalCount": 0}}
