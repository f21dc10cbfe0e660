"""``ringflow serve`` under cProfile counting each thread's own CPU time (``--profile``).

``python -m cProfile`` profiles the main thread only and in wall time, so a function that
gives up the GIL (``os.urandom``, a socket send) is charged for whatever the writer thread or
another process did meanwhile. Here every thread (the event loop's and the SQLite writer's)
gets a profiler of its own on ``time.thread_time``: its CPU time, whatever the machine is
doing. The main thread's profile goes to ``FILE``, each other thread's to
``FILE.<thread name>``; read them with ``pstats``.

Usage: ``python -m bench.profile_server FILE serve [ringflow serve options]``.
"""

from __future__ import annotations

import cProfile
import re
import sys
import threading
import time
from collections.abc import Sequence


def _profile_threads(path: str) -> None:
    """Wrap every thread started from now on in a CPU-time profiler of its own."""
    run = threading.Thread.run

    def profiled_run(thread: threading.Thread) -> None:
        profiler = cProfile.Profile(time.thread_time)
        profiler.enable()
        try:
            run(thread)
        finally:
            profiler.disable()
            name = re.sub(r"[^A-Za-z0-9_.-]", "_", thread.name)
            profiler.dump_stats(f"{path}.{name}")

    threading.Thread.run = profiled_run  # type: ignore[method-assign,assignment]


def main(argv: Sequence[str] | None = None) -> int:
    """Profile ``ringflow`` with the given arguments into the file named first."""
    args = list(sys.argv[1:] if argv is None else argv)
    path, ringflow_args = args[0], args[1:]
    _profile_threads(path)
    import server  # after the patch: no thread of it starts before

    profiler = cProfile.Profile(time.thread_time)
    profiler.enable()
    try:
        return server.main(ringflow_args)
    finally:
        profiler.disable()
        profiler.dump_stats(path)


if __name__ == "__main__":
    sys.exit(main())
