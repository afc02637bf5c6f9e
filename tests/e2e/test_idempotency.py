"""Idempotency keys against a live server on SQLite and PostgreSQL: a retried mutation
gets the first response and runs once, even when the two race; another request under the
same key is refused; websockets carry the key in the operation's extensions.

The tests share one server per engine (each starts in seconds), so they count what they
create from the total they find, and use keys of their own."""

import asyncio
import contextlib
import string
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import pytest_asyncio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.e2e.conftest import (
    CREATE_EMAIL,
    LEGACY_WS,
    TRANSPORT_WS,
    Server,
    init,
    launch,
    migrate_database,
    new_postgres_database,
    raw_ws,
    receive,
    send,
    stop_all,
)

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="module")]

COUNT = "query { communications(first: 1) { totalCount } }"


@pytest_asyncio.fixture(scope="module", loop_scope="module", params=["sqlite", "postgresql"])
async def any_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Server]:
    """The module's server on SQLite, or on a PostgreSQL database of its own."""
    started: list[Server] = []
    env: dict[str, str] = {}
    async with contextlib.AsyncExitStack() as stack:
        if request.param == "postgresql":
            env["COMMPULSE_DATABASE_URL"] = await stack.enter_async_context(new_postgres_database())
            await migrate_database(env["COMMPULSE_DATABASE_URL"])
        try:
            yield await launch(tmp_path_factory.mktemp("idempotency") / "e2e.db", started, **env)
        finally:
            await stop_all(started)  # before its database is dropped


@pytest_asyncio.fixture(loop_scope="module")
async def client(any_server: Server) -> AsyncIterator[httpx.AsyncClient]:
    base = any_server.http_url.removesuffix("/graphql")
    async with httpx.AsyncClient(base_url=base, timeout=30) as opened:
        yield opened


def create(name: str) -> dict[str, Any]:
    return {"query": CREATE_EMAIL, "variables": {"input": {"name": name, "subject": "s"}}}


async def post(client: httpx.AsyncClient, body: dict[str, Any], key: str | None) -> httpx.Response:
    headers = {} if key is None else {"Idempotency-Key": key}
    return await client.post("/graphql", json=body, headers=headers)


async def total(client: httpx.AsyncClient) -> int:
    found: int = (await post(client, {"query": COUNT}, None)).json()["data"]["communications"][
        "totalCount"
    ]
    return found


def answer(body: dict[str, Any]) -> dict[str, Any]:
    """A response without its `extensions`: the cost each request reports is its own."""
    return {k: v for k, v in body.items() if k != "extensions"}


async def test_retry_gets_the_first_response(client: httpx.AsyncClient) -> None:
    """The same key and request twice: one communication, the same response, marked replayed."""
    before = await total(client)
    first = await post(client, create("Black Friday"), "retry-1")
    again = await post(client, create("Black Friday"), "retry-1")
    assert first.json()["data"]["createEmailCampaign"]["communication"]["id"]
    assert answer(again.json()) == answer(first.json())
    assert again.json()["extensions"]["cost"]["requested"] > 0  # and its cost is reported
    assert again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert await total(client) == before + 1
    await post(client, create("Black Friday"), None)
    assert await total(client) == before + 2  # without a key, every request runs


async def test_other_request_under_the_key_is_refused(client: httpx.AsyncClient) -> None:
    """The same key with other variables: IDEMPOTENCY_KEY_REUSED, and nothing is created."""
    before = await total(client)
    await post(client, create("Black Friday"), "reused-1")
    refused = (await post(client, create("Cyber Monday"), "reused-1")).json()
    assert refused["data"] is None
    assert [e["extensions"]["code"] for e in refused["errors"]] == ["IDEMPOTENCY_KEY_REUSED"]
    assert await total(client) == before + 1


async def test_racing_identical_requests_run_once(client: httpx.AsyncClient) -> None:
    """Five identical requests at once: exactly one executes, all get its response."""
    before = await total(client)
    responses = await asyncio.gather(*(post(client, create("Race"), "race-1") for _ in range(5)))
    bodies = [answer(r.json()) for r in responses]
    assert all(body == bodies[0] for body in bodies), bodies
    assert bodies[0]["data"]["createEmailCampaign"]["communication"]["id"]
    assert await total(client) == before + 1


OPERATION = {TRANSPORT_WS: ("subscribe", "next"), LEGACY_WS: ("start", "data")}


@pytest.mark.parametrize("protocol", [TRANSPORT_WS, LEGACY_WS])
async def test_websocket_key_in_extensions(
    any_server: Server, client: httpx.AsyncClient, protocol: str
) -> None:
    """Over either websocket protocol the key rides in the operation payload's extensions
    (`subscribe` on graphql-transport-ws, `start` on the legacy graphql-ws); a retry on the
    socket, or over HTTP with the same key, gets the same response, and one runs."""
    start, result = OPERATION[protocol]
    before = await total(client)
    key = f"ws-{protocol}"  # the server is shared by the module's tests
    async with raw_ws(any_server, protocol) as ws:
        await init(ws)
        answers = []
        for n in range(2):
            payload = create("Over ws") | {"extensions": {"idempotencyKey": key}}
            await send(ws, {"id": str(n), "type": start, "payload": payload})
            message = await receive(ws)
            assert message["type"] == result, message
            answers.append(message["payload"])
            assert (await receive(ws))["type"] == "complete"
        other = create("Not over ws") | {"extensions": {"idempotencyKey": key}}
        await send(ws, {"id": "2", "type": start, "payload": other})
        refused = (await receive(ws))["payload"]
    assert answer(answers[0]) == answer(answers[1])
    assert answers[0]["data"]["createEmailCampaign"]["communication"]["id"]
    errors = refused if isinstance(refused, list) else refused["errors"]  # `error`, or `data`
    codes = [e["extensions"]["code"] for e in errors]
    assert codes == ["IDEMPOTENCY_KEY_REUSED"], refused
    over_http = (await post(client, create("Over ws"), key)).json()
    assert answer(over_http) == answer(answers[0])
    assert await total(client) == before + 1


async def test_queries_ignore_the_key(client: httpx.AsyncClient) -> None:
    """A key on a query changes nothing: queries are read again every time."""
    before = (await post(client, {"query": COUNT}, "q-1")).json()["data"]["communications"]
    await post(client, create("After"), None)
    body = (await post(client, {"query": COUNT}, "q-1")).json()
    assert body["data"]["communications"]["totalCount"] == before["totalCount"] + 1


BAD_KEYS = st.one_of(
    st.just(""),
    st.text(string.ascii_letters, min_size=256, max_size=400),
    st.text(min_size=1, max_size=20).filter(lambda k: not (k.isascii() and k.isprintable())),
    st.integers(),
    st.lists(st.text(max_size=3), max_size=2),
)


@pytest.mark.parametrize("any_server", ["sqlite"], indirect=True)
async def test_malformed_keys_are_refused(any_server: Server, client: httpx.AsyncClient) -> None:
    """A key that is empty, too long, not printable ASCII or not a string is refused with
    INVALID_IDEMPOTENCY_KEY, and nothing runs."""
    before = await total(client)

    @settings(
        max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
    )
    @given(key=BAD_KEYS)
    def refused(key: object) -> None:
        body = create("Bad key") | {"extensions": {"idempotencyKey": key}}
        answer = httpx.post(any_server.http_url, json=body, timeout=30).json()
        assert answer["data"] is None, answer
        assert [e["extensions"]["code"] for e in answer["errors"]] == ["INVALID_IDEMPOTENCY_KEY"]

    await asyncio.to_thread(refused)
    assert await total(client) == before
