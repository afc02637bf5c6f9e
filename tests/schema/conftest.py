"""Run GraphQL documents against the real schema and a store on each database engine."""

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from schema import schema
from schema.context import Context
from store import Store
from store.tokens import ApiRole

Run = Callable[..., Awaitable[dict[str, Any]]]


@pytest.fixture
def gql(store: Store) -> Run:
    async def run(document: str, **variables: Any) -> dict[str, Any]:
        result = await schema.execute(
            document,
            variable_values=variables,
            context_value=Context(store=store, actor="tester", role=ApiRole.ADMIN),
        )
        assert result.errors is None, result.errors
        assert result.data is not None
        return result.data

    return run
