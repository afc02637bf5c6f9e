"""Hooks run as one (schema/combined.py) behave as nested context managers: in order,
outermost first; an error raised inside reaches each hook that started, innermost first,
and no hook after the one that raised starts."""

from collections.abc import AsyncIterator, Iterator
from typing import Any

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


class Phases(SchemaExtension):
    def __init__(self, name: str) -> None:
        self.name = name

    def on_operation(self) -> Iterator[None]:
        seen.append(f"{self.name} operation in")
        yield
        seen.append(f"{self.name} operation out")

    def on_parse(self) -> Iterator[None]:
        seen.append(f"{self.name} parse")
        yield

    def on_validate(self) -> Iterator[None]:
        seen.append(f"{self.name} validate")
        yield


async def test_each_phase_runs_its_parts_in_order() -> None:
    """Operation, parse and validation hooks nest in the parts' order too."""
    seen.clear()
    both = [lambda: Phases("a"), lambda: Phases("b")]
    schema = strawberry.Schema(Query, extensions=[lambda: Combined(both)])
    assert not (await schema.execute("{ ping }")).errors
    assert seen == [
        "a operation in",
        "b operation in",
        "a parse",
        "b parse",
        "a validate",
        "b validate",
        "resolved",
        "b operation out",
        "a operation out",
    ]


def test_a_part_with_other_hooks_is_refused() -> None:
    """A part with a hook that cannot be combined is refused: it would silently not run."""

    class Resolves(SchemaExtension):
        def resolve(self, _next: Any, root: Any, info: Any, *args: Any, **kwargs: Any) -> Any:
            return _next(root, info, *args, **kwargs)

    class AsyncParse(SchemaExtension):
        async def on_parse(self) -> AsyncIterator[None]:
            yield

    for part in (Resolves, AsyncParse):
        with pytest.raises(AssertionError):
            Combined([part])
