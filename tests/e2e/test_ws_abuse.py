"""Hostile websocket clients: each gets the graphql-transport-ws protocol's answer (a close
code or an error message), and the server keeps serving everyone else."""

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from store.tokens import ApiRole
from tests.e2e.conftest import (
    LEGACY_WS,
    Server,
    close_code,
    init,
    launch,
    make_token,
    raw_ws,
    receive,
    send,
    stop_all,
)

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="module")]

MAX_SUBSCRIPTIONS = 5
LIVE = {"query": "subscription { statusChanged { cursor } }"}


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def target(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[tuple[Server, str]]:
    """One server for the module, with short init timeout, few subscriptions per
    connection and small websocket messages; and a viewer token."""
    started: list[Server] = []
    database: Path = tmp_path_factory.mktemp("abuse") / "e2e.db"
    server = await launch(
        database,
        started,
        COMMPULSE_AUTH="on",
        COMMPULSE_CONNECTION_INIT_TIMEOUT="0.5",
        COMMPULSE_MAX_SUBSCRIPTIONS=str(MAX_SUBSCRIPTIONS),
        COMMPULSE_WS_MAX_MESSAGE_BYTES="10000",
        COMMPULSE_RATE_BURST="1000",
    )
    token = await make_token(server, "abuse-viewer", ApiRole.VIEWER)
    yield server, token
    await stop_all(started)


async def still_serving(target: tuple[Server, str]) -> None:
    """A well-behaved client connects, subscribes and gets its first answer."""
    server, token = target
    async with raw_ws(server) as ws:
        await init(ws, {"token": token})
        query = 'subscription { communication(id: "bogus") { __typename } }'
        await send(ws, {"id": "ok", "type": "subscribe", "payload": {"query": query}})
        answer = await receive(ws)
        assert answer["id"] == "ok" and answer["type"] in ("next", "error")


async def test_no_connection_init_is_closed_after_the_timeout(target: tuple[Server, str]) -> None:
    """A socket that never sends connection_init is closed with 4408, on both protocols."""
    server, _ = target
    async with raw_ws(server) as ws, raw_ws(server, LEGACY_WS) as legacy:
        assert await close_code(ws) == 4408
        assert await close_code(legacy) == 4408
    await still_serving(target)


async def test_a_second_connection_init_is_closed(target: tuple[Server, str]) -> None:
    """connection_init twice: 4429 (too many initialisation requests)."""
    server, token = target
    async with raw_ws(server) as ws:
        await init(ws, {"token": token})
        await send(ws, {"type": "connection_init", "payload": {"token": token}})
        assert await close_code(ws) == 4429
    await still_serving(target)


async def test_subscribe_before_ack_is_closed(target: tuple[Server, str]) -> None:
    """A subscribe before connection_ack: 4401 (unauthorized)."""
    server, _ = target
    async with raw_ws(server) as ws:
        await send(ws, {"id": "1", "type": "subscribe", "payload": LIVE})
        assert await close_code(ws) == 4401
    await still_serving(target)


async def test_garbage_frames_are_closed(target: tuple[Server, str]) -> None:
    """Text that is not JSON, JSON that is no message or has a bad payload, a binary frame:
    4400; on the legacy protocol, JSON that is no message and binary frames: 1002 (text
    that is not JSON gets connection_error, below)."""
    server, token = target
    for garbage in (
        "not json {",
        '{"type": "nonsense"}',
        '["a", "list"]',
        '{"id": "1", "type": "subscribe", "payload": "no object"}',
        '{"id": 1, "type": "subscribe", "payload": {"query": "{ __typename }"}}',
        b"\x00\x01binary",
    ):
        async with raw_ws(server) as ws:
            await init(ws, {"token": token})
            await ws.send(garbage)
            assert await close_code(ws) == 4400, garbage
    for garbage in ('["a", "list"]', '{"id": "1", "type": "start", "payload": 7}', b"\x00"):
        async with raw_ws(server, LEGACY_WS) as ws:
            await init(ws, {"token": token})
            await ws.send(garbage)
            assert await close_code(ws) == 1002, garbage
    await still_serving(target)


async def test_an_oversized_frame_is_closed(target: tuple[Server, str]) -> None:
    """A message over COMMPULSE_WS_MAX_MESSAGE_BYTES: closed with 1009 (message too big)."""
    server, token = target
    async with raw_ws(server) as ws:
        await init(ws, {"token": token})
        padding = "x" * 20_000
        await send(ws, {"id": "1", "type": "subscribe", "payload": LIVE | {"pad": padding}})
        assert await close_code(ws) == 1009
    await still_serving(target)


async def test_thousands_of_subscribes_get_the_limit_error(target: tuple[Server, str]) -> None:
    """2,000 subscribe messages on one socket: the first COMMPULSE_MAX_SUBSCRIPTIONS run,
    every other gets an `error` (subscription limit reached); completing one frees a slot."""
    server, token = target
    flood = 2_000
    async with raw_ws(server) as ws:
        await init(ws, {"token": token})
        for n in range(flood):
            await send(ws, {"id": str(n), "type": "subscribe", "payload": LIVE})
        refused = set()
        while len(refused) < flood - MAX_SUBSCRIPTIONS:
            message = await receive(ws)
            assert message["type"] == "error", message
            assert message["payload"][0]["message"] == "Subscription limit reached"
            refused.add(message["id"])
        assert refused.isdisjoint(str(n) for n in range(MAX_SUBSCRIPTIONS))
        await send(ws, {"id": "0", "type": "complete"})
        await send(ws, {"id": "again", "type": "subscribe", "payload": LIVE})
        await send(ws, {"id": "pong-check", "type": "ping"})  # answered after the subscribe
        assert (await receive(ws))["type"] == "pong"
        await still_serving(target)
    await asyncio.sleep(0)  # let the closing socket's tasks run before the next test


async def test_a_duplicate_operation_id_is_closed(target: tuple[Server, str]) -> None:
    """Two running subscriptions with one id: 4409."""
    server, token = target
    async with raw_ws(server) as ws:
        await init(ws, {"token": token})
        await send(ws, {"id": "same", "type": "subscribe", "payload": LIVE})
        await send(ws, {"id": "same", "type": "subscribe", "payload": LIVE})
        assert await close_code(ws) == 4409
    await still_serving(target)


@settings(max_examples=10, deadline=None, suppress_health_check=list(HealthCheck))
@given(depth=st.integers(65, 1_500), brackets=st.sampled_from([("[", "]"), ('{"a":', "}")]))
async def test_deeply_nested_messages_are_closed_with_4400(
    target: tuple[Server, str], depth: int, brackets: tuple[str, str]
) -> None:
    """A message nested up to 1,500 deep (the message size cap), bare or as a subscribe's
    variables: 4400, never an unhandled RecursionError."""
    server, token = target
    opener, closer = brackets
    deep = opener * depth + "1" + closer * depth
    subscribe = '{"id": "1", "type": "subscribe", "payload": {"query": "{ __typename }", '
    for message in (deep, subscribe + '"variables": {"a": ' + deep + "}}}"):
        async with raw_ws(server) as ws:
            await init(ws, {"token": token})
            await ws.send(message)
            assert await close_code(ws) == 4400
    await still_serving(target)


@settings(max_examples=10, deadline=None, suppress_health_check=list(HealthCheck))
@given(depth=st.integers(65, 1_500), brackets=st.sampled_from([("[", "]"), ('{"a":', "}")]))
async def test_deeply_nested_messages_on_the_legacy_protocol_get_connection_error(
    target: tuple[Server, str], depth: int, brackets: tuple[str, str]
) -> None:
    """On the legacy graphql-ws protocol a message nested too deep, bare or as a start's
    variables, or one that is not JSON at all, gets `connection_error` saying why, as its
    protocol answers a message it cannot parse (without disconnecting): the same socket
    then serves a query."""
    server, token = target
    opener, closer = brackets
    deep = opener * depth + "1" + closer * depth
    start = '{"id": "1", "type": "start", "payload": {"query": "{ __typename }", '
    async with raw_ws(server, LEGACY_WS) as ws:
        await init(ws, {"token": token})
        reasons = []
        for message in (deep, start + '"variables": {"a": ' + deep + "}}}", "not json {"):
            await ws.send(message)
            answer = await receive(ws)
            assert answer["type"] == "connection_error", answer
            reasons.append(answer["payload"]["message"])
        assert reasons[:2] == ["cannot read the message: nested deeper than 64 levels"] * 2
        assert reasons[2].startswith("cannot read the message: ")
        await send(ws, {"id": "2", "type": "start", "payload": {"query": "{ __typename }"}})
        answer = await receive(ws)
        assert answer["type"] == "data" and answer["payload"]["data"] == {"__typename": "Query"}
        assert (await receive(ws))["type"] == "complete"
    await still_serving(target)


@settings(max_examples=10, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    name=st.text(st.characters(codec="utf-8"), max_size=30),
    operation=st.sampled_from(["query", "mutation", "subscription"]),
)
@example(name="a\x00", operation="query")
@example(name="a\x00", operation="mutation")
@example(name="a\x00", operation="subscription")
async def test_legacy_start_serves_queries_and_mutations_once(
    target: tuple[Server, str], name: str, operation: str
) -> None:
    """On the legacy protocol a `start` with a query or mutation gets its data (or a clear
    refusal: a viewer may not create, nothing stores NUL) and `complete`; a subscription
    streams as before."""
    server, token = target
    documents = {
        "query": "query($n: String) { statusCounts(filter: {search: $n}) { count } __typename }",
        "mutation": 'mutation($n: String!) { createInAppMessage(input: {name: "x", title: $n}) '
        "{ userErrors { code } } }",
        "subscription": "subscription($n: String) { statusChanged(after: $n) { cursor } }",
    }
    payload = {"query": documents[operation], "variables": {"n": name}}
    async with raw_ws(server, LEGACY_WS) as ws:
        await init(ws, {"token": token})
        await send(ws, {"id": "1", "type": "start", "payload": payload})
        answer = await receive(ws)
        assert "Unexpected error" not in str(answer), answer
        if "\x00" in name and operation != "mutation":  # (a viewer's mutation: its role first)
            [error] = answer["payload"]["errors"]  # no database stores NUL: refused, saying so
            assert error["extensions"] == {"code": "INVALID_INPUT", "field": ["n"]}, error
        elif operation == "query":
            assert answer["payload"]["data"]["__typename"] == "Query", answer
        elif operation == "mutation":
            [error] = answer["payload"]["errors"]
            assert error.get("extensions", {}).get("code") == "FORBIDDEN", error
        if operation != "subscription":
            assert await receive(ws) == {"type": "complete", "id": "1"}
