"""Identities: API tokens on HTTP and websockets, the history's actor, revocation, the CLI,
and serving without auth only on loopback."""

import asyncio
import hashlib
import itertools
import os
import sqlite3
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import pytest_asyncio

from store.tokens import ApiRole
from tests.e2e.conftest import (
    COMMON,
    LAUNCH,
    LEGACY_WS,
    ROOT,
    TRANSPORT_WS,
    Server,
    StartServer,
    act,
    bearer,
    close_code,
    create_email,
    execute,
    http_session,
    init,
    launch,
    make_token,
    raw_ws,
    receive,
    send,
    stop_all,
)

pytestmark = pytest.mark.e2e
SHARED = pytest.mark.asyncio(loop_scope="module")  # the tests on the module's `secured` server

STATUS_CHANGED = "subscription { statusChanged { cursor } }"
READ_HISTORY = (
    f"query($id: ID!) {{ communication(id: $id) {{ ... on EmailCampaign {{ {COMMON} }} }} }}"
)
REVOKE = """
mutation($name: String!) { revokeApiToken(name: $name) { token { revokedAt } userErrors { code } } }
"""


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def secured(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Server]:
    """The module's server with auth on, re-checking open websockets' tokens every 0.2 s.
    Its tests share it, so each makes tokens of its own name."""
    started: list[Server] = []
    database: Path = tmp_path_factory.mktemp("auth") / "e2e.db"
    try:
        yield await launch(database, started, COMMPULSE_AUTH="on", COMMPULSE_TOKEN_RECHECK="0.2")
    finally:
        await stop_all(started)


async def post(
    server: Server, query: str, token: str | None, **variables: object
) -> httpx.Response:
    async with httpx.AsyncClient() as client:
        return await client.post(
            server.http_url, json={"query": query, "variables": variables}, headers=bearer(token)
        )


async def run_cli(server: Server | None, *args: str, **env: str) -> tuple[int, str, str]:
    """`commpulse ARGS` in a subprocess against the server's database."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("COMMPULSE_")}
    if server is not None:
        environ["COMMPULSE_DATABASE_URL"] = f"sqlite+aiosqlite:///{server.database}"
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "server.cli",
        *args,
        cwd=ROOT,
        env=environ | env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


@SHARED
async def test_http_without_a_valid_token_is_401(secured: Server) -> None:
    """No token, a malformed header, an unknown or made-up token: 401 UNAUTHENTICATED, for
    a query as for a mutation."""
    async with httpx.AsyncClient() as client:
        for headers, query in itertools.product(
            (
                {},
                {"Authorization": "Basic dXNlcjpwYXNz"},
                {"Authorization": "Bearer cp_not-a-real-token"},
                {"Authorization": "Bearer"},
            ),
            ("{ __typename }", REVOKE),
        ):
            sent = {"query": query, "variables": {"name": "nobody"}}
            response = await client.post(secured.http_url, json=sent, headers=headers)
            assert response.status_code == 401, headers
            assert response.headers["www-authenticate"] == "Bearer"
            assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


@SHARED
async def test_the_history_actor_is_the_token_name(secured: Server) -> None:
    """What an editor's token does is written in the history under the token's name."""
    alice = await make_token(secured, "alice", ApiRole.EDITOR)
    async with http_session(secured, alice) as session:
        email = await create_email(session, "Signed")
        await act(session, LAUNCH, "launchCommunication", id=email["id"])
        found = await execute(session, READ_HISTORY, id=email["id"])
    actors = [e["node"]["actor"] for e in found["communication"]["history"]["edges"]]
    assert actors[:2] == ["alice", "alice"]


async def test_revoking_through_the_api_closes_http_and_websockets_at_once(
    start_server: StartServer,
) -> None:
    """An admin revokes a token: its next HTTP request is 401 and its open subscriptions on
    both subprotocols are closed with 4403 right away (no re-check needed)."""
    server = await start_server(COMMPULSE_AUTH="on", COMMPULSE_TOKEN_RECHECK="3600")
    admin = await make_token(server, "root", ApiRole.ADMIN)
    viewer = await make_token(server, "wall", ApiRole.VIEWER)
    async with raw_ws(server) as current, raw_ws(server, LEGACY_WS) as legacy:
        await init(current, {"Authorization": f"Bearer {viewer}"})
        await send(current, {"id": "1", "type": "subscribe", "payload": {"query": STATUS_CHANGED}})
        await init(legacy, {"token": viewer})
        await send(legacy, {"id": "1", "type": "start", "payload": {"query": STATUS_CHANGED}})
        assert (await post(server, "{ __typename }", viewer)).status_code == 200

        revoked = await post(server, REVOKE, admin, name="wall")
        assert revoked.json()["data"]["revokeApiToken"]["userErrors"] == []

        assert (await post(server, "{ __typename }", viewer)).status_code == 401
        assert await close_code(current) == 4403
        assert await close_code(legacy) == 4403
    assert (await post(server, "{ __typename }", admin)).status_code == 200


@SHARED
async def test_revoking_from_the_cli_closes_websockets_at_the_next_recheck(secured: Server) -> None:
    """`commpulse tokens revoke` in another process: the server's periodic re-check closes
    the token's subscription with 4403 and stops accepting it over HTTP."""
    viewer = await make_token(secured, "kiosk", ApiRole.VIEWER)
    async with raw_ws(secured) as ws:
        await init(ws, {"token": viewer})
        await send(ws, {"id": "1", "type": "subscribe", "payload": {"query": STATUS_CHANGED}})
        assert (await post(secured, "{ __typename }", viewer)).status_code == 200  # kept now
        code, out, err = await run_cli(secured, "tokens", "revoke", "kiosk")
        assert code == 0, err
        assert "revoked 'kiosk'" in out
        assert await close_code(ws) == 4403
    # the same re-check forgot the identity the server kept for the token
    assert (await post(secured, "{ __typename }", viewer)).status_code == 401


@SHARED
async def test_websocket_with_a_bad_token_is_refused_by_each_protocol(secured: Server) -> None:
    """A bad or missing token in connection_init: graphql-transport-ws closes with 4403,
    the legacy graphql-ws answers connection_error and closes."""
    for payload in ({}, {"token": "cp_wrong"}, {"Authorization": "Bearer cp_wrong"}):
        async with raw_ws(secured) as ws:
            await send(ws, {"type": "connection_init", "payload": payload})
            assert await close_code(ws) == 4403
        async with raw_ws(secured, LEGACY_WS) as ws:
            await send(ws, {"type": "connection_init", "payload": payload})
            assert (await receive(ws))["type"] == "connection_error"
            assert await close_code(ws) == 1011


@SHARED
async def test_both_payload_forms_work_on_both_subprotocols(secured: Server) -> None:
    """{"Authorization": "Bearer …"} and {"token": "…"} are both accepted, on both protocols."""
    viewer = await make_token(secured, "screen", ApiRole.VIEWER)
    for subprotocol in (TRANSPORT_WS, LEGACY_WS):
        for payload in ({"Authorization": f"Bearer {viewer}"}, {"token": viewer}):
            async with raw_ws(secured, subprotocol) as ws:
                await init(ws, payload)


@SHARED
async def test_cli_creates_lists_and_revokes_tokens_storing_only_a_hash(secured: Server) -> None:
    """`commpulse tokens create` prints the secret once; the database keeps only its SHA-256;
    `list` never shows it; the printed secret works until `revoke`."""
    code, out, err = await run_cli(secured, "tokens", "create", "ci-worker", "--role", "sender")
    assert code == 0, err
    secret = out.strip().splitlines()[-1]
    assert secret.startswith("cp_") and len(secret) > 40
    with sqlite3.connect(secured.database) as db:
        stored = db.execute("SELECT role, hash FROM api_token WHERE name = 'ci-worker'").fetchone()
        assert stored == ("sender", hashlib.sha256(secret.encode()).hexdigest())
        assert secret not in str(db.execute("SELECT * FROM api_token").fetchall())
    code, out, _ = await run_cli(secured, "tokens", "list")
    assert "ci-worker\tsender" in out and secret not in out
    assert (await post(secured, "{ __typename }", secret)).status_code == 200
    await run_cli(secured, "tokens", "revoke", "ci-worker")
    assert (await post(secured, "{ __typename }", secret)).status_code == 401
    code, _, err = await run_cli(secured, "tokens", "create", "ci-worker", "--role", "viewer")
    assert code != 0 and "exists already" in err


async def test_serving_without_auth_is_refused_off_loopback() -> None:
    """COMMPULSE_AUTH=off on any address but loopback: `commpulse serve` exits non-zero
    with a message naming the setting, before it listens."""
    code, _, err = await run_cli(None, "serve", "--host", "0.0.0.0", COMMPULSE_AUTH="off")
    assert code != 0
    assert "COMMPULSE_AUTH=off" in err and "loopback" in err


async def test_serving_without_auth_says_so_loudly(server: Server) -> None:
    """`make run` serves without auth on loopback, and the log says so at start-up."""
    assert "AUTH IS OFF" in server.log
    async with httpx.AsyncClient() as client:
        response = await client.post(server.http_url, json={"query": "{ __typename }"})
    assert response.status_code == 200
