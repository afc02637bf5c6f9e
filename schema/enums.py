"""GraphQL enums, taken from the store's lifecycle table rather than written again."""

from enum import Enum
from typing import Annotated

import strawberry

from store.errors import ErrorCode
from store.lifecycle import Action, Kind, Origin, Status, statuses

CommunicationKind = Annotated[Kind, strawberry.enum(name="CommunicationKind")]
CommunicationStatus = Annotated[Status, strawberry.enum(name="CommunicationStatus")]
CommunicationOrigin = Annotated[Origin, strawberry.enum(name="CommunicationOrigin")]
CommunicationAction = Annotated[Action, strawberry.enum(name="CommunicationAction")]
UserErrorCode = Annotated[ErrorCode, strawberry.enum(name="UserErrorCode")]


@strawberry.enum
class SortField(Enum):
    CREATED_AT = "created_at"
    UPDATED_AT = "updated_at"
    NAME = "name"


@strawberry.enum
class SortDirection(Enum):
    ASC = "ASC"
    DESC = "DESC"


def _status_enum(type_name: str, kind: Kind) -> type[Enum]:
    """`EmailCampaignStatus` and its siblings: only the statuses the table gives that kind."""
    members = {status.name: status.value for status in statuses(kind)}
    enum = Enum(f"{type_name}Status", members)  # type: ignore[misc]
    return strawberry.enum(
        enum, description=f"The statuses of {type_name}, from the lifecycle table."
    )


TYPE_NAMES: dict[Kind, str] = {
    Kind.EMAIL: "EmailCampaign",
    Kind.SMS: "SmsCampaign",
    Kind.WEB_PUSH: "WebPushCampaign",
    Kind.MOBILE_PUSH: "MobilePushCampaign",
    Kind.DYNAMIC_CONTENT: "DynamicContent",
    Kind.IN_APP: "InAppMessage",
    Kind.SCREEN_VIEW: "ScreenView",
    Kind.LANDING_PAGE: "LandingPage",
}

STATUS_ENUMS: dict[Kind, type[Enum]] = {
    kind: _status_enum(name, kind) for kind, name in TYPE_NAMES.items()
}
