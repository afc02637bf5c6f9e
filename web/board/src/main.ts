// The status board: counts by kind and status, a live feed of status changes that resumes
// with its last cursor, progress bars for SENDING campaigns, a filterable, paged list
// whose buttons come from `availableActions`, and for admins the webhook endpoints' health.
// Only the public GraphQL API is used.
import type { Client } from "graphql-ws";
import { ApiError, connect, request, setToken, subscribe, token } from "./api";
import { byId, h } from "./dom";
import {
  ACTION_LABELS,
  KIND_LABELS,
  NOT_SENT_EVENT,
  STATUSES,
  count,
  plural,
  statusOf,
  time,
  type Row,
} from "./format";
import {
  CommunicationsDocument,
  LaunchDocument,
  PauseDocument,
  PublishDocument,
  ResumeDocument,
  ScheduleDocument,
  SendingDocument,
  SendingProgressDocument,
  StatusChangedDocument,
  StatusCountsDocument,
  StopDocument,
  UnpublishDocument,
  UnscheduleDocument,
  ViewerDocument,
  WebhookEndpointsDocument,
  type ApiRole,
  type CommunicationAction,
  type CommunicationFilter,
  type CommunicationKind,
  type CommunicationStatus,
  type CommunicationsQueryVariables,
  type OutcomeFragment,
  type SendingProgressSubscription,
  type StatusChangedSubscription,
  type WebhookEndpointsQuery,
} from "./gql/graphql";

const PAGE_SIZE = 20;
const FEED_LIMIT = 200;
const RETRY_FIRST = 250; // ms before the feed subscribes again after a drop, doubling to
const RETRY_MAX = 2000;
const WEBHOOKS_EVERY = 2000; // ms between looks at the webhook endpoints (admins only)

// --- messages ---------------------------------------------------------------------------

function say(text: string, kind: "error" | "ok" | "info" = "info"): void {
  const box = byId("messages");
  const message = h(
    "div",
    { class: `msg msg-${kind}`, role: kind === "error" ? "alert" : "status" },
    h("span", {}, text),
    h("button", { class: "msg-close", "aria-label": "dismiss", onclick: () => message.remove() }, "×"),
  );
  box.prepend(message);
  while (box.children.length > 4) box.lastElementChild?.remove();
}

function failure(error: unknown): string {
  if (error instanceof ApiError) return error.message;
  if (error instanceof Error) return error.message;
  return String(error);
}

// --- identity ---------------------------------------------------------------------------

let canAct = false;
let role: ApiRole | null = null;

/** What this token may do, from `viewer`: EDITOR and ADMIN act, the others look. */
async function probeRole(): Promise<"act" | "read" | "none"> {
  try {
    role = (await request(ViewerDocument, {})).viewer.role;
    return role === "EDITOR" || role === "ADMIN" ? "act" : "read";
  } catch (error) {
    if (error instanceof ApiError && (error.status === 401 || error.codes.includes("UNAUTHENTICATED")))
      return "none";
    throw error;
  }
}

function setupTokenForm(): void {
  const form = byId<HTMLFormElement>("token-form");
  const input = byId<HTMLInputElement>("token");
  byId("token-state").textContent = token() ? "token set" : "no token";
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    setToken(input.value.trim());
    location.reload();
  });
  byId("token-clear").addEventListener("click", () => {
    setToken("");
    location.reload();
  });
}

// --- connection state -------------------------------------------------------------------

function setConnection(state: "connecting" | "live" | "reconnecting" | "refused", text: string): void {
  const pill = byId("conn");
  pill.dataset.state = state;
  pill.textContent = text;
}

// --- counts -----------------------------------------------------------------------------

async function loadCounts(): Promise<void> {
  const { statusCounts } = await request(StatusCountsDocument, {});
  const byKind = new Map<CommunicationKind, Map<CommunicationStatus, number>>();
  for (const { kind, status, count: n } of statusCounts) {
    if (!byKind.has(kind)) byKind.set(kind, new Map());
    byKind.get(kind)?.set(status, n);
  }
  const used = STATUSES.filter((s) => statusCounts.some((c) => c.status === s));
  const head = h("tr", {}, h("th", {}, "Kind"), ...used.map((s) => h("th", { class: `s-${s}` }, s)));
  const rows = [...byKind].map(([kind, statuses]) =>
    h(
      "tr",
      { "data-kind": kind },
      h("th", {}, KIND_LABELS[kind]),
      ...used.map((status) => {
        const n = statuses.get(status);
        return n === undefined
          ? h("td", { class: "na" }, "·")
          : h("td", { "data-status": status, class: n ? "nonzero" : "zero" }, count(n));
      }),
    ),
  );
  const totals = h(
    "tr",
    { class: "totals" },
    h("th", {}, "All"),
    ...used.map((status) =>
      h(
        "td",
        { "data-total": status },
        count(statusCounts.filter((c) => c.status === status).reduce((sum, c) => sum + c.count, 0)),
      ),
    ),
  );
  byId("counts").replaceChildren(h("thead", {}, head), h("tbody", {}, ...rows, totals));
}

// --- the live feed ----------------------------------------------------------------------

type Change = StatusChangedSubscription["statusChanged"];

let client: Client;
let feedCursor: string | null = null;
let droppedAt: Date | null = null;
let retryDelay = RETRY_FIRST;
let resumes = 0;

function feedLine(item: HTMLElement): void {
  const list = byId("feed");
  byId("feed-empty").hidden = true;
  list.prepend(item);
  while (list.children.length > FEED_LIMIT) list.lastElementChild?.remove();
}

function showChange(change: Change): void {
  const name = "name" in change.communication ? change.communication.name : change.communicationId;
  feedLine(
    h(
      "li",
      { class: "change", "data-cursor": change.cursor, "data-id": change.communicationId, "data-to": change.to },
      h("time", { datetime: change.at }, time(change.at)),
      h("span", { class: "kind" }, KIND_LABELS[change.kind]),
      h("span", { class: "name" }, name),
      h("span", { class: `status s-${change.from ?? "NONE"}` }, change.from ?? "new"),
      "→",
      h("span", { class: `status s-${change.to}` }, change.to),
      h("span", { class: "who" }, `${change.action.toLowerCase()} by ${change.actor}`),
      change.reason ? h("span", { class: "reason" }, `“${change.reason}”`) : null,
    ),
  );
}

function showSystem(text: string, kind: "lost" | "resumed"): void {
  feedLine(h("li", { class: `system ${kind}` }, h("time", {}, time(new Date().toISOString())), text));
}

function closeCode(error: unknown): number | null {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "number" ? code : null;
}

function startFeed(): void {
  subscribe(client, StatusChangedDocument, { after: feedCursor }, {
    next: ({ statusChanged }) => {
      feedCursor = statusChanged.cursor;
      showChange(statusChanged);
      refreshSoon();
    },
    error: (error) => feedDropped(error),
    complete: () => feedDropped(null),
  });
}

function feedDropped(error: unknown): void {
  const code = closeCode(error);
  if (code === 4403 || code === 4401 || (error instanceof ApiError && error.codes.includes("FORBIDDEN"))) {
    // revoked, or refused: ask over HTTP whether the token still works before giving up
    void probeRole().then(
      (role) => (role === "none" ? refusedLive(error) : lost()),
      () => lost(),
    );
    return;
  }
  lost();
}

function refusedLive(error: unknown): void {
  const reason = (error as { reason?: unknown } | null)?.reason;
  setConnection("refused", "token refused");
  say(
    `The server refused this token (${typeof reason === "string" && reason ? reason : failure(error)}): enter another one above.`,
    "error",
  );
}

/** The feed's subscription ended without a refusal: subscribe again, after the last cursor. */
function lost(): void {
  if (droppedAt === null) {
    droppedAt = new Date();
    showSystem("Connection lost; reconnecting…", "lost");
  }
  setConnection("reconnecting", "reconnecting…");
  window.setTimeout(startFeed, retryDelay);
  retryDelay = Math.min(retryDelay * 2, RETRY_MAX);
}

function connected(): void {
  retryDelay = RETRY_FIRST;
  setConnection("live", "live");
  if (droppedAt !== null) {
    const seconds = ((Date.now() - droppedAt.getTime()) / 1000).toFixed(1);
    droppedAt = null;
    resumes += 1;
    byId("feed").dataset.resumes = String(resumes);
    showSystem(
      feedCursor
        ? `Reconnected after ${seconds} s; resumed after the last change seen, so nothing was missed`
        : `Reconnected after ${seconds} s`,
      "resumed",
    );
    refreshSoon();
  }
}

// --- progress of SENDING campaigns --------------------------------------------------------

/** A bar per SENDING campaign; `stop` is null once its subscription ended with the socket. */
const bars = new Map<string, { stop: (() => void) | null; element: HTMLElement }>();

function renderBar(element: HTMLElement, p: SendingProgressSubscription["sendingProgress"]): void {
  const total = Math.max(p.audienceSize, 1);
  const share = (n: number): string => `${((100 * n) / total).toFixed(2)}%`;
  element.dataset.status = p.status;
  element.dataset.sent = String(p.sentCount);
  element.dataset.notSent = String(p.notSentCount);
  element.dataset.pending = String(p.pendingCount);
  const track = element.querySelector(".track");
  track?.replaceChildren(
    h("span", { class: "seg sent", style: `width:${share(p.sentCount)}`, title: "sent" }),
    h("span", { class: "seg notsent", style: `width:${share(p.notSentCount)}`, title: "not sent" }),
    h("span", { class: "seg handed", style: `width:${share(p.handedOffCount)}`, title: "handed off" }),
  );
  const figures = element.querySelector(".figures");
  figures?.replaceChildren(
    h("span", { class: "f-sent" }, `${count(p.sentCount)} sent`),
    h("span", { class: "f-notsent" }, `${count(p.notSentCount)} not sent`),
    h("span", { class: "f-handed" }, `${count(p.handedOffCount)} handed off`),
    h("span", { class: "f-pending" }, `${count(p.pendingCount)} pending`),
    h("span", { class: "f-total" }, `of ${count(p.audienceSize)} · ${(100 * p.progress).toFixed(0)}%`),
  );
}

async function loadSending(): Promise<void> {
  const { communications } = await request(SendingDocument, {});
  const sending = communications.edges.map((e) => e.node).filter((n) => "id" in n);
  const ids = new Set(sending.map((n) => n.id));
  for (const [id, bar] of bars) {
    if (!ids.has(id)) {
      bar.stop?.();
      bar.element.remove();
      bars.delete(id);
    }
  }
  for (const node of sending) {
    const bar = bars.get(node.id) ?? {
      stop: null,
      element: h(
        "div",
        { class: "bar", "data-id": node.id },
        h("div", { class: "bar-head" }, h("span", { class: "kind" }, KIND_LABELS[node.kind]), h("b", {}, node.name)),
        h("div", { class: "track" }),
        h("div", { class: "figures" }),
      ),
    };
    if (!bars.has(node.id)) {
      byId("bars").append(bar.element);
      bars.set(node.id, bar);
    }
    if (bar.stop) continue;
    bar.stop = subscribe(client, SendingProgressDocument, { id: node.id }, {
      next: ({ sendingProgress }) => renderBar(bar.element, sendingProgress),
      error: () => (bar.stop = null), // dropped with the socket: the next refresh resubscribes
      complete: () => (bar.stop = null),
    });
  }
  byId("bars-empty").hidden = bars.size > 0;
}

// --- the list -----------------------------------------------------------------------------

let filter: CommunicationFilter = {};
let page: Pick<CommunicationsQueryVariables, "first" | "after" | "last" | "before"> = { first: PAGE_SIZE };
let pageInfo = { startCursor: null as string | null, endCursor: null as string | null };

async function loadList(): Promise<void> {
  const { communications } = await request(CommunicationsDocument, { filter, ...page });
  const rows = communications.edges.map((e) => e.node).filter((n): n is Row => "id" in n);
  byId("rows").replaceChildren(...rows.map(renderRow));
  byId("list-empty").hidden = rows.length > 0;
  byId("total").textContent = plural(communications.totalCount, "communication");
  pageInfo = { startCursor: communications.pageInfo.startCursor ?? null, endCursor: communications.pageInfo.endCursor ?? null };
  const forward = page.first != null;
  byId<HTMLButtonElement>("prev").disabled = forward ? page.after == null : !communications.pageInfo.hasPreviousPage;
  byId<HTMLButtonElement>("next").disabled = forward ? !communications.pageInfo.hasNextPage : false;
}

function renderRow(row: Row): HTMLElement {
  const status = statusOf(row);
  const actions = canAct
    ? row.availableActions
        .filter((action) => ACTION_LABELS[action])
        .map((action) =>
          h(
            "button",
            { class: `act act-${action.toLowerCase()}`, "data-action": action, onclick: () => void perform(row, action) },
            ACTION_LABELS[action] ?? action,
          ),
        )
    : [];
  return h(
    "tr",
    { "data-id": row.id, "data-status": status },
    h("td", { class: "name" }, row.name),
    h("td", {}, KIND_LABELS[row.kind]),
    h("td", {}, h("span", { class: `status s-${status}` }, status)),
    h("td", {}, row.origin.toLowerCase()),
    h("td", { class: "num" }, row.version),
    h("td", {}, new Date(row.updatedAt).toLocaleString("en-GB")),
    h("td", { class: "actions" }, ...actions),
  );
}

function setupList(): void {
  byId("filter-kind").append(...Object.entries(KIND_LABELS).map(([value, label]) => h("option", { value }, label)));
  byId("filter-status").append(...STATUSES.map((s) => h("option", { value: s }, s)));
  byId<HTMLFormElement>("filters").addEventListener("submit", (event) => {
    event.preventDefault();
    const kind = byId<HTMLSelectElement>("filter-kind").value as CommunicationKind | "";
    const status = byId<HTMLSelectElement>("filter-status").value as CommunicationStatus | "";
    const search = byId<HTMLInputElement>("filter-search").value.trim();
    filter = {
      ...(kind ? { kinds: [kind] } : {}),
      ...(status ? { statuses: [status] } : {}),
      ...(search ? { search } : {}),
    };
    page = { first: PAGE_SIZE };
    void loadList().catch((error) => say(failure(error), "error"));
  });
  byId("next").addEventListener("click", () => {
    page = { first: PAGE_SIZE, after: pageInfo.endCursor };
    void loadList().catch((error) => say(failure(error), "error"));
  });
  byId("prev").addEventListener("click", () => {
    page = { last: PAGE_SIZE, before: pageInfo.startCursor };
    void loadList().catch((error) => say(failure(error), "error"));
  });
}

// --- actions ------------------------------------------------------------------------------

type Simple = (id: string, expectedVersion: number) => Promise<OutcomeFragment>;

const SIMPLE: Partial<Record<CommunicationAction, Simple>> = {
  LAUNCH: async (id, v) => (await request(LaunchDocument, { id, expectedVersion: v })).launchCommunication,
  UNSCHEDULE: async (id, v) =>
    (await request(UnscheduleDocument, { id, expectedVersion: v })).unscheduleCommunication,
  PAUSE: async (id, v) => (await request(PauseDocument, { id, expectedVersion: v })).pauseCommunication,
  RESUME: async (id, v) => (await request(ResumeDocument, { id, expectedVersion: v })).resumeCommunication,
  PUBLISH: async (id, v) => (await request(PublishDocument, { id, expectedVersion: v })).publishLandingPage,
  UNPUBLISH: async (id, v) =>
    (await request(UnpublishDocument, { id, expectedVersion: v })).unpublishLandingPage,
};

/** Shows the dialog; resolves with the input's value (or "") on confirm, null on cancel. */
function ask(text: string, confirmLabel: string, input?: { label: string; type: string; value: string }): Promise<string | null> {
  const dialog = byId<HTMLDialogElement>("confirm");
  byId("confirm-text").textContent = text;
  const field = byId<HTMLInputElement>("confirm-input");
  const label = byId("confirm-input-label");
  label.hidden = !input;
  if (input) {
    byId("confirm-input-name").textContent = input.label;
    field.type = input.type;
    field.value = input.value;
  }
  byId("confirm-ok").textContent = confirmLabel;
  dialog.returnValue = "";
  dialog.showModal();
  return new Promise((resolve) => {
    dialog.addEventListener(
      "close",
      () => resolve(dialog.returnValue === "ok" ? (input ? field.value : "") : null),
      { once: true },
    );
  });
}

function refused(outcome: { userErrors: { message: string }[] }): boolean {
  for (const error of outcome.userErrors) say(error.message, "error");
  return outcome.userErrors.length > 0;
}

async function perform(row: Row, action: CommunicationAction): Promise<void> {
  try {
    if (action === "STOP") return await stop(row);
    if (action === "SCHEDULE") return await schedule(row);
    const run = SIMPLE[action];
    if (!run) return;
    const outcome = await run(row.id, row.version);
    if (!refused(outcome)) say(`${ACTION_LABELS[action]}: “${row.name}” done.`, "ok");
  } catch (error) {
    say(failure(error), "error");
  }
  refreshSoon();
}

async function stop(row: Row): Promise<void> {
  const dry = (await request(StopDocument, { id: row.id, dryRun: true, expectedVersion: row.version }))
    .stopCommunication;
  if (refused(dry)) return;
  const event = NOT_SENT_EVENT[row.kind];
  const summary = dry.stopSummary;
  const what =
    event && summary
      ? `${plural(summary.notSentNow, "recipient")} will get ${event}` +
        (summary.alreadySent ? `; ${count(summary.alreadySent)} already sent stay sent.` : ".")
      : "It stops being shown.";
  const reason = await ask(`Stop “${row.name}”? ${what} A stop is final.`, "Stop for good", {
    label: "Reason (optional)",
    type: "text",
    value: "",
  });
  if (reason === null) return;
  const done = (
    await request(StopDocument, { id: row.id, dryRun: false, reason: reason || null, expectedVersion: row.version })
  ).stopCommunication;
  if (refused(done)) return;
  const stopped = done.stopSummary;
  say(
    event && stopped
      ? `Stopped “${row.name}”: ${plural(stopped.notSentNow, "recipient")} got ${event}.`
      : `Stopped “${row.name}”.`,
    "ok",
  );
  refreshSoon();
}

async function schedule(row: Row): Promise<void> {
  const soon = new Date(Date.now() + 10 * 60_000);
  const local = new Date(soon.getTime() - soon.getTimezoneOffset() * 60_000).toISOString().slice(0, 16);
  const when = await ask(`Schedule “${row.name}”: it starts by itself at this time.`, "Schedule", {
    label: "Start at",
    type: "datetime-local",
    value: local,
  });
  if (!when) return;
  const outcome = (
    await request(ScheduleDocument, { id: row.id, startAt: new Date(when).toISOString(), expectedVersion: row.version })
  ).scheduleCommunication;
  if (!refused(outcome)) say(`Scheduled “${row.name}”.`, "ok");
  refreshSoon();
}

// --- webhook endpoints (admins) -------------------------------------------------------------

type Endpoint = WebhookEndpointsQuery["webhookEndpoints"][number];

/** healthy: nothing waits on a failure; failing: the next change is being retried;
 * stopped: FAILING, retried for the whole retry period, until an admin replays. */
function health(endpoint: Endpoint): "healthy" | "failing" | "stopped" {
  if (endpoint.state === "FAILING") return "stopped";
  return endpoint.attempts > 0 ? "failing" : "healthy";
}

function renderEndpoint(endpoint: Endpoint): HTMLElement {
  const state = health(endpoint);
  const last = endpoint.lastAttempt;
  const outcome = !last
    ? "none yet"
    : last.delivered
      ? `delivered (${last.statusCode ?? "?"})`
      : `failed: ${last.error ?? `HTTP ${last.statusCode ?? "?"}`}`;
  const status =
    state === "healthy"
      ? "healthy"
      : state === "stopped"
        ? "stopped: replay to resume"
        : `failing, ${plural(endpoint.attempts, "attempt")}` +
          (endpoint.nextAttemptAt ? `; next at ${time(endpoint.nextAttemptAt)}` : "");
  return h(
    "tr",
    { "data-endpoint": endpoint.id, "data-health": state, "data-lag": endpoint.lag },
    h("td", { class: "url" }, endpoint.url),
    h("td", {}, h("span", { class: `health h-${state}` }, status)),
    h("td", { class: "last" }, last ? h("time", { datetime: last.at }, time(last.at)) : null, " ", outcome),
    h("td", { class: "num lag" }, endpoint.lag ? `${plural(endpoint.lag, "change")} behind` : "up to date"),
  );
}

async function loadWebhooks(): Promise<void> {
  if (role !== "ADMIN") return;
  const { webhookEndpoints } = await request(WebhookEndpointsDocument, {});
  byId("endpoints").replaceChildren(...webhookEndpoints.map(renderEndpoint));
  byId("endpoints-empty").hidden = webhookEndpoints.length > 0;
}

// --- refresh ------------------------------------------------------------------------------

let refreshTimer: number | undefined;

/** Counts, list and bars again, once, shortly after a burst of changes. */
function refreshSoon(): void {
  window.clearTimeout(refreshTimer);
  refreshTimer = window.setTimeout(() => void refresh(), 100);
}

async function refresh(): Promise<void> {
  const results = await Promise.allSettled([loadCounts(), loadList(), loadSending(), loadWebhooks()]);
  const failed = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
  if (failed && droppedAt === null) say(failure(failed.reason), "error");
}

// --- start --------------------------------------------------------------------------------

async function main(): Promise<void> {
  setupTokenForm();
  setupList();
  setConnection("connecting", "connecting…");
  let access: "act" | "read" | "none";
  try {
    access = await probeRole();
  } catch (error) {
    say(failure(error), "error");
    setConnection("refused", "unreachable");
    return;
  }
  canAct = access === "act";
  document.body.dataset.role = access;
  if (access === "none") {
    setConnection("refused", "token needed");
    say(
      token()
        ? "The server refused this token: enter another one above."
        : "This server needs an API token: enter one above.",
      "error",
    );
    byId<HTMLInputElement>("token").focus();
    return;
  }
  if (access === "read") say("This token may look but not act: no action buttons.", "info");
  if (role === "ADMIN") {
    // deliveries and retries change an endpoint's health without any status change
    byId("webhooks-panel").hidden = false;
    window.setInterval(() => void loadWebhooks().catch(() => undefined), WEBHOOKS_EVERY);
  }
  client = connect({ connected, closed: () => undefined });
  startFeed();
  await refresh();
  document.body.dataset.ready = "true";
}

void main();
