"""Several extensions' `on_execute` hooks run as one strawberry hook.

strawberry pays for a hook on every operation whatever the hook does: it wraps each in a
context manager made for that call (`functools.wraps` and all) and enters it through an
exit stack. Measured with hooks that do nothing, each costs about 30 µs when async and 16 µs
when not, on the machine where one cached read takes 120 µs. The checks and work around an
operation's execution (rate, roles, strings, cost, idempotency, the read cache) are six
such hooks; run here, in the same order and with the same semantics as nested context
managers (an error raised inside reaches each hook that started, innermost first, at its
`yield`), an operation pays for one.
"""

import inspect
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Generator, Sequence
from typing import Any

from strawberry.extensions import SchemaExtension

Steps = Generator[None, None, None] | AsyncGenerator[None, None]


def _hooks(extension: SchemaExtension) -> set[str]:
    """The hooks an extension defines beyond strawberry's defaults."""
    names = ("on_operation", "on_parse", "on_validate", "on_execute", "resolve", "get_results")
    return {n for n in names if getattr(type(extension), n) is not getattr(SchemaExtension, n)}


class Combined(SchemaExtension):
    """The `on_execute` of each of `parts` (made anew for each operation, in this order: the
    first is outermost), and their `get_results` merged. A part may define nothing else."""

    def __init__(self, parts: Sequence[Callable[[], SchemaExtension]]) -> None:
        self.parts = [make() for make in parts]
        for part in self.parts:
            assert _hooks(part) <= {"on_execute", "get_results"}, f"{part}: {_hooks(part)}"

    async def on_execute(self) -> AsyncIterator[None]:
        started: list[Steps] = []
        error: BaseException | None = None
        try:
            for part in self.parts:
                part.execution_context = self.execution_context
                steps: Steps = part.on_execute()  # type: ignore[assignment]
                if isinstance(steps, AsyncGenerator):
                    await anext(steps)
                else:
                    next(steps)
                started.append(steps)
            yield
        except BaseException as raised:  # each hook that started sees it, then it goes on
            error = raised
        for steps in reversed(started):
            error = await _leave(steps, error)
        if error is not None:
            raise error

    async def get_results(self) -> dict[str, Any]:
        results: dict[str, Any] = {}
        for part in self.parts:
            part.execution_context = self.execution_context  # also when nothing executed
            found = part.get_results()
            results.update(await found if inspect.isawaitable(found) else found)
        return results


async def _leave(steps: Steps, error: BaseException | None) -> BaseException | None:
    """Resume one hook after its `yield`, or raise `error` there, as leaving a context
    manager does; the error that goes on (None once a hook has handled it)."""
    try:
        if isinstance(steps, AsyncGenerator):
            await (anext(steps) if error is None else steps.athrow(error))
        elif error is None:
            next(steps)
        else:
            steps.throw(error)
    except (StopIteration, StopAsyncIteration):
        return None
    except BaseException as raised:
        return raised
    return RuntimeError(f"{steps} yielded twice")
