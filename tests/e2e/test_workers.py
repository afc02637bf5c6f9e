"""Delivery workers as real processes: the sample worker (examples/worker.py) against live
servers. Two workers on two instances sharing PostgreSQL and a private Redis, with auth on
and real tokens; one is SIGKILLed holding the campaign's last batch, after it FINISHED.
Every recipient still ends with exactly one final outcome, and the counters equal the
events. (Progress is followed through the workers' own output and HTTP reads: with auth and
the Redis broker together, subscriptions are being fixed elsewhere.)"""

import asyncio
import contextlib
import os
import sys
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from broadcaster import Broadcast
from sqlmodel import col, select

from schema import ids
from store import Store, tokens
from store.database import create_engine, sessions
from store.feed import Feed
from store.tables import DeliveryEvent, Recipient
from store.tokens import ApiRole
from tests.e2e.conftest import (
    ITEM_TIMEOUT,
    ROOT,
    RedisServer,
    Server,
    StartServer,
    bearer,
    make_token,
    migrate_database,
    start_cluster,
)

pytestmark = pytest.mark.e2e

WORKER = ROOT / "examples" / "worker.py"
AUDIENCE = 60
BATCH = 10

CREATE = """
mutation($input: CreateEmailCampaignInput!) {
  createEmailCampaign(input: $input) { communication { ... on EmailCampaign { id } } }
}"""
CREATE_SMS = """
mutation($input: CreateSmsCampaignInput!) {
  createSmsCampaign(input: $input) { communication { ... on SmsCampaign { id } } }
}"""
LAUNCH = "mutation($id: ID!) { launchCommunication(id: $id) { userErrors { code } } }"
READ_ANY = """
query($id: ID!) {
  communication(id: $id) {
    ... on MessageCampaign { sentCount notSentCount deliveredCount }
    ... on EmailCampaign { status }
    ... on SmsCampaign { smsStatus: status }
  }
}"""
READ = """
query($id: ID!) {
  communication(id: $id) {
    ... on EmailCampaign {
      status audienceSize pendingCount handedOffCount sentCount notSentCount
      deliveredCount openedCount stalled
    }
  }
}"""


@dataclass
class WorkerProcess:
    """examples/worker.py running as a process of its own, its output read line by line."""

    process: asyncio.subprocess.Process
    lines: list[str] = field(default_factory=list)

    async def wait_for(self, prefix: str) -> str:
        """The next line of output starting with `prefix`."""
        assert self.process.stdout is not None
        async with asyncio.timeout(3 * ITEM_TIMEOUT):
            while line := (await self.process.stdout.readline()).decode():
                self.lines.append(line)
                if line.startswith(prefix):
                    return line
        pytest.fail(f"the worker ended before printing {prefix!r}:\n{''.join(self.lines)}")

    async def finish(self) -> int:
        assert self.process.stdout is not None
        self.lines += (await self.process.stdout.read()).decode().splitlines(keepends=True)
        return await self.process.wait()


@pytest.fixture
async def workers() -> AsyncIterator[list[WorkerProcess]]:
    """Worker processes the test starts; any still running at the end are killed."""
    started: list[WorkerProcess] = []
    yield started
    for worker in started:
        if worker.process.returncode is None:
            worker.process.kill()
            await worker.process.wait()


async def run_worker(
    started: list[WorkerProcess], server: Server, token: str, *args: str
) -> WorkerProcess:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(WORKER),
        "--url",
        server.http_url,
        "--poll",
        "0.1",
        *args,
        env={**os.environ, "COMMPULSE_TOKEN": token},
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
    )
    worker = WorkerProcess(process)
    started.append(worker)
    return worker


async def post(server: Server, token: str, query: str, **variables: Any) -> dict[str, Any]:
    async with httpx.AsyncClient(timeout=ITEM_TIMEOUT) as client:
        response = await client.post(
            server.http_url, json={"query": query, "variables": variables}, headers=bearer(token)
        )
    body = response.json()
    assert response.status_code == 200 and not body.get("errors"), body
    data: dict[str, Any] = body["data"]
    return data


@contextlib.asynccontextmanager
async def store_on(url: str) -> AsyncIterator[Store]:
    engine = create_engine(url)
    try:
        async with Broadcast("memory://") as broadcast:
            yield Store(sessions(engine), Feed(broadcast))
    finally:
        await engine.dispose()


async def recipients(store: Store, pk: int) -> list[tuple[str, str, str | None, str | None]]:
    async with store.sessions() as session:
        found = await session.exec(
            select(
                Recipient.profile_id, Recipient.state, Recipient.worker_id, Recipient.lease_id
            ).where(col(Recipient.communication_id) == pk)
        )
        return list(found.all())


async def event_names(store: Store, pk: int) -> list[tuple[str, str]]:
    async with store.sessions() as session:
        found = await session.exec(
            select(DeliveryEvent.recipient_id, DeliveryEvent.name).where(
                col(DeliveryEvent.communication_id) == pk
            )
        )
        return list(found.all())


async def test_a_worker_killed_holding_the_last_batch_strands_nobody(
    private_redis: RedisServer,
    postgres_url: str,
    start_server: StartServer,
    workers: list[WorkerProcess],
) -> None:
    """Two workers on two instances share a campaign; the one holding the last batch (the
    campaign already FINISHED) is SIGKILLed. Its lease runs out, its recipients go back to
    PENDING in FINISHED, the other worker sends them, and every recipient ends with exactly
    one final outcome; nothing is left HANDED_OFF, and the counters equal the events."""
    await migrate_database(postgres_url)
    env = {
        "COMMPULSE_DATABASE_URL": postgres_url,
        "COMMPULSE_BROADCAST_URL": private_redis.url,
        "COMMPULSE_AUTH": "on",
        "COMMPULSE_SENDER": "none",
        "COMMPULSE_SCHEDULER_INTERVAL": "0.2",  # its tick also requeues expired leases
    }
    a, b = await start_cluster(start_server, 2, **env)
    async with store_on(postgres_url) as store:
        planner = (await tokens.create(store, "planner", ApiRole.EDITOR))[1]
        mailer_a = (await tokens.create(store, "mailer-a", ApiRole.SENDER))[1]
        mailer_b = (await tokens.create(store, "mailer-b", ApiRole.SENDER))[1]
    created = await post(
        a, planner, CREATE, input={"name": "Spring", "subject": "Hi", "audienceSize": AUDIENCE}
    )
    id = created["createEmailCampaign"]["communication"]["id"]
    assert (await post(a, planner, LAUNCH, id=id))["launchCommunication"]["userErrors"] == []
    common = ["--kinds", "EMAIL", "--limit", str(BATCH)]

    # the healthy worker, on instance b, sends all but the last batch and exits
    first = await run_worker(workers, b, mailer_b, *common, "--worker-id", "b", "--batches", "5")
    assert await first.finish() == 0, first.lines
    # the doomed one, on instance a, claims the last batch and never answers
    doomed = await run_worker(
        workers, a, mailer_a, *common, "--worker-id", "a", "--lease", "2", "--hang"
    )
    await doomed.wait_for(f"claimed {BATCH} of {id}")
    held = (await post(b, planner, READ, id=id))["communication"]
    assert (held["status"], held["pendingCount"], held["handedOffCount"]) == ("FINISHED", 0, 10)
    doomed.process.kill()
    assert await doomed.process.wait() == -9

    # the healthy worker again: it picks up the stranded batch once the lease has run out
    rescuer = await run_worker(workers, b, mailer_b, *common, "--worker-id", "b2")
    await rescuer.wait_for(f"claimed {BATCH} of {id}")
    await rescuer.wait_for(f"reported {BATCH} of {id}")
    await rescuer.wait_for("passed on")
    rescuer.process.terminate()
    assert await rescuer.finish() in (0, -15)

    final = (await post(a, planner, READ, id=id))["communication"]
    pk = ids.communication_pk(id)
    assert pk is not None
    async with store_on(postgres_url) as store:
        rows = await recipients(store, pk)
        named = await event_names(store, pk)
    states = Counter(state for _, state, _, _ in rows)
    assert states == {"SENT": final["sentCount"], "NOT_SENT": final["notSentCount"]}
    assert final["sentCount"] + final["notSentCount"] == AUDIENCE
    assert (final["status"], final["pendingCount"], final["handedOffCount"]) == (
        "FINISHED",
        0,
        0,
    )
    assert not final["stalled"]
    finals = Counter(r for r, n in named if n in ("message.send", "message.notSent"))
    assert finals == dict.fromkeys((p for p, _, _, _ in rows), 1)  # one final outcome each
    assert {w for _, _, w, _ in rows} <= {None}  # no worker holds anything now
    by_name = Counter(n for _, n in named)
    assert by_name["message.send"] == final["sentCount"]
    assert by_name["message.notSent"] == final["notSentCount"]
    assert by_name["message.delivered"] == final["deliveredCount"] == final["sentCount"]
    assert by_name["message.opened"] == final["openedCount"] > 0
    # the stranded batch went to the rescuer under a new lease
    rescued = [line for line in rescuer.lines if line.startswith("claimed")]
    assert rescued[0].startswith(f"claimed {BATCH} of {id}")


EVENTS = """
query($id: ID!, $after: String) {
  deliveryEvents(communicationId: $id, first: 100, after: $after) {
    edges { node { recipientId name eventId providerMessageId failureClass failureCode info } }
    hasNextPage endCursor
  }
}"""


async def every_event(server: Server, token: str, id: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    after: str | None = None
    while True:
        page = (await post(server, token, EVENTS, id=id, after=after))["deliveryEvents"]
        found += [edge["node"] for edge in page["edges"]]
        if not page["hasNextPage"]:
            return found
        after = page["endCursor"]


async def test_the_sample_worker_runs_the_whole_loop(
    start_server: StartServer, workers: list[WorkerProcess]
) -> None:
    """examples/worker.py against a live server with auth on: claimNext takes turns between
    an email and an SMS campaign, reports carry provider ids and failure classes, and the
    pretend webhook's events, sent twice, count once."""
    server = await start_server(COMMPULSE_AUTH="on", COMMPULSE_SENDER="none")
    planner = await make_token(server, "planner", ApiRole.EDITOR)
    mailer = await make_token(server, "mailer", ApiRole.SENDER)
    campaigns = []
    for create, field_, extra in (
        (CREATE, "createEmailCampaign", {"subject": "Hi"}),
        (CREATE_SMS, "createSmsCampaign", {"text": "Hi"}),
    ):
        made = await post(
            server, planner, create, input={"name": field_, "audienceSize": 15, **extra}
        )
        id = made[field_]["communication"]["id"]
        assert (await post(server, planner, LAUNCH, id=id))["launchCommunication"] == {
            "userErrors": []
        }
        campaigns.append(id)
    email, sms = campaigns

    worker = await run_worker(
        workers, server, mailer, "--kinds", "EMAIL", "SMS", "--limit", "10", "--batches", "4"
    )
    assert await worker.finish() == 0, worker.lines

    claims = [line.split()[1:] for line in worker.lines if line.startswith("claimed")]
    assert claims == [["10", "of", email], ["10", "of", sms], ["5", "of", email], ["5", "of", sms]]
    for id in campaigns:
        final = (await post(server, planner, READ_ANY, id=id))["communication"]
        assert final.get("status", final.get("smsStatus")) == "FINISHED"
        assert final["sentCount"] + final["notSentCount"] == 15
        assert final["notSentCount"] > 0  # the pretend provider bounces one in ten, or so
        assert final["deliveredCount"] == final["sentCount"]
        found = await every_event(server, planner, id)
        outcomes = [e for e in found if e["name"].endswith((".send", ".notSent"))]
        assert len(outcomes) == len({e["recipientId"] for e in outcomes}) == 15
        for event in outcomes:
            if event["name"].endswith(".notSent"):
                assert (event["failureClass"], event["failureCode"]) == ("HARD_BOUNCE", "550 5.1.1")
                assert event["info"] == "mailbox does not exist"
            else:
                assert event["providerMessageId"].startswith("pp-")
        delivered = [e for e in found if e["name"].endswith(".delivered")]
        assert len(delivered) == len({e["eventId"] for e in delivered}) == final["sentCount"]
