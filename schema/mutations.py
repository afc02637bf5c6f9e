"""Mutations: thin resolvers that decode ids, call the store and report refusals."""

from collections.abc import Awaitable
from datetime import datetime

import strawberry

from schema import ids
from schema.context import Info
from schema.inputs import (
    UNSET,
    CreateDynamicContentInput,
    CreateEmailCampaignInput,
    CreateInAppMessageInput,
    CreateInput,
    CreateLandingPageInput,
    CreateMobilePushCampaignInput,
    CreateScreenViewInput,
    CreateSmsCampaignInput,
    CreateWebPushCampaignInput,
    UpdateDynamicContentInput,
    UpdateEmailCampaignInput,
    UpdateInAppMessageInput,
    UpdateInput,
    UpdateLandingPageInput,
    UpdateMobilePushCampaignInput,
    UpdateScreenViewInput,
    UpdateSmsCampaignInput,
    UpdateWebPushCampaignInput,
    content_of,
)
from schema.types import (
    CommunicationPayload,
    DeleteCommunicationPayload,
    StopSummary,
    UserError,
    to_graphql,
)
from store import changes, communications, deliveries
from store.content import has_audience
from store.errors import Refused, invalid
from store.lifecycle import Action, Kind, Origin, Role
from store.tables import Communication as Row


async def _payload(work: Awaitable[Row]) -> CommunicationPayload:
    try:
        row = await work
    except Refused as refused:
        return CommunicationPayload(
            communication=None, user_errors=[UserError.from_refusal(refused)]
        )
    return CommunicationPayload(communication=to_graphql(row), user_errors=[])


async def _create(info: Info, kind: Kind, given: CreateInput) -> CommunicationPayload:
    return await _payload(
        communications.create(
            info.context.store,
            kind,
            name=given.name,
            origin=given.origin or Origin.CAMPAIGN,
            content=content_of(kind, given),
            audience_size=getattr(given, "audience_size", None) if has_audience(kind) else None,
            actor=info.context.actor,
            recipients=getattr(given, "recipients", None) if has_audience(kind) else None,
        )
    )


async def _update(info: Info, kind: Kind, given: UpdateInput) -> CommunicationPayload:
    fields = content_of(kind, given)
    for name in ("name", "audience_size"):
        if getattr(given, name, UNSET) is not UNSET:
            fields[name] = getattr(given, name)
    pk = ids.communication_pk(given.id)
    return await _payload(_edit(info, kind, pk, given.expected_version, fields))


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
            by=Role.PERSON,
            actor=info.context.actor,
            reason=reason,
            expected_version=expected_version,
            start_at=start_at,
            end_at=end_at,
        )
    )


@strawberry.type
class Mutation:
    @strawberry.mutation
    async def create_email_campaign(
        self, info: Info, input: CreateEmailCampaignInput
    ) -> CommunicationPayload:
        return await _create(info, Kind.EMAIL, input)

    @strawberry.mutation
    async def create_sms_campaign(
        self, info: Info, input: CreateSmsCampaignInput
    ) -> CommunicationPayload:
        return await _create(info, Kind.SMS, input)

    @strawberry.mutation
    async def create_web_push_campaign(
        self, info: Info, input: CreateWebPushCampaignInput
    ) -> CommunicationPayload:
        return await _create(info, Kind.WEB_PUSH, input)

    @strawberry.mutation
    async def create_mobile_push_campaign(
        self, info: Info, input: CreateMobilePushCampaignInput
    ) -> CommunicationPayload:
        return await _create(info, Kind.MOBILE_PUSH, input)

    @strawberry.mutation
    async def create_dynamic_content(
        self, info: Info, input: CreateDynamicContentInput
    ) -> CommunicationPayload:
        return await _create(info, Kind.DYNAMIC_CONTENT, input)

    @strawberry.mutation
    async def create_in_app_message(
        self, info: Info, input: CreateInAppMessageInput
    ) -> CommunicationPayload:
        return await _create(info, Kind.IN_APP, input)

    @strawberry.mutation
    async def create_screen_view(
        self, info: Info, input: CreateScreenViewInput
    ) -> CommunicationPayload:
        return await _create(info, Kind.SCREEN_VIEW, input)

    @strawberry.mutation
    async def create_landing_page(
        self, info: Info, input: CreateLandingPageInput
    ) -> CommunicationPayload:
        return await _create(info, Kind.LANDING_PAGE, input)

    @strawberry.mutation(description="Edit a DRAFT email campaign; refused in any other status.")
    async def update_email_campaign(
        self, info: Info, input: UpdateEmailCampaignInput
    ) -> CommunicationPayload:
        return await _update(info, Kind.EMAIL, input)

    @strawberry.mutation
    async def update_sms_campaign(
        self, info: Info, input: UpdateSmsCampaignInput
    ) -> CommunicationPayload:
        return await _update(info, Kind.SMS, input)

    @strawberry.mutation
    async def update_web_push_campaign(
        self, info: Info, input: UpdateWebPushCampaignInput
    ) -> CommunicationPayload:
        return await _update(info, Kind.WEB_PUSH, input)

    @strawberry.mutation
    async def update_mobile_push_campaign(
        self, info: Info, input: UpdateMobilePushCampaignInput
    ) -> CommunicationPayload:
        return await _update(info, Kind.MOBILE_PUSH, input)

    @strawberry.mutation
    async def update_dynamic_content(
        self, info: Info, input: UpdateDynamicContentInput
    ) -> CommunicationPayload:
        return await _update(info, Kind.DYNAMIC_CONTENT, input)

    @strawberry.mutation
    async def update_in_app_message(
        self, info: Info, input: UpdateInAppMessageInput
    ) -> CommunicationPayload:
        return await _update(info, Kind.IN_APP, input)

    @strawberry.mutation
    async def update_screen_view(
        self, info: Info, input: UpdateScreenViewInput
    ) -> CommunicationPayload:
        return await _update(info, Kind.SCREEN_VIEW, input)

    @strawberry.mutation
    async def update_landing_page(
        self, info: Info, input: UpdateLandingPageInput
    ) -> CommunicationPayload:
        return await _update(info, Kind.LANDING_PAGE, input)

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

    @strawberry.mutation(description="SCHEDULED back to DRAFT.")
    async def unschedule_communication(
        self, info: Info, id: strawberry.ID, expected_version: int | None = None
    ) -> CommunicationPayload:
        return await _act(info, id, Action.UNSCHEDULE, expected_version)

    @strawberry.mutation(description="Send or activate now, from DRAFT or SCHEDULED.")
    async def launch_communication(
        self, info: Info, id: strawberry.ID, expected_version: int | None = None
    ) -> CommunicationPayload:
        return await _act(info, id, Action.LAUNCH, expected_version)

    @strawberry.mutation(description="ACTIVE to PAUSED: not shown, no statistics collected.")
    async def pause_communication(
        self, info: Info, id: strawberry.ID, expected_version: int | None = None
    ) -> CommunicationPayload:
        return await _act(info, id, Action.PAUSE, expected_version)

    @strawberry.mutation(description="PAUSED back to ACTIVE.")
    async def resume_communication(
        self, info: Info, id: strawberry.ID, expected_version: int | None = None
    ) -> CommunicationPayload:
        return await _act(info, id, Action.RESUME, expected_version)

    @strawberry.mutation(description="A landing page goes live.")
    async def publish_landing_page(
        self, info: Info, id: strawberry.ID, expected_version: int | None = None
    ) -> CommunicationPayload:
        return await _act(info, id, Action.PUBLISH, expected_version)

    @strawberry.mutation(description="A live landing page goes back to DRAFT.")
    async def unpublish_landing_page(
        self, info: Info, id: strawberry.ID, expected_version: int | None = None
    ) -> CommunicationPayload:
        return await _act(info, id, Action.UNPUBLISH, expected_version)

    @strawberry.mutation(
        description="Stop for good. On a message campaign every recipient not yet out gets "
        "the channel's not-sent event; `dryRun` changes nothing and says what a stop would do."
    )
    async def stop_communication(
        self,
        info: Info,
        id: strawberry.ID,
        reason: str | None = None,
        expected_version: int | None = None,
        dry_run: bool = False,
    ) -> CommunicationPayload:
        try:
            row, summary = await changes.stop(
                info.context.store,
                ids.communication_pk(id),
                actor=info.context.actor,
                reason=reason,
                expected_version=expected_version,
                dry_run=dry_run,
            )
        except Refused as refused:
            return CommunicationPayload(
                communication=None, user_errors=[UserError.from_refusal(refused)]
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
                by=Role.SENDER,
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
    async def delete_communication(
        self, info: Info, id: strawberry.ID, expected_version: int | None = None
    ) -> DeleteCommunicationPayload:
        try:
            await communications.delete_draft(
                info.context.store, ids.communication_pk(id), expected_version=expected_version
            )
        except Refused as refused:
            return DeleteCommunicationPayload(
                deleted_id=None, user_errors=[UserError.from_refusal(refused)]
            )
        return DeleteCommunicationPayload(deleted_id=id, user_errors=[])
