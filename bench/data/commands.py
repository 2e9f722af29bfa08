"""Timing whole commands for the side-by-side benchmarks (pipeline.py, fineweb2_speed.py).

`timed(command)` gives the wall seconds of a command, the CPU seconds (user + system) of every process it
started, and what the rest of the machine used meanwhile. datatrove's LocalPipelineExecutor exits without
waiting for its pool's workers, which hold nearly all of its CPU time, so `getrusage` of waited-for
children misses them: this process makes itself the subreaper of whatever its commands leave behind (Linux),
and reaps those too before it reads the CPU time.
"""

from __future__ import annotations

import ctypes
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import NamedTuple

PR_SET_CHILD_SUBREAPER = 36


class Timing(NamedTuple):
    wall: float  # seconds
    cpu: float  # CPU seconds of the command and every process it started, orphans included
    waited: float  # of those, what the command itself waited for (what getrusage alone would say)
    others: float  # CPU seconds the rest of the machine used meanwhile: a busy machine stretches wall time
    returncode: int


def become_subreaper() -> None:
    """Make processes orphaned by this process's commands its children, so `timed` can reap and count them."""
    if ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        sys.exit("prctl(PR_SET_CHILD_SUBREAPER) failed: the CPU time of orphaned workers could not be counted")


def system_busy() -> float:
    """CPU seconds the whole machine has spent busy since boot (/proc/stat: all but idle and iowait)."""
    with open("/proc/stat") as f:
        user, nice, system, idle, iowait, irq, softirq, steal = map(int, f.readline().split()[1:9])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(command: list[str], env: dict[str, str] | None = None, log: Path | None = None) -> Timing:
    """Run `command` (output to `log`, else captured and dropped) and time it; call `become_subreaper` first."""
    before, busy_before = _children_cpu(), system_busy()
    start = time.perf_counter()
    if log is None:
        done = subprocess.run(command, env=env, capture_output=True)
    else:
        with open(log, "w") as out:
            done = subprocess.run(command, env=env, stdout=out, stderr=subprocess.STDOUT)
    wall = time.perf_counter() - start
    waited = _children_cpu() - before
    while True:  # what the command left behind, now this process's children
        try:
            os.waitpid(-1, 0)
        except ChildProcessError:
            break
    cpu = _children_cpu() - before
    return Timing(wall, cpu, waited, max(system_busy() - busy_before - cpu, 0.0), done.returncode)
