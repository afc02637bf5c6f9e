"""Malformed transport input against a live server: any JSON value as a body, bodies and
variables nested thousands deep, are answered 4xx with a reason, never 5xx, and the
keep-alive connection goes on serving."""

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from store.tokens import ApiRole
from tests.e2e.conftest import Server, bearer, launch, make_token, stop_all

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="module")]
FEW = settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)
# what an operation's members could be sent as: right, wrong type, or absent
operations = st.fixed_dictionaries(
    {},
    optional={
        "query": st.sampled_from(["{ __typename }", "{ nope }", "query Q { __typename }"])
        | json_values,
        "variables": json_values,
        "operationName": st.sampled_from(["Q", "R"]) | json_values,
        "extensions": json_values,
    },
)
bodies = json_values | operations | st.lists(operations, max_size=3)


@dataclass
class Target:
    http: httpx.AsyncClient
    url: str

    async def post(self, **request: Any) -> httpx.Response:
        return await self.http.post(self.url, **request)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def client(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator["Target"]:
    """One server for the module with auth on, and a keep-alive client with a viewer token."""
    started: list[Server] = []
    database: Path = tmp_path_factory.mktemp("transport") / "e2e.db"
    server = await launch(database, started, COMMPULSE_AUTH="on", COMMPULSE_RATE_BURST="100000")
    token = await make_token(server, "transport-viewer", ApiRole.VIEWER)
    async with httpx.AsyncClient(headers=bearer(token)) as http:
        yield Target(http, server.http_url)
    await stop_all(started)


async def answered(client: Target, content: str) -> httpx.Response:
    """POST `content` as JSON; the answer is never a 5xx and always says what went wrong."""
    response = await client.post(content=content, headers={"content-type": "application/json"})
    assert response.status_code < 500, (content[:200], response.text)
    if response.status_code >= 400:
        assert response.json()["errors"][0]["message"]
    return response


def nested(depth: int, opener: str, closer: str, leaf: str) -> str:
    return opener * depth + leaf + closer * depth


@FEW
@given(body=bodies)
async def test_any_json_body_is_answered_without_a_server_error(client: Target, body: Any) -> None:
    """Any JSON value as a POST body: 200 with a GraphQL answer or a 4xx with a reason,
    never a 5xx or "Unexpected error"; the same connection then serves a query."""
    response = await answered(client, json.dumps(body))
    assert "Unexpected error" not in response.text
    follow = await client.post(json={"query": "{ __typename }"})
    assert follow.json()["data"] == {"__typename": "Query"}, follow.text


@FEW
@given(
    depth=st.integers(65, 30_000),
    brackets=st.sampled_from([("[", "]"), ('{"a":', "}")]),
    where=st.sampled_from(["body", "variables"]),
)
async def test_deeply_nested_json_is_refused_with_a_reason(
    client: Target, depth: int, brackets: tuple[str, str], where: str
) -> None:
    """A body, or its `variables`, nested tens of thousands deep: 400 saying so."""
    deep = nested(depth, *brackets, "1")
    if where == "variables":
        deep = '{"query": "query($a: [[Int]]) { __typename }", "variables": {"a": ' + deep + "}}"
    response = await answered(client, deep)
    assert response.status_code == 400
    assert "nested deeper than 64 levels" in response.json()["errors"][0]["message"]
