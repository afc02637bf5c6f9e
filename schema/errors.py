"""What errors tell clients. Expected errors keep their message: syntax and validation
errors, refusals of input, permission and rate limits, errors carrying `extensions.code`.
Anything else is a bug: the client gets "Unexpected error" and a request id, and the log
gets the same id with the traceback."""

import logging
import re
import uuid

from graphql import GraphQLError
from strawberry.extensions import MaskErrors

log = logging.getLogger("commpulse.errors")
SUGGESTION = re.compile(r"\s*Did you mean .*$", re.DOTALL)


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
        request_id = uuid.uuid4().hex
        original = error.original_error
        log.error(
            "request %s: unexpected error at %s: %s",
            request_id,
            ".".join(map(str, error.path or [])) or "(operation)",
            error.message,
            exc_info=(type(original), original, original.__traceback__) if original else None,
        )
        masked = super().anonymise_error(error)
        masked.extensions = {"code": "INTERNAL_SERVER_ERROR", "requestId": request_id}
        return masked

    def _process_errors(self, errors: list[GraphQLError]) -> list[GraphQLError]:
        processed = super()._process_errors(errors)
        if not self.field_suggestions:
            for error in processed:
                error.message = SUGGESTION.sub("", error.message)
        return processed
