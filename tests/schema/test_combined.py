"""Hooks run as one (schema/combined.py) behave as nested context managers: in order,
outermost first; an error raised inside reaches each hook that started, innermost first,
and no hook after the one that raised starts."""

from collections.abc import AsyncIterator, Iterator

import pytest
import strawberry
from graphql import GraphQLError
from strawberry.extensions import SchemaExtension

from schema.combined import Combined

seen: list[str] = []


class Outer(SchemaExtension):
    async def on_execute(self) -> AsyncIterator[None]:
        seen.append("outer in")
        try:
            yield
        finally:
            seen.append("outer out")


class Refuses(SchemaExtension):
    def on_execute(self) -> Iterator[None]:
        seen.append("refuses in")
        if self.execution_context.variables == {"refuse": True}:
            raise GraphQLError("refused")
        yield
        seen.append("refuses out")


class Inner(SchemaExtension):
    async def on_execute(self) -> AsyncIterator[None]:
        seen.append("inner in")
        yield
        seen.append("inner out")

    def get_results(self) -> dict[str, object]:
        return {"inner": True}


@strawberry.type
class Query:
    @strawberry.field
    def ping(self, refuse: bool = False) -> bool:
        seen.append("resolved")
        return True


SCHEMA = strawberry.Schema(Query, extensions=[lambda: Combined([Outer, Refuses, Inner])])


@pytest.mark.parametrize(
    ("refuse", "order"),
    [
        (False, ["outer in", "refuses in", "inner in", "resolved", "inner out", "refuses out"]),
        (True, ["outer in", "refuses in"]),
    ],
)
async def test_hooks_run_as_nested_context_managers(refuse: bool, order: list[str]) -> None:
    """In order on the way in, reversed on the way out; a refusal stops what is inside it
    and the hooks around it still finish."""
    seen.clear()
    result = await SCHEMA.execute(
        "query($refuse: Boolean!) { ping(refuse: $refuse) }", variable_values={"refuse": refuse}
    )
    assert seen == [*order, "outer out"]
    assert bool(result.errors) is refuse
    assert result.extensions == {"inner": True}


def test_a_part_with_other_hooks_is_refused() -> None:
    """Only on_execute and get_results can be combined: others would silently not run."""

    class Parses(SchemaExtension):
        def on_parse(self) -> Iterator[None]:
            yield

    with pytest.raises(AssertionError):
        Combined([Parses])
