"""What one caller may ask of the server: document size and shape, batch size, a rate of
operations and a budget of cost per token. The values come from server/settings.py; the
defaults here are for tests at the GraphQL layer, which build the schema without limits.

The rate and the cost budget are one mechanism, a token bucket per API token: `Buckets`.
In one process the buckets live in memory (`MemoryBuckets`); with Redis configured the
server shares them between instances (server/buckets.py)."""

import logging
import math
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Protocol

from graphql import GraphQLError
from strawberry.extensions import SchemaExtension

from schema import sharing
from schema.errors import Code

log = logging.getLogger("commpulse.limits")


@dataclass(frozen=True)
class Limits:
    max_depth: int
    max_aliases: int
    max_tokens: int
    max_batch: int
    rate: float  # operations a second per token, sustained (a token may carry its own)
    burst: int  # operations per token at once
    introspection: bool
    field_suggestions: bool
    max_cost: int = 25_000  # the most one operation may cost
    cost_budget: int = 50_000  # cost points per token at once
    cost_refill: float = 2_500.0  # cost points a second per token, refilled


@dataclass(frozen=True)
class Taken:
    ok: bool  # the amount was taken
    left: float  # what the bucket holds now
    wait: float  # seconds until the amount could be taken (0 when ok)


class Buckets(Protocol):
    async def take(self, key: str, amount: float, capacity: float, rate: float) -> Taken:
        """Take `amount` from bucket `key` (full at first, refilled at `rate` a second up to
        `capacity`) if it holds that much; a negative amount gives back."""
        ...  # pragma: no cover


def fill(held: float, since: float, capacity: float, rate: float) -> float:
    return min(capacity, held + max(since, 0.0) * rate)


def take_from(held: float, amount: float, capacity: float, rate: float) -> Taken:
    """The one rule of a bucket holding `held`, already refilled."""
    if amount <= held or amount <= 0:
        return Taken(True, min(capacity, held - amount), 0.0)
    return Taken(False, held, (amount - held) / rate)


@dataclass
class MemoryBuckets:
    """Buckets in this process: with several instances behind a balancer each has its own."""

    clock: Callable[[], float] = time.monotonic
    _held: dict[str, tuple[float, float]] = field(default_factory=dict)

    async def take(self, key: str, amount: float, capacity: float, rate: float) -> Taken:
        now = self.clock()
        held, at = self._held.get(key, (capacity, now))
        taken = take_from(fill(held, now - at, capacity, rate), amount, capacity, rate)
        self._held[key] = (taken.left, now)
        return taken


async def take(buckets: Buckets, key: str, amount: float, capacity: float, rate: float) -> Taken:
    """`buckets.take`, open when the buckets cannot be reached (Redis down): a limit that
    fails closed would refuse everyone."""
    try:
        return await buckets.take(key, amount, capacity, rate)
    except (OSError, ConnectionError, TimeoutError) as error:
        log.warning("limits not enforced, buckets unreachable: %s", error)
        return Taken(True, capacity, 0.0)


def rates(limits: Limits, own: float | None) -> tuple[float, float]:
    """A token's sustained rate (its own, else the default) and its burst, at least one
    second of that rate."""
    rate = own or limits.rate
    return rate, max(float(limits.burst), rate)


def caller(context: object) -> str:
    return str(getattr(context, "actor", "anonymous"))


def rate_limited(retry_after: float) -> GraphQLError:
    seconds = math.ceil(retry_after * 10) / 10
    return GraphQLError(
        f"too many operations for this token: retry in {seconds:g} s",
        extensions={"code": Code.RATE_LIMITED, "retryAfter": seconds},
    )


class RateLimit(SchemaExtension):
    """Counts every operation (each of a batch, each websocket subscribe) against the
    caller's bucket before it executes. A token's own rate (`tokens create --rate`)
    replaces the default, and its burst is at least one second of it."""

    def __init__(self, buckets: Buckets, limits: Limits) -> None:
        self.buckets = buckets
        self.limits = limits

    async def on_execute(self) -> AsyncIterator[None]:
        if sharing.again(self.execution_context.root_value):  # counted at its subscribe
            yield
            return
        context = self.execution_context.context
        rate, burst = rates(self.limits, getattr(context, "rate", None))
        taken = await take(self.buckets, "rate:" + caller(context), 1, burst, rate)
        if not taken.ok:
            raise rate_limited(taken.wait)
        yield
