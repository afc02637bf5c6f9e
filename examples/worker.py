"""A sample delivery worker: the whole loop a real email, SMS or push sender runs.

    claimNext -> send each message through the provider -> reportDeliveries with the
    provider's message ids -> later, the provider's webhook events through
    recordProviderEvents, matched by those ids

The provider here is pretend (`PretendProvider`): it accepts most messages, gives each a
message id, hard-bounces a few, and later "calls back" with delivered and opened events.
Swap it for SendGrid, Mailgun, Twilio or FCM and the rest stays. Run it against a server:

    COMMPULSE_TOKEN=cp_... python examples/worker.py --url http://127.0.0.1:8000/graphql

It needs a token with the `sender` role (`commpulse tokens create mailer --role sender`).
"""

import argparse
import asyncio
import hashlib
import os
import signal
import sys
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

CLAIM_NEXT = """
mutation($kinds: [CommunicationKind!]!, $limit: Int!, $worker: String!, $lease: Int) {
  claimNext(kinds: $kinds, limit: $limit, workerId: $worker, leaseSeconds: $lease) {
    recipients { communicationId recipientId leaseId leaseUntil }
    userErrors { code message }
  }
}"""

RENEW = """
mutation($id: ID!, $recipients: [LeasedRecipientInput!]!, $lease: Int) {
  renewLeases(communicationId: $id, recipients: $recipients, leaseSeconds: $lease) {
    results { recipientId applied code }
    userErrors { code message }
  }
}"""

REPORT = """
mutation($id: ID!, $results: [DeliveryResultInput!]!) {
  reportDeliveries(communicationId: $id, results: $results) {
    results { recipientId applied code message }
    userErrors { code message }
  }
}"""

EVENTS = """
mutation($events: [ProviderEventInput!]!) {
  recordProviderEvents(events: $events) {
    results { eventId applied code message }
    userErrors { code message }
  }
}"""


@dataclass
class Sent:
    message_id: str | None  # the provider's id; None when it refused outright
    failure: str | None = None  # FailureClass, for a refusal
    code: str | None = None
    text: str | None = None
    at: datetime = field(default_factory=lambda: datetime.now(UTC))


class PretendProvider:
    """Stands in for an email/SMS/push API and its webhooks. Deterministic per recipient:
    one in ten hard-bounces, every message it accepts is delivered, one in three opened."""

    def __init__(self) -> None:
        self.callbacks: list[dict[str, Any]] = []  # webhook events not yet delivered to us

    @staticmethod
    def _roll(recipient: str) -> int:
        return hashlib.sha256(recipient.encode()).digest()[0] % 30

    async def send(self, recipient: str) -> Sent:
        await asyncio.sleep(0)  # a real provider is an HTTP call away
        if self._roll(recipient) % 10 == 0:
            return Sent(None, "HARD_BOUNCE", "550 5.1.1", "mailbox does not exist")
        message_id = f"pp-{uuid.uuid4().hex}"
        self.callbacks.append(self._event(message_id, "DELIVERED"))
        if self._roll(recipient) % 3 == 0:
            self.callbacks.append(self._event(message_id, "OPENED"))
        return Sent(message_id)

    @staticmethod
    def _event(message_id: str, type: str) -> dict[str, Any]:
        return {
            "eventId": f"{message_id}:{type.lower()}",  # providers give each event an id
            "providerMessageId": message_id,
            "type": type,
            "at": datetime.now(UTC).isoformat(),
        }

    def webhook(self) -> list[dict[str, Any]]:
        """The events the provider would POST to our webhook endpoint by now."""
        due, self.callbacks = self.callbacks, []
        return due


class Api:
    def __init__(self, url: str, token: str | None) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.url = url
        self.client = httpx.AsyncClient(headers=headers, timeout=30)

    async def call(self, query: str, field: str, **variables: Any) -> dict[str, Any]:
        response = await self.client.post(self.url, json={"query": query, "variables": variables})
        response.raise_for_status()
        body = response.json()
        if body.get("errors"):
            raise RuntimeError(body["errors"])
        payload: dict[str, Any] = body["data"][field]
        if payload["userErrors"]:
            raise RuntimeError(payload["userErrors"])
        return payload


class Worker:
    def __init__(self, api: Api, provider: PretendProvider, args: argparse.Namespace) -> None:
        self.api = api
        self.provider = provider
        self.args = args
        self.lease = timedelta(seconds=args.lease)

    async def run(self) -> None:
        batches = 0
        while self.args.batches is None or batches < self.args.batches:
            claimed = (
                await self.api.call(
                    CLAIM_NEXT,
                    "claimNext",
                    kinds=self.args.kinds,
                    limit=self.args.limit,
                    worker=self.args.worker_id,
                    lease=self.args.lease,
                )
            )["recipients"]
            if not claimed:
                await self.flush_webhook()
                await asyncio.sleep(self.args.poll)
                continue
            batches += 1
            say(f"claimed {len(claimed)} of {claimed[0]['communicationId']}")
            if self.args.hang:  # for tests: a provider that never answers (then SIGKILL)
                await asyncio.Event().wait()
            await self.deliver(claimed)
            await self.flush_webhook()

    async def deliver(self, claimed: list[dict[str, Any]]) -> None:
        by_campaign: dict[str, list[dict[str, Any]]] = {}
        for item in claimed:
            by_campaign.setdefault(item["communicationId"], []).append(item)
        for campaign, items in by_campaign.items():
            results = []
            for n, item in enumerate(items):
                if n % 50 == 49:  # a long batch: the heartbeat keeps the rest ours
                    await self.renew(campaign, items[n:])
                sent = await self.provider.send(item["recipientId"])
                results.append(self.result(item, sent))
            reported = await self.api.call(REPORT, "reportDeliveries", id=campaign, results=results)
            refused = [r for r in reported["results"] if not r["applied"] and r["code"]]
            say(f"reported {len(results)} of {campaign}, refused {len(refused)}")

    async def renew(self, campaign: str, items: list[dict[str, Any]]) -> None:
        held = [{"recipientId": i["recipientId"], "leaseId": i["leaseId"]} for i in items]
        await self.api.call(
            RENEW, "renewLeases", id=campaign, recipients=held, lease=self.args.lease
        )

    @staticmethod
    def result(item: dict[str, Any], sent: Sent) -> dict[str, Any]:
        result: dict[str, Any] = {
            "recipientId": item["recipientId"],
            "leaseId": item["leaseId"],  # fencing: a lease that lost the recipient is refused
            "outcome": "SENT" if sent.failure is None else "NOT_SENT",
            "providerMessageId": sent.message_id,
            "at": sent.at.isoformat(),
        }
        if sent.failure is not None:
            result |= {"failureClass": sent.failure, "failureCode": sent.code, "info": sent.text}
        return result

    async def flush_webhook(self) -> None:
        """What the provider's webhook brought, passed on in bulk. Webhooks are delivered at
        least once, so they are sent twice here: the event ids make the repeat harmless."""
        events = self.provider.webhook()
        for start in range(0, len(events), 1_000):
            chunk = events[start : start + 1_000]
            for _ in range(2):
                await self.api.call(EVENTS, "recordProviderEvents", events=chunk)
        if events:
            say(f"passed on {len(events)} provider events")


def say(line: str) -> None:
    print(line, flush=True)


def arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000/graphql")
    parser.add_argument("--worker-id", default=f"sample-{os.getpid()}")
    parser.add_argument("--kinds", nargs="+", default=["EMAIL"])
    parser.add_argument("--limit", type=int, default=100, help="recipients per claim")
    parser.add_argument("--lease", type=int, default=60, help="lease seconds")
    parser.add_argument("--poll", type=float, default=0.5, help="seconds between empty claims")
    parser.add_argument("--batches", type=int, help="stop after this many batches")
    parser.add_argument("--hang", action="store_true", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


async def main(argv: list[str]) -> None:
    args = arguments(argv)
    api = Api(args.url, os.environ.get("COMMPULSE_TOKEN"))
    worker = Worker(api, PretendProvider(), args)
    task = asyncio.current_task()
    assert task is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    try:
        await worker.run()
    except asyncio.CancelledError:
        say("stopped")
    finally:
        await api.client.aclose()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
