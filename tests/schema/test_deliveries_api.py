"""The recipients and delivery API over GraphQL: claims, reports, stops with a dry run,
failures, audiences, display events and the event log."""

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from graphql import ExecutionResult

from schema import schema
from schema.context import Context
from store import Store, deliveries
from store.tokens import ApiRole
from tests.schema.conftest import Run

ERRORS = "userErrors { code message field }"
COUNTERS = """
  id version statusReason audienceSize pendingCount handedOffCount sentCount
  notSentCount progress lastProgressAt stalled
"""

CREATE = f"""
mutation($input: CreateEmailCampaignInput!) {{
  createEmailCampaign(input: $input) {{
    communication {{ ... on EmailCampaign {{ status {COUNTERS} }} }}
    {ERRORS}
  }}
}}"""

CREATE_SMS = f"""
mutation($input: CreateSmsCampaignInput!) {{
  createSmsCampaign(input: $input) {{
    communication {{ ... on SmsCampaign {{ status {COUNTERS} }} }}
    {ERRORS}
  }}
}}"""

CREATE_IN_APP = f"""
mutation($input: CreateInAppMessageInput!) {{
  createInAppMessage(input: $input) {{
    communication {{ ... on InAppMessage {{ id status }} }}
    {ERRORS}
  }}
}}"""

COMMUNICATION = f"""
  communication {{
    ... on MessageCampaign {{ {COUNTERS} }}
    ... on EmailCampaign {{ status }}
    ... on SmsCampaign {{ smsStatus: status }}
    ... on InAppMessage {{ id inAppStatus: status shownCount clickedCount }}
  }}
"""

LAUNCH = f"mutation($id: ID!) {{ launchCommunication(id: $id) {{ {COMMUNICATION} {ERRORS} }} }}"
PAUSE = f"mutation($id: ID!) {{ pauseCommunication(id: $id) {{ {COMMUNICATION} {ERRORS} }} }}"

READ = f"""
query($id: ID!) {{
  communication(id: $id) {{
    ... on MessageCampaign {{ {COUNTERS} }}
    ... on EmailCampaign {{ status }}
  }}
}}"""

CLAIM = f"""
mutation($id: ID!, $limit: Int!, $worker: String!, $lease: Int) {{
  claimRecipients(communicationId: $id, limit: $limit, workerId: $worker, leaseSeconds: $lease) {{
    recipients {{ communicationId recipientId leaseId leaseUntil }}
    {ERRORS}
  }}
}}"""

REPORT = f"""
mutation($id: ID!, $results: [DeliveryResultInput!]!) {{
  reportDeliveries(communicationId: $id, results: $results) {{
    {COMMUNICATION}
    results {{ recipientId applied code message }}
    {ERRORS}
  }}
}}"""

STOP = f"""
mutation($id: ID!, $dryRun: Boolean!, $reason: String) {{
  stopCommunication(id: $id, dryRun: $dryRun, reason: $reason) {{
    {COMMUNICATION}
    stopSummary {{ notSentNow alreadySent total }}
    {ERRORS}
  }}
}}"""

FAIL = f"""
mutation($id: ID!, $reason: String!) {{
  failCommunication(id: $id, reason: $reason) {{ {COMMUNICATION} {ERRORS} }}
}}"""

ADD = f"""
mutation($id: ID!, $recipients: [String!]!) {{
  addRecipients(id: $id, recipients: $recipients) {{ {COMMUNICATION} {ERRORS} }}
}}"""

DISPLAY = f"""
mutation($id: ID!, $events: [DisplayEventInput!]!) {{
  recordDisplayEvents(id: $id, events: $events) {{
    {COMMUNICATION}
    results {{ recipientId applied code message }}
    {ERRORS}
  }}
}}"""

EVENTS = """
query($id: ID!, $filter: DeliveryEventFilter, $first: Int, $after: String) {
  deliveryEvents(communicationId: $id, filter: $filter, first: $first, after: $after) {
    edges { cursor node { cursor communicationId recipientId name at info } }
    hasNextPage endCursor
  }
}"""

UNKNOWN_ID = "Q29tbXVuaWNhdGlvbjo5OTk5"  # Communication:9999


def profiles(count: int, prefix: str = "p") -> list[str]:
    return [f"{prefix}{n:02}" for n in range(1, count + 1)]


async def email(gql: Run, recipients: list[str], origin: str = "CAMPAIGN") -> dict[str, Any]:
    data = await gql(
        CREATE,
        input={"name": "Spring", "subject": "Hi", "recipients": recipients, "origin": origin},
    )
    payload = data["createEmailCampaign"]
    assert payload["userErrors"] == []
    return dict(payload["communication"])


async def sending(gql: Run, recipients: list[str], origin: str = "CAMPAIGN") -> str:
    created = await email(gql, recipients, origin)
    launched = (await gql(LAUNCH, id=created["id"]))["launchCommunication"]
    assert launched["userErrors"] == []
    assert launched["communication"]["status"] == "SENDING"
    return str(created["id"])


# the lease each claim in these tests gave, by (communication id, recipient id)
HELD: dict[tuple[str, str], str] = {}


async def claim(gql: Run, id: str, limit: int, worker: str = "w1") -> list[str]:
    payload = (await gql(CLAIM, id=id, limit=limit, worker=worker, lease=30))["claimRecipients"]
    assert payload["userErrors"] == []
    for r in payload["recipients"]:
        assert r["communicationId"] == id
        HELD[(id, r["recipientId"])] = r["leaseId"]
    return [r["recipientId"] for r in payload["recipients"]]


def leased(id: str, results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The results, each with the lease its recipient was last claimed with in this test."""
    return [{"leaseId": HELD.get((id, r["recipientId"]), "unclaimed"), **r} for r in results]


async def report(gql: Run, id: str, results: list[dict[str, Any]]) -> dict[str, Any]:
    payload = (await gql(REPORT, id=id, results=leased(id, results)))["reportDeliveries"]
    assert payload["userErrors"] == []
    return dict(payload)


def sent(*recipients: str) -> list[dict[str, Any]]:
    return [{"recipientId": r, "outcome": "SENT"} for r in recipients]


@pytest.fixture(autouse=True)
def forget_leases() -> None:
    HELD.clear()


async def all_events(gql: Run, id: str, **filter: Any) -> list[dict[str, Any]]:
    found = (await gql(EVENTS, id=id, filter=filter or None, first=100))["deliveryEvents"]
    assert not found["hasNextPage"]
    return [edge["node"] for edge in found["edges"]]


def counters(communication: dict[str, Any]) -> tuple[int, int, int, int, int]:
    c = communication
    return (
        c["audienceSize"],
        c["pendingCount"],
        c["handedOffCount"],
        c["sentCount"],
        c["notSentCount"],
    )


# --- the worker API --------------------------------------------------------------------------


async def test_a_worker_claims_and_reports(gql: Run) -> None:
    """A worker claims recipients with a lease, reports outcomes, and the counters follow."""
    id = await sending(gql, profiles(4))
    before = datetime.now(UTC)

    payload = (await gql(CLAIM, id=id, limit=3, worker="w1", lease=30))["claimRecipients"]

    assert payload["userErrors"] == []
    claimed = [r["recipientId"] for r in payload["recipients"]]
    assert claimed == ["p01", "p02", "p03"]
    assert len({r["leaseId"] for r in payload["recipients"]}) == 1  # one lease per claim
    HELD.update({(id, r["recipientId"]): r["leaseId"] for r in payload["recipients"]})
    for r in payload["recipients"]:
        lease_until = datetime.fromisoformat(r["leaseUntil"])
        assert before + timedelta(seconds=30) <= lease_until <= before + timedelta(seconds=40)

    at = "2026-03-01T09:00:00+00:00"
    reported = await report(
        gql,
        id,
        [
            {"recipientId": "p01", "outcome": "SENT", "at": at},
            {"recipientId": "p02", "outcome": "SENT"},
            {"recipientId": "p03", "outcome": "NOT_SENT", "info": "mailbox full"},
        ],
    )

    assert [(r["recipientId"], r["applied"], r["code"]) for r in reported["results"]] == [
        ("p01", True, None),
        ("p02", True, None),
        ("p03", True, None),
    ]
    now = reported["communication"]
    assert counters(now) == (4, 1, 0, 2, 1)
    assert now["progress"] == 0.75
    assert now["status"] == "SENDING"
    assert now["lastProgressAt"] is not None
    assert not now["stalled"]
    found = await all_events(gql, id)
    assert [(e["recipientId"], e["name"], e["info"]) for e in found] == [
        ("p01", "message.send", None),
        ("p02", "message.send", None),
        ("p03", "message.notSent", "mailbox full"),
    ]
    assert found[0]["at"] == at
    assert {e["communicationId"] for e in found} == {id}


async def test_claim_without_lease_seconds_uses_the_default_lease(gql: Run) -> None:
    """A claim that names no lease gets the service's default of 60 seconds."""
    id = await sending(gql, profiles(2))
    before = datetime.now(UTC)

    payload = (await gql(CLAIM, id=id, limit=1, worker="w1", lease=None))["claimRecipients"]

    lease_until = datetime.fromisoformat(payload["recipients"][0]["leaseUntil"])
    assert before + timedelta(seconds=60) <= lease_until <= before + timedelta(seconds=70)


async def test_claiming_the_last_recipient_finishes_and_late_reports_still_count(gql: Run) -> None:
    """The campaign is FINISHED once nobody is PENDING; SENT reports after that are applied."""
    id = await sending(gql, profiles(3))

    claimed = await claim(gql, id, 10)
    finished = (await gql(READ, id=id))["communication"]
    reported = await report(gql, id, sent(*claimed))

    assert claimed == profiles(3)
    assert (finished["status"], finished["progress"]) == ("FINISHED", 1.0)
    assert counters(finished) == (3, 0, 3, 0, 0)
    assert all(r["applied"] for r in reported["results"])
    assert counters(reported["communication"]) == (3, 0, 0, 3, 0)
    assert reported["communication"]["status"] == "FINISHED"


async def test_repeated_report_applies_nothing(gql: Run) -> None:
    """The same report sent twice records each outcome once."""
    id = await sending(gql, profiles(3))
    claimed = await claim(gql, id, 2)
    await report(gql, id, sent(*claimed))

    again = await report(gql, id, sent(*claimed))

    assert [(r["applied"], r["code"], r["message"]) for r in again["results"]] == [
        (False, None, "already SENT")
    ] * 2
    assert counters(again["communication"]) == (3, 1, 0, 2, 0)
    assert len(await all_events(gql, id)) == 2


@pytest.mark.parametrize(
    ("limit", "worker", "lease", "field"),
    [
        (0, "w1", 30, "limit"),
        (1001, "w1", 30, "limit"),
        (5, "", 30, "workerId"),
        (5, "   ", 30, "workerId"),
        (5, "w1", 0, "leaseSeconds"),
        (5, "w1", 3601, "leaseSeconds"),
    ],
)
async def test_bad_claims_are_invalid_input(
    gql: Run, limit: int, worker: str, lease: int, field: str
) -> None:
    """A limit outside 1..1000, a blank worker id or a bad lease is refused naming the field."""
    id = await sending(gql, profiles(3))

    payload = (await gql(CLAIM, id=id, limit=limit, worker=worker, lease=lease))["claimRecipients"]

    assert payload["recipients"] == []
    assert [(e["code"], e["field"]) for e in payload["userErrors"]] == [("INVALID_INPUT", [field])]
    assert counters((await gql(READ, id=id))["communication"]) == (3, 3, 0, 0, 0)


@pytest.mark.parametrize("bad_id", [UNKNOWN_ID, "nonsense"])
async def test_claims_and_reports_for_unknown_ids_are_not_found(gql: Run, bad_id: str) -> None:
    """Claims and reports naming no communication are NOT_FOUND."""
    claimed = (await gql(CLAIM, id=bad_id, limit=1, worker="w1", lease=30))["claimRecipients"]
    reported = (await gql(REPORT, id=bad_id, results=leased(bad_id, sent("p01"))))[
        "reportDeliveries"
    ]

    assert [e["code"] for e in claimed["userErrors"]] == ["NOT_FOUND"]
    assert [e["code"] for e in reported["userErrors"]] == ["NOT_FOUND"]
    assert reported["results"] == []


async def test_claims_on_a_draft_are_an_invalid_transition(gql: Run) -> None:
    """A DRAFT hands out nobody: claims are for SENDING campaigns."""
    created = await email(gql, profiles(2))

    payload = (await gql(CLAIM, id=created["id"], limit=1, worker="w1", lease=30))[
        "claimRecipients"
    ]

    assert [e["code"] for e in payload["userErrors"]] == ["INVALID_TRANSITION"]
    assert counters((await gql(READ, id=created["id"]))["communication"]) == (2, 2, 0, 0, 0)


async def test_reports_for_a_draft_are_an_invalid_transition(gql: Run) -> None:
    """Outcomes cannot be reported before the campaign was sent."""
    created = await email(gql, profiles(2))

    results = leased(created["id"], sent("p01"))
    payload = (await gql(REPORT, id=created["id"], results=results))["reportDeliveries"]

    assert [e["code"] for e in payload["userErrors"]] == ["INVALID_TRANSITION"]
    assert await all_events(gql, created["id"]) == []


@pytest.mark.parametrize("outcome", ["PENDING", "HANDED_OFF", "DELIVERED"])
async def test_only_final_outcomes_can_be_reported(store: Store, gql: Run, outcome: str) -> None:
    """The report input takes SENT or NOT_SENT only: anything else fails validation and
    nothing runs."""
    id = await sending(gql, profiles(2))
    claimed = await claim(gql, id, 1)
    results = leased(id, [{"recipientId": claimed[0], "outcome": outcome}])

    result = await schema.execute(
        REPORT,
        variable_values={"id": id, "results": results},
        context_value=Context(store=store, role=ApiRole.ADMIN),
    )

    assert result.data is None and result.errors is not None
    assert "ReportedOutcome" in result.errors[0].message
    assert counters((await gql(READ, id=id))["communication"]) == (2, 1, 1, 0, 0)


async def test_report_items_are_refused_one_by_one(gql: Run) -> None:
    """Unknown recipients, contradictions and naive times are refused per item."""
    id = await sending(gql, profiles(4))
    a, b, c = await claim(gql, id, 3)
    await report(gql, id, [{"recipientId": a, "outcome": "NOT_SENT"}])

    reported = await report(
        gql,
        id,
        [
            {"recipientId": a, "outcome": "SENT"},
            {"recipientId": "stranger", "outcome": "SENT"},
            {"recipientId": b, "outcome": "SENT", "at": "2026-03-01T09:00:00"},
            {"recipientId": c, "outcome": "SENT"},
        ],
    )

    assert [(r["recipientId"], r["applied"], r["code"]) for r in reported["results"]] == [
        (a, False, "CONFLICTING_OUTCOME"),
        ("stranger", False, "UNKNOWN_RECIPIENT"),
        (b, False, "INVALID_INPUT"),
        (c, True, None),
    ]
    assert counters(reported["communication"]) == (4, 1, 1, 1, 1)


# --- stop, dry run and failure ---------------------------------------------------------------


async def test_stop_dry_run_then_stop(gql: Run) -> None:
    """A dry run says what a stop would do and changes nothing; the stop then does exactly that."""
    id = await sending(gql, profiles(6))
    claimed = await claim(gql, id, 4)
    await report(gql, id, sent(*claimed[:1]))
    before = (await gql(READ, id=id))["communication"]

    dry = (await gql(STOP, id=id, dryRun=True, reason="typo"))["stopCommunication"]

    assert dry["userErrors"] == []
    assert dry["stopSummary"] == {"notSentNow": 5, "alreadySent": 1, "total": 6}
    assert dry["communication"] == before
    assert (await gql(READ, id=id))["communication"] == before
    assert [e["name"] for e in await all_events(gql, id)] == ["message.send"]

    stopped = (await gql(STOP, id=id, dryRun=False, reason="typo"))["stopCommunication"]

    assert stopped["userErrors"] == []
    assert stopped["stopSummary"] == dry["stopSummary"]
    now = stopped["communication"]
    assert (now["status"], now["statusReason"], now["version"]) == (
        "STOPPED",
        "typo",
        before["version"] + 1,
    )
    assert counters(now) == (6, 0, 0, 1, 5)
    not_sent = await all_events(gql, id, names=["message.notSent"])
    assert [(e["recipientId"], e["info"]) for e in not_sent] == [
        (r, "stopped by tester: typo") for r in profiles(6)[1:]
    ]

    late = await report(gql, id, sent(*claimed[1:]))

    assert [(r["applied"], r["code"]) for r in late["results"]] == [
        (False, "CONFLICTING_OUTCOME")
    ] * 3
    assert counters(late["communication"]) == (6, 0, 0, 1, 5)
    assert len(await all_events(gql, id)) == 6


async def test_stop_of_a_finished_campaign_ends_the_stragglers(gql: Run) -> None:
    """Stopping a FINISHED campaign gives recipients still held by a worker a not-sent event."""
    id = await sending(gql, profiles(3), origin="CAMPAIGN")
    claimed = await claim(gql, id, 3)
    await report(gql, id, sent(claimed[0]))

    stopped = (await gql(STOP, id=id, dryRun=False, reason=None))["stopCommunication"]

    assert stopped["stopSummary"] == {"notSentNow": 2, "alreadySent": 1, "total": 3}
    assert counters(stopped["communication"]) == (3, 0, 0, 1, 2)
    found = await all_events(gql, id, names=["message.notSent"])
    assert [(e["recipientId"], e["info"]) for e in found] == [
        (r, "stopped by tester") for r in claimed[1:]
    ]


@pytest.mark.parametrize("dry_run", [True, False])
async def test_automation_stop_is_refused(gql: Run, dry_run: bool) -> None:
    """An Automation campaign cannot be stopped, dry run or not, and nothing is written."""
    id = await sending(gql, profiles(3), origin="AUTOMATION")
    await claim(gql, id, 1)
    before = (await gql(READ, id=id))["communication"]

    refused = (await gql(STOP, id=id, dryRun=dry_run, reason=None))["stopCommunication"]

    assert [e["code"] for e in refused["userErrors"]] == ["STOP_NOT_AVAILABLE_FOR_AUTOMATION"]
    assert (refused["communication"], refused["stopSummary"]) == (None, None)
    assert (await gql(READ, id=id))["communication"] == before
    assert await all_events(gql, id) == []


async def test_fail_gives_unsent_recipients_a_not_sent_event(gql: Run) -> None:
    """A failed SMS campaign keeps its sent recipients and gives the rest sms.notSent."""
    created = (await gql(CREATE_SMS, input={"name": "s", "text": "t", "recipients": profiles(4)}))[
        "createSmsCampaign"
    ]["communication"]
    id = created["id"]
    await gql(LAUNCH, id=id)
    claimed = await claim(gql, id, 2)
    await report(gql, id, sent(claimed[0]))

    failed = (await gql(FAIL, id=id, reason="provider down"))["failCommunication"]

    assert failed["userErrors"] == []
    now = failed["communication"]
    assert (now["smsStatus"], now["statusReason"]) == ("ERROR", "provider down")
    assert counters(now) == (4, 0, 0, 1, 3)
    found = await all_events(gql, id)
    assert [(e["recipientId"], e["name"], e["info"]) for e in found] == [
        ("p01", "sms.send", None),
        ("p02", "sms.notSent", "failed: provider down"),
        ("p03", "sms.notSent", "failed: provider down"),
        ("p04", "sms.notSent", "failed: provider down"),
    ]


# --- audience --------------------------------------------------------------------------------


async def test_recipients_at_creation_and_added_later(gql: Run) -> None:
    """Recipients given at creation make the audience; added ones join it once each."""
    created = await email(gql, ["a", "b", "a"])
    assert counters(created) == (2, 2, 0, 0, 0)

    added = (await gql(ADD, id=created["id"], recipients=["b", "c", "c", "d"]))["addRecipients"]

    assert added["userErrors"] == []
    assert counters(added["communication"]) == (4, 4, 0, 0, 0)
    assert added["communication"]["progress"] == 0.0


async def test_too_many_recipients_are_invalid_input(gql: Run) -> None:
    """More than 10,000 recipients in one call is refused, at creation as when adding."""
    created = await email(gql, ["a"])
    too_many = profiles(10_001, "x")

    added = (await gql(ADD, id=created["id"], recipients=too_many))["addRecipients"]
    create = (await gql(CREATE, input={"name": "n", "subject": "s", "recipients": too_many}))[
        "createEmailCampaign"
    ]

    assert [(e["code"], e["field"]) for e in added["userErrors"]] == [
        ("INVALID_INPUT", ["recipients"])
    ]
    assert [(e["code"], e["field"]) for e in create["userErrors"]] == [
        ("INVALID_INPUT", ["recipients"])
    ]
    assert counters((await gql(READ, id=created["id"]))["communication"]) == (1, 1, 0, 0, 0)


async def test_recipients_and_audience_size_together_are_refused(gql: Run) -> None:
    """A campaign has recipient ids or a synthetic audience size, not both."""
    payload = (
        await gql(
            CREATE, input={"name": "n", "subject": "s", "recipients": ["a"], "audienceSize": 5}
        )
    )["createEmailCampaign"]

    assert [e["code"] for e in payload["userErrors"]] == ["INVALID_INPUT"]


async def test_add_recipients_after_launch_is_an_invalid_transition(gql: Run) -> None:
    """Once sending, the audience is fixed."""
    id = await sending(gql, ["a"])

    added = (await gql(ADD, id=id, recipients=["b"]))["addRecipients"]

    assert [e["code"] for e in added["userErrors"]] == ["INVALID_TRANSITION"]
    assert counters((await gql(READ, id=id))["communication"]) == (1, 1, 0, 0, 0)


async def test_synthetic_audience_from_audience_size(gql: Run) -> None:
    """audienceSize alone makes that many recipients, which workers can claim."""
    data = await gql(CREATE, input={"name": "n", "subject": "s", "audienceSize": 3})
    id = data["createEmailCampaign"]["communication"]["id"]
    await gql(LAUNCH, id=id)

    assert await claim(gql, id, 5) == ["synthetic-1", "synthetic-2", "synthetic-3"]


# --- stalled -----------------------------------------------------------------------------------


async def test_stalled_flags_a_sending_campaign_without_progress(store: Store, gql: Run) -> None:
    """A SENDING campaign with no progress for the configured time shows as stalled."""
    id = await sending(gql, profiles(2))

    async def read(stalled_after: timedelta) -> bool:
        context = Context(store=store, role=ApiRole.ADMIN, stalled_after=stalled_after)
        result = await schema.execute(READ, variable_values={"id": id}, context_value=context)
        assert result.errors is None and result.data is not None
        return bool(result.data["communication"]["stalled"])

    assert await read(timedelta(0))
    assert not await read(timedelta(minutes=1))
    await claim(gql, id, 2)  # FINISHED, nothing PENDING: nobody is waited for
    assert not await read(timedelta(0))


async def test_stalled_flags_a_finished_campaign_with_pending_recipients(
    store: Store, gql: Run
) -> None:
    """A FINISHED campaign whose dead worker's recipients went back to PENDING, and that no
    worker picks up, shows as stalled; a claim clears it."""
    id = await sending(gql, profiles(2))
    payload = (await gql(CLAIM, id=id, limit=2, worker="gone", lease=1))["claimRecipients"]
    until = datetime.fromisoformat(payload["recipients"][0]["leaseUntil"])
    while datetime.now(UTC) <= until:  # noqa: ASYNC110 (the wall clock sends no event)
        await asyncio.sleep(0.05)
    assert await deliveries.requeue_expired(store) == 2

    async def read(stalled_after: timedelta) -> dict[str, Any]:
        context = Context(store=store, role=ApiRole.ADMIN, stalled_after=stalled_after)
        result = await schema.execute(READ, variable_values={"id": id}, context_value=context)
        assert result.errors is None and result.data is not None
        return dict(result.data["communication"])

    found = await read(timedelta(0))
    assert (found["status"], found["pendingCount"], found["stalled"]) == ("FINISHED", 2, True)
    assert not (await read(timedelta(minutes=1)))["stalled"]
    assert await claim(gql, id, 2, worker="rescuer") == profiles(2)
    assert not (await read(timedelta(0)))["stalled"]


# --- display events ----------------------------------------------------------------------------


async def test_display_events_count_while_active_only(gql: Run) -> None:
    """An in-app message counts shows and clicks while ACTIVE; while PAUSED each is refused."""
    created = (await gql(CREATE_IN_APP, input={"name": "Banner", "title": "Hi"}))[
        "createInAppMessage"
    ]["communication"]
    id = created["id"]
    await gql(LAUNCH, id=id)
    events = [
        {"eventId": "e1", "recipientId": "a", "type": "SHOW"},
        {"eventId": "e2", "recipientId": "a", "type": "CLICK"},
        {"eventId": "e3", "recipientId": "b", "type": "SHOW"},
    ]

    active = (await gql(DISPLAY, id=id, events=events))["recordDisplayEvents"]
    await gql(PAUSE, id=id)
    paused = (await gql(DISPLAY, id=id, events=events))["recordDisplayEvents"]

    assert [r["applied"] for r in active["results"]] == [True, True, True]
    assert (active["communication"]["shownCount"], active["communication"]["clickedCount"]) == (
        2,
        1,
    )
    assert [(r["applied"], r["code"]) for r in paused["results"]] == [(False, "NOT_COLLECTED")] * 3
    assert paused["communication"]["inAppStatus"] == "PAUSED"
    assert (paused["communication"]["shownCount"], paused["communication"]["clickedCount"]) == (
        2,
        1,
    )
    found = await all_events(gql, id)
    assert [(e["recipientId"], e["name"]) for e in found] == [
        ("a", "inApp.show"),
        ("a", "inApp.click"),
        ("b", "inApp.show"),
    ]


async def test_message_campaigns_take_no_display_events(gql: Run) -> None:
    """recordDisplayEvents on an email is refused as a whole."""
    id = await sending(gql, ["a"])

    payload = (
        await gql(DISPLAY, id=id, events=[{"eventId": "e1", "recipientId": "a", "type": "SHOW"}])
    )["recordDisplayEvents"]

    assert [e["code"] for e in payload["userErrors"]] == ["INVALID_INPUT"]
    assert await all_events(gql, id) == []


async def test_display_communications_have_nobody_to_claim(gql: Run) -> None:
    """claimRecipients on an in-app message is refused."""
    created = (await gql(CREATE_IN_APP, input={"name": "Banner", "title": "Hi"}))[
        "createInAppMessage"
    ]["communication"]

    payload = (await gql(CLAIM, id=created["id"], limit=1, worker="w1", lease=30))[
        "claimRecipients"
    ]

    assert [(e["code"], e["field"]) for e in payload["userErrors"]] == [
        ("INVALID_INPUT", ["communicationId"])
    ]


# --- the event log -------------------------------------------------------------------------------


async def test_delivery_events_filter_by_name_and_recipient(gql: Run) -> None:
    """Events can be narrowed to some names, to one recipient, or both."""
    id = await sending(gql, profiles(5))
    claimed = await claim(gql, id, 3)
    await report(gql, id, sent(*claimed[:2]))
    await gql(STOP, id=id, dryRun=False, reason="x")

    by_name = await all_events(gql, id, names=["message.send"])
    by_both = await all_events(
        gql, id, names=["message.send", "message.notSent"], recipientId="p03"
    )
    nobody = await all_events(gql, id, names=["sms.send"])
    one = await all_events(gql, id, recipientId="p05")

    assert [e["recipientId"] for e in by_name] == ["p01", "p02"]
    assert [(e["recipientId"], e["name"]) for e in by_both] == [("p03", "message.notSent")]
    assert nobody == []
    assert [(e["recipientId"], e["name"]) for e in one] == [("p05", "message.notSent")]


async def test_delivery_events_page_with_after(gql: Run) -> None:
    """Events come page by page, oldest first, each page continuing after the last cursor."""
    id = await sending(gql, profiles(7))
    await gql(STOP, id=id, dryRun=False, reason=None)

    seen: list[str] = []
    more: list[bool] = []
    after: str | None = None
    while True:
        page = (await gql(EVENTS, id=id, filter=None, first=3, after=after))["deliveryEvents"]
        edges = page["edges"]
        seen += [edge["node"]["recipientId"] for edge in edges]
        assert all(edge["cursor"] == edge["node"]["cursor"] for edge in edges)
        assert page["endCursor"] == edges[-1]["cursor"]
        more.append(page["hasNextPage"])
        after = page["endCursor"]
        if not page["hasNextPage"]:
            break

    assert seen == profiles(7)
    assert more == [True, True, False]
    beyond = (await gql(EVENTS, id=id, filter=None, first=3, after=after))["deliveryEvents"]
    assert (beyond["edges"], beyond["hasNextPage"], beyond["endCursor"]) == ([], False, None)
    none = (await gql(EVENTS, id=id, filter=None, first=0, after=None))["deliveryEvents"]
    assert (none["edges"], none["hasNextPage"], none["endCursor"]) == ([], True, None)


@pytest.mark.parametrize(
    ("variables", "code"),
    [
        ({"id": UNKNOWN_ID}, "NOT_FOUND"),
        ({"first": 101}, "INVALID_INPUT"),
        ({"first": -1}, "INVALID_INPUT"),
        ({"after": "not-a-cursor"}, "INVALID_INPUT"),
    ],
)
async def test_bad_delivery_event_reads_are_errors(
    store: Store, gql: Run, variables: dict[str, Any], code: str
) -> None:
    """Reading events of an unknown campaign, or with a bad page size or cursor, is an error."""
    id = await sending(gql, ["a"])
    result = await schema.execute(
        EVENTS,
        variable_values={"id": id, **variables},
        context_value=Context(store=store, role=ApiRole.ADMIN),
    )

    assert result.errors is not None
    assert [e.extensions["code"] for e in result.errors] == [code]
    assert all(e.extensions["field"] for e in result.errors)  # which argument is wrong


# --- sendingProgress, in process ---------------------------------------------------------------

PROGRESS = """
subscription($id: ID!) {
  sendingProgress(id: $id) {
    status audienceSize pendingCount handedOffCount sentCount notSentCount progress
  }
}"""


async def test_sending_progress_follows_the_counters(store: Store, gql: Run) -> None:
    """sendingProgress gives the counts now, then after each change, ending with a stop's."""
    created = await email(gql, profiles(4))
    id = created["id"]
    subscription = await schema.subscribe(
        PROGRESS, variable_values={"id": id}, context_value=Context(store=store, role=ApiRole.ADMIN)
    )
    assert not isinstance(subscription, ExecutionResult)

    async def next_progress() -> tuple[object, ...]:
        async with asyncio.timeout(10):
            result = await anext(subscription)
        assert result.errors is None and result.data is not None
        p = result.data["sendingProgress"]
        return (
            p["status"],
            p["audienceSize"],
            p["pendingCount"],
            p["handedOffCount"],
            p["sentCount"],
            p["notSentCount"],
            p["progress"],
        )

    try:
        assert await next_progress() == ("DRAFT", 4, 4, 0, 0, 0, 0.0)
        await gql(LAUNCH, id=id)
        assert await next_progress() == ("SENDING", 4, 4, 0, 0, 0, 0.0)
        await claim(gql, id, 2)
        assert await next_progress() == ("SENDING", 4, 2, 2, 0, 0, 0.5)
        await gql(STOP, id=id, dryRun=False, reason=None)
        assert await next_progress() == ("STOPPED", 4, 0, 0, 0, 4, 1.0)
    finally:
        await subscription.aclose()


async def test_sending_progress_is_for_message_campaigns(store: Store, gql: Run) -> None:
    """An in-app message has no sending progress to watch."""
    created = (await gql(CREATE_IN_APP, input={"name": "Banner", "title": "Hi"}))[
        "createInAppMessage"
    ]["communication"]
    subscription = await schema.subscribe(
        PROGRESS,
        variable_values={"id": created["id"]},
        context_value=Context(store=store, role=ApiRole.ADMIN),
    )
    assert not isinstance(subscription, ExecutionResult)

    try:
        async with asyncio.timeout(10):
            result = await anext(subscription)
    finally:
        await subscription.aclose()

    assert result.errors is not None
    assert [e.extensions for e in result.errors] == [{"code": "INVALID_INPUT", "field": ["id"]}]


# --- leases: claimNext, renewal, release, recovery, fencing -----------------------------------

CLAIM_NEXT = f"""
mutation($kinds: [CommunicationKind!]!, $limit: Int!, $lease: Int) {{
  claimNext(kinds: $kinds, limit: $limit, workerId: "w9", leaseSeconds: $lease) {{
    recipients {{ communicationId recipientId leaseId leaseUntil }}
    {ERRORS}
  }}
}}"""

LEASE_CALL = """
mutation($id: ID!, $recipients: [LeasedRecipientInput!]!) {{
  {field}(communicationId: $id, recipients: $recipients{extra}) {{
    results {{ recipientId applied code message leaseUntil }}
    communication {{ ... on MessageCampaign {{ pendingCount handedOffCount }} }}
    userErrors {{ code message field }}
  }}
}}"""
RENEW = LEASE_CALL.format(field="renewLeases", extra=", leaseSeconds: 600")
RELEASE = LEASE_CALL.format(field="releaseRecipients", extra="")

LEASED = """
query($leaseIds: [ID!]!) {
  leasedRecipients(leaseIds: $leaseIds) { communicationId recipientId leaseId leaseUntil }
}"""


async def test_a_worker_loop_over_claim_next_renew_release_and_recovery(gql: Run) -> None:
    """claimNext hands out a batch with its campaign and lease; the lease renews, lists what
    it holds after a restart, and releases the rest back to PENDING."""
    id = await sending(gql, profiles(3))

    got = (await gql(CLAIM_NEXT, kinds=["EMAIL"], limit=2, lease=30))["claimNext"]
    batch = got["recipients"]
    assert [(r["communicationId"], r["recipientId"]) for r in batch] == [(id, "p01"), (id, "p02")]
    lease = batch[0]["leaseId"]
    mine = [{"recipientId": r["recipientId"], "leaseId": lease} for r in batch]

    renewed = (await gql(RENEW, id=id, recipients=mine))["renewLeases"]
    held = (await gql(LEASED, leaseIds=[lease]))["leasedRecipients"]
    released = (await gql(RELEASE, id=id, recipients=mine[1:]))["releaseRecipients"]
    after = (await gql(LEASED, leaseIds=[lease]))["leasedRecipients"]

    assert all(r["applied"] for r in renewed["results"])
    new_end = datetime.fromisoformat(renewed["results"][0]["leaseUntil"])
    assert new_end > datetime.fromisoformat(batch[0]["leaseUntil"])
    assert [(r["recipientId"], r["leaseId"]) for r in held] == [("p01", lease), ("p02", lease)]
    assert datetime.fromisoformat(held[0]["leaseUntil"]) == new_end
    assert [(r["recipientId"], r["applied"]) for r in released["results"]] == [("p02", True)]
    assert released["communication"] == {"pendingCount": 2, "handedOffCount": 1}
    assert [r["recipientId"] for r in after] == ["p01"]


async def test_stale_and_unclaimed_reports_are_refused_by_code(gql: Run) -> None:
    """Over GraphQL a superseded lease is STALE_LEASE and a never-claimed recipient
    NOT_CLAIMED, item by item, while a good item in the same call applies."""
    id = await sending(gql, profiles(3))
    (a,) = await claim(gql, id, 1)
    results = [
        {"recipientId": a, "leaseId": "not-the-lease", "outcome": "NOT_SENT"},
        {"recipientId": "p03", "leaseId": HELD[(id, a)], "outcome": "SENT"},
        {"recipientId": a, "leaseId": HELD[(id, a)], "outcome": "SENT"},
    ]

    payload = (await gql(REPORT, id=id, results=results))["reportDeliveries"]

    assert [(r["recipientId"], r["applied"], r["code"]) for r in payload["results"]] == [
        (a, False, "STALE_LEASE"),
        ("p03", False, "NOT_CLAIMED"),
        (a, True, None),
    ]
    assert counters(payload["communication"]) == (3, 2, 0, 1, 0)


@pytest.mark.parametrize(
    ("kinds", "limit", "field"),
    [([], 1, "kinds"), (["IN_APP"], 1, "kinds"), (["EMAIL"], 0, "limit")],
)
async def test_bad_claim_next_is_invalid_input(
    gql: Run, kinds: list[str], limit: int, field: str
) -> None:
    """No kinds, a kind without recipients or a bad limit is refused naming the field."""
    payload = (await gql(CLAIM_NEXT, kinds=kinds, limit=limit, lease=30))["claimNext"]

    assert payload["recipients"] == []
    assert [(e["code"], e["field"]) for e in payload["userErrors"]] == [("INVALID_INPUT", [field])]


# --- outcomes as providers report them ---------------------------------------------------------

PROVIDER_EVENTS = """
mutation($events: [ProviderEventInput!]!) {
  recordProviderEvents(events: $events) {
    results { eventId applied code message communicationId recipientId }
    userErrors { code message field }
  }
}"""

AFTER_COUNTERS = """
query($id: ID!) {
  communication(id: $id) {
    ... on MessageCampaign {
      sentCount notSentCount deliveredCount deferredCount openedCount clickedCount
      bouncedCount complainedCount unsubscribedCount
    }
  }
}"""

PROVIDER_EVENT_LOG = """
query($id: ID!) {
  deliveryEvents(communicationId: $id, first: 100) {
    edges { node { recipientId name at eventId providerMessageId failureClass failureCode info } }
  }
}"""


async def test_a_worker_reports_provider_ids_then_webhook_events(gql: Run) -> None:
    """Reports carry the provider's message id and failure; webhook events found by that id
    count into the campaign's counters once per event id, and SENT stays SENT."""
    id = await sending(gql, profiles(2))
    a, b = await claim(gql, id, 2)
    at = "2026-03-01T09:00:00+00:00"
    await report(
        gql,
        id,
        [
            {"recipientId": a, "outcome": "SENT", "providerMessageId": "sg-1", "at": at},
            {
                "recipientId": b,
                "outcome": "NOT_SENT",
                "providerMessageId": "sg-2",
                "failureClass": "INVALID_ADDRESS",
                "failureCode": "550",
                "info": "no such user",
            },
        ],
    )
    webhook = [
        {"eventId": "e1", "providerMessageId": "sg-1", "type": "DELIVERED"},
        {"eventId": "e2", "providerMessageId": "sg-1", "type": "OPENED", "at": at},
        {"eventId": "e2", "providerMessageId": "sg-1", "type": "OPENED", "at": at},
        {"eventId": "e3", "providerMessageId": "sg-2", "type": "OPENED"},
        {"eventId": "e4", "providerMessageId": "nobody", "type": "CLICKED"},
    ]

    payload = (await gql(PROVIDER_EVENTS, events=webhook))["recordProviderEvents"]

    assert [(r["applied"], r["code"], r["recipientId"]) for r in payload["results"]] == [
        (True, None, a),
        (True, None, a),
        (False, None, a),
        (False, "OUTCOME_NOT_SENT", None),
        (False, "UNKNOWN_MESSAGE", None),
    ]
    assert payload["results"][0]["communicationId"] == id
    counts = (await gql(AFTER_COUNTERS, id=id))["communication"]
    assert counts == {
        "sentCount": 1,
        "notSentCount": 1,
        "deliveredCount": 1,
        "deferredCount": 0,
        "openedCount": 1,
        "clickedCount": 0,
        "bouncedCount": 0,
        "complainedCount": 0,
        "unsubscribedCount": 0,
    }
    log = [e["node"] for e in (await gql(PROVIDER_EVENT_LOG, id=id))["deliveryEvents"]["edges"]]
    assert [
        (e["name"], e["eventId"], e["providerMessageId"], e["failureClass"], e["failureCode"])
        for e in log
    ] == [
        ("message.send", None, "sg-1", None, None),
        ("message.notSent", None, "sg-2", "INVALID_ADDRESS", "550"),
        ("message.delivered", "e1", "sg-1", None, None),
        ("message.opened", "e2", "sg-1", None, None),
    ]
    assert log[0]["at"] == log[3]["at"] == at


async def test_sending_progress_pushes_the_event_counters(store: Store, gql: Run) -> None:
    """sendingProgress carries the counters of events after the send as they arrive."""
    id = await sending(gql, profiles(1))
    (a,) = await claim(gql, id, 1)
    await report(gql, id, [{"recipientId": a, "outcome": "SENT", "providerMessageId": "m"}])
    subscription = await schema.subscribe(
        "subscription($id: ID!) { sendingProgress(id: $id) { sentCount deliveredCount "
        "clickedCount } }",
        variable_values={"id": id},
        context_value=Context(store=store, role=ApiRole.ADMIN),
    )
    assert not isinstance(subscription, ExecutionResult)

    async def next_counts() -> dict[str, Any]:
        async with asyncio.timeout(10):
            result = await anext(subscription)
        assert result.errors is None and result.data is not None
        return dict(result.data["sendingProgress"])

    try:
        assert await next_counts() == {"sentCount": 1, "deliveredCount": 0, "clickedCount": 0}
        webhook = [{"eventId": "d", "providerMessageId": "m", "type": "DELIVERED"}]
        await gql(PROVIDER_EVENTS, events=webhook)
        assert await next_counts() == {"sentCount": 1, "deliveredCount": 1, "clickedCount": 0}
    finally:
        await subscription.aclose()
