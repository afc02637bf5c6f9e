"""Leases that protect the data: fencing by lease id, renewal, release, recovery, and
claimNext's turns across campaigns, on SQLite and PostgreSQL."""

from datetime import timedelta

import pytest

from store import Store, changes, communications, deliveries
from store.audience import Delivery
from store.deliveries import Claimed, Leased
from store.errors import ErrorCode, Refused
from store.lifecycle import Kind, Status
from store.tables import Communication
from tests.factories import CONTENT
from tests.store.test_deliveries import (
    ACTOR,
    LEASE,
    assert_counters_add_up,
    assert_one_final_event_each,
    events,
    fresh,
    ids,
    report,
    sending,
    states,
    wait_past,
)

SHORT = timedelta(milliseconds=1)


async def take(
    store: Store, row: Communication, limit: int, worker: str, lease: timedelta = LEASE
) -> list[Claimed]:
    return await deliveries.claim(
        store, row.id, limit=limit, worker_id=worker, lease=lease, actor=worker
    )


async def expired(store: Store, claimed: list[Claimed]) -> None:
    """Let these leases run out and the scheduler's requeue run."""
    await wait_past(max(c.lease_until for c in claimed))
    await deliveries.requeue_expired(store)


def held_by(claimed: list[Claimed]) -> list[Leased]:
    return [Leased(c.recipient_id, c.lease_id) for c in claimed]


# --- fencing -----------------------------------------------------------------------------------


async def test_a_superseded_lease_never_wins(store: Store) -> None:
    """A worker whose lease expired and whose recipients were claimed again reports too late:
    its NOT_SENT is refused with STALE_LEASE, and the new holder's SENT stands."""
    row = await sending(store, ids(3))
    old = await take(store, row, 2, "slow", SHORT)
    await expired(store, old)
    new = await take(store, row, 2, "fast")
    assert [c.recipient_id for c in new] == [c.recipient_id for c in old]

    stale = await report(
        store, row, [c.recipient_id for c in old], Delivery.NOT_SENT, lease=old[0].lease_id
    )
    fresh_ = await report(store, row, [c.recipient_id for c in new], lease=new[0].lease_id)

    assert [(o.applied, o.code) for o in stale] == [(False, ErrorCode.STALE_LEASE)] * 2
    assert [(o.applied, o.code) for o in fresh_] == [(True, None)] * 2
    assert {r: s for r, s in (await states(store, row)).items() if s != "PENDING"} == {
        c.recipient_id: Delivery.SENT for c in new
    }
    await assert_counters_add_up(store, row)
    await assert_one_final_event_each(store, row)


async def test_a_stale_lease_cannot_touch_a_recipient_reported_by_its_successor(
    store: Store,
) -> None:
    """After the new holder reported, the old lease's contradicting report is STALE_LEASE,
    not a conflict that could be mistaken for the old worker's own outcome."""
    row = await sending(store, ids(2))
    old = await take(store, row, 1, "slow", SHORT)
    await expired(store, old)
    new = await take(store, row, 1, "fast")
    await report(store, row, [new[0].recipient_id], Delivery.SENT, lease=new[0].lease_id)

    late = await report(store, row, [old[0].recipient_id], Delivery.SENT, lease=old[0].lease_id)

    assert [(o.applied, o.code) for o in late] == [(False, ErrorCode.STALE_LEASE)]
    assert len(await events(store, row)) == 1


async def test_each_claim_gets_its_own_lease(store: Store) -> None:
    """One lease id per claim, shared by its batch; two claims never share one."""
    row = await sending(store, ids(4))
    first = await take(store, row, 2, "w1")
    second = await take(store, row, 2, "w2")

    assert len({c.lease_id for c in first}) == len({c.lease_id for c in second}) == 1
    assert first[0].lease_id != second[0].lease_id
    assert {c.communication_id for c in first + second} == {row.id}


# --- renewal and release -----------------------------------------------------------------------


async def test_a_renewed_lease_outlives_its_first_end(store: Store) -> None:
    """A heartbeat pushes the lease's end; after the first end the recipients stay held."""
    row = await sending(store, ids(3))
    claimed = await take(store, row, 2, "w1", timedelta(milliseconds=300))

    outcomes = await deliveries.renew(store, row.id, held_by(claimed), lease=LEASE)
    await wait_past(max(c.lease_until for c in claimed))

    assert all(o.applied and o.lease_until is not None for o in outcomes)
    assert all(o.lease_until > claimed[0].lease_until for o in outcomes if o.lease_until)
    assert await deliveries.requeue_expired(store) == 0
    now = await assert_counters_add_up(store, row)
    assert (now.pending_count, now.handed_off_count) == (1, 2)


async def test_renewal_and_release_are_refused_per_item(store: Store) -> None:
    """Only the lease that holds a recipient renews or releases it; the rest are refused
    one by one, naming why, and the good items of the same call apply."""
    row = await sending(store, ids(5))
    gone = await take(store, row, 1, "gone", SHORT)
    await expired(store, gone)  # profile-001 PENDING again, nobody holds it
    mine = await take(store, row, 3, "w1")  # profile-001..003
    await report(store, row, [mine[2].recipient_id], lease=mine[0].lease_id)  # profile-003 SENT
    items = [
        Leased("profile-001", gone[0].lease_id),  # superseded
        Leased("profile-004", mine[0].lease_id),  # never claimed
        Leased("profile-003", mine[0].lease_id),  # already SENT
        Leased("stranger", mine[0].lease_id),
        Leased("profile-002", mine[0].lease_id),  # held: applies
    ]
    codes = [
        ErrorCode.STALE_LEASE,
        ErrorCode.NOT_CLAIMED,
        ErrorCode.LEASE_ENDED,
        ErrorCode.UNKNOWN_RECIPIENT,
        None,
    ]

    renewed = await deliveries.renew(store, row.id, items, lease=LEASE)
    released = await deliveries.release(store, row.id, items)

    assert [o.code for o in renewed] == codes
    assert [o.code for o in released] == codes
    found = await states(store, row)
    assert (found["profile-001"], found["profile-002"]) == (Delivery.HANDED_OFF, Delivery.PENDING)
    await assert_counters_add_up(store, row)


async def test_released_recipients_go_to_the_next_claim(store: Store) -> None:
    """A deferral: released recipients are PENDING and the next claim hands them out."""
    row = await sending(store, ids(3))
    claimed = await take(store, row, 2, "w1")

    outcomes = await deliveries.release(store, row.id, held_by(claimed))

    assert all(o.applied for o in outcomes)
    now = await assert_counters_add_up(store, row)
    assert (now.pending_count, now.handed_off_count, now.status) == (3, 0, Status.SENDING)
    again = await take(store, row, 3, "w2")
    assert [c.recipient_id for c in again] == ids(3)
    assert (await fresh(store, row)).status == Status.FINISHED


async def test_release_after_finished_makes_them_claimable_again(store: Store) -> None:
    """Released in FINISHED, recipients are PENDING again and claimed again; no new finish."""
    row = await sending(store, ids(2))
    claimed = await take(store, row, 2, "w1")
    assert (await fresh(store, row)).status == Status.FINISHED

    await deliveries.release(store, row.id, held_by(claimed[:1]))
    again = await take(store, row, 5, "w2")

    assert [c.recipient_id for c in again] == ["profile-001"]
    assert (await fresh(store, row)).status == Status.FINISHED
    await assert_counters_add_up(store, row)


async def test_renewal_of_a_stopped_campaign_is_an_invalid_transition(store: Store) -> None:
    """After a stop nobody holds anything: renewals and releases are refused as a whole."""
    row = await sending(store, ids(2))
    claimed = await take(store, row, 1, "w1")
    await changes.stop(store, row.id, actor=ACTOR)

    for attempt in (
        deliveries.renew(store, row.id, held_by(claimed), lease=LEASE),
        deliveries.release(store, row.id, held_by(claimed)),
    ):
        with pytest.raises(Refused) as refused:
            await attempt
        assert refused.value.code is ErrorCode.INVALID_TRANSITION


# --- recovery ----------------------------------------------------------------------------------


async def test_a_restarted_worker_finds_what_its_leases_still_hold(store: Store) -> None:
    """Listing by lease ids gives the recipients still HANDED_OFF under them, across
    campaigns; reported and superseded ones are gone from the list."""
    a = await sending(store, ids(4))
    b = await sending(store, ids(2, prefix="other"))
    first = await take(store, a, 2, "w1")
    second = await take(store, b, 2, "w1")
    short = await take(store, a, 1, "w1", SHORT)
    await report(store, a, [first[0].recipient_id], lease=first[0].lease_id)
    await expired(store, short)
    await take(store, a, 1, "w2")  # supersedes `short`

    found = await deliveries.held(
        store, [first[0].lease_id, second[0].lease_id, short[0].lease_id, "unknown"]
    )

    assert [(c.communication_id, c.recipient_id, c.lease_id) for c in found] == [
        (a.id, first[1].recipient_id, first[1].lease_id),
        (b.id, "other-001", second[0].lease_id),
        (b.id, "other-002", second[0].lease_id),
    ]
    with pytest.raises(Refused) as refused:
        await deliveries.held(store, [f"lease-{n}" for n in range(deliveries.LEASES_MAX + 1)])
    assert refused.value.field == ["leaseIds"]


# --- claimNext ---------------------------------------------------------------------------------


async def next_batch(store: Store, kinds: list[Kind], limit: int = 2) -> list[Claimed]:
    return await deliveries.claim_next(
        store, kinds, limit=limit, worker_id="w", lease=LEASE, actor="w"
    )


async def test_claim_next_takes_turns_across_campaigns_oldest_first(store: Store) -> None:
    """Each call serves the campaign served longest ago, never-served oldest first, so three
    campaigns take turns however big each is."""
    rows = [await sending(store, ids(6, prefix=name)) for name in ("a", "b", "c")]

    served = [(await next_batch(store, [Kind.EMAIL]))[0].communication_id for _ in range(7)]

    a, b, c = (r.id for r in rows)
    assert served == [a, b, c, a, b, c, a]


async def test_claim_next_serves_only_the_kinds_asked_for(store: Store) -> None:
    """An SMS worker gets SMS recipients only; an email campaign waits for an email worker."""
    await sending(store, ids(2, prefix="mail"))
    sms = await sending(store, ids(2, prefix="sms"), kind=Kind.SMS)

    got = await next_batch(store, [Kind.SMS, Kind.WEB_PUSH], limit=10)

    assert {(c.communication_id, c.recipient_id) for c in got} == {
        (sms.id, "sms-001"),
        (sms.id, "sms-002"),
    }
    assert await next_batch(store, [Kind.SMS]) == []


async def test_claim_next_picks_up_a_finished_campaigns_stranded_recipients(
    store: Store,
) -> None:
    """A FINISHED campaign whose worker died holding the last batch is served again."""
    row = await sending(store, ids(2))
    lost = await take(store, row, 2, "gone", SHORT)
    assert (await fresh(store, row)).status == Status.FINISHED
    await wait_past(max(c.lease_until for c in lost))  # no requeue ran: claimNext does it

    got = await next_batch(store, [Kind.EMAIL], limit=10)

    assert [c.recipient_id for c in got] == ids(2)
    assert got[0].lease_id != lost[0].lease_id
    await assert_counters_add_up(store, row)


async def test_claim_next_skips_draft_stopped_and_display_campaigns(store: Store) -> None:
    """Only SENDING and FINISHED message campaigns have work; display kinds are refused."""
    stopped = await sending(store, ids(2, prefix="s"))
    await changes.stop(store, stopped.id, actor=ACTOR)
    await communications.create(
        store,
        Kind.EMAIL,
        name="draft",
        origin="CAMPAIGN",
        content=dict(CONTENT[Kind.EMAIL]),
        audience_size=None,
        actor=ACTOR,
        recipients=ids(2, prefix="d"),
    )

    assert await next_batch(store, [Kind.EMAIL]) == []
    for kinds in ([], [Kind.IN_APP]):
        with pytest.raises(Refused) as refused:
            await next_batch(store, kinds)
        assert refused.value.field == ["kinds"]


async def test_claim_next_launched_later_still_gets_turns(store: Store) -> None:
    """A campaign launched while another is being served gets the next turn."""
    busy = await sending(store, ids(10, prefix="busy"))
    await next_batch(store, [Kind.EMAIL])
    late = await sending(store, ids(2, prefix="late"))

    got = await next_batch(store, [Kind.EMAIL])

    assert {c.communication_id for c in got} == {late.id}
    assert busy.id != late.id


async def test_claim_next_leaves_a_campaign_held_by_live_workers_alone(store: Store) -> None:
    """A FINISHED campaign whose recipients are all held under running leases is no work:
    claimNext neither claims from it nor counts it as served."""
    held = await sending(store, ids(2, prefix="held"))
    await take(store, held, 2, "w1")
    seen = await fresh(store, held)
    waiting = await sending(store, ids(1, prefix="wait"))

    got = await next_batch(store, [Kind.EMAIL])

    assert {c.communication_id for c in got} == {waiting.id}
    assert (await fresh(store, held)).claimed_at == seen.claimed_at
    assert await next_batch(store, [Kind.EMAIL]) == []
