"""A server restarted on the same SQLite file: nothing is lost, and what fell due while it
was down starts as soon as it is back."""

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from tests.e2e.conftest import (
    CREATE_LANDING_PAGE,
    LAUNCH,
    PAUSE,
    PUBLISH,
    SCHEDULE,
    Json,
    StartServer,
    act,
    create_email,
    create_in_app,
    execute,
    http_session,
    next_item,
    ok,
    subscribe,
    ws_session,
)

pytestmark = pytest.mark.e2e

EVERYTHING = """
query Everything {
  communications(first: 10, orderBy: {field: CREATED_AT, direction: ASC}) {
    totalCount
    edges {
      cursor
      node {
        ... on CommunicationBase {
          id name kind origin version createdAt updatedAt startAt endAt availableActions
          history(first: 20) {
            edges { cursor node { action from to actor reason version at } }
          }
        }
        ... on EmailCampaign { emailStatus: status audienceSize sentCount subject }
        ... on InAppMessage { inAppStatus: status title }
        ... on LandingPage { pageStatus: status slug }
      }
    }
  }
}
"""

LIVE = """
subscription Live($id: ID!) {
  communication(id: $id) {
    ... on InAppMessage {
      id status version
      history(first: 100) { edges { node { action from to actor } } }
    }
  }
}
"""


async def test_restart_on_the_same_file_keeps_everything(start_server: StartServer) -> None:
    """Communications, statuses, versions and histories survive a server restart."""
    first = await start_server()
    async with http_session(first) as http:
        draft = await create_email(http, "Draft email")
        later = await create_email(http, "Later email")
        in_two_days = (datetime.now(UTC) + timedelta(days=2)).isoformat()
        await act(http, SCHEDULE, "scheduleCommunication", id=later["id"], startAt=in_two_days)
        banner = await create_in_app(http, "Paused banner")
        await act(http, LAUNCH, "launchCommunication", id=banner["id"])
        await act(http, PAUSE, "pauseCommunication", id=banner["id"])
        page = ok(
            await execute(
                http, CREATE_LANDING_PAGE, input={"name": "Page", "slug": "page", "title": "Page"}
            ),
            "createLandingPage",
        )
        await act(http, PUBLISH, "publishLandingPage", id=page["id"])
        before = await execute(http, EVERYTHING)
    await first.stop()

    second = await start_server(first.database)
    async with http_session(second) as http:
        after = await execute(http, EVERYTHING)

    assert after == before
    nodes: list[Json] = [edge["node"] for edge in after["communications"]["edges"]]
    assert [n["id"] for n in nodes] == [draft["id"], later["id"], banner["id"], page["id"]]
    statuses = [n.get("emailStatus") or n.get("inAppStatus") or n.get("pageStatus") for n in nodes]
    assert statuses == ["DRAFT", "SCHEDULED", "PAUSED", "PUBLISHED"]
    assert [len(n["history"]["edges"]) for n in nodes] == [1, 2, 3, 2]
    assert [n["version"] for n in nodes] == [1, 2, 3, 2]


async def test_start_that_fell_due_while_down_happens_on_restart(
    start_server: StartServer,
) -> None:
    """A communication due to start while the server was down starts as soon as it is back."""
    first = await start_server(COMMPULSE_SCHEDULER="off")
    async with http_session(first) as http:
        banner = await create_in_app(http, "Morning banner")
        start_at = datetime.now(UTC) + timedelta(seconds=1)
        scheduled = await act(
            http, SCHEDULE, "scheduleCommunication", id=banner["id"], startAt=start_at.isoformat()
        )
        assert scheduled["status"] == "SCHEDULED"
    await first.stop()

    # the one wait for the wall clock: until the start time has passed
    await asyncio.sleep(max((start_at - datetime.now(UTC)).total_seconds(), 0) + 0.1)

    second = await start_server(first.database)  # scheduler on
    async with (
        ws_session(second) as ws,
        subscribe(ws, LIVE, id=banner["id"]) as live,
    ):
        current = (await next_item(live, "current state"))["communication"]
        if current["status"] == "SCHEDULED":
            current = (await next_item(live, "the start"))["communication"]

    assert current["status"] == "ACTIVE"
    assert current["version"] == scheduled["version"] + 1
    last = current["history"]["edges"][-1]["node"]
    assert last == {"action": "START", "from": "SCHEDULED", "to": "ACTIVE", "actor": "scheduler"}
