"""Ray actors that compute coded block products on the core, and the pool that owns them.

An open `Accelerator` holds a serial link and cannot be sent to another process, so
every actor receives the *target string* (``"ref"``, ``"sim"``, ``"serial:PORT"``)
and opens its own device (`sw.kernel` docs: accelerators in other processes).

Actors are asyncio actors running one task at a time (``max_concurrency=1``): their
subtasks run in the order they were submitted, and the master's ``ray.cancel``
interrupts a subtask that is still sleeping out its injected delay.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ACTOR_OPTIONS = {"num_cpus": 0, "max_concurrency": 1}


class CodedWorker:
    """One server: computes ``a @ b mod q`` on its own accelerator for each prime q."""

    def __init__(self, index: int, target: str):
        self.index = index
        self.target = target
        self.accelerator = None

    def _open(self):
        if self.accelerator is None:
            from sw.driver import Accelerator

            self.accelerator = Accelerator.open(self.target)
        return self.accelerator

    async def ready(self) -> int:
        """Open the device and run one tiny exact product, so that startup and first-use
        costs are not counted as straggling; the pid."""
        from sw.kernel.exact import exact_matmul

        exact_matmul(
            np.ones((1, 1), dtype=np.int64), np.ones((1, 1), dtype=np.int64), self._open(), 7
        )
        return os.getpid()

    async def compute(self, operands, delay: float, die_after: float | None) -> dict:
        """``[(a, b, q), ...]`` -> each ``a @ b mod q`` computed by `exact_matmul`.

        Sleeps ``delay`` seconds after computing (the injected straggling); with
        ``die_after`` the process exits that many seconds into the subtask.
        """
        from sw.kernel.exact import exact_matmul_report

        start = time.perf_counter()
        if die_after is not None:
            await asyncio.sleep(die_after)
            os._exit(1)  # a crash mid-task: no result, no goodbye
        accelerator = self._open()
        values, cycles, macs = [], 0, 0
        for a, b, q in operands:
            c, report = exact_matmul_report(a, b, accelerator, q)
            values.append(c.astype(np.int64))
            cycles += report.device.cycles
            macs += report.device.macs
        compute_s = time.perf_counter() - start
        await asyncio.sleep(delay)
        return {"values": values, "cycles": cycles, "device_macs": macs, "compute_s": compute_s}


class WorkerPool:
    """``workers`` `CodedWorker` actors in a Ray session (started here if none is running).

    ``address``: an existing cluster (``ray start --head`` printed it); None starts a
    private local session (``address="local"``: never one another user started).
    """

    def __init__(
        self,
        workers: int,
        target: str = "ref",
        *,
        address: str | None = None,
        num_cpus: int = 2,
        spares: int = 0,
    ):
        import ray

        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            raise ValueError(f"workers must be an integer >= 1, got {workers!r}")
        self.workers, self.target = workers, target
        self.started_ray = False
        if not ray.is_initialized():
            options = {
                "address": address or "local",
                "include_dashboard": False,
                "log_to_driver": False,
                "configure_logging": False,
            }
            if address is None:
                options["num_cpus"] = num_cpus
            ray.init(**options)
            self.started_ray = True
        self._actor_class = ray.remote(**ACTOR_OPTIONS)(CodedWorker)
        self.actors = [self._actor_class.remote(i, target) for i in range(workers)]
        self.pids = ray.get([actor.ready.remote() for actor in self.actors])
        # Warm actors that stand in for killed ones at once (started in the background).
        self.spares = [self._start_spare() for _ in range(spares)]

    def _start_spare(self):
        actor = self._actor_class.remote(-1, self.target)
        return actor, actor.ready.remote()

    def replace(self, indices) -> None:
        """Fresh actors for these workers (killed ones): a warm spare if there is one
        (then a new spare starts while the replacement is checked), else a new actor."""
        import ray

        for i in sorted(set(indices)):
            ray.kill(self.actors[i], no_restart=True)
            if self.spares:
                actor, ready = self.spares.pop(0)
                self.spares.append(self._start_spare())
            else:
                actor = self._actor_class.remote(i, self.target)
                ready = actor.ready.remote()
            self.actors[i], self.pids[i] = actor, ray.get(ready)
        # Let new spares finish starting now, not during the next run's timing.
        ray.get([ready for _, ready in self.spares])

    def close(self) -> None:
        import ray

        for actor in self.actors + [spare for spare, _ in self.spares]:
            ray.kill(actor, no_restart=True)
        self.actors, self.spares = [], []
        if self.started_ray:
            ray.shutdown()

    def __enter__(self) -> WorkerPool:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class LocalCluster:
    """A Ray cluster started from the command line (``ray start --head``) in its own
    temporary directory, and stopped by ending exactly its own processes.

    ``ray stop`` ends every Ray process on the machine, other users' sessions included;
    on a shared machine this stops only the processes whose command line names this
    cluster's directory.
    """

    def __init__(self, *, num_cpus: int = 2, port: int | None = None):
        import tempfile

        self.directory = Path(tempfile.mkdtemp(prefix="qmr-", dir="/tmp"))
        self.port = port or _free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.command = [
            str(Path(sys.executable).with_name("ray")),
            "start",
            "--head",
            f"--num-cpus={num_cpus}",
            f"--port={self.port}",
            f"--temp-dir={self.directory}",
            "--include-dashboard=false",
            "--disable-usage-stats",
        ]

    def start(self) -> str:
        done = subprocess.run(self.command, capture_output=True, text=True, timeout=180)
        if done.returncode != 0:
            self.stop()
            raise RuntimeError(f"`{' '.join(self.command)}` failed: {done.stderr[-2000:]}")
        return self.address

    def processes(self) -> list[int]:
        """Ids of this cluster's processes: those whose command line names its directory,
        and their descendants (Ray renames its worker processes, so they are found
        through their parents). Read from /proc (Linux)."""
        table = _process_table()
        mine = {pid for pid, (_, args) in table.items() if str(self.directory) in args}
        grew = True
        while grew:
            children = {pid for pid, (parent, _) in table.items() if parent in mine} - mine
            mine |= children
            grew = bool(children)
        return sorted(mine)

    def stop(self, timeout: float = 3.0) -> None:
        """End this cluster's processes: SIGTERM, then SIGKILL what is left after ``timeout``."""
        import signal

        pids = self.processes()
        for pid in pids:
            _signal(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and any(_alive(pid) for pid in pids):
            time.sleep(0.2)
        for pid in pids:
            if _alive(pid):
                _signal(pid, signal.SIGKILL)
        shutil.rmtree(self.directory, ignore_errors=True)  # its logs and sockets

    def __enter__(self) -> LocalCluster:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _process_table() -> dict[int, tuple[int, str]]:
    """pid -> (parent pid, command line) for every process /proc shows."""
    table = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            args = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            stat = (entry / "stat").read_text()
            parent = int(stat[stat.rindex(")") + 2 :].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        table[int(entry.name)] = (parent, args)
    return table


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return state[state.rindex(")") + 2] != "Z"  # a zombie has exited


def _signal(pid: int, number: int) -> None:
    try:
        os.kill(pid, number)
    except (ProcessLookupError, PermissionError):
        pass
