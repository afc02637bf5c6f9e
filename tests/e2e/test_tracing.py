"""OpenTelemetry traces from a live server (uvicorn in this process, so the SDK's
in-memory exporter sees its spans): the GraphQL operation, the store's SQL, the publish
inside the operation's trace, and each webhook delivery; and the OTEL_* switch."""

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import uvicorn
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from server import tracing
from server.app import create_app
from server.settings import Settings
from server.tracing import Tracing
from tests.e2e.conftest import (
    Server,
    create_in_app,
    free_port,
    http_session,
    migrate_database,
)
from tests.e2e.test_webhooks import Receiver, create_endpoint

pytestmark = pytest.mark.e2e


@pytest.fixture
async def traced(tmp_path: Path) -> AsyncIterator[tuple[Server, InMemorySpanExporter]]:
    """A server in this process whose spans go to an in-memory exporter."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    url = f"sqlite+aiosqlite:///{tmp_path / 'traced.db'}"
    await migrate_database(url)
    settings = Settings.from_env(
        {
            "COMMPULSE_DATABASE_URL": url,
            "COMMPULSE_AUTH": "off",
            "COMMPULSE_SENDER": "none",
            "COMMPULSE_WEBHOOK_ALLOW_PRIVATE": "on",
            "COMMPULSE_WEBHOOK_POLL": "0.2",
        }
    )
    port = free_port()
    config = uvicorn.Config(
        create_app(settings, Tracing(provider)), host="127.0.0.1", port=port, log_level="warning"
    )
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve())
    async with asyncio.timeout(20):
        while True:
            if server.started:
                break
            await asyncio.sleep(0.02)
    yield Server(port=port, database=tmp_path / "traced.db", process=None), exporter  # type: ignore[arg-type]
    server.should_exit = True
    await serving


async def test_spans_for_operation_store_publish_and_webhook(
    traced: tuple[Server, InMemorySpanExporter],
) -> None:
    """A mutation gives a GraphQL span whose trace holds SQL spans and the publish; the
    webhook delivery it causes has its own span, marked delivered."""
    server, exporter = traced
    receiver = Receiver()
    await receiver.start()
    try:
        async with http_session(server) as session:
            await create_endpoint(session, receiver)
            exporter.clear()
            await create_in_app(session, "Traced")
        await receiver.wait_for(lambda r: len(r.unique()) == 1, "the creation")
    finally:
        await receiver.stop()
    async with asyncio.timeout(10):  # the sender logs the attempt, then ends its span
        while True:
            if any(s.name == "commpulse.webhook.deliver" for s in exporter.get_finished_spans()):
                break
            await asyncio.sleep(0.02)
    spans = exporter.get_finished_spans()
    # strawberry names every operation span "GraphQL Query: <operation name>"
    [operation] = [s for s in spans if s.name == "GraphQL Query: CreateInApp"]
    in_trace = [s for s in spans if s.context.trace_id == operation.context.trace_id]
    assert any(s.name == "GraphQL Resolving: createInAppMessage" for s in in_trace)
    assert any(s.name == "commpulse.publish" for s in in_trace)
    assert any(s.attributes and s.attributes.get("db.system") == "sqlite" for s in in_trace)
    delivery = next(s for s in spans if s.name == "commpulse.webhook.deliver")
    assert delivery.attributes is not None
    assert delivery.attributes["webhook.delivered"] is True
    assert delivery.attributes["webhook.id"] == receiver.requests[0][0]


@pytest.mark.parametrize(
    ("env", "on"),
    [
        ({}, False),
        ({"OTEL_TRACES_EXPORTER": "console"}, True),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}, True),
        ({"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://x"}, False),
        ({"OTEL_SDK_DISABLED": "true", "OTEL_TRACES_EXPORTER": "console"}, False),
    ],
)
def test_otel_variables_switch_tracing(env: dict[str, str], on: bool) -> None:
    """Tracing is on when an exporter or an OTLP endpoint is named, unless disabled."""
    provider = tracing.from_env(env)
    assert (provider is not None) is on
    if provider is not None:
        provider.shutdown()
