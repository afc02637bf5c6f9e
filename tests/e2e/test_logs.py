"""Logs: uvicorn's human lines by default; with COMMPULSE_LOG_FORMAT=json every line is a
JSON object carrying the request id (answered in X-Request-ID) and the token's name."""

import asyncio
import json
from typing import Any

import httpx
import pytest

from store.tokens import ApiRole
from tests.e2e.conftest import Server, StartServer, bearer, make_token

pytestmark = pytest.mark.e2e

QUERY = {"query": "{ communications(first: 1) { totalCount } }"}


async def line_with(server: Server, text: str) -> dict[str, Any]:
    """The server's JSON log line containing `text` (it is written after the answer)."""
    async with asyncio.timeout(10):
        while True:
            for line in list(server.output):
                if text in line:
                    found: dict[str, Any] = json.loads(line)
                    return found
            await asyncio.sleep(0.05)


async def test_json_lines_carry_request_id_and_token(start_server: StartServer) -> None:
    """Each line is JSON; a request's line names its id and its token; a sane X-Request-ID
    from the client is kept, anything else replaced."""
    server = await start_server(COMMPULSE_LOG_FORMAT="json", COMMPULSE_AUTH="on")
    token = await make_token(server, "ops-json", ApiRole.VIEWER)
    async with httpx.AsyncClient() as client:
        given = await client.post(
            server.http_url, json=QUERY, headers=bearer(token) | {"X-Request-ID": "req-42"}
        )
        made = await client.post(
            server.http_url, json=QUERY, headers=bearer(token) | {"X-Request-ID": "no spaces!"}
        )
        anonymous = await client.post(server.http_url, json=QUERY)
    assert given.headers["x-request-id"] == "req-42"
    assert made.headers["x-request-id"] not in ("", "no spaces!")
    assert (await line_with(server, "req-42"))["token"] == "ops-json"
    made_line = await line_with(server, made.headers["x-request-id"])
    assert made_line["token"] == "ops-json" and made_line["logger"] == "uvicorn.access"
    refused = await line_with(server, anonymous.headers["x-request-id"])
    assert refused["token"] is None and "401" in refused["message"]
    lines = [json.loads(line) for line in server.output]
    assert all({"time", "level", "message", "request_id", "token"} <= set(x) for x in lines)


async def test_human_format_by_default(server: Server) -> None:
    """Without the setting the lines stay uvicorn's human ones."""
    assert "INFO:" in server.log and not server.log.lstrip().startswith("{")
