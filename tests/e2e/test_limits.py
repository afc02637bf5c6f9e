"""Limits, each a setting: query depth, aliases (fragments counted where spread), tokens,
page size, body size, operations per batch, and the per-token rate limit. The server gets
small values so each limit is reached with a small request."""

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import pytest_asyncio

from store.tokens import ApiRole
from tests.e2e.conftest import Json, Server, StartServer, bearer, launch, make_token, stop_all

pytestmark = pytest.mark.e2e
SHARED = pytest.mark.asyncio(loop_scope="module")  # the tests on the module's one server

LIMITS = {
    "COMMPULSE_AUTH": "on",
    "COMMPULSE_MAX_DEPTH": "5",
    "COMMPULSE_MAX_ALIASES": "3",
    "COMMPULSE_MAX_TOKENS": "200",
    "COMMPULSE_MAX_BODY_BYTES": "20000",
    "COMMPULSE_MAX_BATCH": "2",
    "COMMPULSE_MAX_COST": "250",
}


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def limited(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[tuple[Server, str]]:
    """One server with small limits for the module, and an admin token."""
    started: list[Server] = []
    database: Path = tmp_path_factory.mktemp("limits") / "e2e.db"
    server = await launch(database, started, **LIMITS)
    token = await make_token(server, "limits-admin", ApiRole.ADMIN)
    yield server, token
    await stop_all(started)


async def post(limited: tuple[Server, str], body: object) -> httpx.Response:
    server, token = limited
    async with httpx.AsyncClient() as client:
        return await client.post(server.http_url, json=body, headers=bearer(token))


async def errors_of(limited: tuple[Server, str], query: str) -> list[str]:
    response = await post(limited, {"query": query})
    assert response.status_code == 200, response.text
    body: Json = response.json()
    return [e["message"] for e in body.get("errors", [])]


@SHARED
async def test_query_depth_is_capped(limited: tuple[Server, str]) -> None:
    """A selection nested deeper than COMMPULSE_MAX_DEPTH is refused before it runs."""
    shallow = "{ communications { edges { node { __typename } } } }"
    deep = (
        "{ communications { edges { node { ... on EmailCampaign "
        "{ history { edges { node { communicationId } } } } } } } }"
    )
    assert await errors_of(limited, shallow) == []
    [message] = await errors_of(limited, deep)
    assert "exceeds maximum operation depth of 5" in message


@SHARED
async def test_aliases_are_capped_and_fragment_spreads_count(limited: tuple[Server, str]) -> None:
    """Over COMMPULSE_MAX_ALIASES aliases is refused, and hiding them in a fragment spread
    twice counts every spread."""
    assert await errors_of(limited, "{ a: __typename b: __typename c: __typename }") == []
    [message] = await errors_of(
        limited, "{ a: __typename b: __typename c: __typename d: __typename }"
    )
    assert "4 aliases found. Allowed: 3" in message
    spread = "query { ...F ...G } fragment F on Query { a: __typename b: __typename } "
    spread += "fragment G on Query { ...F }"
    [message] = await errors_of(limited, spread)
    assert "4 aliases found. Allowed: 3" in message


def doubling(levels: int, leaf: str) -> str:
    """Each fragment spreads the next one twice: 2^levels paths in a few hundred bytes."""
    parts = ["query { ...F0 }"]
    parts += [f"fragment F{i} on Query {{ ...F{i + 1} ...F{i + 1} }}" for i in range(levels)]
    return " ".join([*parts, f"fragment F{levels} on Query {{ {leaf} }}"])


async def test_exponential_fragments_neither_freeze_nor_pass(start_server: StartServer) -> None:
    """With the default limits and a viewer token, 30 levels of fragments spreading the
    next one twice are answered (or refused for their 2^30 aliases), and /healthz answers
    while they are checked."""
    server = await start_server(COMMPULSE_AUTH="on")
    viewer = await make_token(server, "attacker", ApiRole.VIEWER)
    async with httpx.AsyncClient(headers=bearer(viewer)) as client:

        async def errors(leaf: str) -> list[str]:
            response = await client.post(server.http_url, json={"query": doubling(30, leaf)})
            return [e["message"] for e in response.json().get("errors", [])]

        answered, refused, healthy = await asyncio.gather(
            errors("__typename"),
            errors("a: __typename"),
            client.get(f"http://127.0.0.1:{server.port}/healthz"),
        )
    assert answered == []
    assert refused == [f"{2**30} aliases found. Allowed: 30"]
    assert healthy.json() == {"status": "ok"}


@SHARED
async def test_document_tokens_are_capped(limited: tuple[Server, str]) -> None:
    """A document of more than COMMPULSE_MAX_TOKENS lexical tokens is refused unparsed."""
    [message] = await errors_of(limited, "{ " + "__typename " * 250 + "}")
    assert "token limit" in message.lower() or "tokens" in message.lower()


@SHARED
async def test_cost_is_reported_and_capped(limited: tuple[Server, str]) -> None:
    """Every answer carries extensions.cost; a page of 100 with its pageInfo (cost 301) is
    over COMMPULSE_MAX_COST and refused before it runs with COST_EXCEEDED."""
    page = "{ communications(first: %d) { edges { node { __typename } } pageInfo { endCursor } } }"
    cheap = (await post(limited, {"query": page % 10})).json()
    assert cheap["extensions"]["cost"]["requested"] == 31
    assert set(cheap["extensions"]["cost"]) == {"requested", "actual", "remaining"}
    costly = (await post(limited, {"query": page % 100})).json()
    [error] = costly["errors"]
    assert error["extensions"] == {"code": "COST_EXCEEDED", "cost": 301, "maxCost": 250}
    assert costly["extensions"]["cost"]["requested"] == 301


@SHARED
async def test_page_size_is_capped(limited: tuple[Server, str]) -> None:
    """Lists give at most 100 a page; more is refused as INVALID_INPUT."""
    response = await post(limited, {"query": "{ communications(first: 101) { totalCount } }"})
    [error] = response.json()["errors"]
    assert error["extensions"]["code"] == "INVALID_INPUT"
    assert "between 0 and 100" in error["message"]


@SHARED
async def test_request_bodies_are_capped(limited: tuple[Server, str]) -> None:
    """A body over COMMPULSE_MAX_BODY_BYTES is answered 413, declared or streamed."""
    big = {"query": "{ __typename }", "variables": {"pad": "x" * 30_000}}
    assert (await post(limited, big)).status_code == 413
    server, token = limited

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(30):
            yield b" " * 1_000

    async with httpx.AsyncClient() as client:
        streamed = await client.post(
            server.http_url,
            content=chunks(),
            headers=bearer(token) | {"content-type": "application/json"},
        )
    assert streamed.status_code == 413


@SHARED
async def test_batches_are_capped(limited: tuple[Server, str]) -> None:
    """A JSON array runs up to COMMPULSE_MAX_BATCH operations; more is a clear 400."""
    one = {"query": "{ __typename }"}
    response = await post(limited, [one, one])
    assert [a["data"] for a in response.json()] == [{"__typename": "Query"}] * 2
    response = await post(limited, [one, one, one])
    assert response.status_code == 400
    assert "Too many operations" in response.text


async def test_rate_limit_per_token(start_server: StartServer) -> None:
    """Past its burst a token gets RATE_LIMITED with when to retry; other tokens go on."""
    server = await start_server(
        COMMPULSE_AUTH="on", COMMPULSE_RATE_LIMIT="0.5", COMMPULSE_RATE_BURST="3"
    )
    busy = await make_token(server, "busy", ApiRole.VIEWER)
    calm = await make_token(server, "calm", ApiRole.VIEWER)
    query = {"query": "{ __typename }"}
    async with httpx.AsyncClient() as client:
        answers = [
            (await client.post(server.http_url, json=query, headers=bearer(busy))).json()
            for _ in range(4)
        ]
        other = await client.post(server.http_url, json=query, headers=bearer(calm))
    assert [a.get("data") for a in answers[:3]] == [{"__typename": "Query"}] * 3
    [error] = answers[3]["errors"]
    assert error["extensions"]["code"] == "RATE_LIMITED"
    assert 0 < error["extensions"]["retryAfter"] <= 2
    assert "retry in" in error["message"]
    assert other.json()["data"] == {"__typename": "Query"}
