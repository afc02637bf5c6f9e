"""One read for many callers at once: whoever asks while no read is running starts one, and
whoever asks while one runs gets the next one. A burst of callers costs one round trip, not
one each, and no caller gets a value read before it asked, so whatever committed before it
asked shows."""

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class Coalesced(Generic[T]):
    def __init__(self, read: Callable[[], Awaitable[T]]) -> None:
        self._read = read
        self._waiters: list[asyncio.Future[T]] = []
        self._task: asyncio.Task[None] | None = None

    async def __call__(self) -> T:
        waiter: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        if self._task is None:
            self._task = asyncio.create_task(self._serve())
        return await waiter

    async def _serve(self) -> None:
        try:
            while self._waiters:
                waiters, self._waiters = self._waiters, []
                try:
                    value = await self._read()
                except Exception as error:
                    for waiter in waiters:
                        if not waiter.done():
                            waiter.set_exception(error)
                    continue
                for waiter in waiters:
                    if not waiter.done():
                        waiter.set_result(value)
        finally:
            self._task = None
