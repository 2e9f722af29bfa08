"""A real Ray cluster of several nodes on this one machine, for tests and benchmarks.

Each node is one `ray start --block` process in a session of its own, with its own ports, Ray temp folder,
worker ports and environment (`WEBCORPUS_SCRATCH`: the node's scratch root), so a test can kill a whole
node (every process under it, as a machine that goes away) and see which node ran what. Only these
processes are ever killed: never `ray stop`, which stops every Ray on the machine.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

RAY = Path(sys.executable).with_name("ray")
# The head notices a dead node within about 3 x 0.5 s (Ray's default is 5 x 3 s).
HEALTH_CHECKS = json.dumps({"health_check_period_ms": 500, "health_check_timeout_ms": 1000,
                            "health_check_failure_threshold": 3})  # fmt: skip


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def process_tree(root: int) -> list[int]:
    """`root` and every process below it (a node's Ray workers call setsid: they leave the process group,
    not the tree under their raylet)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry.name))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo += children.get(pid, [])
    return found


def running(pid: int) -> bool:
    """The process exists and is not a zombie."""
    try:
        return (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def kill_tree(root: int) -> list[int]:
    """SIGKILL `root` and everything below it at once, as a machine that goes away: stopped first, so that
    nothing starts a process between the listing and the kill."""
    stopped: set[int] = set()
    while True:
        tree = set(process_tree(root)) - stopped
        if not tree:
            break
        for pid in tree:
            try:
                os.kill(pid, signal.SIGSTOP)
            except ProcessLookupError:
                pass
        stopped |= tree
    for pid in stopped:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return sorted(stopped)


WORKER_PORT_SLOTS = itertools.count()


class RayCluster:
    """A head (`head_cpus`, 0 for a head that runs no task) and worker nodes (`add_workers`), started with
    `env` (a cluster started by `ray start` needs RAY_AUTH_MODE=token from its drivers too)."""

    def __init__(self, env: dict[str, str], head_cpus: int = 0) -> None:
        # Ray's temp folders in a short path of their own: a socket's path (pytest's tmp_path under xdist,
        # plus Ray's session_.../sockets/plasma_store) must fit in 107 bytes.
        self.root = Path(tempfile.mkdtemp(prefix="webcorpus-ray-"))
        self.env, self.nodes, self.scratch = env, {}, {}
        self.incarnations: dict[str, list[Path]] = {}
        self.killed: list[int] = []
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        head = ["--head", "--port", str(self.port), "--num-cpus", str(head_cpus), "--include-dashboard", "false",
                "--dashboard-port", str(free_port()), "--system-config", HEALTH_CHECKS]  # fmt: skip
        self.start("head", head)

    def __str__(self) -> str:
        return self.address

    def start(self, name: str, options: list[str], scratch: Path | None = None) -> None:
        self.wait_started(self.launch(name, options, scratch))

    def launch(self, name: str, options: list[str], scratch: Path | None = None) -> tuple[str, Path]:
        temp = self.root / f"{name}-{len(self.incarnations.get(name, []))}"
        self.incarnations.setdefault(name, []).append(temp)
        env = dict(self.env)
        if scratch is not None:
            self.scratch[name] = scratch
            env["WEBCORPUS_SCRATCH"] = str(scratch)
        # Each node its own 100 worker ports, below the kernel's ephemeral ports (32768-) that free_port and
        # the other Ray components draw from, and above Ray's default range (10002-19999).
        base = 20000 + (os.getpid() * 7 + next(WORKER_PORT_SLOTS)) % 120 * 100
        command = [RAY, "start", "--block", "--node-ip-address", "127.0.0.1", "--temp-dir", str(temp),
                   "--disable-usage-stats", "--object-store-memory", str(80 << 20),
                   "--node-manager-port", str(free_port()), "--object-manager-port", str(free_port()),
                   "--metrics-export-port", str(free_port()), "--dashboard-agent-listen-port", str(free_port()),
                   "--dashboard-agent-grpc-port", str(free_port()), "--runtime-env-agent-port", str(free_port()),
                   "--min-worker-port", str(base), "--max-worker-port", str(base + 99), *options]  # fmt: skip
        log = temp.with_suffix(".log")
        with log.open("w") as sink:
            node = subprocess.Popen(command, env=env, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True)
        self.nodes[name] = node
        return name, log

    def wait_started(self, *launched: tuple[str, Path]) -> None:
        for name, log in launched:
            while "Ray runtime started." not in log.read_text():  # the node is registered with the head
                if self.nodes[name].poll() is not None:
                    self.close()
                    raise RuntimeError(f"ray start {name}: {log.read_text()[-3000:]}")
                time.sleep(0.05)

    def add_workers(self, scratch: dict[str, Path], cpus: int = 1) -> None:
        """Worker nodes, started together: name -> the node's scratch root."""
        options = ["--address", self.address, "--num-cpus", str(cpus)]
        self.wait_started(*[self.launch(name, options, root) for name, root in scratch.items()])

    def alive(self, name: str) -> bool:
        return self.nodes[name].poll() is None

    def busy(self, name: str) -> list[tuple[int, str]]:
        """(pid, function) of the node's Ray workers running a task now (Ray titles them ray::FUNCTION)."""
        found = []
        for pid in process_tree(self.nodes[name].pid):
            try:
                title = (Path("/proc") / str(pid) / "cmdline").read_bytes().split(b"\0")[0].decode()
            except OSError:
                continue
            function = title.removeprefix("ray::")
            if title.startswith("ray::") and function not in {"IDLE", "DashboardAgent", "RuntimeEnvAgent"}:
                found.append((pid, function))
        return found

    def tasks_ran(self, name: str) -> Counter:
        """How many times each function started as a task on the node, from its workers' logs (Ray writes
        `:task_name:FUNCTION` there as each task starts), over every incarnation of the node."""
        found: Counter = Counter()
        for temp in self.incarnations[name]:
            for log in temp.glob("session_2*/logs/worker-*.out"):  # not session_latest, a link to one
                found.update(re.findall(r"^:task_name:(\w+)$", log.read_text(errors="replace"), re.M))
        return found

    def kill(self, name: str) -> None:
        """The whole node at once: its `ray start`, raylet, agents and every worker process."""
        self.killed += kill_tree(self.nodes[name].pid)
        self.nodes[name].wait()

    def close(self) -> None:
        for name in sorted(self.nodes, key=lambda n: n == "head"):  # the head last
            if self.alive(name):
                self.kill(name)
        deadline = time.monotonic() + 30
        while any(running(pid) for pid in self.killed) and time.monotonic() < deadline:
            time.sleep(0.05)
        if any(running(pid) for pid in self.killed):
            raise RuntimeError("a Ray process outlived the cluster")
        shutil.rmtree(self.root, ignore_errors=True)
