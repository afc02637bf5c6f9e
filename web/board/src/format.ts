import type { CommunicationAction, CommunicationKind, RowFragment } from "./gql/graphql";

export const KIND_LABELS: Record<CommunicationKind, string> = {
  EMAIL: "Email",
  SMS: "SMS",
  WEB_PUSH: "Web push",
  MOBILE_PUSH: "Mobile push",
  DYNAMIC_CONTENT: "Dynamic content",
  IN_APP: "In-app",
  SCREEN_VIEW: "Screen view",
  LANDING_PAGE: "Landing page",
};

export const STATUSES = [
  "DRAFT",
  "SCHEDULED",
  "SENDING",
  "ACTIVE",
  "PAUSED",
  "PUBLISHED",
  "FINISHED",
  "STOPPED",
  "ERROR",
] as const;

/** The event each recipient not yet out gets when a message campaign stops (README). */
export const NOT_SENT_EVENT: Partial<Record<CommunicationKind, string>> = {
  EMAIL: "message.notSent",
  SMS: "sms.notSent",
  MOBILE_PUSH: "push.notSent",
  WEB_PUSH: "webpush.notSent",
};

export const ACTION_LABELS: Partial<Record<CommunicationAction, string>> = {
  SCHEDULE: "Schedule",
  UNSCHEDULE: "Unschedule",
  LAUNCH: "Launch",
  PAUSE: "Pause",
  RESUME: "Resume",
  STOP: "Stop",
  PUBLISH: "Publish",
  UNPUBLISH: "Unpublish",
};

const numbers = new Intl.NumberFormat("en-US");
export const count = (n: number): string => numbers.format(n);

export function time(iso: string): string {
  return new Date(iso).toLocaleTimeString("en-GB", { hour12: false });
}

export type Row = Extract<RowFragment, { id: string }>;

/** A row's status, whichever type's alias carries it. */
export function statusOf(row: RowFragment): string {
  const aliased = row as Partial<Record<string, unknown>>;
  for (const key of [
    "emailStatus",
    "smsStatus",
    "webPushStatus",
    "mobilePushStatus",
    "dynamicContentStatus",
    "inAppStatus",
    "screenViewStatus",
    "landingPageStatus",
  ]) {
    const value = aliased[key];
    if (typeof value === "string") return value;
  }
  return "?";
}

export function plural(n: number, one: string, many = `${one}s`): string {
  return `${count(n)} ${n === 1 ? one : many}`;
}
