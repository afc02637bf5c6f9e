"""Expected refusals. The GraphQL layer turns each into a `userErrors` entry."""

from enum import StrEnum


class ErrorCode(StrEnum):
    NOT_FOUND = "NOT_FOUND"
    INVALID_INPUT = "INVALID_INPUT"
    INVALID_TRANSITION = "INVALID_TRANSITION"
    STOP_NOT_AVAILABLE_FOR_AUTOMATION = "STOP_NOT_AVAILABLE_FOR_AUTOMATION"
    VERSION_CONFLICT = "VERSION_CONFLICT"


class Refused(Exception):
    def __init__(self, code: ErrorCode, message: str, field: list[str] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field


def not_found(_communication_id: object = None) -> Refused:
    return Refused(ErrorCode.NOT_FOUND, "no communication has this id", ["id"])


def invalid(field: str, message: str) -> Refused:
    return Refused(ErrorCode.INVALID_INPUT, message, [field])


def version_conflict(current: int, expected: int | None) -> Refused:
    seen = f"version {expected} was read" if expected is not None else "it was read"
    return Refused(
        ErrorCode.VERSION_CONFLICT,
        f"the communication changed since {seen} (it is at version {current} or later); "
        "read it again and retry",
        ["expectedVersion"],
    )
