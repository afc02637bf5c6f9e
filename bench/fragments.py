"""How long the document checks take on fragments that spread the next one twice.

    python -m bench.fragments [levels]

Runs, through the schema with the server's default limits, a document of `levels` (30 by
default) fragments each spreading the next twice (2^levels paths), and as the anchor the
smallest document, `{ __typename }`, in the same run. Prints both and their ratio: linear
checks keep it near the ratio of the documents' sizes, a walk over every path would take
minutes.
"""

import asyncio
import sys
import time
from typing import Any

from schema import build
from schema.limits import Limits
from store.tokens import ApiRole

ROUNDS = 50


def doubling(levels: int) -> str:
    parts = ["query { ...F0 }"]
    parts += [f"fragment F{i} on Query {{ ...F{i + 1} ...F{i + 1} }}" for i in range(levels)]
    return " ".join([*parts, f"fragment F{levels} on Query {{ __typename }}"])


class Caller:
    actor = "bench"
    role = ApiRole.VIEWER


async def seconds(schema: Any, document: str) -> float:
    """The best of ROUNDS runs, in seconds."""
    best = float("inf")
    for _ in range(ROUNDS):
        started = time.perf_counter()
        result = await schema.execute(document, context_value=Caller())
        best = min(best, time.perf_counter() - started)
        assert result.errors is None, result.errors
    return best


async def main(levels: int) -> None:
    schema = build(Limits(12, 30, 5000, 10, 1e9, 10**9, True, True))
    anchor = await seconds(schema, "{ __typename }")
    document = doubling(levels)
    spread = await seconds(schema, document)
    print(f"{{ __typename }}: {anchor * 1000:.2f} ms")
    print(f"{levels} levels ({len(document)} bytes, 2^{levels} paths): {spread * 1000:.2f} ms")
    print(f"ratio: {spread / anchor:.1f}")


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 30))
