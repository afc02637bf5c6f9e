"""Live subscriptions against a real server: a scheduled email seen end to end, and a
status-change stream resumed from a cursor after a reconnect."""

from datetime import UTC, datetime, timedelta

import pytest

from tests.e2e.conftest import (
    LAUNCH,
    LEGACY_WS,
    PAUSE,
    RESUME,
    SCHEDULE,
    TRANSPORT_WS,
    Json,
    Server,
    act,
    create_email,
    create_in_app,
    execute,
    http_session,
    next_item,
    subscribe,
    until,
    ws_session,
)

pytestmark = pytest.mark.e2e

STATUS_CHANGED = """
subscription Changes($ids: [ID!], $after: String) {
  statusChanged(ids: $ids, after: $after) {
    cursor communicationId kind action from to actor reason version at
  }
}
"""

LIVE_EMAIL = """
subscription Live($id: ID!) {
  communication(id: $id) {
    ... on EmailCampaign { id version status sentCount audienceSize }
  }
}
"""

HISTORY = """
query History($id: ID!) {
  communication(id: $id) {
    ... on CommunicationBase {
      history(first: 100) { edges { cursor node { action from to actor } } }
    }
  }
}
"""


def _cursors(communication: Json) -> list[str]:
    return [edge["cursor"] for edge in communication["history"]["edges"]]


@pytest.mark.parametrize("subprotocol", [TRANSPORT_WS, LEGACY_WS])
async def test_scheduled_email_runs_end_to_end(server: Server, subprotocol: str) -> None:
    """A scheduled email starts by itself, sends to its whole audience and finishes, live."""
    async with http_session(server) as http:
        email = await create_email(http, "Scheduled newsletter", audience=20)
        assert email["status"] == "DRAFT"
        [created] = _cursors(email)

        async with (
            ws_session(server, subprotocol) as ws,
            subscribe(ws, LIVE_EMAIL, id=email["id"]) as live,
            # from the CREATE cursor: nothing after it is missed, however late the
            # subscription goes live relative to the mutation below
            subscribe(ws, STATUS_CHANGED, ids=[email["id"]], after=created) as changes,
        ):
            first = (await next_item(live, "current state"))["communication"]
            assert (first["status"], first["sentCount"]) == ("DRAFT", 0)

            start_at = datetime.now(UTC) + timedelta(seconds=1.5)
            scheduled = await act(
                http,
                SCHEDULE,
                "scheduleCommunication",
                id=email["id"],
                startAt=start_at.isoformat(),
            )
            assert scheduled["status"] == "SCHEDULED"

            seen = [(await next_item(changes, "status change"))["statusChanged"] for _ in range(3)]
            views = [first] + [
                item["communication"]
                for item in await until(
                    live,
                    # FINISHED means queuing is done; the last SENT reports may follow it
                    lambda item: (
                        item["communication"]["status"] == "FINISHED"
                        and item["communication"]["sentCount"] == 20
                    ),
                    "FINISHED with every recipient sent",
                )
            ]

    assert [(c["action"], c["from"], c["to"]) for c in seen] == [
        ("SCHEDULE", "DRAFT", "SCHEDULED"),
        ("START", "SCHEDULED", "SENDING"),
        ("FINISH", "SENDING", "FINISHED"),
    ]
    assert [c["actor"] for c in seen[1:]] == ["scheduler", "simulated-sender"]
    assert all(c["communicationId"] == email["id"] and c["kind"] == "EMAIL" for c in seen)
    assert [c["version"] for c in seen] == sorted({c["version"] for c in seen})

    statuses = [view["status"] for view in views]
    assert [s for i, s in enumerate(statuses) if i == 0 or s != statuses[i - 1]] == [
        "DRAFT",
        "SCHEDULED",
        "SENDING",
        "FINISHED",
    ]
    sent = [view["sentCount"] for view in views]
    assert sent == sorted(sent)  # progress only goes forward
    assert views[-1]["sentCount"] == views[-1]["audienceSize"] == 20
    assert views[-1]["version"] == seen[-1]["version"]


async def test_status_stream_resumes_from_a_cursor_without_gap_or_duplicate(
    server: Server,
) -> None:
    """A dashboard that reconnects with its last cursor gets exactly what it missed, then live."""
    async with http_session(server) as http:
        message = await create_in_app(http, "Banner")
        pk = message["id"]
        [created] = _cursors(message)

        async with (
            ws_session(server) as ws,
            subscribe(ws, STATUS_CHANGED, ids=[pk], after=created) as changes,
        ):
            await act(http, LAUNCH, "launchCommunication", id=pk)
            launched = (await next_item(changes, "LAUNCH"))["statusChanged"]
        assert (launched["action"], launched["to"]) == ("LAUNCH", "ACTIVE")

        # missed while disconnected
        await act(http, PAUSE, "pauseCommunication", id=pk)
        await act(http, RESUME, "resumeCommunication", id=pk)
        await act(http, PAUSE, "pauseCommunication", id=pk)

        async with (
            ws_session(server) as ws,
            subscribe(ws, STATUS_CHANGED, ids=[pk], after=launched["cursor"]) as changes,
        ):
            missed = [(await next_item(changes, "missed"))["statusChanged"] for _ in range(3)]
            # the replay came in, so the stream is live: the next change arrives next
            await act(http, RESUME, "resumeCommunication", id=pk)
            live = (await next_item(changes, "live change"))["statusChanged"]

        history = (await execute(http, HISTORY, id=pk))["communication"]

    assert [(c["action"], c["from"], c["to"]) for c in [*missed, live]] == [
        ("PAUSE", "ACTIVE", "PAUSED"),
        ("RESUME", "PAUSED", "ACTIVE"),
        ("PAUSE", "ACTIVE", "PAUSED"),
        ("RESUME", "PAUSED", "ACTIVE"),
    ]
    # the same changes, in the same order, as the stored history after the launch
    assert [c["cursor"] for c in [*missed, live]] == _cursors(history)[2:]
    assert len(_cursors(history)) == 6
    versions = [c["version"] for c in [launched, *missed, live]]
    assert versions == list(range(versions[0], versions[0] + 5))
