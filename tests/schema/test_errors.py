"""What errors tell clients: unexpected ones are masked with a request id that the log
also carries; expected ones keep their message."""

import logging

import pytest
import strawberry
from graphql import GraphQLError

from schema import schema
from schema.context import Context
from schema.errors import ErrorPolicy
from store import Store
from store.tokens import ApiRole


@strawberry.type
class Query:
    @strawberry.field
    def broken(self) -> str:
        raise RuntimeError("the database password is hunter2")

    @strawberry.field
    def refused(self) -> str:
        raise GraphQLError("not now", extensions={"code": "SOME_CODE"})


POLICED = strawberry.Schema(query=Query, extensions=[ErrorPolicy])


async def test_unexpected_errors_are_masked_with_a_request_id_in_the_log(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A bug's message never reaches the client: it gets "Unexpected error" and a request id
    that names the log line holding the traceback."""
    with caplog.at_level(logging.ERROR, logger="commpulse.errors"):
        result = await POLICED.execute("{ broken }")
    assert result.errors is not None
    [error] = result.errors
    assert error.message == "Unexpected error"
    request_id = error.extensions["requestId"]
    assert error.extensions["code"] == "INTERNAL_SERVER_ERROR"
    assert "hunter2" not in str(error.formatted)
    [record] = [r for r in caplog.records if request_id in r.getMessage()]
    assert record.exc_info is not None and "hunter2" in str(record.exc_info[1])


async def test_expected_errors_keep_their_message() -> None:
    """Errors raised on purpose, validation and syntax errors are not masked."""
    refused = await POLICED.execute("{ refused }")
    assert refused.errors is not None
    assert refused.errors[0].message == "not now"
    assert refused.errors[0].extensions == {"code": "SOME_CODE"}
    invalid = await POLICED.execute("{ brokn }")
    assert invalid.errors is not None
    assert "Cannot query field 'brokn'" in invalid.errors[0].message
    syntax = await POLICED.execute("{ broken")
    assert syntax.errors is not None
    assert "Syntax Error" in syntax.errors[0].message


async def test_refusals_of_input_keep_their_message(store: Store) -> None:
    """A bad variable value and a refusal of the API (INVALID_INPUT) keep their messages
    through the real schema."""
    context = Context(store=store, actor="tester", role=ApiRole.ADMIN)
    query = "query($n: Int) { communications(first: $n) { totalCount } }"
    coerced = await schema.execute(query, variable_values={"n": "many"}, context_value=context)
    assert coerced.errors is not None
    assert "Int cannot represent non-integer value" in coerced.errors[0].message
    refused = await schema.execute(query, variable_values={"n": 101}, context_value=context)
    assert refused.errors is not None
    assert refused.errors[0].message == "first must be between 0 and 100"
    assert refused.errors[0].extensions == {"code": "INVALID_INPUT", "field": ["first"]}
