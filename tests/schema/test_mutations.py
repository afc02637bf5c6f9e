from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.schema.conftest import Run

PAYLOAD = """
  communication {
    __typename
    ... on CommunicationBase { id name version availableActions }
    ... on EmailCampaign { emailStatus: status subject audienceSize }
    ... on LandingPage { pageStatus: status slug }
    ... on InAppMessage { inAppStatus: status title }
  }
  userErrors { code message field }
"""

CREATE_EMAIL = f"""
mutation($name: String!, $origin: CommunicationOrigin) {{
  createEmailCampaign(input: {{name: $name, subject: "Hi", audienceSize: 5, origin: $origin}}) {{
    {PAYLOAD}
  }}
}}"""

ACT = f"""
mutation($id: ID!, $v: Int) {{
  launch: launchCommunication(id: $id, expectedVersion: $v) {{ {PAYLOAD} }}
}}"""

STOP = f"""
mutation($id: ID!) {{ stopCommunication(id: $id, reason: "typo") {{ {PAYLOAD} }} }}"""

READ = """
query($id: ID!) {
  communication(id: $id) {
    ... on CommunicationBase { version history { edges { node { action } } } }
    ... on EmailCampaign { emailStatus: status }
  }
}"""


async def _email(gql: Run, origin: str = "CAMPAIGN") -> dict[str, Any]:
    data = await gql(CREATE_EMAIL, name="Spring", origin=origin)
    assert data["createEmailCampaign"]["userErrors"] == []
    return dict(data["createEmailCampaign"]["communication"])


CREATES = {
    "createEmailCampaign": '{name: "a", subject: "s"}',
    "createSmsCampaign": '{name: "a", text: "t"}',
    "createWebPushCampaign": '{name: "a", title: "t", url: "https://example.com"}',
    "createMobilePushCampaign": '{name: "a", title: "t", deepLink: "app://home"}',
    "createDynamicContent": '{name: "a", placement: "hero"}',
    "createInAppMessage": '{name: "a", title: "t"}',
    "createScreenView": '{name: "a", screen: "home"}',
    "createLandingPage": '{name: "a", slug: "spring-sale", title: "t"}',
}


@pytest.mark.parametrize("mutation", CREATES)
async def test_each_kind_is_created_as_a_draft_of_its_own_type(gql: Run, mutation: str) -> None:
    """Every create mutation makes a DRAFT of its union member, with the actions a draft has."""
    document = f"""mutation {{ {mutation}(input: {CREATES[mutation]}) {{
        communication {{ __typename ... on CommunicationBase {{ kind version availableActions }} }}
        userErrors {{ code }} }} }}"""
    payload = (await gql(document))[mutation]
    assert payload["userErrors"] == []
    created = payload["communication"]
    assert created["__typename"].lower() == mutation.removeprefix("create").lower()
    assert created["version"] == 1
    expected = ["PUBLISH"] if mutation == "createLandingPage" else ["SCHEDULE", "LAUNCH"]
    assert created["availableActions"] == expected


async def test_launch_moves_the_status_and_reports_the_new_buttons(gql: Run) -> None:
    """Launching an email makes it SENDING at version 2, where only STOP is offered."""
    email = await _email(gql)
    launched = (await gql(ACT, id=email["id"], v=1))["launch"]
    assert launched["userErrors"] == []
    assert launched["communication"]["emailStatus"] == "SENDING"
    assert launched["communication"]["version"] == 2
    assert launched["communication"]["availableActions"] == ["STOP"]


async def test_stale_expected_version_is_a_version_conflict_and_writes_nothing(gql: Run) -> None:
    """A stale expectedVersion is refused with VERSION_CONFLICT; status and history stay."""
    email = await _email(gql)
    refused = (await gql(ACT, id=email["id"], v=7))["launch"]
    assert refused["communication"] is None
    assert [e["code"] for e in refused["userErrors"]] == ["VERSION_CONFLICT"]
    after = (await gql(READ, id=email["id"]))["communication"]
    assert (after["emailStatus"], after["version"]) == ("DRAFT", 1)
    assert len(after["history"]["edges"]) == 1


async def test_stop_of_an_automation_campaign_is_refused_with_its_own_code(gql: Run) -> None:
    """Stop is not available for Automation-origin communications; nothing changes."""
    email = await _email(gql, origin="AUTOMATION")
    await gql(ACT, id=email["id"], v=None)
    refused = (await gql(STOP, id=email["id"]))["stopCommunication"]
    assert [e["code"] for e in refused["userErrors"]] == ["STOP_NOT_AVAILABLE_FOR_AUTOMATION"]
    after = (await gql(READ, id=email["id"]))["communication"]
    assert (after["emailStatus"], after["version"]) == ("SENDING", 2)


@pytest.mark.parametrize("bad_id", ["nonsense", "Q29tbXVuaWNhdGlvbjo5OTk5", ""])
async def test_unknown_or_malformed_ids_are_not_found(gql: Run, bad_id: str) -> None:
    """An id that names nothing, malformed or unknown, is NOT_FOUND in userErrors."""
    refused = (await gql(ACT, id=bad_id, v=None))["launch"]
    assert [(e["code"], e["field"]) for e in refused["userErrors"]] == [("NOT_FOUND", ["id"])]
    assert (await gql(READ, id=bad_id))["communication"] is None


@pytest.mark.parametrize(
    ("start", "field"),
    [
        ("2026-01-01T09:00:00", "startAt"),  # no offset
        ((datetime.now(UTC) - timedelta(hours=1)).isoformat(), "startAt"),  # in the past
    ],
    ids=["no-offset", "in-the-past"],  # fixed names: pytest-xdist's workers must agree on them
)
async def test_bad_schedule_times_are_invalid_input(gql: Run, start: str, field: str) -> None:
    """A start without offset or in the past is INVALID_INPUT naming the field."""
    email = await _email(gql)
    document = f"""mutation($id: ID!, $s: DateTime!) {{
        scheduleCommunication(id: $id, startAt: $s) {{ {PAYLOAD} }} }}"""
    refused = (await gql(document, id=email["id"], s=start))["scheduleCommunication"]
    assert [(e["code"], e["field"]) for e in refused["userErrors"]] == [("INVALID_INPUT", [field])]


async def test_editing_is_for_drafts_only(gql: Run) -> None:
    """A DRAFT takes edits (version +1); once launched, edits are INVALID_TRANSITION."""
    email = await _email(gql)
    document = f"""mutation($id: ID!) {{
        updateEmailCampaign(input: {{id: $id, subject: "New subject", fromAddress: null}}) {{
        {PAYLOAD} }} }}"""
    edited = (await gql(document, id=email["id"]))["updateEmailCampaign"]
    assert edited["userErrors"] == []
    assert (edited["communication"]["subject"], edited["communication"]["version"]) == (
        "New subject",
        2,
    )
    await gql(ACT, id=email["id"], v=None)
    refused = (await gql(document, id=email["id"]))["updateEmailCampaign"]
    assert [e["code"] for e in refused["userErrors"]] == ["INVALID_TRANSITION"]


async def test_updating_through_another_kinds_mutation_is_refused(gql: Run) -> None:
    """updateLandingPage on an email id is INVALID_INPUT, and the email is untouched."""
    email = await _email(gql)
    document = f"""mutation($id: ID!) {{
        updateLandingPage(input: {{id: $id, title: "x"}}) {{ {PAYLOAD} }} }}"""
    refused = (await gql(document, id=email["id"]))["updateLandingPage"]
    assert [e["code"] for e in refused["userErrors"]] == ["INVALID_INPUT"]
    assert (await gql(READ, id=email["id"]))["communication"]["version"] == 1


async def test_duplicate_makes_a_new_draft_from_a_final_status(gql: Run) -> None:
    """A STOPPED campaign is recovered by duplicating it into a new DRAFT."""
    email = await _email(gql)
    await gql(ACT, id=email["id"], v=None)
    await gql(STOP, id=email["id"])
    document = f"mutation($id: ID!) {{ duplicateCommunication(id: $id) {{ {PAYLOAD} }} }}"
    copy = (await gql(document, id=email["id"]))["duplicateCommunication"]["communication"]
    assert copy["id"] != email["id"]
    assert (copy["emailStatus"], copy["name"], copy["subject"]) == ("DRAFT", "Copy of Spring", "Hi")


async def test_deleted_drafts_disappear_from_reads(gql: Run) -> None:
    """deleteCommunication removes a DRAFT from reads; a second delete is NOT_FOUND."""
    email = await _email(gql)
    document = """mutation($id: ID!) { deleteCommunication(id: $id) {
        deletedId userErrors { code } } }"""
    deleted = (await gql(document, id=email["id"]))["deleteCommunication"]
    assert deleted == {"deletedId": email["id"], "userErrors": []}
    assert (await gql(READ, id=email["id"]))["communication"] is None
    again = (await gql(document, id=email["id"]))["deleteCommunication"]
    assert again["userErrors"] == [{"code": "NOT_FOUND"}]


async def test_node_resolves_a_communication_by_its_global_id(gql: Run) -> None:
    """node(id) returns the same object as communication(id)."""
    email = await _email(gql)
    data = await gql(
        "query($id: ID!) { node(id: $id) { id ... on EmailCampaign { subject } } }", id=email["id"]
    )
    assert data["node"] == {"id": email["id"], "subject": "Hi"}
