"""Where the per-token buckets (the rate limit and the cost budget, schema/limits.py) live:
in this process, or, when the broadcast goes through Redis, in Redis, shared by every
instance. Each take is one Lua script, so it is atomic however many instances take at
once, and it reads Redis' own clock, so instances' clocks need not agree."""

from typing import Any, cast

from redis.asyncio import Redis
from redis.exceptions import RedisError

from schema.limits import Buckets, MemoryBuckets, Taken

PREFIX = "commpulse:bucket:"

# KEYS[1]: the bucket. ARGV: amount, capacity, rate. The same rule as schema.limits.take_from.
TAKE = """
local time = redis.call('TIME')
local now = tonumber(time[1]) + tonumber(time[2]) / 1000000
local amount, capacity, rate = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local held = capacity
local state = redis.call('HMGET', KEYS[1], 'held', 'at')
if state[1] then
  held = math.min(capacity, tonumber(state[1]) + math.max(0, now - tonumber(state[2])) * rate)
end
local ok, wait = 0, 0
if amount <= 0 or amount <= held then
  held = math.min(capacity, held - amount)
  ok = 1
else
  wait = (amount - held) / rate
end
redis.call('HSET', KEYS[1], 'held', tostring(held), 'at', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(capacity / rate * 1000) + 1000)
return {ok, tostring(held), tostring(wait)}
"""


class RedisBuckets:
    """Buckets in Redis: a key per bucket that expires once it would be full again."""

    def __init__(self, url: str) -> None:
        self.redis: Redis = Redis.from_url(url)
        self._take = self.redis.register_script(TAKE)

    async def take(self, key: str, amount: float, capacity: float, rate: float) -> Taken:
        try:
            raw = await self._take(keys=[PREFIX + key], args=[amount, capacity, rate])
        except RedisError as error:
            raise ConnectionError(str(error)) from error
        ok, held, wait = cast(list[Any], raw)
        return Taken(bool(ok), float(held), float(wait))

    async def aclose(self) -> None:
        await self.redis.aclose()


async def close(buckets: Buckets) -> None:
    """Close the connections to Redis, if they are there; the next take opens them again."""
    if isinstance(buckets, RedisBuckets):
        await buckets.aclose()


def for_broker(url: str) -> Buckets:
    """Shared through Redis when the broadcast uses it, else in this process."""
    if url.startswith(("redis://", "rediss://", "unix://")):
        return RedisBuckets(url)
    return MemoryBuckets()
