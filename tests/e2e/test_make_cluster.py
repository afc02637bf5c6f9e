"""`make cluster` as a person runs it: it creates the database it is given, serves two
instances with auth on and a token it prints how to use, and Ctrl-C stops both cleanly."""

import asyncio
import contextlib
import os
import re
import signal
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import ROOT, STARTUP_TIMEOUT, RedisServer, free_port, postgres_admin
from tests.e2e.conftest import postgres_url_for as database_url

pytestmark = pytest.mark.e2e


async def test_make_cluster_serves_with_auth_and_stops_on_ctrl_c(
    private_redis: RedisServer, postgres_server: str, tmp_path: Path
) -> None:
    """With a database name of its own: created, migrated, two instances answering a
    token made for it (reused on the next run), and Ctrl-C ends both without a crash."""
    name = f"commpulse_cluster_{uuid.uuid4().hex[:8]}"
    ports = [free_port(), free_port()]
    token_file = tmp_path / "token"
    env = {k: v for k, v in os.environ.items() if not k.startswith("COMMPULSE_")}
    env |= {
        "CLUSTER_DATABASE_URL": database_url(name),
        "CLUSTER_BROADCAST_URL": private_redis.url,
        "CLUSTER_TOKEN": str(token_file),
        "CLUSTER_PORTS": " ".join(map(str, ports)),
    }
    try:
        async with make_cluster(env, ports) as first, httpx.AsyncClient() as client:
            assert "created database" in first and "Authorization: Bearer" in first
            token = token_file.read_text().strip()
            for port in ports:
                url = f"http://127.0.0.1:{port}/graphql"
                refused = await client.post(url, json={"query": "{ __typename }"})
                answered = await client.post(
                    url,
                    json={"query": "{ __typename }"},
                    headers={"Authorization": f"Bearer {token}"},
                )
                assert refused.status_code == 401
                assert answered.json()["data"] == {"__typename": "Query"}
        async with make_cluster(env, ports) as again:
            assert "reusing admin token" in again
            assert token_file.read_text().strip() == token
    finally:
        await postgres_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.asynccontextmanager
async def make_cluster(env: dict[str, str], ports: list[int]) -> AsyncIterator[str]:
    """`make cluster` running, once both instances listen (what it printed by then); then
    Ctrl-C (SIGINT to its process group, as a terminal sends it), and a clean stop."""
    process = await asyncio.create_subprocess_exec(
        "make",
        "--no-print-directory",
        "cluster",
        cwd=ROOT,
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        start_new_session=True,
    )
    assert process.stdout is not None
    output: list[str] = []
    waiting = {f"Uvicorn running on http://127.0.0.1:{port}" for port in ports}
    try:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(STARTUP_TIMEOUT * 3):
                while waiting and (line := await process.stdout.readline()):
                    output.append(line.decode(errors="replace"))
                    waiting = {w for w in waiting if w not in output[-1]}
        assert not waiting, "".join(output)
        yield "".join(output)
        os.killpg(process.pid, signal.SIGINT)
        async with asyncio.timeout(STARTUP_TIMEOUT):
            rest, _ = await process.communicate()
    finally:
        if process.returncode is None:
            os.killpg(process.pid, signal.SIGKILL)
            await process.wait()
    text = "".join(output) + rest.decode(errors="replace")
    assert "Segmentation fault" not in text
    assert len(re.findall(r"Application shutdown complete", text)) == 2, text
