"""Inputs: one create and one update input per kind, plus list filters and order."""

from datetime import datetime
from typing import Any

import strawberry

from schema.enums import (
    CommunicationKind,
    CommunicationOrigin,
    CommunicationStatus,
    SortDirection,
    SortField,
)
from store.communications import Filter, Order
from store.content import CONTENT
from store.lifecycle import Kind, Origin

UNSET: Any = strawberry.UNSET


@strawberry.input
class CommunicationFilter:
    kinds: list[CommunicationKind] | None = None
    statuses: list[CommunicationStatus] | None = None
    origins: list[CommunicationOrigin] | None = None
    search: str | None = strawberry.field(default=None, description="Part of the name, any case.")
    created_after: datetime | None = None
    created_before: datetime | None = None

    def to_store(self) -> Filter:
        return Filter(
            kinds=self.kinds,
            statuses=self.statuses,
            origins=self.origins,
            search=self.search,
            created_after=self.created_after,
            created_before=self.created_before,
        )


@strawberry.input
class CommunicationOrder:
    field: SortField = SortField.CREATED_AT
    direction: SortDirection = SortDirection.DESC

    def to_store(self) -> Order:
        return Order(field=self.field.value, descending=self.direction is SortDirection.DESC)


def content_of(kind: Kind, given: object) -> dict[str, Any]:
    """The kind-specific values an input carries, leaving out those not given."""
    names = (rule.name for rule in CONTENT[kind])
    return {name: getattr(given, name) for name in names if getattr(given, name) is not UNSET}


@strawberry.input
class CreateInput:
    name: str
    origin: CommunicationOrigin | None = Origin.CAMPAIGN


@strawberry.input
class CreateMessageInput(CreateInput):
    audience_size: int | None = strawberry.field(
        default=None,
        description="A synthetic audience of this many profiles, for demos and benchmarks.",
    )
    recipients: list[str] | None = strawberry.field(
        default=None, description="Profile ids, up to 10,000; add more with addRecipients."
    )


@strawberry.input
class CreateEmailCampaignInput(CreateMessageInput):
    subject: str
    from_address: str | None = UNSET
    body: str | None = UNSET


@strawberry.input
class CreateSmsCampaignInput(CreateMessageInput):
    text: str
    sender_name: str | None = UNSET


@strawberry.input
class CreateWebPushCampaignInput(CreateMessageInput):
    title: str
    body: str | None = UNSET
    url: str | None = UNSET


@strawberry.input
class CreateMobilePushCampaignInput(CreateMessageInput):
    title: str
    body: str | None = UNSET
    deep_link: str | None = UNSET


@strawberry.input
class CreateDynamicContentInput(CreateInput):
    placement: str
    html: str | None = UNSET


@strawberry.input
class CreateInAppMessageInput(CreateInput):
    title: str
    body: str | None = UNSET


@strawberry.input
class CreateScreenViewInput(CreateInput):
    screen: str
    html: str | None = UNSET


@strawberry.input
class CreateLandingPageInput(CreateInput):
    slug: str
    title: str
    html: str | None = UNSET


@strawberry.input(description="Fields left out stay as they are; null clears an optional one.")
class UpdateInput:
    id: strawberry.ID
    expected_version: int | None = None
    name: str | None = UNSET


@strawberry.input
class UpdateMessageInput(UpdateInput):
    audience_size: int | None = UNSET


@strawberry.input
class UpdateEmailCampaignInput(UpdateMessageInput):
    subject: str | None = UNSET
    from_address: str | None = UNSET
    body: str | None = UNSET


@strawberry.input
class UpdateSmsCampaignInput(UpdateMessageInput):
    text: str | None = UNSET
    sender_name: str | None = UNSET


@strawberry.input
class UpdateWebPushCampaignInput(UpdateMessageInput):
    title: str | None = UNSET
    body: str | None = UNSET
    url: str | None = UNSET


@strawberry.input
class UpdateMobilePushCampaignInput(UpdateMessageInput):
    title: str | None = UNSET
    body: str | None = UNSET
    deep_link: str | None = UNSET


@strawberry.input
class UpdateDynamicContentInput(UpdateInput):
    placement: str | None = UNSET
    html: str | None = UNSET


@strawberry.input
class UpdateInAppMessageInput(UpdateInput):
    title: str | None = UNSET
    body: str | None = UNSET


@strawberry.input
class UpdateScreenViewInput(UpdateInput):
    screen: str | None = UNSET
    html: str | None = UNSET


@strawberry.input
class UpdateLandingPageInput(UpdateInput):
    slug: str | None = UNSET
    title: str | None = UNSET
    html: str | None = UNSET
