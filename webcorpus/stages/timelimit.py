"""A bound on the CPU time one call spends, so a pathological page cannot stall a worker.

CPU time (the process's, user and system: ITIMER_PROF), not wall time: on a busy machine other processes
stretch a page's wall time, and a wall-clock bound then dropped pages a quiet machine keeps, so what a run
kept depended on the load beside it. The calls bounded here (extraction, PII scans) compute; a call that
waits without computing is not bounded by this.
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager


class TimeLimitExceeded(BaseException):
    """A BaseException, like KeyboardInterrupt: libraries that catch `Exception` around their own
    fallbacks (trafilatura does) must not swallow it and carry on unbounded."""


class TimeLimitUnavailable(RuntimeError):
    """A limit asked for where its signal cannot be delivered (not the main thread)."""


REPEAT_SECONDS = 0.1
SIGNAL, TIMER = signal.SIGPROF, signal.ITIMER_PROF


class _Bound:
    """One bounded block's signal handler: it raises only while the block runs, and not again while the
    exception it raised is still being handled (cleanup, exception formatting) on its way out."""

    def __init__(self) -> None:
        self.inside = True
        self.raised: TimeLimitExceeded | None = None

    def __call__(self, signum: int, frame: object) -> None:
        if not self.inside or self._being_handled():
            return
        self.raised = TimeLimitExceeded()
        raise self.raised

    def _being_handled(self) -> bool:
        error, seen = sys.exc_info()[1], set()
        while error is not None and id(error) not in seen:
            if error is self.raised:
                return True
            seen.add(id(error))
            error = error.__context__
        return False


@contextmanager
def time_limit(seconds: float | None) -> Iterator[None]:
    """Raise TimeLimitExceeded in the block once the process has spent `seconds` of CPU time in it.

    Uses SIGPROF, which Python handles on the main thread of a process only. Every executor runs steps on
    its main thread (worker processes, Ray tasks); anywhere else a limit cannot hold, and asking for one
    is an error rather than a bound that silently does nothing.
    """
    if not seconds:
        yield
        return
    if threading.current_thread() is not threading.main_thread():
        raise TimeLimitUnavailable(
            f"a {seconds} s time limit needs the main thread of its process (SIGPROF); this is "
            f"{threading.current_thread().name}: run steps on a main thread, or set the timeout to 0"
        )
    bound = _Bound()
    previous = signal.signal(SIGNAL, bound)
    # The timer repeats: should a bare `except:` somewhere swallow the first signal, the next one fires
    # a moment later instead of never. While the exception is being handled, repeats do nothing.
    signal.setitimer(TIMER, seconds, REPEAT_SECONDS)
    try:
        yield
    finally:
        signal.setitimer(TIMER, 0)
        bound.inside = False
        signal.signal(SIGNAL, previous)
