"""GraphQL enums, taken from the store's lifecycle table and kinds rather than written again."""

from enum import Enum
from typing import Annotated, Any

import strawberry

from store.errors import CALL, ITEM, ErrorCode
from store.kinds import SPECS, Spec
from store.lifecycle import STATUSES, Action, Kind, Origin, Status

CommunicationKind = Annotated[Kind, strawberry.enum(name="CommunicationKind")]
CommunicationStatus = Annotated[Status, strawberry.enum(name="CommunicationStatus")]
CommunicationOrigin = Annotated[Origin, strawberry.enum(name="CommunicationOrigin")]
CommunicationAction = Annotated[Action, strawberry.enum(name="CommunicationAction")]


@strawberry.enum
class SortField(Enum):
    CREATED_AT = "created_at"
    UPDATED_AT = "updated_at"
    NAME = "name"


@strawberry.enum
class SortDirection(Enum):
    ASC = "ASC"
    DESC = "DESC"


def status_enum(spec: Spec) -> type[Enum]:
    """`EmailCampaignStatus` and its siblings: only the statuses the table gives that kind."""
    members = {status.name: status.value for status in STATUSES[spec.family]}
    enum = Enum(f"{spec.name}Status", members)  # type: ignore[misc]
    return strawberry.enum(
        enum, description=f"The statuses of {spec.name}, from the lifecycle table."
    )


STATUS_ENUMS: dict[Kind, type[Enum]] = {kind: status_enum(spec) for kind, spec in SPECS.items()}


def _codes(name: str, codes: tuple[ErrorCode, ...], description: str | None = None) -> Any:
    """A GraphQL enum of some of the store's codes: a store code is served as it is."""
    enum = Enum(name, {code.name: code.value for code in codes})  # type: ignore[misc]
    return strawberry.enum(enum, description=description)


UserErrorCode = _codes("UserErrorCode", CALL)
ItemErrorCode = _codes(
    "ItemErrorCode",
    ITEM,
    description="Why one item was not applied. STALE_LEASE: another lease holds the "
    "recipient now; NOT_CLAIMED: no worker ever held it; LEASE_ENDED: the lease no "
    "longer holds it (PENDING again, or final).",
)
