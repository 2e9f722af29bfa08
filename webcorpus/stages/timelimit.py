"""A wall-clock bound on one call, so a pathological page cannot stall a worker."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager


class TimeLimitExceeded(Exception):
    pass


def _raise(signum, frame):
    raise TimeLimitExceeded()


@contextmanager
def time_limit(seconds: float | None) -> Iterator[None]:
    """Raise TimeLimitExceeded in the block after `seconds`.

    Uses SIGALRM, which only the main thread of a process can receive; elsewhere (or with no
    limit) the block runs unbounded. Every worker of our executors runs stages on its main thread.
    """
    if not seconds or threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGALRM, _raise)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
