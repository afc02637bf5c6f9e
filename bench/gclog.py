"""`python -m bench.gclog MODULE ARGS...`: `python -m MODULE ARGS...` recording every garbage
collection (when it ended, by `time.monotonic`, one clock for every process here; its
generation; how long it took, and how much of that was the thread's CPU rather than a wait
for one), for telling a collection's pause from the rest of a benchmark's latency
(bench/fanout.py runs its servers this way when BENCH_GCLOG names a directory). Each SIGUSR2
writes what was recorded since the last one to PID-N.gc there."""

import gc
import os
import runpy
import signal
import sys
import time
from itertools import count
from pathlib import Path
from types import FrameType
from typing import Any

# ended (monotonic seconds), generation, seconds it took, seconds of CPU in them
Collection = tuple[float, int, float, float]


def record(directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    collections: list[Collection] = []
    started = [0.0, 0.0]  # monotonic, thread CPU
    numbers = count()

    def callback(phase: str, info: dict[str, Any]) -> None:
        now, cpu = time.monotonic(), time.thread_time()
        if phase == "start":
            started[:] = now, cpu
        else:
            collections.append((now, info["generation"], now - started[0], cpu - started[1]))

    def dump(_signal: int, _frame: FrameType | None) -> None:
        target = directory / f"{os.getpid()}-{next(numbers)}.gc"
        partial = target.with_suffix(".part")
        taken = collections[:]
        del collections[:]
        partial.write_text("".join(f"{c[0]:.6f} {c[1]} {c[2]:.6f} {c[3]:.6f}\n" for c in taken))
        partial.rename(target)  # the reader sees only whole files

    gc.callbacks.append(callback)
    signal.signal(signal.SIGUSR2, dump)


def read(path: Path) -> list[Collection]:
    return [
        (float(end), int(gen), float(took), float(cpu))
        for end, gen, took, cpu in (line.split() for line in path.read_text().splitlines())
    ]


if __name__ == "__main__":
    record(Path(os.environ["BENCH_GCLOG"]))
    module, *sys.argv[1:] = sys.argv[1:]
    runpy.run_module(module, run_name="__main__", alter_sys=True)
