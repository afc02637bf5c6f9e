/* eslint-disable */
/** Internal type. DO NOT USE DIRECTLY. */
type Exact<T extends { [key: string]: unknown }> = { [K in keyof T]: T[K] };
/** Internal type. DO NOT USE DIRECTLY. */
export type Incremental<T> = T | { [P in keyof T]?: P extends ' $fragmentName' | '__typename' ? T[P] : never };
import type { DocumentTypeDecoration } from '@graphql-typed-document-node/core';
export type ApiRole =
  | 'ADMIN'
  | 'EDITOR'
  | 'SENDER'
  | 'VIEWER';

export type CommunicationAction =
  | 'CREATE'
  | 'FAIL'
  | 'FINISH'
  | 'LAUNCH'
  | 'PAUSE'
  | 'PUBLISH'
  | 'RESUME'
  | 'SCHEDULE'
  | 'START'
  | 'STOP'
  | 'UNPUBLISH'
  | 'UNSCHEDULE';

export type CommunicationFilter = {
  createdAfter?: string | null | undefined;
  createdBefore?: string | null | undefined;
  kinds?: Array<CommunicationKind> | null | undefined;
  origins?: Array<CommunicationOrigin> | null | undefined;
  /** Part of the name, any case. */
  search?: string | null | undefined;
  statuses?: Array<CommunicationStatus> | null | undefined;
};

export type CommunicationKind =
  | 'DYNAMIC_CONTENT'
  | 'EMAIL'
  | 'IN_APP'
  | 'LANDING_PAGE'
  | 'MOBILE_PUSH'
  | 'SCREEN_VIEW'
  | 'SMS'
  | 'WEB_PUSH';

export type CommunicationOrigin =
  | 'AUTOMATION'
  | 'CAMPAIGN';

export type CommunicationStatus =
  | 'ACTIVE'
  | 'DRAFT'
  | 'ERROR'
  | 'FINISHED'
  | 'PAUSED'
  | 'PUBLISHED'
  | 'SCHEDULED'
  | 'SENDING'
  | 'STOPPED';

/** The statuses of DynamicContent, from the lifecycle table. */
export type DynamicContentStatus =
  | 'ACTIVE'
  | 'DRAFT'
  | 'ERROR'
  | 'FINISHED'
  | 'PAUSED'
  | 'SCHEDULED'
  | 'STOPPED';

/** The statuses of EmailCampaign, from the lifecycle table. */
export type EmailCampaignStatus =
  | 'DRAFT'
  | 'ERROR'
  | 'FINISHED'
  | 'SCHEDULED'
  | 'SENDING'
  | 'STOPPED';

/** The statuses of InAppMessage, from the lifecycle table. */
export type InAppMessageStatus =
  | 'ACTIVE'
  | 'DRAFT'
  | 'ERROR'
  | 'FINISHED'
  | 'PAUSED'
  | 'SCHEDULED'
  | 'STOPPED';

/** The statuses of LandingPage, from the lifecycle table. */
export type LandingPageStatus =
  | 'DRAFT'
  | 'ERROR'
  | 'PUBLISHED';

/** The statuses of MobilePushCampaign, from the lifecycle table. */
export type MobilePushCampaignStatus =
  | 'DRAFT'
  | 'ERROR'
  | 'FINISHED'
  | 'SCHEDULED'
  | 'SENDING'
  | 'STOPPED';

/** The statuses of ScreenView, from the lifecycle table. */
export type ScreenViewStatus =
  | 'ACTIVE'
  | 'DRAFT'
  | 'ERROR'
  | 'FINISHED'
  | 'PAUSED'
  | 'SCHEDULED'
  | 'STOPPED';

/** The statuses of SmsCampaign, from the lifecycle table. */
export type SmsCampaignStatus =
  | 'DRAFT'
  | 'ERROR'
  | 'FINISHED'
  | 'SCHEDULED'
  | 'SENDING'
  | 'STOPPED';

export type UserErrorCode =
  | 'INVALID_INPUT'
  | 'INVALID_TRANSITION'
  | 'NOT_FOUND'
  | 'STOP_NOT_AVAILABLE_FOR_AUTOMATION'
  | 'VERSION_CONFLICT';

/** The statuses of WebPushCampaign, from the lifecycle table. */
export type WebPushCampaignStatus =
  | 'DRAFT'
  | 'ERROR'
  | 'FINISHED'
  | 'SCHEDULED'
  | 'SENDING'
  | 'STOPPED';

/** FAILING: retried for the whole retry period; replay to resume. */
export type WebhookEndpointState =
  | 'ACTIVE'
  | 'FAILING';

export type OutcomeFragment = { communication:
    | { id: string, name: string, kind: CommunicationKind, origin: CommunicationOrigin, version: number, updatedAt: string, availableActions: Array<CommunicationAction>, dynamicContentStatus: DynamicContentStatus }
    | { id: string, name: string, kind: CommunicationKind, origin: CommunicationOrigin, version: number, updatedAt: string, availableActions: Array<CommunicationAction>, emailStatus: EmailCampaignStatus }
    | { id: string, name: string, kind: CommunicationKind, origin: CommunicationOrigin, version: number, updatedAt: string, availableActions: Array<CommunicationAction>, inAppStatus: InAppMessageStatus }
    | { id: string, name: string, kind: CommunicationKind, origin: CommunicationOrigin, version: number, updatedAt: string, availableActions: Array<CommunicationAction>, landingPageStatus: LandingPageStatus }
    | { id: string, name: string, kind: CommunicationKind, origin: CommunicationOrigin, version: number, updatedAt: string, availableActions: Array<CommunicationAction>, mobilePushStatus: MobilePushCampaignStatus }
    | { id: string, name: string, kind: CommunicationKind, origin: CommunicationOrigin, version: number, updatedAt: string, availableActions: Array<CommunicationAction>, screenViewStatus: ScreenViewStatus }
    | { id: string, name: string, kind: CommunicationKind, origin: CommunicationOrigin, version: number, updatedAt: string, availableActions: Array<CommunicationAction>, smsStatus: SmsCampaignStatus }
    | { id: string, name: string, kind: CommunicationKind, origin: CommunicationOrigin, version: number, updatedAt: string, availableActions: Array<CommunicationAction>, webPushStatus: WebPushCampaignStatus }
   | null, userErrors: Array<{ code: UserErrorCode, message: string, field: Array<string> | null }> };

export type LaunchMutationVariables = Exact<{
  id: string | number;
  expectedVersion?: number | null | undefined;
}>;


export type LaunchMutation = { launchCommunication: { communication:
      | { id: string, name: string, kind: CommunicationKind, origin: CommunicationOrigin, version: number, updatedAt: string, availableActions: Array<CommunicationAction>, dynamicContentStatus: DynamicContentStatus }
      | { id: string, name: string, kind: CommunicationKind, origin: CommunicationOrigin, version: number, updatedAt: string, availableActions: Array<CommunicationAction>, emailStatus: EmailCampaignStatus }
      | { id: string, name: string, kind: CommunicationKind, origin: CommunicationOrigin, version: number, updatedAt: string, availableActions: Array<CommunicationAction>, inAppStatus: InAppMessageStatus }
      | { id: string, name: string, kind: CommunicationKind, origin: CommunicationOrigin, version: number, updatedAt: string, availableActions: Array<CommunicationAction>, landingPageStatus: LandingPageStatus }
      | { id: string, name: string, kind: CommunicationKind, origin: CommunicationOrigin, version: number, updatedAt: string, availableActions: Array<CommunicationAction>, mobilePushStatus: MobilePushCampaignStatus }
      | { id: string, name: string, kind: CommunicationKind, origin: CommunicationOrigin, version: number, updatedAt: string, availableActions: Array<CommunicationAction>, screenViewStatus: ScreenViewStatus }
      | { id: string, name: string, kind: CommunicationKind, origin: CommunicationOrigin, version: number, updatedAt: string, availableActions: Array<CommunicationAction>, smsStatus: SmsCampaignStatus }
      | { id: string, name: string, kind: CommunicationKind, origin: CommunicationOrigin, version: number, updatedAt: string, availableActions: Array<CommunicationAction>, webPushStatus: WebPushCampaignStatus }
     | null, userErrors: Array<{ code: UserErrorCode, message: string, field: Array<string> | null }> } };

export type ScheduleMutationVariables = Exact<{
  id: string | number;
  startAt: string;
  expectedVersion?: number | null | undefined;
}>;


export type ScheduleMutation = { scheduleCommunication: { communication:
      | { id: string, name: string, kind: CommunicationKind, origin: CommunicationOrigin, version: number, updatedAt: string, availableActions: Array<CommunicationAction>, dynamicContentStatus: DynamicContentStatus }
      | { id: string, name: string, kind: CommunicationKind, origin: CommunicationOrigin, version: number, updatedAt: string, availableActions: Array<CommunicationAction>, emailStatus: EmailCampaignStatus }
      | { id: string, name: string, kind: CommunicationKind, origin: CommunicationOrigin, version: number, updatedAt: string, availableActions: Array<CommunicationAction>, inAppStatus: InAppMessageStatus }
      | { id: string, name: string, kind: CommunicationKind, origin: CommunicationOrigin, version: number, updatedAt: string, availableActions: Array<CommunicationAction>, landingPageStatus: LandingPageStatus }
      | { id: string, name: string, kind: CommunicationKind, origin: CommunicationOrigin, version: number, updatedAt: string, availableActions: Array<CommunicationAction>, mobilePushStatus: MobilePushCampaignStatus }
      | { id: string, name: string, kind: CommunicationKind, origin: CommunicationOrigin, version: number, updatedAt: string, availableActions: Array<CommunicationAction>, screenViewStatus: ScreenViewStatus }
      | { id: string, name: string, kind: CommunicationKind, origin: CommunicationOrigin, version: number, updatedAt: string, availableActions: Array<CommunicationAction>, smsStatus: SmsCampaignStatus }
      | { id: string, name: string, kind: CommunicationKind, origin: CommunicationOrigin, version: number, updatedAt: string, availableActions: Array<CommunicationAction>, webPushStatus: WebPushCampaignStatus }
     | null, userErrors: Array<{ code: UserErrorCode, message: string, field: Array<string> | null }> } };

export type UnscheduleMutationVariables = Exact<{
  id: string | number;
  expectedVersion?: number | null | undefined;
}>;


export type UnscheduleMutation = { unscheduleCommunication: { communication:
      | { id: string, name: string, kind: CommunicationKind, origin: CommunicationOrigin, version: number, updatedAt: string, availableActions: Array<CommunicationAction>, dynamicContentStatus: DynamicContentStatus }
      | { id: string, name: string, kind: CommunicationKind, origin: CommunicationOrigin, version: number, updatedAt: string, availableActions: Array<CommunicationAction>, emailStatus: EmailCampaignStatus }
      | { id: string, name: string, kind: CommunicationKind, origin: CommunicationOrigin, version: number, updatedAt: string, availableActions: Array<CommunicationAction>, inAppStatus: InAppMessageStatus }
      | { id: string, name: string, kind: CommunicationKind, origin: CommunicationOrigin, version: number, updatedAt: string, availableActions: Array<CommunicationAction>, landingPageStatus: LandingPageStatus }
      | { id: string, name: string, kind: CommunicationKind, origin: CommunicationOrigin, version: number, updatedAt: string, availableActions: Array<CommunicationAction>, mobilePushStatus: MobilePushCampaignStatus }
      | { id: string, name: string, kind: CommunicationKind, origin: CommunicationOrigin, version: number, updatedAt: string, availableActions: Array<CommunicationAction>, screenViewStatus: ScreenViewStatus }
      | { id: string, name: string, kind: CommunicationKind, origin: CommunicationOrigin, version: number, updatedAt: string, availableActions: Array<CommunicationAction>, smsStatus: SmsCampaignStatus }
      | { id: string, name: string, kind: CommunicationKind, origin: CommunicationOrigin, version: number, updatedAt: string, availableActions: Array<CommunicationAction>, webPushStatus: WebPushCampaignStatus }
     | null, userErrors: Array<{ code: UserErrorCode, message: string, field: Array<string> | null }> } };

export type PauseMutationVariables = Exact<{
  id: string | number;
  expectedVersion?: number | null | undefined;
}>;


export type PauseMutation = { pauseCommunication: { communication:
      | { id: string, name: string, kind: CommunicationKind, origin: CommunicationOrigin, version: number, updatedAt: string, availableActions: Array<CommunicationAction>, dynamicContentStatus: DynamicContentStatus }
      | { id: string, name: string, kind: CommunicationKind, origin: CommunicationOrigin, version: number, updatedAt: string, availableActions: Array<CommunicationAction>, emailStatus: EmailCampaignStatus }
      | { id: string, name: string, kind: CommunicationKind, origin: CommunicationOrigin, version: number, updatedAt: string, availableActions: Array<CommunicationAction>, inAppStatus: InAppMessageStatus }
      | { id: string, name: string, kind: CommunicationKind, origin: CommunicationOrigin, version: number, updatedAt: string, availableActions: Array<CommunicationAction>, landingPageStatus: LandingPageStatus }
      | { id: string, name: string, kind: CommunicationKind, origin: CommunicationOrigin, version: number, updatedAt: string, availableActions: Array<CommunicationAction>, mobilePushStatus: MobilePushCampaignStatus }
      | { id: string, name: string, kind: CommunicationKind, origin: CommunicationOrigin, version: number, updatedAt: string, availableActions: Array<CommunicationAction>, screenViewStatus: ScreenViewStatus }
      | { id: string, name: string, kind: CommunicationKind, origin: CommunicationOrigin, version: number, updatedAt: string, availableActions: Array<CommunicationAction>, smsStatus: SmsCampaignStatus }
      | { id: string, name: string, kind: CommunicationKind, origin: CommunicationOrigin, version: number, updatedAt: string, availableActions: Array<CommunicationAction>, webPushStatus: WebPushCampaignStatus }
     | null, userErrors: Array<{ code: UserErrorCode, message: string, field: Array<string> | null }> } };

export type ResumeMutationVariables = Exact<{
  id: string | number;
  expectedVersion?: number | null | undefined;
}>;


export type ResumeMutation = { resumeCommunication: { communication:
      | { id: string, name: string, kind: CommunicationKind, origin: CommunicationOrigin, version: number, updatedAt: string, availableActions: Array<CommunicationAction>, dynamicContentStatus: DynamicContentStatus }
      | { id: string, name: string, kind: CommunicationKind, origin: CommunicationOrigin, version: number, updatedAt: string, availableActions: Array<CommunicationAction>, emailStatus: EmailCampaignStatus }
      | { id: string, name: string, kind: CommunicationKind, origin: CommunicationOrigin, version: number, updatedAt: string, availableActions: Array<CommunicationAction>, inAppStatus: InAppMessageStatus }
      | { id: string, name: string, kind: CommunicationKind, origin: CommunicationOrigin, version: number, updatedAt: string, availableActions: Array<CommunicationAction>, landingPageStatus: LandingPageStatus }
      | { id: string, name: string, kind: CommunicationKind, origin: CommunicationOrigin, version: number, updatedAt: string, availableActions: Array<CommunicationAction>, mobilePushStatus: MobilePushCampaignStatus }
      | { id: string, name: string, kind: CommunicationKind, origin: CommunicationOrigin, version: number, updatedAt: string, availableActions: Array<CommunicationAction>, screenViewStatus: ScreenViewStatus }
      | { id: string, name: string, kind: CommunicationKind, origin: CommunicationOrigin, version: number, updatedAt: string, availableActions: Array<CommunicationAction>, smsStatus: SmsCampaignStatus }
      | { id: string, name: string, kind: CommunicationKind, origin: CommunicationOrigin, version: number, updatedAt: string, availableActions: Array<CommunicationAction>, webPushStatus: WebPushCampaignStatus }
     | null, userErrors: Array<{ code: UserErrorCode, message: string, field: Array<string> | null }> } };

export type PublishMutationVariables = Exact<{
  id: string | number;
  expectedVersion?: number | null | undefined;
}>;


export type PublishMutation = { publishLandingPage: { communication:
      | { id: string, name: string, kind: CommunicationKind, origin: CommunicationOrigin, version: number, updatedAt: string, availableActions: Array<CommunicationAction>, dynamicContentStatus: DynamicContentStatus }
      | { id: string, name: string, kind: CommunicationKind, origin: CommunicationOrigin, version: number, updatedAt: string, availableActions: Array<CommunicationAction>, emailStatus: EmailCampaignStatus }
      | { id: string, name: string, kind: CommunicationKind, origin: CommunicationOrigin, version: number, updatedAt: string, availableActions: Array<CommunicationAction>, inAppStatus: InAppMessageStatus }
      | { id: string, name: string, kind: CommunicationKind, origin: CommunicationOrigin, version: number, updatedAt: string, availableActions: Array<CommunicationAction>, landingPageStatus: LandingPageStatus }
      | { id: string, name: string, kind: CommunicationKind, origin: CommunicationOrigin, version: number, updatedAt: string, availableActions: Array<CommunicationAction>, mobilePushStatus: MobilePushCampaignStatus }
      | { id: string, name: string, kind: CommunicationKind, origin: CommunicationOrigin, version: number, updatedAt: string, availableActions: Array<CommunicationAction>, screenViewStatus: ScreenViewStatus }
      | { id: string, name: string, kind: CommunicationKind, origin: CommunicationOrigin, version: number, updatedAt: string, availableActions: Array<CommunicationAction>, smsStatus: SmsCampaignStatus }
      | { id: string, name: string, kind: CommunicationKind, origin: CommunicationOrigin, version: number, updatedAt: string, availableActions: Array<CommunicationAction>, webPushStatus: WebPushCampaignStatus }
     | null, userErrors: Array<{ code: UserErrorCode, message: string, field: Array<string> | null }> } };

export type UnpublishMutationVariables = Exact<{
  id: string | number;
  expectedVersion?: number | null | undefined;
}>;


export type UnpublishMutation = { unpublishLandingPage: { communication:
      | { id: string, name: string, kind: CommunicationKind, origin: CommunicationOrigin, version: number, updatedAt: string, availableActions: Array<CommunicationAction>, dynamicContentStatus: DynamicContentStatus }
      | { id: string, name: string, kind: CommunicationKind, origin: CommunicationOrigin, version: number, updatedAt: string, availableActions: Array<CommunicationAction>, emailStatus: EmailCampaignStatus }
      | { id: string, name: string, kind: CommunicationKind, origin: CommunicationOrigin, version: number, updatedAt: string, availableActions: Array<CommunicationAction>, inAppStatus: InAppMessageStatus }
      | { id: string, name: string, kind: CommunicationKind, origin: CommunicationOrigin, version: number, updatedAt: string, availableActions: Array<CommunicationAction>, landingPageStatus: LandingPageStatus }
      | { id: string, name: string, kind: CommunicationKind, origin: CommunicationOrigin, version: number, updatedAt: string, availableActions: Array<CommunicationAction>, mobilePushStatus: MobilePushCampaignStatus }
      | { id: string, name: string, kind: CommunicationKind, origin: CommunicationOrigin, version: number, updatedAt: string, availableActions: Array<CommunicationAction>, screenViewStatus: ScreenViewStatus }
      | { id: string, name: string, kind: CommunicationKind, origin: CommunicationOrigin, version: number, updatedAt: string, availableActions: Array<CommunicationAction>, smsStatus: SmsCampaignStatus }
      | { id: string, name: string, kind: CommunicationKind, origin: CommunicationOrigin, version: number, updatedAt: string, availableActions: Array<CommunicationAction>, webPushStatus: WebPushCampaignStatus }
     | null, userErrors: Array<{ code: UserErrorCode, message: string, field: Array<string> | null }> } };

export type StopMutationVariables = Exact<{
  id: string | number;
  dryRun: boolean;
  reason?: string | null | undefined;
  expectedVersion?: number | null | undefined;
}>;


export type StopMutation = { stopCommunication: { stopSummary: { notSentNow: number, alreadySent: number, total: number } | null, communication:
      | { id: string, name: string, kind: CommunicationKind, origin: CommunicationOrigin, version: number, updatedAt: string, availableActions: Array<CommunicationAction>, dynamicContentStatus: DynamicContentStatus }
      | { id: string, name: string, kind: CommunicationKind, origin: CommunicationOrigin, version: number, updatedAt: string, availableActions: Array<CommunicationAction>, emailStatus: EmailCampaignStatus }
      | { id: string, name: string, kind: CommunicationKind, origin: CommunicationOrigin, version: number, updatedAt: string, availableActions: Array<CommunicationAction>, inAppStatus: InAppMessageStatus }
      | { id: string, name: string, kind: CommunicationKind, origin: CommunicationOrigin, version: number, updatedAt: string, availableActions: Array<CommunicationAction>, landingPageStatus: LandingPageStatus }
      | { id: string, name: string, kind: CommunicationKind, origin: CommunicationOrigin, version: number, updatedAt: string, availableActions: Array<CommunicationAction>, mobilePushStatus: MobilePushCampaignStatus }
      | { id: string, name: string, kind: CommunicationKind, origin: CommunicationOrigin, version: number, updatedAt: string, availableActions: Array<CommunicationAction>, screenViewStatus: ScreenViewStatus }
      | { id: string, name: string, kind: CommunicationKind, origin: CommunicationOrigin, version: number, updatedAt: string, availableActions: Array<CommunicationAction>, smsStatus: SmsCampaignStatus }
      | { id: string, name: string, kind: CommunicationKind, origin: CommunicationOrigin, version: number, updatedAt: string, availableActions: Array<CommunicationAction>, webPushStatus: WebPushCampaignStatus }
     | null, userErrors: Array<{ code: UserErrorCode, message: string, field: Array<string> | null }> } };

type Row_DynamicContent_Fragment = { id: string, name: string, kind: CommunicationKind, origin: CommunicationOrigin, version: number, updatedAt: string, availableActions: Array<CommunicationAction>, dynamicContentStatus: DynamicContentStatus };

type Row_EmailCampaign_Fragment = { id: string, name: string, kind: CommunicationKind, origin: CommunicationOrigin, version: number, updatedAt: string, availableActions: Array<CommunicationAction>, emailStatus: EmailCampaignStatus };

type Row_InAppMessage_Fragment = { id: string, name: string, kind: CommunicationKind, origin: CommunicationOrigin, version: number, updatedAt: string, availableActions: Array<CommunicationAction>, inAppStatus: InAppMessageStatus };

type Row_LandingPage_Fragment = { id: string, name: string, kind: CommunicationKind, origin: CommunicationOrigin, version: number, updatedAt: string, availableActions: Array<CommunicationAction>, landingPageStatus: LandingPageStatus };

type Row_MobilePushCampaign_Fragment = { id: string, name: string, kind: CommunicationKind, origin: CommunicationOrigin, version: number, updatedAt: string, availableActions: Array<CommunicationAction>, mobilePushStatus: MobilePushCampaignStatus };

type Row_ScreenView_Fragment = { id: string, name: string, kind: CommunicationKind, origin: CommunicationOrigin, version: number, updatedAt: string, availableActions: Array<CommunicationAction>, screenViewStatus: ScreenViewStatus };

type Row_SmsCampaign_Fragment = { id: string, name: string, kind: CommunicationKind, origin: CommunicationOrigin, version: number, updatedAt: string, availableActions: Array<CommunicationAction>, smsStatus: SmsCampaignStatus };

type Row_WebPushCampaign_Fragment = { id: string, name: string, kind: CommunicationKind, origin: CommunicationOrigin, version: number, updatedAt: string, availableActions: Array<CommunicationAction>, webPushStatus: WebPushCampaignStatus };

export type RowFragment =
  | Row_DynamicContent_Fragment
  | Row_EmailCampaign_Fragment
  | Row_InAppMessage_Fragment
  | Row_LandingPage_Fragment
  | Row_MobilePushCampaign_Fragment
  | Row_ScreenView_Fragment
  | Row_SmsCampaign_Fragment
  | Row_WebPushCampaign_Fragment
;

export type CommunicationsQueryVariables = Exact<{
  filter?: CommunicationFilter | null | undefined;
  first?: number | null | undefined;
  after?: string | null | undefined;
  last?: number | null | undefined;
  before?: string | null | undefined;
}>;


export type CommunicationsQuery = { communications: { totalCount: number, edges: Array<{ cursor: string, node:
        | { id: string, name: string, kind: CommunicationKind, origin: CommunicationOrigin, version: number, updatedAt: string, availableActions: Array<CommunicationAction>, dynamicContentStatus: DynamicContentStatus }
        | { id: string, name: string, kind: CommunicationKind, origin: CommunicationOrigin, version: number, updatedAt: string, availableActions: Array<CommunicationAction>, emailStatus: EmailCampaignStatus }
        | { id: string, name: string, kind: CommunicationKind, origin: CommunicationOrigin, version: number, updatedAt: string, availableActions: Array<CommunicationAction>, inAppStatus: InAppMessageStatus }
        | { id: string, name: string, kind: CommunicationKind, origin: CommunicationOrigin, version: number, updatedAt: string, availableActions: Array<CommunicationAction>, landingPageStatus: LandingPageStatus }
        | { id: string, name: string, kind: CommunicationKind, origin: CommunicationOrigin, version: number, updatedAt: string, availableActions: Array<CommunicationAction>, mobilePushStatus: MobilePushCampaignStatus }
        | { id: string, name: string, kind: CommunicationKind, origin: CommunicationOrigin, version: number, updatedAt: string, availableActions: Array<CommunicationAction>, screenViewStatus: ScreenViewStatus }
        | { id: string, name: string, kind: CommunicationKind, origin: CommunicationOrigin, version: number, updatedAt: string, availableActions: Array<CommunicationAction>, smsStatus: SmsCampaignStatus }
        | { id: string, name: string, kind: CommunicationKind, origin: CommunicationOrigin, version: number, updatedAt: string, availableActions: Array<CommunicationAction>, webPushStatus: WebPushCampaignStatus }
       }>, pageInfo: { hasNextPage: boolean, hasPreviousPage: boolean, startCursor: string | null, endCursor: string | null } } };

export type StatusCountsQueryVariables = Exact<{ [key: string]: never; }>;


export type StatusCountsQuery = { statusCounts: Array<{ kind: CommunicationKind, status: CommunicationStatus, count: number }> };

export type StatusChangedSubscriptionVariables = Exact<{
  after?: string | null | undefined;
}>;


export type StatusChangedSubscription = { statusChanged: { cursor: string, communicationId: string, kind: CommunicationKind, action: CommunicationAction, from: CommunicationStatus | null, to: CommunicationStatus, actor: string, reason: string | null, at: string, communication:
      | { name: string }
      | { name: string }
      | { name: string }
      | { name: string }
      | { name: string }
      | { name: string }
      | { name: string }
      | { name: string }
     } };

export type SendingQueryVariables = Exact<{ [key: string]: never; }>;


export type SendingQuery = { communications: { edges: Array<{ node:
        | { id: string, name: string, kind: CommunicationKind }
        | { id: string, name: string, kind: CommunicationKind }
        | { id: string, name: string, kind: CommunicationKind }
        | { id: string, name: string, kind: CommunicationKind }
        | Record<PropertyKey, never>
       }> } };

export type SendingProgressSubscriptionVariables = Exact<{
  id: string | number;
}>;


export type SendingProgressSubscription = { sendingProgress: { communicationId: string, status: CommunicationStatus, audienceSize: number, pendingCount: number, handedOffCount: number, sentCount: number, notSentCount: number, progress: number } };

export type ViewerQueryVariables = Exact<{ [key: string]: never; }>;


export type ViewerQuery = { viewer: { name: string, role: ApiRole } };

export type WebhookEndpointsQueryVariables = Exact<{ [key: string]: never; }>;


export type WebhookEndpointsQuery = { webhookEndpoints: Array<{ id: string, url: string, state: WebhookEndpointState, attempts: number, failingSince: string | null, nextAttemptAt: string | null, lastError: string | null, lag: number, lastAttempt: { at: string, statusCode: number | null, error: string | null, delivered: boolean } | null }> };

export class TypedDocumentString<TResult, TVariables>
  extends String
  implements DocumentTypeDecoration<TResult, TVariables>
{
  __apiType?: NonNullable<DocumentTypeDecoration<TResult, TVariables>['__apiType']>;
  private value: string;
  public __meta__?: Record<string, any> | undefined;

  constructor(value: string, __meta__?: Record<string, any> | undefined) {
    super(value);
    this.value = value;
    this.__meta__ = __meta__;
  }

  override toString(): string & DocumentTypeDecoration<TResult, TVariables> {
    return this.value;
  }
}
export const RowFragmentDoc = new TypedDocumentString(`
    fragment Row on Communication {
  ... on CommunicationBase {
    id
    name
    kind
    origin
    version
    updatedAt
    availableActions
  }
  ... on EmailCampaign {
    emailStatus: status
  }
  ... on SmsCampaign {
    smsStatus: status
  }
  ... on WebPushCampaign {
    webPushStatus: status
  }
  ... on MobilePushCampaign {
    mobilePushStatus: status
  }
  ... on DynamicContent {
    dynamicContentStatus: status
  }
  ... on InAppMessage {
    inAppStatus: status
  }
  ... on ScreenView {
    screenViewStatus: status
  }
  ... on LandingPage {
    landingPageStatus: status
  }
}
    `, {"fragmentName":"Row"}) as unknown as TypedDocumentString<RowFragment, unknown>;
export const OutcomeFragmentDoc = new TypedDocumentString(`
    fragment Outcome on CommunicationPayload {
  communication {
    ...Row
  }
  userErrors {
    code
    message
    field
  }
}
    fragment Row on Communication {
  ... on CommunicationBase {
    id
    name
    kind
    origin
    version
    updatedAt
    availableActions
  }
  ... on EmailCampaign {
    emailStatus: status
  }
  ... on SmsCampaign {
    smsStatus: status
  }
  ... on WebPushCampaign {
    webPushStatus: status
  }
  ... on MobilePushCampaign {
    mobilePushStatus: status
  }
  ... on DynamicContent {
    dynamicContentStatus: status
  }
  ... on InAppMessage {
    inAppStatus: status
  }
  ... on ScreenView {
    screenViewStatus: status
  }
  ... on LandingPage {
    landingPageStatus: status
  }
}`, {"fragmentName":"Outcome"}) as unknown as TypedDocumentString<OutcomeFragment, unknown>;
export const LaunchDocument = new TypedDocumentString(`
    mutation Launch($id: ID!, $expectedVersion: Int) {
  launchCommunication(id: $id, expectedVersion: $expectedVersion) {
    ...Outcome
  }
}
    fragment Outcome on CommunicationPayload {
  communication {
    ...Row
  }
  userErrors {
    code
    message
    field
  }
}
fragment Row on Communication {
  ... on CommunicationBase {
    id
    name
    kind
    origin
    version
    updatedAt
    availableActions
  }
  ... on EmailCampaign {
    emailStatus: status
  }
  ... on SmsCampaign {
    smsStatus: status
  }
  ... on WebPushCampaign {
    webPushStatus: status
  }
  ... on MobilePushCampaign {
    mobilePushStatus: status
  }
  ... on DynamicContent {
    dynamicContentStatus: status
  }
  ... on InAppMessage {
    inAppStatus: status
  }
  ... on ScreenView {
    screenViewStatus: status
  }
  ... on LandingPage {
    landingPageStatus: status
  }
}`) as unknown as TypedDocumentString<LaunchMutation, LaunchMutationVariables>;
export const ScheduleDocument = new TypedDocumentString(`
    mutation Schedule($id: ID!, $startAt: DateTime!, $expectedVersion: Int) {
  scheduleCommunication(
    id: $id
    startAt: $startAt
    expectedVersion: $expectedVersion
  ) {
    ...Outcome
  }
}
    fragment Outcome on CommunicationPayload {
  communication {
    ...Row
  }
  userErrors {
    code
    message
    field
  }
}
fragment Row on Communication {
  ... on CommunicationBase {
    id
    name
    kind
    origin
    version
    updatedAt
    availableActions
  }
  ... on EmailCampaign {
    emailStatus: status
  }
  ... on SmsCampaign {
    smsStatus: status
  }
  ... on WebPushCampaign {
    webPushStatus: status
  }
  ... on MobilePushCampaign {
    mobilePushStatus: status
  }
  ... on DynamicContent {
    dynamicContentStatus: status
  }
  ... on InAppMessage {
    inAppStatus: status
  }
  ... on ScreenView {
    screenViewStatus: status
  }
  ... on LandingPage {
    landingPageStatus: status
  }
}`) as unknown as TypedDocumentString<ScheduleMutation, ScheduleMutationVariables>;
export const UnscheduleDocument = new TypedDocumentString(`
    mutation Unschedule($id: ID!, $expectedVersion: Int) {
  unscheduleCommunication(id: $id, expectedVersion: $expectedVersion) {
    ...Outcome
  }
}
    fragment Outcome on CommunicationPayload {
  communication {
    ...Row
  }
  userErrors {
    code
    message
    field
  }
}
fragment Row on Communication {
  ... on CommunicationBase {
    id
    name
    kind
    origin
    version
    updatedAt
    availableActions
  }
  ... on EmailCampaign {
    emailStatus: status
  }
  ... on SmsCampaign {
    smsStatus: status
  }
  ... on WebPushCampaign {
    webPushStatus: status
  }
  ... on MobilePushCampaign {
    mobilePushStatus: status
  }
  ... on DynamicContent {
    dynamicContentStatus: status
  }
  ... on InAppMessage {
    inAppStatus: status
  }
  ... on ScreenView {
    screenViewStatus: status
  }
  ... on LandingPage {
    landingPageStatus: status
  }
}`) as unknown as TypedDocumentString<UnscheduleMutation, UnscheduleMutationVariables>;
export const PauseDocument = new TypedDocumentString(`
    mutation Pause($id: ID!, $expectedVersion: Int) {
  pauseCommunication(id: $id, expectedVersion: $expectedVersion) {
    ...Outcome
  }
}
    fragment Outcome on CommunicationPayload {
  communication {
    ...Row
  }
  userErrors {
    code
    message
    field
  }
}
fragment Row on Communication {
  ... on CommunicationBase {
    id
    name
    kind
    origin
    version
    updatedAt
    availableActions
  }
  ... on EmailCampaign {
    emailStatus: status
  }
  ... on SmsCampaign {
    smsStatus: status
  }
  ... on WebPushCampaign {
    webPushStatus: status
  }
  ... on MobilePushCampaign {
    mobilePushStatus: status
  }
  ... on DynamicContent {
    dynamicContentStatus: status
  }
  ... on InAppMessage {
    inAppStatus: status
  }
  ... on ScreenView {
    screenViewStatus: status
  }
  ... on LandingPage {
    landingPageStatus: status
  }
}`) as unknown as TypedDocumentString<PauseMutation, PauseMutationVariables>;
export const ResumeDocument = new TypedDocumentString(`
    mutation Resume($id: ID!, $expectedVersion: Int) {
  resumeCommunication(id: $id, expectedVersion: $expectedVersion) {
    ...Outcome
  }
}
    fragment Outcome on CommunicationPayload {
  communication {
    ...Row
  }
  userErrors {
    code
    message
    field
  }
}
fragment Row on Communication {
  ... on CommunicationBase {
    id
    name
    kind
    origin
    version
    updatedAt
    availableActions
  }
  ... on EmailCampaign {
    emailStatus: status
  }
  ... on SmsCampaign {
    smsStatus: status
  }
  ... on WebPushCampaign {
    webPushStatus: status
  }
  ... on MobilePushCampaign {
    mobilePushStatus: status
  }
  ... on DynamicContent {
    dynamicContentStatus: status
  }
  ... on InAppMessage {
    inAppStatus: status
  }
  ... on ScreenView {
    screenViewStatus: status
  }
  ... on LandingPage {
    landingPageStatus: status
  }
}`) as unknown as TypedDocumentString<ResumeMutation, ResumeMutationVariables>;
export const PublishDocument = new TypedDocumentString(`
    mutation Publish($id: ID!, $expectedVersion: Int) {
  publishLandingPage(id: $id, expectedVersion: $expectedVersion) {
    ...Outcome
  }
}
    fragment Outcome on CommunicationPayload {
  communication {
    ...Row
  }
  userErrors {
    code
    message
    field
  }
}
fragment Row on Communication {
  ... on CommunicationBase {
    id
    name
    kind
    origin
    version
    updatedAt
    availableActions
  }
  ... on EmailCampaign {
    emailStatus: status
  }
  ... on SmsCampaign {
    smsStatus: status
  }
  ... on WebPushCampaign {
    webPushStatus: status
  }
  ... on MobilePushCampaign {
    mobilePushStatus: status
  }
  ... on DynamicContent {
    dynamicContentStatus: status
  }
  ... on InAppMessage {
    inAppStatus: status
  }
  ... on ScreenView {
    screenViewStatus: status
  }
  ... on LandingPage {
    landingPageStatus: status
  }
}`) as unknown as TypedDocumentString<PublishMutation, PublishMutationVariables>;
export const UnpublishDocument = new TypedDocumentString(`
    mutation Unpublish($id: ID!, $expectedVersion: Int) {
  unpublishLandingPage(id: $id, expectedVersion: $expectedVersion) {
    ...Outcome
  }
}
    fragment Outcome on CommunicationPayload {
  communication {
    ...Row
  }
  userErrors {
    code
    message
    field
  }
}
fragment Row on Communication {
  ... on CommunicationBase {
    id
    name
    kind
    origin
    version
    updatedAt
    availableActions
  }
  ... on EmailCampaign {
    emailStatus: status
  }
  ... on SmsCampaign {
    smsStatus: status
  }
  ... on WebPushCampaign {
    webPushStatus: status
  }
  ... on MobilePushCampaign {
    mobilePushStatus: status
  }
  ... on DynamicContent {
    dynamicContentStatus: status
  }
  ... on InAppMessage {
    inAppStatus: status
  }
  ... on ScreenView {
    screenViewStatus: status
  }
  ... on LandingPage {
    landingPageStatus: status
  }
}`) as unknown as TypedDocumentString<UnpublishMutation, UnpublishMutationVariables>;
export const StopDocument = new TypedDocumentString(`
    mutation Stop($id: ID!, $dryRun: Boolean!, $reason: String, $expectedVersion: Int) {
  stopCommunication(
    id: $id
    dryRun: $dryRun
    reason: $reason
    expectedVersion: $expectedVersion
  ) {
    ...Outcome
    stopSummary {
      notSentNow
      alreadySent
      total
    }
  }
}
    fragment Outcome on CommunicationPayload {
  communication {
    ...Row
  }
  userErrors {
    code
    message
    field
  }
}
fragment Row on Communication {
  ... on CommunicationBase {
    id
    name
    kind
    origin
    version
    updatedAt
    availableActions
  }
  ... on EmailCampaign {
    emailStatus: status
  }
  ... on SmsCampaign {
    smsStatus: status
  }
  ... on WebPushCampaign {
    webPushStatus: status
  }
  ... on MobilePushCampaign {
    mobilePushStatus: status
  }
  ... on DynamicContent {
    dynamicContentStatus: status
  }
  ... on InAppMessage {
    inAppStatus: status
  }
  ... on ScreenView {
    screenViewStatus: status
  }
  ... on LandingPage {
    landingPageStatus: status
  }
}`) as unknown as TypedDocumentString<StopMutation, StopMutationVariables>;
export const CommunicationsDocument = new TypedDocumentString(`
    query Communications($filter: CommunicationFilter, $first: Int, $after: String, $last: Int, $before: String) {
  communications(
    filter: $filter
    first: $first
    after: $after
    last: $last
    before: $before
  ) {
    totalCount
    edges {
      cursor
      node {
        ...Row
      }
    }
    pageInfo {
      hasNextPage
      hasPreviousPage
      startCursor
      endCursor
    }
  }
}
    fragment Row on Communication {
  ... on CommunicationBase {
    id
    name
    kind
    origin
    version
    updatedAt
    availableActions
  }
  ... on EmailCampaign {
    emailStatus: status
  }
  ... on SmsCampaign {
    smsStatus: status
  }
  ... on WebPushCampaign {
    webPushStatus: status
  }
  ... on MobilePushCampaign {
    mobilePushStatus: status
  }
  ... on DynamicContent {
    dynamicContentStatus: status
  }
  ... on InAppMessage {
    inAppStatus: status
  }
  ... on ScreenView {
    screenViewStatus: status
  }
  ... on LandingPage {
    landingPageStatus: status
  }
}`) as unknown as TypedDocumentString<CommunicationsQuery, CommunicationsQueryVariables>;
export const StatusCountsDocument = new TypedDocumentString(`
    query StatusCounts {
  statusCounts {
    kind
    status
    count
  }
}
    `) as unknown as TypedDocumentString<StatusCountsQuery, StatusCountsQueryVariables>;
export const StatusChangedDocument = new TypedDocumentString(`
    subscription StatusChanged($after: String) {
  statusChanged(after: $after) {
    cursor
    communicationId
    kind
    action
    from
    to
    actor
    reason
    at
    communication {
      ... on CommunicationBase {
        name
      }
    }
  }
}
    `) as unknown as TypedDocumentString<StatusChangedSubscription, StatusChangedSubscriptionVariables>;
export const SendingDocument = new TypedDocumentString(`
    query Sending {
  communications(filter: {statuses: [SENDING]}, first: 50) {
    edges {
      node {
        ... on MessageCampaign {
          id
          name
          kind
        }
      }
    }
  }
}
    `) as unknown as TypedDocumentString<SendingQuery, SendingQueryVariables>;
export const SendingProgressDocument = new TypedDocumentString(`
    subscription SendingProgress($id: ID!) {
  sendingProgress(id: $id) {
    communicationId
    status
    audienceSize
    pendingCount
    handedOffCount
    sentCount
    notSentCount
    progress
  }
}
    `) as unknown as TypedDocumentString<SendingProgressSubscription, SendingProgressSubscriptionVariables>;
export const ViewerDocument = new TypedDocumentString(`
    query Viewer {
  viewer {
    name
    role
  }
}
    `) as unknown as TypedDocumentString<ViewerQuery, ViewerQueryVariables>;
export const WebhookEndpointsDocument = new TypedDocumentString(`
    query WebhookEndpoints {
  webhookEndpoints {
    id
    url
    state
    attempts
    failingSince
    nextAttemptAt
    lastError
    lag
    lastAttempt {
      at
      statusCode
      error
      delivered
    }
  }
}
    `) as unknown as TypedDocumentString<WebhookEndpointsQuery, WebhookEndpointsQueryVariables>;