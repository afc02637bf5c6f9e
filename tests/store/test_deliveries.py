"""Recipients and what happens to them: claims, reports, stops, failures and display events,
on a real SQLite file."""

import asyncio
import uuid
from collections import Counter
from collections.abc import Awaitable
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func
from sqlmodel import col, select

from store import Store, changes, communications, deliveries
from store.audience import BATCH_MAX, NOT_SENT_EVENT, SENT_EVENT, After, Delivery
from store.changes import StopCounts
from store.deliveries import Display, DisplayEvent, ProviderEvent, Report
from store.errors import ErrorCode, Refused
from store.lifecycle import Action, Kind, Origin, Status, Trigger
from store.tables import Communication, DeliveryEvent, Recipient, StatusEvent, utcnow
from tests.factories import CONTENT

ACTOR = "ana"
WORKER = "worker-1"
LEASE = timedelta(minutes=5)
MESSAGE_KINDS = [Kind.EMAIL, Kind.SMS, Kind.MOBILE_PUSH, Kind.WEB_PUSH]
DISPLAY_KINDS = [Kind.DYNAMIC_CONTENT, Kind.IN_APP, Kind.SCREEN_VIEW]


# --- helpers ---------------------------------------------------------------------------------


def ids(count: int, prefix: str = "profile") -> list[str]:
    return [f"{prefix}-{n:03}" for n in range(1, count + 1)]


async def campaign(
    store: Store,
    recipients: list[str],
    *,
    kind: Kind = Kind.EMAIL,
    origin: Origin = Origin.CAMPAIGN,
) -> Communication:
    """A DRAFT message campaign with these recipient ids."""
    return await communications.create(
        store,
        kind,
        name="Spring sale",
        origin=origin,
        content=dict(CONTENT[kind]),
        audience_size=None,
        actor=ACTOR,
        recipients=recipients,
    )


async def sending(
    store: Store,
    recipients: list[str],
    *,
    kind: Kind = Kind.EMAIL,
    origin: Origin = Origin.CAMPAIGN,
) -> Communication:
    """A message campaign launched into SENDING."""
    row = await campaign(store, recipients, kind=kind, origin=origin)
    return await changes.apply(store, row.id, Action.LAUNCH, by=Trigger.PERSON, actor=ACTOR)


async def claim(
    store: Store, row: Communication, limit: int, worker: str = WORKER, lease: timedelta = LEASE
) -> list[str]:
    claimed = await deliveries.claim(
        store, row.id, limit=limit, worker_id=worker, lease=lease, actor=worker
    )
    return [c.recipient_id for c in claimed]


async def report(
    store: Store,
    row: Communication,
    recipients: list[str],
    outcome: Delivery = Delivery.SENT,
    info: str | None = None,
    lease: str | None = None,
) -> list[deliveries.Outcome]:
    """Report as the worker holding each recipient's lease (or `lease`, when given)."""
    at = utcnow()
    held = await leases(store, row)
    _, outcomes = await deliveries.report(
        store,
        row.id,
        [Report(r, lease or held.get(r) or "", outcome, info, at) for r in recipients],
        actor=WORKER,
    )
    return outcomes


async def leases(store: Store, row: Communication) -> dict[str, str | None]:
    """The lease id each recipient last had, by profile id."""
    async with store.sessions() as session:
        found = await session.exec(
            select(Recipient.profile_id, Recipient.lease_id).where(
                col(Recipient.communication_id) == row.id
            )
        )
        return dict(found.all())


async def fresh(store: Store, row: Communication) -> Communication:
    return await communications.get(store, row.id)


async def states(store: Store, row: Communication) -> dict[str, str]:
    """Each recipient's delivery state, by profile id."""
    return await deliveries.states(store, row.id)


async def workers(store: Store, row: Communication) -> dict[str, str | None]:
    async with store.sessions() as session:
        found = await session.exec(
            select(Recipient.profile_id, Recipient.worker_id).where(
                col(Recipient.communication_id) == row.id
            )
        )
        return dict(found.all())


async def events(store: Store, row: Communication) -> list[DeliveryEvent]:
    found, more = await deliveries.events(
        store, row.id, names=None, recipient_id=None, after=(0, 0), first=1_000_000
    )
    assert not more
    return [event for _, event in found]


async def history(store: Store, row: Communication) -> list[tuple[str, str, str]]:
    async with store.sessions() as session:
        found = await session.exec(
            select(StatusEvent.action, StatusEvent.to_status, StatusEvent.actor)
            .where(col(StatusEvent.communication_id) == row.id)
            .order_by(col(StatusEvent.seq))
        )
        return list(found.all())


@dataclass(frozen=True)
class Snapshot:
    """Everything a stop, a report or a display event could write."""

    row: tuple[object, ...]
    states: dict[str, str]
    events: list[tuple[str, str, str | None]]
    history: list[tuple[str, str, str]]


async def snapshot(store: Store, row: Communication) -> Snapshot:
    now = await fresh(store, row)
    return Snapshot(
        row=(
            now.status,
            now.version,
            now.audience_size,
            now.pending_count,
            now.handed_off_count,
            now.sent_count,
            now.not_sent_count,
            now.shown_count,
            now.clicked_count,
            now.status_reason,
        ),
        states=await states(store, row),
        events=[(e.recipient_id, e.name, e.info) for e in await events(store, row)],
        history=await history(store, row),
    )


async def assert_counters_add_up(store: Store, row: Communication) -> Communication:
    """The counters on the row match the recipient rows, and add up to the audience."""
    now = await fresh(store, row)
    by_state = Counter((await states(store, row)).values())
    assert now.pending_count == by_state[Delivery.PENDING]
    assert now.handed_off_count == by_state[Delivery.HANDED_OFF]
    assert now.sent_count == by_state[Delivery.SENT]
    assert now.not_sent_count == by_state[Delivery.NOT_SENT]
    total = now.pending_count + now.handed_off_count + now.sent_count + now.not_sent_count
    assert total == now.audience_size == sum(by_state.values())
    return now


async def assert_one_final_event_each(store: Store, row: Communication) -> None:
    """Every recipient in a final state has exactly one matching event; others have none."""
    kind = Kind(row.kind)
    named = {SENT_EVENT[kind]: Delivery.SENT, NOT_SENT_EVENT[kind]: Delivery.NOT_SENT}
    per_recipient: dict[str, list[str]] = {}
    for event in await events(store, row):
        if event.name in named:  # events after the send are no outcome
            per_recipient.setdefault(event.recipient_id, []).append(event.name)
    for recipient, state in (await states(store, row)).items():
        found = per_recipient.get(recipient, [])
        if state in (Delivery.SENT, Delivery.NOT_SENT):
            assert len(found) == 1, (recipient, found)
            assert named[found[0]] == state, (recipient, found, state)
        else:
            assert found == [], (recipient, found)


async def wait_past(moment: datetime) -> None:
    """Wait for the wall clock to pass `moment` (a lease's end): nothing else signals it."""
    while utcnow() <= moment:  # noqa: ASYNC110 (the wall clock sends no event to await)
        await asyncio.sleep(0.01)


# --- stop at every stage -------------------------------------------------------------------

# (recipients claimed, of those reported SENT, status before the stop)
STAGES = {
    "nothing handed off": (0, 0, Status.SENDING),
    "half handed off": (5, 2, Status.SENDING),
    "all handed off (finished with stragglers)": (10, 4, Status.FINISHED),
    "finished, all sent": (10, 10, Status.FINISHED),
}


@pytest.mark.parametrize(("claimed", "sent", "before"), STAGES.values(), ids=STAGES.keys())
async def test_stop_at_every_stage(store: Store, claimed: int, sent: int, before: Status) -> None:
    """A stop leaves sent recipients sent and gives every other one a not-sent event."""
    audience = ids(10)
    row = await sending(store, audience)
    out = await claim(store, row, claimed) if claimed else []
    delivered = out[:sent]
    await report(store, row, delivered)
    assert (await fresh(store, row)).status == before
    stragglers = [r for r in audience if r not in delivered]

    _, dry = await changes.stop(store, row.id, actor=ACTOR, reason="typo", dry_run=True)
    assert dry == StopCounts(not_sent_now=len(stragglers), already_sent=sent, total=10)

    stopped, summary = await changes.stop(store, row.id, actor=ACTOR, reason="typo")

    assert summary == dry
    assert stopped.status == Status.STOPPED
    assert stopped.status_reason == "typo"
    assert await states(store, row) == {
        r: Delivery.SENT if r in delivered else Delivery.NOT_SENT for r in audience
    }
    not_sent = [
        (e.recipient_id, e.name, e.info)
        for e in await events(store, row)
        if e.name != "message.send"
    ]
    assert not_sent == [(r, "message.notSent", "stopped by ana: typo") for r in stragglers]
    now = await assert_counters_add_up(store, row)
    assert (now.pending_count, now.handed_off_count) == (0, 0)
    assert (now.sent_count, now.not_sent_count) == (sent, len(stragglers))
    await assert_one_final_event_each(store, row)
    assert (await history(store, row))[-1] == ("STOP", "STOPPED", ACTOR)


@pytest.mark.parametrize(("claimed", "sent", "before"), STAGES.values(), ids=STAGES.keys())
async def test_stop_dry_run_changes_nothing(
    store: Store, claimed: int, sent: int, before: Status
) -> None:
    """A stop's dry run says what a stop would do and leaves the campaign as it was."""
    row = await sending(store, ids(10))
    out = await claim(store, row, claimed) if claimed else []
    await report(store, row, out[:sent])
    seen = await snapshot(store, row)

    current, summary = await changes.stop(store, row.id, actor=ACTOR, dry_run=True)

    assert summary == StopCounts(not_sent_now=10 - sent, already_sent=sent, total=10)
    assert current.status == before
    assert await snapshot(store, row) == seen


@pytest.mark.parametrize("kind", MESSAGE_KINDS)
async def test_stop_gives_the_channels_not_sent_event(store: Store, kind: Kind) -> None:
    """Each channel's recipients get its own send and not-sent event names on a stop."""
    row = await sending(store, ids(4), kind=kind)
    out = await claim(store, row, 2)
    await report(store, row, out[:1])

    await changes.stop(store, row.id, actor=ACTOR)

    names = Counter(e.name for e in await events(store, row))
    assert names == {SENT_EVENT[kind]: 1, NOT_SENT_EVENT[kind]: 3}
    assert {e.info for e in await events(store, row) if e.name == NOT_SENT_EVENT[kind]} == {
        "stopped by ana"
    }
    await assert_counters_add_up(store, row)


async def test_late_sent_after_a_stop_is_refused(store: Store) -> None:
    """A worker's SENT arriving after a stop is refused per item and changes nothing."""
    row = await sending(store, ids(6))
    out = await claim(store, row, 3)
    await changes.stop(store, row.id, actor=ACTOR, reason="wrong list")
    seen = await snapshot(store, row)
    held = await leases(store, row)

    _, outcomes = await deliveries.report(
        store,
        row.id,
        [Report(r, held[r] or "", Delivery.SENT, None, utcnow()) for r in out],
        actor=WORKER,
    )

    assert [(o.recipient_id, o.applied, o.code) for o in outcomes] == [
        (r, False, "CONFLICTING_OUTCOME") for r in out
    ]
    assert await snapshot(store, row) == seen


async def test_a_contradicting_outcome_is_refused_and_the_rest_applied(store: Store) -> None:
    """SENT after NOT_SENT is refused for that recipient while the others in the call apply."""
    row = await sending(store, ids(5))
    a, b, c = await claim(store, row, 3)
    await report(store, row, [a], Delivery.NOT_SENT, info="mailbox full")

    outcomes = await report(store, row, [a, b, c])

    assert [(o.recipient_id, o.applied, o.code) for o in outcomes] == [
        (a, False, "CONFLICTING_OUTCOME"),
        (b, True, None),
        (c, True, None),
    ]
    assert (await states(store, row))[a] == Delivery.NOT_SENT
    assert [(e.recipient_id, e.name, e.info) for e in await events(store, row)] == [
        (a, "message.notSent", "mailbox full"),
        (b, "message.send", None),
        (c, "message.send", None),
    ]
    await assert_counters_add_up(store, row)
    await assert_one_final_event_each(store, row)


async def test_contradiction_within_one_report_is_refused(store: Store) -> None:
    """One report saying SENT then NOT_SENT for a recipient keeps the first, refuses the second."""
    row = await sending(store, ids(3))
    (a,) = await claim(store, row, 1)
    now = utcnow()
    lease = (await leases(store, row))[a] or ""

    _, outcomes = await deliveries.report(
        store,
        row.id,
        [Report(a, lease, Delivery.SENT, None, now), Report(a, lease, Delivery.NOT_SENT, "x", now)],
        actor=WORKER,
    )

    assert [(o.applied, o.code) for o in outcomes] == [(True, None), (False, "CONFLICTING_OUTCOME")]
    assert (await states(store, row))[a] == Delivery.SENT
    assert [e.name for e in await events(store, row)] == ["message.send"]
    await assert_counters_add_up(store, row)


async def test_reports_are_idempotent(store: Store) -> None:
    """Sending the same report twice records each outcome once; the repeat applies nothing."""
    row = await sending(store, ids(6))
    out = await claim(store, row, 4)
    at = utcnow()
    held = await leases(store, row)
    results = [Report(r, held[r] or "", Delivery.SENT, None, at) for r in out[:3]] + [
        Report(out[3], held[out[3]] or "", Delivery.NOT_SENT, "bounced", at)
    ]
    _, first = await deliveries.report(store, row.id, results, actor=WORKER)
    assert all(o.applied for o in first)
    seen = await snapshot(store, row)

    _, second = await deliveries.report(store, row.id, results, actor=WORKER)

    assert [(o.applied, o.code, o.message) for o in second] == [
        (False, None, "already SENT"),
        (False, None, "already SENT"),
        (False, None, "already SENT"),
        (False, None, "already NOT_SENT"),
    ]
    assert await snapshot(store, row) == seen
    assert len(await events(store, row)) == 4
    now = await assert_counters_add_up(store, row)
    assert (now.sent_count, now.not_sent_count, now.handed_off_count) == (3, 1, 0)


async def test_duplicates_within_one_report_count_once(store: Store) -> None:
    """A recipient reported SENT twice in one call gets one event and counts once."""
    row = await sending(store, ids(3))
    (a,) = await claim(store, row, 1)

    outcomes = await report(store, row, [a, a])

    assert [o.applied for o in outcomes] == [True, False]
    assert [e.recipient_id for e in await events(store, row)] == [a]
    assert (await assert_counters_add_up(store, row)).sent_count == 1


async def test_report_for_someone_outside_the_audience_is_refused(store: Store) -> None:
    """An unknown recipient in a report is refused per item; the known ones apply."""
    row = await sending(store, ids(3))
    (a,) = await claim(store, row, 1)

    outcomes = await report(store, row, ["stranger", a])

    assert [(o.recipient_id, o.applied, o.code) for o in outcomes] == [
        ("stranger", False, "UNKNOWN_RECIPIENT"),
        (a, True, None),
    ]
    assert [e.recipient_id for e in await events(store, row)] == [a]


# --- claims and leases ---------------------------------------------------------------------


async def test_concurrent_claimers_never_share_a_recipient(store: Store) -> None:
    """Many workers claiming at once together get every recipient exactly once."""
    audience = ids(300)
    row = await sending(store, audience)

    async def worker(n: int) -> list[str]:
        try:
            return await claim(store, row, 13, worker=f"worker-{n}")
        except Refused as refused:  # came after the last PENDING was claimed: FINISHED
            assert refused.code is ErrorCode.INVALID_TRANSITION
            return []

    batches = await asyncio.gather(*(worker(n) for n in range(30)))  # 390 asked for, 300 there

    handed = [r for batch in batches for r in batch]
    assert sorted(handed) == audience  # each exactly once: no repeat, none missing
    owner = await workers(store, row)
    for n, batch in enumerate(batches):
        assert all(owner[r] == f"worker-{n}" for r in batch)
    now = await assert_counters_add_up(store, row)
    assert (now.pending_count, now.handed_off_count) == (0, 300)
    assert now.status == Status.FINISHED  # the last PENDING was claimed


async def test_claims_hand_out_in_audience_order_up_to_the_limit(store: Store) -> None:
    """A claim hands out at most `limit` PENDING recipients, in audience order, with a lease."""
    row = await sending(store, ids(5))
    before = utcnow()

    claimed = await deliveries.claim(
        store, row.id, limit=2, worker_id=WORKER, lease=LEASE, actor=WORKER
    )

    assert [c.recipient_id for c in claimed] == ["profile-001", "profile-002"]
    assert all(before + LEASE <= c.lease_until <= utcnow() + LEASE for c in claimed)
    now = await assert_counters_add_up(store, row)
    assert (now.pending_count, now.handed_off_count, now.status) == (3, 2, Status.SENDING)
    assert now.progress_at is not None and now.progress_at >= before


@pytest.mark.parametrize("requeue", ["requeue_expired", "next claim"])
async def test_expired_lease_goes_back_to_pending(store: Store, requeue: str) -> None:
    """Recipients of a worker that went away are handed to another worker once the lease ends."""
    row = await sending(store, ids(6))
    claimed = await deliveries.claim(
        store, row.id, limit=3, worker_id="gone", lease=timedelta(milliseconds=1), actor="gone"
    )
    lost = [c.recipient_id for c in claimed]
    await wait_past(max(c.lease_until for c in claimed))

    if requeue == "requeue_expired":
        assert await deliveries.requeue_expired(store) == 3
        now = await assert_counters_add_up(store, row)
        assert (now.pending_count, now.handed_off_count) == (6, 0)
        pending = await states(store, row)
        assert all(pending[r] == Delivery.PENDING for r in lost)

    again = await claim(store, row, 3, worker="worker-2")

    assert again == lost
    owner = await workers(store, row)
    assert {owner[r] for r in lost} == {"worker-2"}
    now = await assert_counters_add_up(store, row)
    assert (now.pending_count, now.handed_off_count) == (3, 3)


async def test_unexpired_leases_stay_with_their_worker(store: Store) -> None:
    """A worker still within its lease keeps its recipients; others get the next ones."""
    row = await sending(store, ids(4))
    first = await claim(store, row, 2, worker="worker-1")

    assert await deliveries.requeue_expired(store) == 0
    second = await claim(store, row, 2, worker="worker-2")

    assert set(first).isdisjoint(second)
    owner = await workers(store, row)
    assert [owner[r] for r in first] == ["worker-1", "worker-1"]


async def test_expired_leases_of_a_stopped_campaign_are_not_requeued(store: Store) -> None:
    """Leases never come back to PENDING once the campaign is STOPPED."""
    row = await sending(store, ids(4))
    claimed = await deliveries.claim(
        store, row.id, limit=2, worker_id="gone", lease=timedelta(milliseconds=1), actor="gone"
    )
    await changes.stop(store, row.id, actor=ACTOR)
    seen = await snapshot(store, row)
    await wait_past(max(c.lease_until for c in claimed))

    assert await deliveries.requeue_expired(store) == 0
    assert await snapshot(store, row) == seen


async def test_claiming_the_last_pending_finishes_the_campaign(store: Store) -> None:
    """The campaign turns FINISHED when no recipient is PENDING any more."""
    row = await sending(store, ids(5))
    first = await claim(store, row, 3)
    assert (await fresh(store, row)).status == Status.SENDING

    rest = await claim(store, row, 10)

    assert len(rest) == 2
    finished = await fresh(store, row)
    assert finished.status == Status.FINISHED
    assert (await history(store, row))[-1] == ("FINISH", "FINISHED", WORKER)
    assert await claim(store, row, 1) == []  # nothing PENDING: nothing to hand out

    outcomes = await report(store, row, first + rest)

    assert all(o.applied for o in outcomes)
    now = await assert_counters_add_up(store, row)
    assert (now.status, now.sent_count, now.handed_off_count) == (Status.FINISHED, 5, 0)
    await assert_one_final_event_each(store, row)


@pytest.mark.parametrize("requeue", ["requeue_expired", "next claim"])
async def test_a_dead_workers_last_batch_is_sent_after_finished(store: Store, requeue: str) -> None:
    """Recipients stranded by a worker that died holding the last batch go back to PENDING
    in FINISHED, and another worker claims and sends them; the campaign stays FINISHED."""
    row = await sending(store, ids(5))
    early = await claim(store, row, 3, worker="steady")
    claimed = await deliveries.claim(
        store, row.id, limit=5, worker_id="gone", lease=timedelta(milliseconds=1), actor="gone"
    )
    lost = [c.recipient_id for c in claimed]
    assert (await fresh(store, row)).status == Status.FINISHED
    await wait_past(max(c.lease_until for c in claimed))

    if requeue == "requeue_expired":
        assert await deliveries.requeue_expired(store) == 2
        now = await assert_counters_add_up(store, row)
        assert (now.status, now.pending_count, now.handed_off_count) == (Status.FINISHED, 2, 3)
    again = await claim(store, row, 10, worker="rescuer")
    await report(store, row, early + again)

    assert again == lost
    now = await assert_counters_add_up(store, row)
    assert (now.status, now.sent_count, now.pending_count) == (Status.FINISHED, 5, 0)
    assert [h[1] for h in await history(store, row)].count("FINISHED") == 1
    await assert_one_final_event_each(store, row)


async def test_a_stop_after_finished_makes_the_requeued_rest_not_sent(store: Store) -> None:
    """A stop of a FINISHED campaign whose stranded recipients went back to PENDING makes
    them NOT_SENT, as it does for those a provider still holds."""
    row = await sending(store, ids(4))
    kept = await claim(store, row, 2, worker="steady")
    claimed = await deliveries.claim(
        store, row.id, limit=2, worker_id="gone", lease=timedelta(milliseconds=1), actor="gone"
    )
    await wait_past(max(c.lease_until for c in claimed))
    assert await deliveries.requeue_expired(store) == 2

    _, summary = await changes.stop(store, row.id, actor=ACTOR)

    assert summary == StopCounts(not_sent_now=4, already_sent=0, total=4)
    now = await assert_counters_add_up(store, row)
    assert (now.status, now.not_sent_count) == (Status.STOPPED, 4)
    assert set((await states(store, row)).values()) == {Delivery.NOT_SENT}
    assert len(kept) == 2
    await assert_one_final_event_each(store, row)


async def test_a_report_for_a_never_claimed_recipient_is_refused(store: Store) -> None:
    """A recipient no worker ever held cannot be reported: NOT_CLAIMED, nothing changes."""
    row = await sending(store, ids(2))
    await claim(store, row, 1)
    seen = await snapshot(store, row)

    outcomes = await report(store, row, ["profile-002"], Delivery.NOT_SENT, lease="made-up")

    assert [(o.applied, o.code) for o in outcomes] == [(False, "NOT_CLAIMED")]
    assert await snapshot(store, row) == seen


async def test_a_late_report_of_a_requeued_recipient_is_applied(store: Store) -> None:
    """A lease that expired, its recipient back to PENDING and not yet claimed again, still
    reports it: nobody else holds it, and the message did go out."""
    row = await sending(store, ids(3))
    await claim(store, row, 1)
    claimed = await deliveries.claim(
        store, row.id, limit=1, worker_id="slow", lease=timedelta(milliseconds=1), actor="slow"
    )
    await wait_past(claimed[0].lease_until)
    assert await deliveries.requeue_expired(store) == 1

    outcomes = await report(store, row, ["profile-002"], lease=claimed[0].lease_id)

    assert [(o.applied, o.code) for o in outcomes] == [(True, None)]
    now = await assert_counters_add_up(store, row)
    assert (now.status, now.pending_count, now.sent_count) == (Status.SENDING, 1, 1)
    assert (await states(store, row))["profile-002"] == Delivery.SENT


@pytest.mark.parametrize(
    ("limit", "worker", "field"),
    [
        (0, WORKER, "limit"),
        (1_001, WORKER, "limit"),
        (5, "  ", "workerId"),
        (5, "w" * 201, "workerId"),
    ],
)
async def test_bad_claims_are_refused(store: Store, limit: int, worker: str, field: str) -> None:
    """A claim with a limit outside 1..1000 or a blank worker id is refused, nothing handed out."""
    row = await sending(store, ids(3))
    seen = await snapshot(store, row)

    with pytest.raises(Refused) as refused:
        await deliveries.claim(store, row.id, limit=limit, worker_id=worker, lease=LEASE, actor="x")

    assert (refused.value.code, refused.value.field) == (ErrorCode.INVALID_INPUT, [field])
    assert await snapshot(store, row) == seen


@pytest.mark.parametrize("status", [Status.DRAFT, Status.SCHEDULED])
async def test_claims_before_launch_are_refused(store: Store, status: Status) -> None:
    """Nothing is handed out before a campaign is SENDING."""
    row = await campaign(store, ids(3))
    if status is Status.SCHEDULED:
        start = utcnow() + timedelta(days=1)
        await changes.apply(
            store, row.id, Action.SCHEDULE, by=Trigger.PERSON, actor=ACTOR, start_at=start
        )

    with pytest.raises(Refused) as refused:
        await claim(store, row, 1)

    assert refused.value.code is ErrorCode.INVALID_TRANSITION
    assert set((await states(store, row)).values()) == {Delivery.PENDING}


# --- failure ---------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", MESSAGE_KINDS)
async def test_fail_gives_every_unsent_recipient_a_not_sent_event(store: Store, kind: Kind) -> None:
    """On failure, sent recipients stay sent and every other one gets a not-sent event."""
    row = await sending(store, ids(8), kind=kind)
    out = await claim(store, row, 5)
    await report(store, row, out[:2])
    await report(store, row, out[2:3], Delivery.NOT_SENT, info="bounced")

    failed = await changes.apply(
        store, row.id, Action.FAIL, by=Trigger.SENDER, actor=WORKER, reason="provider down"
    )

    assert (failed.status, failed.status_reason) == (Status.ERROR, "provider down")
    final = await states(store, row)
    assert [r for r, s in final.items() if s == Delivery.SENT] == out[:2]
    assert all(s == Delivery.NOT_SENT for r, s in final.items() if r not in out[:2])
    not_sent = [e for e in await events(store, row) if e.name == NOT_SENT_EVENT[kind]]
    assert [(e.recipient_id, e.info) for e in not_sent] == [(out[2], "bounced")] + [
        (r, "failed: provider down") for r in ids(8) if r not in out[:3]
    ]
    now = await assert_counters_add_up(store, row)
    assert (now.sent_count, now.not_sent_count) == (2, 6)
    await assert_one_final_event_each(store, row)


async def test_fail_needs_a_reason(store: Store) -> None:
    """A failure without a reason is refused and nothing is written."""
    row = await sending(store, ids(3))
    seen = await snapshot(store, row)

    with pytest.raises(Refused) as refused:
        await changes.apply(store, row.id, Action.FAIL, by=Trigger.SENDER, actor=WORKER, reason=" ")

    assert refused.value.code is ErrorCode.INVALID_INPUT
    assert await snapshot(store, row) == seen


async def test_fail_of_a_scheduled_campaign_marks_the_whole_audience(store: Store) -> None:
    """A scheduled campaign that fails gives its whole audience a not-sent event."""
    row = await campaign(store, ids(3), kind=Kind.SMS)
    start = utcnow() + timedelta(days=1)
    await changes.apply(
        store, row.id, Action.SCHEDULE, by=Trigger.PERSON, actor=ACTOR, start_at=start
    )

    await changes.apply(store, row.id, Action.FAIL, by=Trigger.SYSTEM, actor="system", reason="x")

    assert [(e.name, e.info) for e in await events(store, row)] == [
        ("sms.notSent", "failed: x")
    ] * 3
    now = await assert_counters_add_up(store, row)
    assert (now.status, now.not_sent_count) == (Status.ERROR, 3)


# --- automation ------------------------------------------------------------------------------


@pytest.mark.parametrize("dry_run", [False, True])
async def test_automation_stop_is_refused_with_nothing_written(store: Store, dry_run: bool) -> None:
    """A campaign sent through Automation cannot be stopped; not even a dry run, and no event."""
    row = await sending(store, ids(6), origin=Origin.AUTOMATION)
    out = await claim(store, row, 3)
    await report(store, row, out[:1])
    seen = await snapshot(store, row)

    with pytest.raises(Refused) as refused:
        await changes.stop(store, row.id, actor=ACTOR, reason="oops", dry_run=dry_run)

    assert refused.value.code is ErrorCode.STOP_NOT_AVAILABLE_FOR_AUTOMATION
    assert await snapshot(store, row) == seen


# --- audience --------------------------------------------------------------------------------


async def test_add_recipients_ignores_repeats(store: Store) -> None:
    """Adding recipients skips ids already in the audience and repeats in the same call."""
    row = await campaign(store, ["a", "b"])

    added = await deliveries.add_recipients(store, row.id, ["b", "c", " c ", "d", "c"])

    assert (added.audience_size, added.pending_count) == (4, 4)
    assert await states(store, row) == dict.fromkeys("abcd", "PENDING")
    await assert_counters_add_up(store, row)


async def test_add_recipients_while_scheduled(store: Store) -> None:
    """A scheduled campaign still takes more recipients."""
    row = await campaign(store, ["a"])
    start = utcnow() + timedelta(days=1)
    await changes.apply(
        store, row.id, Action.SCHEDULE, by=Trigger.PERSON, actor=ACTOR, start_at=start
    )

    added = await deliveries.add_recipients(store, row.id, ["b"])

    assert (added.status, added.audience_size) == (Status.SCHEDULED, 2)


async def test_add_recipients_cap(store: Store) -> None:
    """Up to 10,000 recipients a call are taken; 10,001 are refused with nothing added."""
    row = await campaign(store, [])

    added = await deliveries.add_recipients(store, row.id, ids(BATCH_MAX, "first"))
    assert added.audience_size == BATCH_MAX

    with pytest.raises(Refused) as refused:
        await deliveries.add_recipients(store, row.id, ids(BATCH_MAX + 1, "second"))

    assert (refused.value.code, refused.value.field) == (ErrorCode.INVALID_INPUT, ["recipients"])
    now = await assert_counters_add_up(store, row)
    assert now.audience_size == BATCH_MAX


async def test_create_with_too_many_recipients_is_refused(store: Store) -> None:
    """A campaign cannot be created with more than 10,000 recipient ids."""
    with pytest.raises(Refused) as refused:
        await campaign(store, ids(BATCH_MAX + 1))

    assert (refused.value.code, refused.value.field) == (ErrorCode.INVALID_INPUT, ["recipients"])
    async with store.sessions() as session:
        assert (await session.exec(select(func.count()).select_from(Communication))).one() == 0


async def test_add_recipients_after_launch_is_refused(store: Store) -> None:
    """Once sending has begun, the audience is fixed."""
    row = await sending(store, ["a"])
    seen = await snapshot(store, row)

    with pytest.raises(Refused) as refused:
        await deliveries.add_recipients(store, row.id, ["b"])

    assert refused.value.code is ErrorCode.INVALID_TRANSITION
    assert await snapshot(store, row) == seen


async def test_add_recipients_to_a_synthetic_audience_is_refused(store: Store) -> None:
    """A campaign with a synthetic audience (audienceSize) takes no recipient ids."""
    row = await communications.create(
        store,
        Kind.EMAIL,
        name="Synthetic",
        origin=Origin.CAMPAIGN,
        content=dict(CONTENT[Kind.EMAIL]),
        audience_size=5,
        actor=ACTOR,
    )

    with pytest.raises(Refused) as refused:
        await deliveries.add_recipients(store, row.id, ["a"])

    assert refused.value.code is ErrorCode.INVALID_INPUT
    assert (await fresh(store, row)).audience_size == 5


async def test_a_large_synthetic_audience(store: Store) -> None:
    """A synthetic audience of 200,000 profiles is made whole, all PENDING."""
    row = await communications.create(
        store,
        Kind.EMAIL,
        name="Benchmark",
        origin=Origin.CAMPAIGN,
        content=dict(CONTENT[Kind.EMAIL]),
        audience_size=200_000,
        actor=ACTOR,
    )

    assert (row.audience_size, row.pending_count, row.synthetic_audience) == (
        200_000,
        200_000,
        True,
    )
    async with store.sessions() as session:
        found = await session.exec(
            select(Recipient.state, func.count(), func.count(func.distinct(Recipient.profile_id)))
            .where(col(Recipient.communication_id) == row.id)
            .group_by(col(Recipient.state))
        )
        assert found.all() == [("PENDING", 200_000, 200_000)]


# --- display events --------------------------------------------------------------------------


async def display(store: Store, kind: Kind) -> Communication:
    row = await communications.create(
        store,
        kind,
        name="Banner",
        origin=Origin.CAMPAIGN,
        content=dict(CONTENT[kind]),
        audience_size=None,
        actor=ACTOR,
    )
    return await changes.apply(store, row.id, Action.LAUNCH, by=Trigger.PERSON, actor=ACTOR)


def shown(*items: tuple[str, Display]) -> list[DisplayEvent]:
    at = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
    return [DisplayEvent(recipient, kind, at, uuid.uuid4().hex) for recipient, kind in items]


DISPLAY_NAMES = {
    Kind.DYNAMIC_CONTENT: "dynamicContent",
    Kind.IN_APP: "inApp",
    Kind.SCREEN_VIEW: "screenView",
}


@pytest.mark.parametrize("kind", DISPLAY_KINDS)
async def test_display_events_are_counted_while_active(store: Store, kind: Kind) -> None:
    """Shows and clicks count while ACTIVE, each recorded under the channel's event name."""
    row = await display(store, kind)

    counted, outcomes = await deliveries.record_display(
        store,
        row.id,
        shown(("a", Display.SHOW), ("b", Display.SHOW), ("a", Display.CLICK)),
    )

    assert all(o.applied for o in outcomes)
    assert (counted.shown_count, counted.clicked_count) == (2, 1)
    prefix = DISPLAY_NAMES[kind]
    assert [(e.recipient_id, e.name) for e in await events(store, row)] == [
        ("a", f"{prefix}.show"),
        ("b", f"{prefix}.show"),
        ("a", f"{prefix}.click"),
    ]


@pytest.mark.parametrize("kind", DISPLAY_KINDS)
async def test_display_events_while_paused_are_not_collected(store: Store, kind: Kind) -> None:
    """While PAUSED every show and click is refused per item and nothing is counted."""
    row = await display(store, kind)
    await deliveries.record_display(store, row.id, shown(("a", Display.SHOW)))
    await changes.apply(store, row.id, Action.PAUSE, by=Trigger.PERSON, actor=ACTOR)
    seen = await snapshot(store, row)

    current, outcomes = await deliveries.record_display(
        store, row.id, shown(("b", Display.SHOW), ("b", Display.CLICK))
    )

    assert [(o.recipient_id, o.applied, o.code) for o in outcomes] == [
        ("b", False, "NOT_COLLECTED"),
        ("b", False, "NOT_COLLECTED"),
    ]
    assert (current.status, current.shown_count, current.clicked_count) == (Status.PAUSED, 1, 0)
    assert await snapshot(store, row) == seen


async def test_display_events_in_draft_are_not_collected(store: Store) -> None:
    """Before it is live, a display communication counts nothing."""
    row = await communications.create(
        store,
        Kind.IN_APP,
        name="Banner",
        origin=Origin.CAMPAIGN,
        content=dict(CONTENT[Kind.IN_APP]),
        audience_size=None,
        actor=ACTOR,
    )

    current, outcomes = await deliveries.record_display(store, row.id, shown(("a", Display.SHOW)))

    assert [(o.applied, o.code) for o in outcomes] == [(False, "NOT_COLLECTED")]
    assert current.shown_count == 0
    assert await events(store, row) == []


async def test_display_event_without_utc_offset_is_refused_alone(store: Store) -> None:
    """A display event with a naive time is refused; the good ones in the call count."""
    row = await display(store, Kind.IN_APP)
    naive = DisplayEvent("a", Display.SHOW, datetime(2026, 3, 1, 9, 0), "naive")

    current, outcomes = await deliveries.record_display(
        store, row.id, [naive, *shown(("b", Display.SHOW))]
    )

    assert [(o.applied, o.code) for o in outcomes] == [(False, "INVALID_INPUT"), (True, None)]
    assert current.shown_count == 1


@pytest.mark.parametrize("kind", MESSAGE_KINDS)
async def test_message_campaigns_refuse_display_events(store: Store, kind: Kind) -> None:
    """Email, SMS and push campaigns have no display events to record."""
    row = await sending(store, ids(2), kind=kind)

    with pytest.raises(Refused) as refused:
        await deliveries.record_display(store, row.id, shown(("a", Display.SHOW)))

    assert refused.value.code is ErrorCode.INVALID_INPUT
    assert await events(store, row) == []


async def test_display_communications_have_no_recipients_to_claim(store: Store) -> None:
    """Claims are for message campaigns only."""
    row = await display(store, Kind.IN_APP)

    with pytest.raises(Refused) as refused:
        await claim(store, row, 1)

    assert refused.value.code is ErrorCode.INVALID_INPUT


# --- reading events --------------------------------------------------------------------------


async def test_delivery_events_filter_and_page(store: Store) -> None:
    """Events can be filtered by name and recipient and read page by page, oldest first."""
    row = await sending(store, ids(5))
    out = await claim(store, row, 3)
    await report(store, row, out)
    await changes.stop(store, row.id, actor=ACTOR)  # the two still PENDING get notSent

    sent, more = await deliveries.events(
        store, row.id, names=["message.send"], recipient_id=None, after=(0, 0), first=10
    )
    assert ([e.recipient_id for _, e in sent], more) == (out, False)
    one, _ = await deliveries.events(
        store, row.id, names=None, recipient_id="profile-005", after=(0, 0), first=10
    )
    assert [(e.recipient_id, e.name) for _, e in one] == [("profile-005", "message.notSent")]

    page, more = await deliveries.events(
        store, row.id, names=None, recipient_id=None, after=(0, 0), first=4
    )
    assert more
    rest, more = await deliveries.events(
        store, row.id, names=None, recipient_id=None, after=page[-1][0], first=10
    )
    assert not more
    assert [e.recipient_id for _, e in page + rest] == ids(5)


@pytest.mark.parametrize("size", [1, 2, 3, 7])
async def test_a_stopped_campaigns_events_read_page_by_page_in_order(
    store: Store, size: int
) -> None:
    """Pages of any size walk a stopped campaign's events once each, in order: the sends,
    a not-sent event per recipient still out (held or pending), then what came after."""
    row = await sending(store, ids(8))
    out = await claim(store, row, 3)
    at = utcnow()
    held = await leases(store, row)
    await deliveries.report(
        store,
        row.id,
        [Report(out[0], held[out[0]] or "", Delivery.SENT, None, at, "pm-1")],
        actor=WORKER,
    )
    await changes.stop(store, row.id, actor=ACTOR)
    after = ProviderEvent("e-1", "pm-1", After.DELIVERED, utcnow())
    assert [o.applied for o in await deliveries.record_provider_events(store, [after])] == [True]

    read: list[tuple[str, str]] = []
    cursor, more = (0, 0), True
    while more:
        page, more = await deliveries.events(
            store, row.id, names=None, recipient_id=None, after=cursor, first=size
        )
        read += [(e.recipient_id, e.name) for _, e in page]
        cursor = page[-1][0] if page else cursor

    assert read == [(out[0], "message.send")] + [
        (r, "message.notSent") for r in ids(8) if r != out[0]
    ] + [(out[0], "message.delivered")]


async def test_a_stop_ends_what_leases_hold(store: Store) -> None:
    """After a stop, a recovering worker's leases hold nobody: those recipients are NOT_SENT."""
    row = await sending(store, ids(4))
    await claim(store, row, 2)
    lease_ids = [i for i in (await leases(store, row)).values() if i]
    assert len(await deliveries.held(store, lease_ids)) == 2

    await changes.stop(store, row.id, actor=ACTOR)

    assert await deliveries.held(store, lease_ids) == []
    assert set((await deliveries.states(store, row.id)).values()) == {Delivery.NOT_SENT}


# --- edges -----------------------------------------------------------------------------------


async def test_an_empty_audience_finishes_on_the_first_claim(store: Store) -> None:
    """A campaign launched with nobody to send to finishes as soon as a worker asks for work."""
    row = await sending(store, [])

    assert await claim(store, row, 10) == []

    now = await assert_counters_add_up(store, row)
    assert (now.status, now.audience_size) == (Status.FINISHED, 0)


async def test_stop_dry_run_of_a_draft_is_refused(store: Store) -> None:
    """A dry run is refused exactly where the stop would be."""
    row = await campaign(store, ids(2))

    with pytest.raises(Refused) as refused:
        await changes.stop(store, row.id, actor=ACTOR, dry_run=True)

    assert refused.value.code is ErrorCode.INVALID_TRANSITION


async def test_stop_dry_run_with_a_stale_version_is_a_conflict(store: Store) -> None:
    """A dry run checks expectedVersion as the stop would."""
    row = await sending(store, ids(2))

    with pytest.raises(Refused) as refused:
        await changes.stop(store, row.id, actor=ACTOR, dry_run=True, expected_version=1)

    assert refused.value.code is ErrorCode.VERSION_CONFLICT


async def test_reports_over_the_cap_are_refused_whole(store: Store) -> None:
    """More than 1,000 results in one report are refused and nothing is recorded."""
    row = await sending(store, ids(3))
    out = await claim(store, row, 1)
    seen = await snapshot(store, row)
    at = utcnow()

    with pytest.raises(Refused) as refused:
        await deliveries.report(
            store, row.id, [Report(out[0], "lease", Delivery.SENT, None, at)] * 1_001, actor=WORKER
        )

    assert (refused.value.code, refused.value.field) == (ErrorCode.INVALID_INPUT, ["results"])
    assert await snapshot(store, row) == seen


async def test_a_duplicate_starts_with_the_whole_audience_pending(store: Store) -> None:
    """Duplicating a stopped campaign copies its recipients, all PENDING, with fresh counters."""
    row = await sending(store, ids(4))
    out = await claim(store, row, 2)
    await report(store, row, out[:1])
    await changes.stop(store, row.id, actor=ACTOR)

    copy = await communications.duplicate(store, row.id, name=None, actor=ACTOR)

    assert await states(store, copy) == dict.fromkeys(ids(4), "PENDING")
    now = await assert_counters_add_up(store, copy)
    assert (now.status, now.pending_count, now.sent_count, now.not_sent_count) == (
        Status.DRAFT,
        4,
        0,
        0,
    )
    assert await events(store, copy) == []


# --- races -----------------------------------------------------------------------------------


async def test_stop_racing_claims_and_reports_leaves_one_outcome_each(store: Store) -> None:
    """A stop arriving amid claims and reports still leaves every recipient one final outcome."""
    audience = ids(60)
    row = await sending(store, audience)
    out = await claim(store, row, 20)

    async def quietly(work: Awaitable[object]) -> None:
        with suppress(Refused):  # a claim after the stop is refused: that is fine
            await work

    await asyncio.gather(
        quietly(report(store, row, out[:10])),
        quietly(claim(store, row, 10, worker="worker-2")),
        quietly(changes.stop(store, row.id, actor=ACTOR)),
        quietly(report(store, row, out[10:20])),
        quietly(claim(store, row, 10, worker="worker-3")),
    )

    now = await assert_counters_add_up(store, row)
    assert now.status == Status.STOPPED
    assert (now.pending_count, now.handed_off_count) == (0, 0)
    assert set((await states(store, row)).values()) <= {Delivery.SENT, Delivery.NOT_SENT}
    await assert_one_final_event_each(store, row)


async def test_two_workers_reporting_the_same_recipient_record_it_once(store: Store) -> None:
    """The same outcome reported by two workers at once is recorded once."""
    row = await sending(store, ids(20))
    out = await claim(store, row, 10)

    results = await asyncio.gather(*(report(store, row, out) for _ in range(5)))

    applied = Counter(o.recipient_id for outcomes in results for o in outcomes if o.applied)
    assert applied == dict.fromkeys(out, 1)
    now = await assert_counters_add_up(store, row)
    assert now.sent_count == 10
    await assert_one_final_event_each(store, row)


async def test_a_slow_workers_report_after_its_lease_ended_still_counts(store: Store) -> None:
    """A worker reporting after its lease ran out still records the send; nobody resends it."""
    row = await sending(store, ids(4))
    claimed = await deliveries.claim(
        store, row.id, limit=2, worker_id="slow", lease=timedelta(milliseconds=1), actor="slow"
    )
    slow = [c.recipient_id for c in claimed]
    await wait_past(max(c.lease_until for c in claimed))
    assert await deliveries.requeue_expired(store) == 2

    outcomes = await report(store, row, slow)
    again = await claim(store, row, 10, worker="worker-2")

    assert all(o.applied for o in outcomes)
    assert set(again).isdisjoint(slow)
    now = await assert_counters_add_up(store, row)
    assert (now.sent_count, now.handed_off_count, now.status) == (2, 2, Status.FINISHED)
    await assert_one_final_event_each(store, row)
