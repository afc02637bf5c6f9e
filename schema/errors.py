"""What errors tell clients. Expected errors keep their message: syntax and validation
errors, refusals of input, permission and rate limits, errors carrying `extensions.code`.
Anything else is a bug: the client gets "Unexpected error" and a request id, and the log
gets the same id with the traceback."""

import logging
import re
import uuid
from contextvars import ContextVar
from enum import StrEnum

import strawberry
from graphql import GraphQLError
from strawberry.extensions import MaskErrors
from strawberry.types import ExecutionContext

log = logging.getLogger("commpulse.errors")
SUGGESTION = re.compile(r"\s*Did you mean .*$", re.DOTALL)

# The id of the HTTP request or websocket being served; the server sets it for each one
# (server/http.py) and sends it back as X-Request-ID.
REQUEST_ID: ContextVar[str | None] = ContextVar("commpulse_request_id", default=None)


class Code(StrEnum):
    """`extensions.code` of the errors the schema and the server raise themselves. A store
    refusal raised as an error keeps the store's code (store/errors.py `ErrorCode`)."""

    UNAUTHENTICATED = "UNAUTHENTICATED"  # no token, or one that is not (or no longer) valid
    FORBIDDEN = "FORBIDDEN"  # the token's role may not call that field
    BAD_REQUEST = "BAD_REQUEST"  # refused before GraphQL ran: bad JSON, a bad batch
    RATE_LIMITED = "RATE_LIMITED"
    COST_EXCEEDED = "COST_EXCEEDED"  # over the maximum cost of one operation
    COST_LIMITED = "COST_LIMITED"  # the token's cost budget is spent for now
    INVALID_IDEMPOTENCY_KEY = "INVALID_IDEMPOTENCY_KEY"
    IDEMPOTENCY_KEY_REUSED = "IDEMPOTENCY_KEY_REUSED"
    IDEMPOTENCY_KEY_IN_USE = "IDEMPOTENCY_KEY_IN_USE"
    SLOW_CONSUMER = "SLOW_CONSUMER"  # a subscriber fell too far behind the stream
    INTERNAL_SERVER_ERROR = "INTERNAL_SERVER_ERROR"  # a bug, masked
    GRAPHQL_ERROR = "GRAPHQL_ERROR"  # syntax and validation errors, in the log only


def request_id() -> str:
    return REQUEST_ID.get() or uuid.uuid4().hex


def is_unexpected(error: GraphQLError) -> bool:
    original = error.original_error
    if original is None or isinstance(original, GraphQLError):
        return False  # raised as a GraphQL error on purpose, or from parse and validation
    # a variable's value refused while coercing input: reported against the document
    return not (error.path is None and error.nodes)


class ErrorPolicy(MaskErrors):
    def __init__(self, field_suggestions: bool = True) -> None:
        super().__init__(should_mask_error=is_unexpected, error_message="Unexpected error")
        self.field_suggestions = field_suggestions

    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        request = request_id()
        original = error.original_error
        log.error(
            "request %s: unexpected error at %s: %s",
            request,
            ".".join(map(str, error.path or [])) or "(operation)",
            error.message,
            exc_info=(type(original), original, original.__traceback__) if original else None,
        )
        masked = super().anonymise_error(error)
        masked.extensions = {"code": Code.INTERNAL_SERVER_ERROR, "requestId": request}
        return masked

    def _process_result(self, result: object) -> None:
        # as MaskErrors does, without its isinstance of a runtime Protocol (2.6% of a read)
        errors = getattr(result, "errors", None)
        if errors:
            result.errors = self._process_errors(errors)  # type: ignore[attr-defined]

    def _process_errors(self, errors: list[GraphQLError]) -> list[GraphQLError]:
        processed = super()._process_errors(errors)
        if not self.field_suggestions:
            for error in processed:
                error.message = SUGGESTION.sub("", error.message)
        return processed


class Schema(strawberry.Schema):
    """Strawberry logs every error at ERROR with its traceback, client mistakes included.
    Here a client's mistake is one line at INFO with the request id; a bug is logged once,
    with its traceback, where ErrorPolicy masks it."""

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        for error in errors:
            if is_unexpected(error):
                continue
            code = (error.extensions or {}).get("code", Code.GRAPHQL_ERROR)
            where = ".".join(map(str, error.path or [])) or "document"
            message = " ".join(error.message.split())
            log.info("request %s: %s at %s: %s", request_id(), code, where, message)
