"""What one caller may ask of the server: document size and shape, batch size, and a
per-token rate. The values come from server/settings.py; the defaults here are for tests
at the GraphQL layer, which build the schema without limits."""

import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from graphql import GraphQLError
from strawberry.extensions import SchemaExtension


@dataclass(frozen=True)
class Limits:
    max_depth: int
    max_aliases: int
    max_tokens: int
    max_batch: int
    rate: float  # operations a second per token, sustained
    burst: int  # operations per token at once
    introspection: bool
    field_suggestions: bool


@dataclass
class _Bucket:
    tokens: float
    at: float


@dataclass
class RateLimiter:
    """A token bucket per API token, in this process: with several instances behind a
    balancer each allows the full rate."""

    rate: float
    burst: int
    clock: Callable[[], float] = time.monotonic
    _buckets: dict[str, _Bucket] = field(default_factory=dict)

    def take(self, key: str) -> float:
        """0 if `key` may run one more operation now (and counts it), else the seconds
        until it may."""
        now = self.clock()
        bucket = self._buckets.setdefault(key, _Bucket(float(self.burst), now))
        bucket.tokens = min(float(self.burst), bucket.tokens + (now - bucket.at) * self.rate)
        bucket.at = now
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            return 0.0
        return (1 - bucket.tokens) / self.rate


def rate_limited(retry_after: float) -> GraphQLError:
    seconds = math.ceil(retry_after * 10) / 10
    return GraphQLError(
        f"too many operations for this token: retry in {seconds:g} s",
        extensions={"code": "RATE_LIMITED", "retryAfter": seconds},
    )


class RateLimit(SchemaExtension):
    """Counts every operation (each of a batch, each websocket subscribe) against the
    caller's bucket before it executes."""

    def __init__(self, limiter: RateLimiter) -> None:
        self.limiter = limiter

    def on_execute(self) -> Iterator[None]:
        actor = str(getattr(self.execution_context.context, "actor", "anonymous"))
        if wait := self.limiter.take(actor):
            raise rate_limited(wait)
        yield
