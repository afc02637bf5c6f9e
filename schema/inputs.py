"""Inputs: one create and one update input per kind, made from its spec, plus list filters
and order."""

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
from store.kinds import Family, Spec
from store.lifecycle import Origin

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


def content_of(spec: Spec, given: object) -> dict[str, Any]:
    """The kind-specific values an input carries, leaving out those not given."""
    return {
        name: getattr(given, name) for name in _names(spec) if getattr(given, name) is not UNSET
    }


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


@strawberry.input(description="Fields left out stay as they are; null clears an optional one.")
class UpdateInput:
    id: strawberry.ID
    expected_version: int | None = None
    name: str | None = UNSET


@strawberry.input
class UpdateMessageInput(UpdateInput):
    audience_size: int | None = UNSET


def create_input(spec: Spec) -> type:
    """`CreateEmailCampaignInput` and its siblings: a required field must be given, an
    optional one may be left out."""
    base = CreateMessageInput if spec.family is Family.MESSAGE else CreateInput
    fields = {rule.name: (str, REQUIRED) if rule.required else OPTIONAL for rule in spec.fields}
    return _input(f"Create{spec.name}Input", base, fields)


def update_input(spec: Spec) -> type:
    """`UpdateEmailCampaignInput` and its siblings: every field may be left out."""
    base = UpdateMessageInput if spec.family is Family.MESSAGE else UpdateInput
    return _input(f"Update{spec.name}Input", base, dict.fromkeys(_names(spec), OPTIONAL))


REQUIRED: Any = object()  # no default: the field must be given
OPTIONAL: tuple[Any, Any] = (str | None, UNSET)


def _input(name: str, base: type, fields: dict[str, tuple[Any, Any]]) -> type:
    # a class statement's equivalent, so the SDL is what the hand-written inputs printed
    namespace: dict[str, Any] = {
        "__annotations__": {field: kind for field, (kind, _) in fields.items()},
        "__module__": __name__,
        **{field: default for field, (_, default) in fields.items() if default is not REQUIRED},
    }
    return strawberry.input(type(name, (base,), namespace))


def _names(spec: Spec) -> list[str]:
    return [rule.name for rule in spec.fields]
