"""One vocabulary of error codes: every code the store can refuse with reaches clients as a
value of the GraphQL enum for its place, never as a masked error."""

import ast
from pathlib import Path

from graphql import GraphQLEnumType

from schema import schema
from store.errors import CALL, ITEM, ErrorCode

STORE = Path(__file__).parents[2] / "store"


def _values(name: str) -> list[str]:
    found = schema._schema.type_map[name]
    assert isinstance(found, GraphQLEnumType)
    return list(found.values)


def test_every_store_code_has_a_graphql_counterpart() -> None:
    """A call's codes are UserErrorCode's values, an item's ItemErrorCode's, in that order,
    and every code is one or the other."""
    assert _values("UserErrorCode") == [code.value for code in CALL]
    assert _values("ItemErrorCode") == [code.value for code in ITEM]
    assert set(CALL) | set(ITEM) == set(ErrorCode)


def test_the_store_names_codes_only_through_the_enum() -> None:
    """No store module spells a code as a bare string, where a typo would reach a client as
    a masked error: each code literal in the store is the enum's own declaration."""
    codes = {code.value for code in ErrorCode}
    for module in sorted(STORE.rglob("*.py")):
        for node in ast.walk(ast.parse(module.read_text())):
            if isinstance(node, ast.Constant) and node.value in codes:
                assert module.name == "errors.py", f"{module.name}:{node.lineno} {node.value}"
