"""/metrics against a live server: off unless asked, behind a token when asked, and its
figures follow what clients did: websockets, subscriptions, deliveries, transitions,
refusals, HTTP operations, the stream's lag, the pool, the broker and the scheduler."""

import asyncio
from collections.abc import Callable

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from store.tokens import ApiRole
from tests.e2e.conftest import (
    LAUNCH,
    PUBLISH,
    Server,
    StartServer,
    act,
    create_in_app,
    execute,
    http_session,
    make_token,
    next_item,
    subscribe,
    ws_session,
)

pytestmark = pytest.mark.e2e

STATUS_CHANGED = "subscription { statusChanged { cursor action to } }"
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def metrics_url(server: Server) -> str:
    return server.http_url.removesuffix("/graphql") + "/metrics"


async def scrape(server: Server, token: str | None = None) -> Samples:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with httpx.AsyncClient() as client:
        response = await client.get(metrics_url(server), headers=headers)
    assert response.status_code == 200, response.text
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


async def eventually(server: Server, check: Callable[[Samples], bool], what: str) -> Samples:
    """Scrape until `check` holds (the server finishes closing a socket on its own time)."""
    try:
        async with asyncio.timeout(10):
            while True:
                samples = await scrape(server)
                if check(samples):
                    return samples
                await asyncio.sleep(0.05)
    except TimeoutError:
        pytest.fail(f"the figures never showed {what}")


async def test_metrics_are_off_by_default(server: Server) -> None:
    """Without COMMPULSE_METRICS there is no /metrics."""
    async with httpx.AsyncClient() as client:
        assert (await client.get(metrics_url(server))).status_code == 404


async def test_metrics_follow_what_clients_do(start_server: StartServer) -> None:
    """A subscription, a launch, a refusal: each shows in the figures, and the stream's lag
    is 0 once the subscriber got the change."""
    server = await start_server(COMMPULSE_METRICS="on")
    async with ws_session(server) as ws, subscribe(ws, STATUS_CHANGED) as items:
        # gql subscribes on the first read; the subscription runs once it shows in the
        # figures, and only then is a change sure to reach it
        first = asyncio.create_task(next_item(items))
        await eventually(
            server,
            lambda s: value(s, "commpulse_subscriptions_open", field="statusChanged") == 1,
            "the subscription",
        )
        async with http_session(server) as http:
            message = await create_in_app(http, "Banner")
            await act(http, LAUNCH, "launchCommunication", id=message["id"])
            refused = await execute(http, PUBLISH, id=message["id"])
            assert refused["publishLandingPage"]["userErrors"][0]["code"] == "INVALID_TRANSITION"
        seen = [(await first)["statusChanged"]["action"]]
        seen.append((await next_item(items))["statusChanged"]["action"])
        assert seen == ["CREATE", "LAUNCH"]
        samples = await scrape(server)
        assert value(samples, "commpulse_websockets_open") == 1
        assert value(samples, "commpulse_subscription_items_total", field="statusChanged") == 2
        assert value(samples, "commpulse_transitions_total", kind="IN_APP", action="LAUNCH") == 1
        assert value(samples, "commpulse_refusals_total", code="INVALID_TRANSITION") == 1
        assert value(samples, "commpulse_notices_received_total", type="change") >= 2
        launched = "mutation launchCommunication"
        assert value(samples, "commpulse_http_request_duration_seconds_count", operation=launched)
        assert value(samples, "commpulse_stream_committed_seq") == value(
            samples, "commpulse_stream_delivered_seq"
        )
        assert value(samples, "commpulse_stream_lag") == 0
        assert value(samples, "commpulse_broker_up") == 1
        assert ("commpulse_db_pool_in_use", ()) in samples
        assert value(samples, "commpulse_scheduler_lateness_seconds") == 0
    after = await eventually(
        server,
        lambda s: (
            value(s, "commpulse_websockets_open") == 0
            and value(s, "commpulse_subscriptions_open", field="statusChanged") == 0
        ),
        "the closed websocket",
    )
    assert value(after, "commpulse_transitions_total", kind="IN_APP", action="CREATE") == 1


async def test_metrics_behind_a_token(start_server: StartServer) -> None:
    """COMMPULSE_METRICS=token: 401 without an API token, the figures with one."""
    server = await start_server(COMMPULSE_METRICS="token", COMMPULSE_AUTH="on")
    token = await make_token(server, "prometheus", ApiRole.VIEWER)
    async with httpx.AsyncClient() as client:
        assert (await client.get(metrics_url(server))).status_code == 401
        wrong = {"Authorization": "Bearer cp_nope"}
        assert (await client.get(metrics_url(server), headers=wrong)).status_code == 401
    assert value(await scrape(server, token), "commpulse_broker_up") == 1
