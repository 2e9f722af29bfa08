"""A wall-clock bound on one call, so a pathological page cannot stall a worker."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager


class TimeLimitExceeded(BaseException):
    """A BaseException, like KeyboardInterrupt: libraries that catch `Exception` around their own
    fallbacks (trafilatura does) must not swallow it and carry on unbounded."""


class TimeLimitUnavailable(RuntimeError):
    """A limit asked for where SIGALRM cannot deliver it (not the main thread)."""


REPEAT_SECONDS = 0.1


def _raise(signum, frame):
    raise TimeLimitExceeded()


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
    previous = signal.signal(signal.SIGALRM, _raise)
    # The timer repeats: should a bare `except:` somewhere still swallow the first signal, the next
    # one fires a moment later instead of never.
    signal.setitimer(signal.ITIMER_REAL, seconds, REPEAT_SECONDS)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
