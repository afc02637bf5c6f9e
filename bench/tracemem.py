"""`python -m bench.tracemem MODULE ARGS...`: `python -m MODULE ARGS...` with tracemalloc on,
for finding where memory goes (bench/fanout.py runs its servers this way when
BENCH_TRACEMALLOC names a directory). Each SIGUSR1 writes a snapshot there, PID-N.snap in
turn; `diff(before, after)` says what was allocated in between, by the line that did."""

import os
import runpy
import signal
import sys
import tracemalloc
from itertools import count
from pathlib import Path
from types import FrameType

FRAMES = 12  # stack depth kept per allocation: enough to see who asked for it


def _dump(directory: Path) -> None:
    numbers = count()

    def dump(_signal: int, _frame: FrameType | None) -> None:
        target = directory / f"{os.getpid()}-{next(numbers)}.snap"
        partial = target.with_suffix(".part")
        tracemalloc.take_snapshot().dump(str(partial))
        partial.rename(target)  # the reader sees only whole snapshots

    signal.signal(signal.SIGUSR1, dump)


def diff(before: Path, after: Path, top: int = 25) -> list[str]:
    """The lines that allocated most of what `after` holds and `before` did not."""
    old = tracemalloc.Snapshot.load(str(before))
    new = tracemalloc.Snapshot.load(str(after))
    ignore = [tracemalloc.Filter(False, tracemalloc.__file__)]
    stats = new.filter_traces(ignore).compare_to(old.filter_traces(ignore), "lineno")
    total = sum(s.size_diff for s in stats)
    lines = [f"allocated between the snapshots: {total / 1024:.0f} KiB"]
    lines += [str(s) for s in stats[:top]]
    return lines


if __name__ == "__main__":
    tracemalloc.start(FRAMES)
    _dump(Path(os.environ["BENCH_TRACEMALLOC"]))
    module, *sys.argv[1:] = sys.argv[1:]
    runpy.run_module(module, run_name="__main__", alter_sys=True)
