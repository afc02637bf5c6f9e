"""What errors tell clients. Expected errors keep their message: syntax and validation
errors, refusals of input, permission and rate limits, errors carrying `extensions.code`.
Anything else is a bug: the client gets "Unexpected error" and a request id, and the log
gets the same id with the traceback."""

import logging
import re
import uuid
from contextvars import ContextVar

import strawberry
from graphql import GraphQLError
from strawberry.extensions import MaskErrors
from strawberry.types import ExecutionContext

log = logging.getLogger("commpulse.errors")
SUGGESTION = re.compile(r"\s*Did you mean .*$", re.DOTALL)

# The id of the HTTP request or websocket being served; the server sets it for each one
# (server/http.py) and sends it back as X-Request-ID.
REQUEST_ID: ContextVar[str | None] = ContextVar("commpulse_request_id", default=None)


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
        masked.extensions = {"code": "INTERNAL_SERVER_ERROR", "requestId": request}
        return masked

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
            code = (error.extensions or {}).get("code", "GRAPHQL_ERROR")
            where = ".".join(map(str, error.path or [])) or "document"
            message = " ".join(error.message.split())
            log.info("request %s: %s at %s: %s", request_id(), code, where, message)
