"""Webhook endpoints in the store: one lease holder at a time, a cursor that only its
holder moves and a replay resets, filters, backlog, and URLs that may not reach inside."""

import asyncio
import ipaddress
from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from store import Store, changes, webhooks
from store.errors import ErrorCode, Refused
from store.lifecycle import Kind
from tests import factories

LEASE = timedelta(seconds=30)
RETRY = webhooks.Retry(first=1, most=8, period=3600)


async def settled(store: Store) -> None:
    """Until every committed change is readable: on PostgreSQL a transaction still running
    anywhere on the server (other tests' too) holds the stream's horizon back a moment."""
    async with asyncio.timeout(10):
        while True:
            _, waiting = await changes.changes_after(store, (0, 0), limit=1_000_000)
            if not waiting:
                return
            await asyncio.sleep(0.01)


async def _endpoint(store: Store, **filters: list[str]) -> int:
    row, secret = await webhooks.create(
        store, "http://127.0.0.1:9/hook", allow_private=True, **filters
    )
    assert secret.startswith("whsec_") and row.id is not None
    return row.id


async def test_one_lease_holder_at_a_time(store: Store) -> None:
    """While one instance holds an endpoint, another cannot; once the lease runs out, or
    is released, it can."""
    pk = await _endpoint(store)
    assert await webhooks.acquire(store, pk, "a", LEASE) is not None
    assert await webhooks.acquire(store, pk, "b", LEASE) is None
    assert await webhooks.acquire(store, pk, "a", LEASE) is not None  # renewal
    await webhooks.acquire(store, pk, "a", timedelta(seconds=-1))  # as if "a" died long ago
    assert await webhooks.acquire(store, pk, "b", LEASE) is not None
    await webhooks.release(store, pk, "b")
    assert await webhooks.acquire(store, pk, "a", LEASE) is not None


async def test_cursor_moves_for_the_holder_and_replay_wins(store: Store) -> None:
    """Only the lease holder moves the cursor, and only from where it read it: an advance
    racing a replay loses, so the replay is never undone."""
    await factories.create(store, name="before the endpoint")
    await settled(store)
    pk = await _endpoint(store)
    await factories.create(store)
    await settled(store)
    endpoint = await webhooks.acquire(store, pk, "a", LEASE)
    assert endpoint is not None
    [change], _ = await webhooks.next_changes(store, endpoint)
    start = (endpoint.cursor_tx, endpoint.cursor_seq)
    assert not await webhooks.advance(store, pk, "b", change.position, at=start)
    await webhooks.replay(store, pk, (0, 0))
    assert not await webhooks.advance(store, pk, "a", change.position, at=start)
    assert await webhooks.advance(store, pk, "a", change.position, at=(0, 0))
    assert (await webhooks.get(store, pk)).cursor_seq == change.seq


async def test_filters_and_backlog(store: Store) -> None:
    """An endpoint for landing pages passes over other kinds, and its backlog counts only
    what it wants."""
    pk = await _endpoint(store, kinds=[Kind.LANDING_PAGE.value])
    await factories.create(store)
    await settled(store)
    assert await webhooks.backlog(store) == {pk: 0}
    endpoint = await webhooks.acquire(store, pk, "a", LEASE)
    assert endpoint is not None
    assert await webhooks.next_changes(store, endpoint) == ([], False)
    passed = await webhooks.get(store, pk)
    assert passed.cursor_seq > endpoint.cursor_seq  # the email's change was passed over


async def test_failing_after_the_retry_period(store: Store) -> None:
    """Failures back off exponentially; past the retry period the endpoint is FAILING and
    no instance can take it until a replay."""
    pk = await _endpoint(store)
    endpoint = await webhooks.acquire(store, pk, "a", LEASE)
    assert endpoint is not None
    endpoint = await webhooks.failed(store, endpoint, "HTTP 500", RETRY)
    assert (endpoint.attempts, endpoint.state) == (1, webhooks.ACTIVE)
    assert [RETRY.delay(n) for n in range(1, 6)] == [1, 2, 4, 8, 8]
    quick = webhooks.Retry(first=1, most=8, period=0)
    endpoint = await webhooks.failed(store, endpoint, "HTTP 500", quick)
    assert endpoint.state == webhooks.FAILING and endpoint.last_error == "HTTP 500"
    assert await webhooks.acquire(store, pk, "a", LEASE) is None
    await webhooks.replay(store, pk, (0, 0))
    assert await webhooks.acquire(store, pk, "a", LEASE) is not None


async def test_unknown_endpoint(store: Store) -> None:
    """Ids that name no endpoint, or a deleted one, are NOT_FOUND."""
    pk = await _endpoint(store)
    await webhooks.delete(store, pk)
    for missing in (pk, pk + 1, None):
        with pytest.raises(Refused) as refused:
            await webhooks.replay(store, missing, (0, 0))
        assert refused.value.code is ErrorCode.NOT_FOUND


PRIVATE = st.sampled_from(
    ["127.0.0.0/8", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16", "::1/128"]
).flatmap(lambda net: st.ip_addresses(network=net))


@settings(max_examples=50, deadline=None)
@given(address=PRIVATE)
async def test_private_addresses_are_refused(address: ipaddress.IPv4Address) -> None:
    """A URL naming a loopback, private or link-local address is refused unless allowed."""
    host = f"[{address}]" if address.version == 6 else str(address)
    url = f"https://{host}:8443/hook"
    with pytest.raises(Refused) as refused:
        await webhooks.check_url(url, allow_private=False)
    assert refused.value.code is ErrorCode.INVALID_INPUT and "private" in refused.value.message
    assert await webhooks.check_url(url, allow_private=True) == url


@settings(max_examples=50, deadline=None)
@given(url=st.one_of(st.text(max_size=30), st.from_regex(r"\A(ftp|file|gopher)://[a-z]{1,8}/\Z")))
async def test_malformed_urls_are_refused(url: str) -> None:
    """Anything but an http(s) URL with a host is refused, with a message, never a crash."""
    if url.strip().startswith(("http://", "https://")):
        return
    with pytest.raises(Refused) as refused:
        await webhooks.check_url(url, allow_private=True)
    assert refused.value.code is ErrorCode.INVALID_INPUT
