"""schemathesis' GraphQL fuzzing, and hypothesis-graphql's over the whole schema, against a
live server, with an admin token and a bounded number of examples: no 5xx, every answer a
GraphQL response, no masked bug, no null where the schema promises a value."""

import asyncio
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from store.tokens import ApiRole
from tests.e2e.conftest import StartServer, bearer, make_token
from tests.schema.test_fuzz import documents

pytestmark = pytest.mark.e2e

EXAMPLES = 3  # per operation: a smoke screen for CI, not an exhaustive search
GRAPHQL_EXAMPLES = 60  # hypothesis-graphql documents over the whole schema


def problems(response: Any) -> list[str]:
    """What is wrong with one answer, if anything."""
    if response.status_code >= 500:
        return [f"{response.status_code}: {response.text[:200]}"]
    try:
        payload = response.json()
    except ValueError:
        return [f"{response.status_code}, not JSON: {response.text[:200]}"]
    if response.status_code in (400, 413, 415) and isinstance(payload, dict):
        return []  # refused before execution, with a reason
    if not isinstance(payload, dict) or not {"data", "errors"} & set(payload):
        return [f"not a GraphQL response: {payload!r:.200}"]
    found = []
    for error in payload.get("errors") or []:
        if (error.get("extensions") or {}).get("code") == "INTERNAL_SERVER_ERROR":
            found.append(f"a masked bug: {error}")
        if error.get("message", "").startswith("Cannot return null for non-nullable"):
            found.append(f"breaks the schema: {error}")
    return found


def fuzz(url: str, token: str) -> list[str]:
    schema = schemathesis.graphql.from_url(url, headers=bearer(token))
    found: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
        def check(case: Any) -> None:
            response = case.call(headers=bearer(token))
            found.extend(f"{case.operation.label}: {p}\n{case.body}" for p in problems(response))

        check()
    return found


async def test_fuzzing_finds_no_server_error_and_no_schema_break(start_server: StartServer) -> None:
    """Generated queries and mutations for every operation: each answer is a well-formed
    GraphQL response or a 4xx refusal, never a 5xx, a masked bug or a null in a non-null."""
    server = await start_server(COMMPULSE_AUTH="on", COMMPULSE_RATE_BURST="100000")
    token = await make_token(server, "fuzzer", ApiRole.ADMIN)
    found = await asyncio.to_thread(fuzz, server.http_url, token)
    assert found == [], "\n\n".join(found[:10])


def fuzz_graphql(url: str, token: str) -> list[str]:
    """hypothesis-graphql's queries and mutations over the whole schema, sent over HTTP."""
    found: list[str] = []
    with httpx.Client(headers=bearer(token), timeout=30) as client:

        @given(document=documents)
        @settings(
            max_examples=GRAPHQL_EXAMPLES,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def check(document: str) -> None:
            response = client.post(url, json={"query": document})
            found.extend(f"{p}\n{document}" for p in problems(response))
            if "Unexpected error" in response.text:
                found.append(f"Unexpected error\n{document}")

        check()
    return found


async def test_hypothesis_graphql_finds_nothing_unexpected_on_a_live_server(
    start_server: StartServer,
) -> None:
    """Valid queries and mutations with arbitrary argument values, over HTTP with an admin
    token: no 5xx, no "Unexpected error", no INTERNAL_SERVER_ERROR."""
    server = await start_server(
        COMMPULSE_AUTH="on",
        COMMPULSE_RATE_BURST="100000",
        COMMPULSE_COST_BUDGET="100000000",
        COMMPULSE_MAX_COST="100000000",
    )
    token = await make_token(server, "graphql-fuzzer", ApiRole.ADMIN)
    found = await asyncio.to_thread(fuzz_graphql, server.http_url, token)
    assert found == [], "\n\n".join(found[:10])
