"""OpenTelemetry tracing, switched on by the standard OTEL_* variables.

Tracing is on when OTEL_TRACES_EXPORTER or an OTLP endpoint (OTEL_EXPORTER_OTLP_ENDPOINT,
OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) is set and OTEL_SDK_DISABLED is not true. The SDK
reads the rest itself: OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES, OTEL_TRACES_SAMPLER,
the exporter's endpoint, headers and timeout. Spans: every GraphQL operation (strawberry's
OpenTelemetryExtension), every SQL statement of the store (SQLAlchemy's instrumentation),
each publish of a notice, and each webhook delivery attempt. Off, every span is a no-op.
"""

import os
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any

from opentelemetry import trace
from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter
from opentelemetry.trace import Span, Tracer
from sqlalchemy.ext.asyncio import AsyncEngine
from strawberry.extensions import SchemaExtension
from strawberry.extensions.tracing import OpenTelemetryExtension

NAME = "commpulse"
_ENDPOINTS = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")


def wanted(env: Mapping[str, str]) -> bool:
    if env.get("OTEL_SDK_DISABLED", "").lower() == "true":
        return False
    exporter = env.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if exporter == "none":
        return False
    return bool(exporter) or any(env.get(name) for name in _ENDPOINTS)


def _exporters(env: Mapping[str, str]) -> list[SpanExporter]:
    names = [n.strip() for n in env.get("OTEL_TRACES_EXPORTER", "otlp").lower().split(",")]
    exporters: list[SpanExporter] = []
    for name in names:
        if name == "otlp":
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            exporters.append(OTLPSpanExporter())
        elif name == "console":
            exporters.append(ConsoleSpanExporter())
        elif name not in ("", "none"):
            raise ValueError(f"OTEL_TRACES_EXPORTER={name!r}: expected otlp, console or none")
    return exporters


def from_env(env: Mapping[str, str] | None = None) -> TracerProvider | None:
    """A provider exporting as the OTEL_* variables say, or None when tracing is off."""
    env = os.environ if env is None else env
    if not wanted(env):
        return None
    provider = TracerProvider(resource=Resource.create({"service.name": NAME}))
    processors: list[SpanProcessor] = [BatchSpanProcessor(e) for e in _exporters(env)]
    for processor in processors:
        provider.add_span_processor(processor)
    return provider


_NO_SPAN = nullcontext(trace.INVALID_SPAN)


class Tracing:
    """The spans of one app; without a provider each is a no-op."""

    def __init__(self, provider: TracerProvider | None) -> None:
        self.provider = provider
        self.tracer: Tracer = (
            provider.get_tracer(NAME) if provider else trace.NoOpTracerProvider().get_tracer(NAME)
        )

    @property
    def on(self) -> bool:
        return self.provider is not None

    def extensions(self) -> list[type[SchemaExtension] | Any]:
        if self.provider is None:
            return []
        provider = self.provider
        return [lambda: OpenTelemetryExtension(tracer_provider=provider)]

    def span(
        self, name: str, **attributes: str | int | float | bool | None
    ) -> AbstractContextManager[Span]:
        """A span for what runs inside; with tracing off, one that does nothing and is made
        once: OpenTelemetry's no-op tracer still made a span, a context and two context
        managers for each (py-spy: 1.5% of the event loop of a create with the feed's span
        around each publish)."""
        if self.provider is None:
            return _NO_SPAN
        return self._span(name, **attributes)

    @contextmanager
    def _span(self, name: str, **attributes: str | int | float | bool | None) -> Iterator[Span]:
        with self.tracer.start_as_current_span(name) as span:
            for key, value in attributes.items():
                if value is not None:
                    span.set_attribute(key, value)
            yield span

    @contextmanager
    def database(self, engine: AsyncEngine) -> Iterator[None]:
        """A span for every SQL statement on `engine`, while open."""
        if self.provider is None:
            yield
            return
        instrumentor = SQLAlchemyInstrumentor()
        # its declared range stops below SQLAlchemy 2.1, whose engine events it uses unchanged
        instrumentor.instrument(
            engine=engine.sync_engine, tracer_provider=self.provider, skip_dep_check=True
        )
        try:
            yield
        finally:
            instrumentor.uninstrument()

    def shutdown(self) -> None:
        if self.provider is not None:
            self.provider.force_flush()
