"""The lifecycle of a communication, as data: statuses per kind and the action table.

Everything that decides whether a status may change reads this module: the store's
compare-and-set, `availableActions`, and the GraphQL enums generated per type.
"""

from dataclasses import dataclass
from enum import StrEnum
from functools import cache

from store.errors import ErrorCode
from store.kinds import SPECS
from store.kinds import Family as Family  # re-exported: callers know the lifecycle's names
from store.kinds import Kind as Kind


class Status(StrEnum):
    DRAFT = "DRAFT"
    SCHEDULED = "SCHEDULED"
    SENDING = "SENDING"
    ACTIVE = "ACTIVE"
    PAUSED = "PAUSED"
    PUBLISHED = "PUBLISHED"
    FINISHED = "FINISHED"
    STOPPED = "STOPPED"
    ERROR = "ERROR"


class Action(StrEnum):
    CREATE = "CREATE"
    SCHEDULE = "SCHEDULE"
    UNSCHEDULE = "UNSCHEDULE"
    LAUNCH = "LAUNCH"
    START = "START"
    FINISH = "FINISH"
    PAUSE = "PAUSE"
    RESUME = "RESUME"
    STOP = "STOP"
    PUBLISH = "PUBLISH"
    UNPUBLISH = "UNPUBLISH"
    FAIL = "FAIL"


class Origin(StrEnum):
    CAMPAIGN = "CAMPAIGN"
    AUTOMATION = "AUTOMATION"


class Trigger(StrEnum):
    """Who triggers an action: a person through the API, or the service itself."""

    PERSON = "PERSON"
    SCHEDULER = "SCHEDULER"
    SENDER = "SENDER"
    SYSTEM = "SYSTEM"


FAMILY: dict[Kind, Family] = {kind: spec.family for kind, spec in SPECS.items()}

S = Status
STATUSES: dict[Family, tuple[Status, ...]] = {
    Family.MESSAGE: (S.DRAFT, S.SCHEDULED, S.SENDING, S.FINISHED, S.STOPPED, S.ERROR),
    Family.DISPLAY: (S.DRAFT, S.SCHEDULED, S.ACTIVE, S.PAUSED, S.FINISHED, S.STOPPED, S.ERROR),
    Family.PAGE: (S.DRAFT, S.PUBLISHED, S.ERROR),
}


@dataclass(frozen=True)
class Move:
    sources: frozenset[Status]
    target: Status
    by: frozenset[Trigger]


def _move(sources: set[Status], target: Status, *by: Trigger) -> Move:
    return Move(frozenset(sources), target, frozenset(by))


PERSON, SCHEDULER, SENDER, SYSTEM = (
    Trigger.PERSON,
    Trigger.SCHEDULER,
    Trigger.SENDER,
    Trigger.SYSTEM,
)
A = Action

TRANSITIONS: dict[Family, dict[Action, Move]] = {
    Family.MESSAGE: {
        A.SCHEDULE: _move({S.DRAFT}, S.SCHEDULED, PERSON),
        A.UNSCHEDULE: _move({S.SCHEDULED}, S.DRAFT, PERSON),
        A.LAUNCH: _move({S.DRAFT, S.SCHEDULED}, S.SENDING, PERSON),
        A.START: _move({S.SCHEDULED}, S.SENDING, SCHEDULER),
        A.FINISH: _move({S.SENDING}, S.FINISHED, SENDER, SCHEDULER),
        A.STOP: _move({S.SENDING, S.FINISHED}, S.STOPPED, PERSON),
        A.FAIL: _move({S.SCHEDULED, S.SENDING, S.FINISHED}, S.ERROR, SENDER, SYSTEM),
    },
    Family.DISPLAY: {
        A.SCHEDULE: _move({S.DRAFT}, S.SCHEDULED, PERSON),
        A.UNSCHEDULE: _move({S.SCHEDULED}, S.DRAFT, PERSON),
        A.LAUNCH: _move({S.DRAFT, S.SCHEDULED}, S.ACTIVE, PERSON),
        A.START: _move({S.SCHEDULED}, S.ACTIVE, SCHEDULER),
        A.FINISH: _move({S.ACTIVE, S.PAUSED}, S.FINISHED, SENDER, SCHEDULER),
        A.PAUSE: _move({S.ACTIVE}, S.PAUSED, PERSON),
        A.RESUME: _move({S.PAUSED}, S.ACTIVE, PERSON),
        A.STOP: _move({S.ACTIVE, S.PAUSED}, S.STOPPED, PERSON),
        A.FAIL: _move({S.SCHEDULED, S.ACTIVE, S.PAUSED, S.FINISHED}, S.ERROR, SENDER, SYSTEM),
    },
    Family.PAGE: {
        A.PUBLISH: _move({S.DRAFT}, S.PUBLISHED, PERSON),
        A.UNPUBLISH: _move({S.PUBLISHED}, S.DRAFT, PERSON),
        A.FAIL: _move({S.DRAFT, S.PUBLISHED}, S.ERROR, SENDER, SYSTEM),
    },
}


class Work(StrEnum):
    """What may happen to a campaign's recipients and statistics, besides status changes."""

    ADD_RECIPIENTS = "ADD_RECIPIENTS"
    CLAIM = "CLAIM"  # PENDING recipients handed to workers; expired leases back to PENDING
    REPORT = "REPORT"  # final outcomes and the provider's later events recorded
    COLLECT = "COLLECT"  # display statistics counted


# In which statuses each happens. FINISHED means queuing is done, yet "single messages can
# still be sent out": a recipient whose worker died after the last claim goes back to
# PENDING and is claimed again, until a stop makes whatever is left NOT_SENT.
WORK: dict[Work, frozenset[Status]] = {
    Work.ADD_RECIPIENTS: frozenset({S.DRAFT, S.SCHEDULED}),
    Work.CLAIM: frozenset({S.SENDING, S.FINISHED}),
    Work.REPORT: frozenset({S.SENDING, S.FINISHED, S.STOPPED, S.ERROR}),
    Work.COLLECT: frozenset({S.ACTIVE}),
}

EDITABLE: frozenset[Status] = frozenset({S.DRAFT})
DELETABLE: frozenset[Status] = frozenset({S.DRAFT})


def statuses(kind: Kind) -> tuple[Status, ...]:
    return STATUSES[FAMILY[kind]]


def check(
    kind: Kind, origin: Origin, status: Status, action: Action, by: Trigger
) -> Status | ErrorCode:
    """The status `action` moves to from `status`, or why it may not."""
    move = TRANSITIONS[FAMILY[kind]].get(action)
    if move is None or status not in move.sources or by not in move.by:
        return ErrorCode.INVALID_TRANSITION
    if action is Action.STOP and origin is Origin.AUTOMATION:
        return ErrorCode.STOP_NOT_AVAILABLE_FOR_AUTOMATION
    return move.target


def available_actions(kind: Kind, origin: Origin, status: Status) -> list[Action]:
    """What a person may do now, in the order of the `Action` enum."""
    return list(_available(kind, origin, status))


@cache  # every communication read asks it: a list of 50 asked a check per action 50 times
def _available(kind: Kind, origin: Origin, status: Status) -> tuple[Action, ...]:
    return tuple(a for a in Action if isinstance(check(kind, origin, status, a, PERSON), Status))
