"""Sending progress over a real websocket, and a campaign that survives its server being
killed mid-send: every recipient ends up with exactly one outcome."""

import asyncio
import itertools
from typing import Any

import pytest
from gql.client import AsyncClientSession

from tests.e2e.conftest import (
    LAUNCH,
    Json,
    StartServer,
    act,
    create_email,
    execute,
    http_session,
    next_item,
    subscribe,
    until,
    ws_session,
)

pytestmark = pytest.mark.e2e

PROGRESS = """
subscription Progress($id: ID!) {
  sendingProgress(id: $id) {
    communicationId status audienceSize pendingCount handedOffCount sentCount notSentCount
    progress lastProgressAt
  }
}
"""

READ = """
query Read($id: ID!) {
  communication(id: $id) {
    ... on EmailCampaign {
      status audienceSize pendingCount handedOffCount sentCount notSentCount progress
    }
  }
}
"""

EVENTS = """
query Events($id: ID!, $after: String) {
  deliveryEvents(communicationId: $id, first: 100, after: $after) {
    edges { node { recipientId name info } }
    hasNextPage endCursor
  }
}
"""

CLAIM = """
mutation Claim($id: ID!, $limit: Int!, $worker: String!, $lease: Int!) {
  claimRecipients(communicationId: $id, limit: $limit, workerId: $worker, leaseSeconds: $lease) {
    recipients { recipientId leaseUntil }
    userErrors { code message field }
  }
}
"""

UPDATES_PER_SECOND = 4  # the subscription's coalescing bound


def adds_up(progress: Json) -> bool:
    parts = ("pendingCount", "handedOffCount", "sentCount", "notSentCount")
    return bool(sum(progress[p] for p in parts) == progress["audienceSize"])


async def every_event(http: AsyncClientSession, id: str) -> list[Json]:
    """All of a campaign's delivery events, read page by page."""
    found: list[Json] = []
    after: str | None = None
    while True:
        page = (await execute(http, EVENTS, id=id, after=after))["deliveryEvents"]
        found += [edge["node"] for edge in page["edges"]]
        if not page["hasNextPage"]:
            return found
        after = page["endCursor"]


async def test_sending_progress_is_coalesced_and_ends_with_the_final_counts(
    start_server: StartServer,
) -> None:
    """Watching a campaign send shows a few updates a second and ends on the final counts."""
    server = await start_server(
        COMMPULSE_SIMULATED_SEND_RATE="200", COMMPULSE_SENDER_INTERVAL="0.05"
    )
    loop = asyncio.get_running_loop()
    async with http_session(server) as http, ws_session(server) as ws:
        email = await create_email(http, "Progress", audience=300)
        async with subscribe(ws, PROGRESS, id=email["id"]) as progress:
            first = (await next_item(progress, "the current counts"))["sendingProgress"]
            assert (first["status"], first["pendingCount"]) == ("DRAFT", 300)
            await act(http, LAUNCH, "launchCommunication", id=email["id"])
            seen: list[tuple[float, Json]] = []

            def done(item: Json) -> bool:
                current: Json = item["sendingProgress"]
                seen.append((loop.time(), current))
                return bool(current["status"] == "FINISHED" and current["sentCount"] == 300)

            await until(progress, done, "the final counts")

    updates = [update for _, update in seen]
    assert updates[0]["status"] == "SENDING"
    assert updates[-1] == {
        "communicationId": email["id"],
        "status": "FINISHED",
        "audienceSize": 300,
        "pendingCount": 0,
        "handedOffCount": 0,
        "sentCount": 300,
        "notSentCount": 0,
        "progress": 1.0,
        "lastProgressAt": updates[-1]["lastProgressAt"],
    }
    assert all(adds_up(u) for u in updates)
    sent = [u["sentCount"] for u in updates]
    assert sent == sorted(sent), "counts never go back"
    # counter-only updates (the status unchanged since the previous one) are coalesced
    same_status = sum(
        1 for before, after in itertools.pairwise(updates) if before["status"] == after["status"]
    )
    elapsed = seen[-1][0] - seen[0][0]
    assert same_status <= UPDATES_PER_SECOND * elapsed + 2, (same_status, elapsed)


async def test_a_campaign_killed_mid_send_finishes_after_restart(
    start_server: StartServer,
) -> None:
    """A server killed mid-send resumes on restart; each recipient ends with exactly one send."""
    audience = 400
    settings = {
        "COMMPULSE_SIMULATED_SEND_RATE": "100",  # 4 s of sending: killed well before the end
        "COMMPULSE_SENDER_INTERVAL": "0.05",
        "COMMPULSE_SCHEDULER_INTERVAL": "0.1",
    }
    first = await start_server(None, **settings)
    async with http_session(first) as http, ws_session(first) as ws:
        email = await create_email(http, "Crash", audience=audience)
        id: str = email["id"]
        async with subscribe(ws, PROGRESS, id=id) as progress:
            await act(http, LAUNCH, "launchCommunication", id=id)
            await until(
                progress, lambda item: item["sendingProgress"]["sentCount"] > 0, "a first send"
            )
        # a worker that will die with the server: its recipients are only given back once
        # its lease ends, by the restarted server's scheduler
        claimed = (await execute(http, CLAIM, id=id, limit=10, worker="doomed", lease=1))[
            "claimRecipients"
        ]
        assert claimed["userErrors"] == []
        assert len(claimed["recipients"]) == 10
        held = (await execute(http, READ, id=id))["communication"]["handedOffCount"]
        assert held >= 10
    await first.kill()

    second = await start_server(first.database, **settings)
    async with http_session(second) as http, ws_session(second) as ws:
        after_crash: Json = (await execute(http, READ, id=id))["communication"]
        assert after_crash["status"] == "SENDING"
        assert 0 < after_crash["sentCount"] < audience
        async with subscribe(ws, PROGRESS, id=id) as progress:
            seen = await until(
                progress,
                lambda item: (
                    item["sendingProgress"]["status"] == "FINISHED"
                    and item["sendingProgress"]["sentCount"] == audience
                ),
                "the campaign to finish with every recipient sent",
            )
        assert all(adds_up(item["sendingProgress"]) for item in seen)
        final: Json = (await execute(http, READ, id=id))["communication"]
        events = await every_event(http, id)

    assert final == {
        "status": "FINISHED",
        "audienceSize": audience,
        "pendingCount": 0,
        "handedOffCount": 0,
        "sentCount": audience,
        "notSentCount": 0,
        "progress": 1.0,
    }
    assert len(events) == audience
    by_recipient: dict[str, list[Any]] = {}
    for event in events:
        by_recipient.setdefault(event["recipientId"], []).append(event["name"])
    assert len(by_recipient) == audience, "one event per recipient"
    assert all(names == ["message.send"] for names in by_recipient.values())
    doomed = {r["recipientId"] for r in claimed["recipients"]}
    assert doomed <= by_recipient.keys(), "the dead worker's recipients were sent after all"
