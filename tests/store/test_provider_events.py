"""Outcomes as providers report them: message ids, failure classes, events after the send
matched by message id and counted once per event id, on SQLite and PostgreSQL."""

import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from store import Store, changes, deliveries
from store.audience import AFTER_EVENT, ID_MAX, After, Delivery, Failure
from store.deliveries import (
    AFTER_COUNTER,
    INFO_MAX,
    Claimed,
    Display,
    DisplayEvent,
    ProviderEvent,
    Report,
)
from store.errors import ErrorCode
from store.lifecycle import Kind, Status
from store.tables import Communication
from tests.store.test_deliveries import (
    ACTOR,
    LEASE,
    assert_counters_add_up,
    assert_one_final_event_each,
    display,
    events,
    fresh,
    ids,
    sending,
    snapshot,
    states,
)

AT = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


async def take(store: Store, row: Communication, limit: int) -> list[Claimed]:
    return await deliveries.claim(store, row.id, limit=limit, worker_id="w", lease=LEASE, actor="w")


async def sent_with_ids(store: Store, row: Communication, claimed: list[Claimed]) -> list[str]:
    """Report every claimed recipient SENT with a provider message id; the ids."""
    reports = [
        Report(
            c.recipient_id,
            c.lease_id,
            Delivery.SENT,
            None,
            AT,
            provider_message_id=f"msg-{row.id}-{c.recipient_id}",
        )
        for c in claimed
    ]
    _, outcomes = await deliveries.report(store, row.id, reports, actor="w")
    assert all(o.applied for o in outcomes)
    return [r.provider_message_id or "" for r in reports]


def event(provider_id: str, type: After, event_id: str | None = None) -> ProviderEvent:
    return ProviderEvent(event_id or uuid.uuid4().hex, provider_id, type, AT + timedelta(hours=1))


async def assert_counters_equal_events(store: Store, row: Communication) -> Communication:
    """Each after-send counter equals the number of its events in the log."""
    now = await fresh(store, row)
    names = Counter(e.name for e in await events(store, row))
    kind = Kind(row.kind)
    for after, column in AFTER_COUNTER.items():
        assert getattr(now, column) == names[AFTER_EVENT[kind][after]], column
    return now


# --- the report --------------------------------------------------------------------------------


async def test_a_report_carries_the_providers_id_failure_and_time(store: Store) -> None:
    """A report's provider message id, failure class and code, and time at the provider are
    on the outcome's event; the message id stays with the recipient for later webhooks."""
    row = await sending(store, ids(3))
    a, b = await take(store, row, 2)

    _, outcomes = await deliveries.report(
        store,
        row.id,
        [
            Report(a.recipient_id, a.lease_id, Delivery.SENT, None, AT, provider_message_id="m1"),
            Report(
                b.recipient_id,
                b.lease_id,
                Delivery.NOT_SENT,
                "mailbox does not exist",
                AT,
                provider_message_id="m2",
                failure=Failure.HARD_BOUNCE,
                failure_code="550 5.1.1",
            ),
        ],
        actor="w",
    )

    assert all(o.applied for o in outcomes)
    found = [
        (e.recipient_id, e.name, e.at, e.provider_message_id, e.failure_class, e.failure_code)
        for e in await events(store, row)
    ]
    assert found == [
        (a.recipient_id, "message.send", AT, "m1", None, None),
        (b.recipient_id, "message.notSent", AT, "m2", "HARD_BOUNCE", "550 5.1.1"),
    ]
    await assert_counters_add_up(store, row)


@pytest.mark.parametrize(
    ("outcome", "extra"),
    [
        (Delivery.SENT, {"failure": Failure.REJECTED}),
        (Delivery.SENT, {"failure_code": "421"}),
        (Delivery.NOT_SENT, {"provider_message_id": ""}),
        (Delivery.NOT_SENT, {"provider_message_id": "x" * (ID_MAX + 1)}),
        (Delivery.NOT_SENT, {"failure_code": "c" * (ID_MAX + 1)}),
    ],
)
async def test_a_contradictory_or_oversized_provider_detail_is_refused(
    store: Store, outcome: Delivery, extra: dict[str, object]
) -> None:
    """A failure on a SENT, or an empty or oversized provider id or code, is INVALID_INPUT
    for that item and nothing is written."""
    row = await sending(store, ids(2))
    (a,) = await take(store, row, 1)
    seen = await snapshot(store, row)

    _, outcomes = await deliveries.report(
        store,
        row.id,
        [Report(a.recipient_id, a.lease_id, outcome, None, AT, **extra)],  # type: ignore[arg-type]
        actor="w",
    )

    assert [(o.applied, o.code) for o in outcomes] == [(False, ErrorCode.INVALID_INPUT)]
    assert await snapshot(store, row) == seen


# --- events after the send ---------------------------------------------------------------------


async def test_webhook_events_are_matched_by_provider_id_across_campaigns(store: Store) -> None:
    """One bulk call of events from two campaigns (email and SMS) lands each on its
    recipient under the channel's name, counts it, and leaves SENT as it was."""
    mail = await sending(store, ids(2, prefix="m"))
    sms = await sending(store, ids(2, prefix="s"), kind=Kind.SMS)
    m1, m2 = await sent_with_ids(store, mail, await take(store, mail, 2))
    (s1, _) = await sent_with_ids(store, sms, await take(store, sms, 2))
    batch = [
        event(m1, After.DELIVERED),
        event(m1, After.OPENED),
        event(m1, After.CLICKED),
        event(m2, After.BOUNCED),
        event(m2, After.COMPLAINED),
        event(m2, After.UNSUBSCRIBED),
        event(s1, After.DEFERRED),
        event(s1, After.DELIVERED),
    ]

    outcomes = await deliveries.record_provider_events(store, batch)

    assert all(o.applied for o in outcomes)
    assert [(o.communication_id, o.recipient_id) for o in outcomes[:4]] == [
        (mail.id, "m-001"),
        (mail.id, "m-001"),
        (mail.id, "m-001"),
        (mail.id, "m-002"),
    ]
    now = await assert_counters_equal_events(store, mail)
    assert (now.delivered_count, now.opened_count, now.clicked_count) == (1, 1, 1)
    assert (now.bounced_count, now.complained_count, now.unsubscribed_count) == (1, 1, 1)
    assert (now.sent_count, now.not_sent_count) == (2, 0)  # a bounce after SENT stays SENT
    assert set((await states(store, mail)).values()) == {Delivery.SENT}
    other = await assert_counters_equal_events(store, sms)
    assert (other.deferred_count, other.delivered_count) == (1, 1)
    assert [e.name for e in await events(store, sms)][-2:] == ["sms.deferred", "sms.delivered"]
    await assert_one_final_event_each(store, mail)


async def test_a_repeated_event_id_is_ignored(store: Store) -> None:
    """A webhook delivered twice, or twice in one call, counts once; the repeat says so."""
    row = await sending(store, ids(1))
    (m1,) = await sent_with_ids(store, row, await take(store, row, 1))
    batch = [event(m1, After.OPENED, "ev-1"), event(m1, After.OPENED, "ev-1")]

    first = await deliveries.record_provider_events(store, batch)
    again = await deliveries.record_provider_events(store, batch[:1])

    assert [(o.applied, o.message) for o in first] == [(True, None), (False, "already recorded")]
    assert [(o.applied, o.message) for o in again] == [(False, "already recorded")]
    now = await assert_counters_equal_events(store, row)
    assert now.opened_count == 1


async def test_events_the_store_cannot_place_are_refused_per_item(store: Store) -> None:
    """Unknown and shared provider ids, and NOT_SENT recipients, are refused one by one,
    while the good event of the same call counts."""
    a = await sending(store, ids(2, prefix="a"))
    b = await sending(store, ids(1, prefix="b"))
    ca = await take(store, a, 2)
    (cb,) = await take(store, b, 1)
    reports = [
        Report(ca[0].recipient_id, ca[0].lease_id, Delivery.SENT, None, AT, "shared"),
        Report(ca[1].recipient_id, ca[1].lease_id, Delivery.NOT_SENT, None, AT, "refused-msg"),
    ]
    await deliveries.report(store, a.id, reports, actor="w")
    shared = Report(cb.recipient_id, cb.lease_id, Delivery.SENT, None, AT, "shared")
    await deliveries.report(store, b.id, [shared], actor="w")

    outcomes = await deliveries.record_provider_events(
        store,
        [
            event("nobody", After.DELIVERED),
            event("shared", After.DELIVERED),
            event("refused-msg", After.OPENED),
        ],
    )

    assert [o.code for o in outcomes] == [
        ErrorCode.UNKNOWN_MESSAGE,
        ErrorCode.AMBIGUOUS_MESSAGE,
        ErrorCode.OUTCOME_NOT_SENT,
    ]
    for row in (a, b):
        assert (await assert_counters_equal_events(store, row)).delivered_count == 0


async def test_events_after_a_stop_still_count(store: Store) -> None:
    """Opens and clicks keep coming after a campaign is stopped; they count, SENT stays."""
    row = await sending(store, ids(3))
    (m1,) = await sent_with_ids(store, row, await take(store, row, 1))
    await changes.stop(store, row.id, actor=ACTOR)

    (outcome,) = await deliveries.record_provider_events(store, [event(m1, After.CLICKED)])

    assert outcome.applied
    now = await assert_counters_equal_events(store, row)
    assert (now.status, now.clicked_count, now.sent_count) == (Status.STOPPED, 1, 1)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    bad=st.one_of(
        st.builds(lambda: {"event_id": ""}),
        st.text(min_size=ID_MAX + 1, max_size=ID_MAX + 20).map(lambda t: {"event_id": t}),
        st.text(min_size=ID_MAX + 1, max_size=ID_MAX + 20).map(
            lambda t: {"provider_message_id": t}
        ),
        st.text(max_size=20).map(lambda t: {"provider_message_id": t + "\x00"}),
        st.datetimes().map(lambda d: {"at": d}),  # no offset
        st.text(min_size=INFO_MAX + 1, max_size=INFO_MAX + 5).map(lambda t: {"info": t}),
    )
)
async def test_any_malformed_event_is_refused_and_counts_nothing(
    store: Store, bad: dict[str, object]
) -> None:
    """Generated bad events (blank or oversized ids, naive times, oversized info) are each
    INVALID_INPUT and change no counter."""
    row = await sending(store, ids(1))
    (pid,) = await sent_with_ids(store, row, await take(store, row, 1))
    fields: dict[str, object] = {
        "event_id": uuid.uuid4().hex,
        "provider_message_id": pid,
        "type": After.OPENED,
        "at": AT,
        "info": None,
    }
    fields.update(bad)

    outcomes = await deliveries.record_provider_events(store, [ProviderEvent(**fields)])  # type: ignore[arg-type]

    assert [(o.applied, o.code) for o in outcomes] == [(False, ErrorCode.INVALID_INPUT)]
    assert (await assert_counters_equal_events(store, row)).opened_count == 0


# --- display events ----------------------------------------------------------------------------


async def test_a_retried_display_call_counts_once(store: Store) -> None:
    """recordDisplayEvents sent again with the same event ids counts nothing the second time."""
    shown = await display(store, Kind.IN_APP)
    batch = [
        DisplayEvent("a", Display.SHOW, AT, "d1"),
        DisplayEvent("a", Display.CLICK, AT, "d2"),
        DisplayEvent("a", Display.CLICK, AT, "d2"),
    ]

    _, first = await deliveries.record_display(store, shown.id, batch)
    now, again = await deliveries.record_display(store, shown.id, batch)

    assert [o.applied for o in first] == [True, True, False]
    assert [o.applied for o in again] == [False, False, False]
    assert (now.shown_count, now.clicked_count) == (1, 1)
    assert len(await events(store, shown)) == 2
