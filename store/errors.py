"""Expected refusals: the store's one vocabulary of codes. The GraphQL layer turns a
`Refused` into a `userErrors` entry, and an item's code into its result's `code`."""

from enum import StrEnum


class ErrorCode(StrEnum):
    """Every code the store refuses with, whole calls and single items alike."""

    NOT_FOUND = "NOT_FOUND"
    INVALID_INPUT = "INVALID_INPUT"
    INVALID_TRANSITION = "INVALID_TRANSITION"
    STOP_NOT_AVAILABLE_FOR_AUTOMATION = "STOP_NOT_AVAILABLE_FOR_AUTOMATION"
    VERSION_CONFLICT = "VERSION_CONFLICT"
    UNKNOWN_RECIPIENT = "UNKNOWN_RECIPIENT"
    NOT_CLAIMED = "NOT_CLAIMED"
    STALE_LEASE = "STALE_LEASE"
    LEASE_ENDED = "LEASE_ENDED"
    CONFLICTING_OUTCOME = "CONFLICTING_OUTCOME"
    NOT_COLLECTED = "NOT_COLLECTED"
    UNKNOWN_MESSAGE = "UNKNOWN_MESSAGE"
    AMBIGUOUS_MESSAGE = "AMBIGUOUS_MESSAGE"
    OUTCOME_NOT_SENT = "OUTCOME_NOT_SENT"


C = ErrorCode
# A whole call refused (`Refused`): a `userErrors` entry, or a GraphQL error for a read.
CALL: tuple[ErrorCode, ...] = (
    C.NOT_FOUND,
    C.INVALID_INPUT,
    C.INVALID_TRANSITION,
    C.STOP_NOT_AVAILABLE_FOR_AUTOMATION,
    C.VERSION_CONFLICT,
)
# One item of a batch not applied, the others going ahead: an entry of its `results`.
ITEM: tuple[ErrorCode, ...] = (
    C.UNKNOWN_RECIPIENT,
    C.NOT_CLAIMED,
    C.STALE_LEASE,
    C.LEASE_ENDED,
    C.CONFLICTING_OUTCOME,
    C.NOT_COLLECTED,
    C.UNKNOWN_MESSAGE,
    C.AMBIGUOUS_MESSAGE,
    C.OUTCOME_NOT_SENT,
    C.INVALID_INPUT,
)


class Refused(Exception):
    def __init__(self, code: ErrorCode, message: str, field: list[str] | None = None) -> None:
        # the GraphQL layer has a counterpart for the codes of CALL only
        assert code in CALL, f"{code} refuses an item, not a call"
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
