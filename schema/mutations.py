"""Mutations: thin resolvers that decode ids, call the store and report refusals."""

from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime
from typing import Any

import strawberry

from schema import ids
from schema.context import Info
from schema.inputs import UNSET, CreateInput, UpdateInput, content_of, create_input, update_input
from schema.types import (
    CommunicationPayload,
    DeleteCommunicationPayload,
    StopSummary,
    refusals_as_user_errors,
    to_graphql,
)
from store import changes, communications, deliveries
from store.content import has_audience
from store.errors import invalid
from store.kinds import SPECS, Spec
from store.lifecycle import Action, Kind, Origin, Trigger
from store.tables import Communication as Row


@refusals_as_user_errors(CommunicationPayload, communication=None)
async def _payload(work: Awaitable[Row]) -> CommunicationPayload:
    return CommunicationPayload(communication=to_graphql(await work), user_errors=[])


async def _create(info: Info, spec: Spec, given: CreateInput) -> CommunicationPayload:
    kind = Kind(spec.kind)
    return await _payload(
        communications.create(
            info.context.store,
            kind,
            name=given.name,
            origin=given.origin or Origin.CAMPAIGN,
            content=content_of(spec, given),
            audience_size=getattr(given, "audience_size", None) if has_audience(kind) else None,
            actor=info.context.actor,
            recipients=getattr(given, "recipients", None) if has_audience(kind) else None,
        )
    )


async def _update(info: Info, spec: Spec, given: UpdateInput) -> CommunicationPayload:
    fields = content_of(spec, given)
    for name in ("name", "audience_size"):
        if getattr(given, name, UNSET) is not UNSET:
            fields[name] = getattr(given, name)
    pk = ids.communication_pk(given.id)
    return await _payload(_edit(info, Kind(spec.kind), pk, given.expected_version, fields))


async def _edit(
    info: Info, kind: Kind, pk: int | None, expected_version: int | None, fields: dict[str, object]
) -> Row:
    row = await communications.get(info.context.store, pk)
    if row.kind != kind:
        raise invalid("id", f"this id names a {row.kind} communication, not {kind}")
    return await communications.update_draft(
        info.context.store, pk, expected_version=expected_version, given=fields
    )


async def _act(
    info: Info,
    id: strawberry.ID,
    action: Action,
    expected_version: int | None,
    *,
    reason: str | None = None,
    start_at: datetime | None = None,
    end_at: datetime | None = None,
) -> CommunicationPayload:
    return await _payload(
        changes.apply(
            info.context.store,
            ids.communication_pk(id),
            action,
            by=Trigger.PERSON,
            actor=info.context.actor,
            reason=reason,
            expected_version=expected_version,
            start_at=start_at,
            end_at=end_at,
        )
    )


def _action(action: Action, description: str) -> Any:
    """A mutation that applies `action` to the communication `id` names, and nothing more."""

    async def resolve(
        info: Info, id: strawberry.ID, expected_version: int | None = None
    ) -> CommunicationPayload:
        return await _act(info, id, action, expected_version)

    return strawberry.mutation(resolver=resolve, description=description)


# descriptions some generated mutations had before they were generated, kept as published
DESCRIPTIONS = {"updateEmailCampaign": "Edit a DRAFT email campaign; refused in any other status."}


def names(spec: Spec) -> tuple[str, str]:
    """Its create and update mutations: `createEmailCampaign`, `updateEmailCampaign`."""
    return f"create{spec.name}", f"update{spec.name}"


def kind_mutation_names(specs: Iterable[Spec]) -> list[str]:
    """Every kind's create, then every kind's update, as `kind_mutations` lists them."""
    specs = list(specs)
    return [names(s)[0] for s in specs] + [names(s)[1] for s in specs]


def kind_mutations(specs: Iterable[Spec]) -> type:
    """The create and update mutation of every kind, made from its spec: all the creates,
    then all the updates, in the order of the specs."""
    specs = list(specs)
    made = {names(s)[0]: _mutation(s, names(s)[0], create_input(s), _create) for s in specs}
    made |= {names(s)[1]: _mutation(s, names(s)[1], update_input(s), _update) for s in specs}
    return strawberry.type(type("KindMutation", (), {"__module__": __name__, **made}))


def _mutation(
    spec: Spec,
    name: str,
    given: type,
    act: Callable[[Info, Spec, Any], Awaitable[CommunicationPayload]],
) -> Any:
    async def resolve(info: Info, input: Any) -> CommunicationPayload:
        return await act(info, spec, input)

    resolve.__annotations__["input"] = given  # strawberry reads the input type from here
    return strawberry.mutation(resolver=resolve, name=name, description=DESCRIPTIONS.get(name))


KindMutation = kind_mutations(SPECS.values())


@strawberry.type
class Mutation:
    @strawberry.mutation(description="DRAFT to SCHEDULED: it starts by itself at startAt.")
    async def schedule_communication(
        self,
        info: Info,
        id: strawberry.ID,
        start_at: datetime,
        end_at: datetime | None = None,
        expected_version: int | None = None,
    ) -> CommunicationPayload:
        return await _act(
            info, id, Action.SCHEDULE, expected_version, start_at=start_at, end_at=end_at
        )

    # the actions that take nothing but the id, one line each
    unschedule_communication = _action(Action.UNSCHEDULE, "SCHEDULED back to DRAFT.")
    launch_communication = _action(Action.LAUNCH, "Send or activate now, from DRAFT or SCHEDULED.")
    pause_communication = _action(
        Action.PAUSE, "ACTIVE to PAUSED: not shown, no statistics collected."
    )
    resume_communication = _action(Action.RESUME, "PAUSED back to ACTIVE.")
    publish_landing_page = _action(Action.PUBLISH, "A landing page goes live.")
    unpublish_landing_page = _action(Action.UNPUBLISH, "A live landing page goes back to DRAFT.")

    @strawberry.mutation(
        description="Stop for good. On a message campaign every recipient not yet out gets "
        "the channel's not-sent event; `dryRun` changes nothing and says what a stop would do."
    )
    @refusals_as_user_errors(CommunicationPayload, communication=None)
    async def stop_communication(
        self,
        info: Info,
        id: strawberry.ID,
        reason: str | None = None,
        expected_version: int | None = None,
        dry_run: bool = False,
    ) -> CommunicationPayload:
        row, summary = await changes.stop(
            info.context.store,
            ids.communication_pk(id),
            actor=info.context.actor,
            reason=reason,
            expected_version=expected_version,
            dry_run=dry_run,
        )
        return CommunicationPayload(
            communication=to_graphql(row),
            user_errors=[],
            stop_summary=StopSummary(
                not_sent_now=summary.not_sent_now,
                already_sent=summary.already_sent,
                total=summary.total,
            ),
        )

    @strawberry.mutation(
        description="Any non-final status to ERROR, with a reason; every recipient not yet "
        "SENT gets a not-sent event carrying it. For delivery workers and the system."
    )
    async def fail_communication(
        self, info: Info, id: strawberry.ID, reason: str, expected_version: int | None = None
    ) -> CommunicationPayload:
        return await _payload(
            changes.apply(
                info.context.store,
                ids.communication_pk(id),
                Action.FAIL,
                by=Trigger.SENDER,
                actor=info.context.actor,
                reason=reason,
                expected_version=expected_version,
            )
        )

    @strawberry.mutation(
        description="More recipients for a DRAFT or SCHEDULED message campaign, up to 10,000 "
        "a call; ids already in the audience are ignored."
    )
    async def add_recipients(
        self, info: Info, id: strawberry.ID, recipients: list[str]
    ) -> CommunicationPayload:
        return await _payload(
            deliveries.add_recipients(info.context.store, ids.communication_pk(id), recipients)
        )

    @strawberry.mutation(description="A new DRAFT copy of any communication, in any status.")
    async def duplicate_communication(
        self, info: Info, id: strawberry.ID, name: str | None = None
    ) -> CommunicationPayload:
        return await _payload(
            communications.duplicate(
                info.context.store, ids.communication_pk(id), name=name, actor=info.context.actor
            )
        )

    @strawberry.mutation(description="Delete a DRAFT; its history stays readable in the stream.")
    @refusals_as_user_errors(DeleteCommunicationPayload, deleted_id=None)
    async def delete_communication(
        self, info: Info, id: strawberry.ID, expected_version: int | None = None
    ) -> DeleteCommunicationPayload:
        await communications.delete_draft(
            info.context.store, ids.communication_pk(id), expected_version=expected_version
        )
        return DeleteCommunicationPayload(deleted_id=id, user_errors=[])
