"""A wall-clock bound on one call, so a pathological page cannot stall a worker."""

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
    """A limit asked for where SIGALRM cannot deliver it (not the main thread)."""


REPEAT_SECONDS = 0.1


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
    """Raise TimeLimitExceeded in the block after `seconds`.

    Uses SIGALRM, which only the main thread of a process can receive. Every executor runs steps on
    its main thread (worker processes, Ray tasks); anywhere else a limit cannot hold, and asking for one
    is an error rather than a bound that silently does nothing.
    """
    if not seconds:
        yield
        return
    if threading.current_thread() is not threading.main_thread():
        raise TimeLimitUnavailable(
            f"a {seconds} s time limit needs the main thread of its process (SIGALRM); this is "
            f"{threading.current_thread().name}: run steps on a main thread, or set the timeout to 0"
        )
    bound = _Bound()
    previous = signal.signal(signal.SIGALRM, bound)
    # The timer repeats: should a bare `except:` somewhere swallow the first signal, the next one fires
    # a moment later instead of never. While the exception is being handled, repeats do nothing.
    signal.setitimer(signal.ITIMER_REAL, seconds, REPEAT_SECONDS)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        bound.inside = False
        signal.signal(signal.SIGALRM, previous)
