"""A real multi-process Ray cluster on loopback, for the Ray backend's tests and benchmarks/ray_sweep.py.

Each node is ``ray start --block`` in its own session (process group), with every port set
explicitly from a free block at 20000-29999 (outside 10002-19999, which other services of this
machine use); the processes Ray picks ports for on its own (the autoscaler monitor) bind in the
kernel's ephemeral range (32768+). Nodes use 127.0.0.2: Ray replaces ``127.0.0.1``/``localhost`` by
the machine's routable address (``services.resolve_ip_for_localhost``), any other loopback address
is kept. ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER`` is not needed on Linux: multi-node clusters are on by
default there (``ray_constants.ENABLE_RAY_CLUSTER``); set to 0 it would *forbid* worker nodes, so it
is removed from the nodes' environment. Stopping kills each node's whole session, by id.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HOST = "127.0.0.2"
PORT_RANGE = (20000, 29999)
PORTS_PER_NODE = 40  # 6 service ports + 34 worker ports
READY = "Ray runtime started"


def _free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("0.0.0.0", port))
        except OSError:
            return False
    return True


def _free_block(n: int, start: int) -> int:
    """The first port >= ``start`` of ``n`` consecutive free ports inside PORT_RANGE."""
    base = start
    while base + n <= PORT_RANGE[1]:
        bad = next((p for p in range(base, base + n) if not _free(p)), None)
        if bad is None:
            return base
        base = bad + 1
    raise RuntimeError(f"no {n} free consecutive ports in {PORT_RANGE}")


def _first_port() -> int:
    """Where this test process's ports start: xdist workers get disjoint slots of 1,250 ports.

    Worker ports are only bound when Ray starts a worker, so the free-port check alone cannot keep
    two clusters started side by side (``pytest -n 2``) out of each other's worker-port ranges.
    """
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    slot = int(worker[2:]) if worker.startswith("gw") and worker[2:].isdigit() else os.getpid()
    return PORT_RANGE[0] + (slot % 8) * 1250


class LocalRayCluster:
    """A head and any number of worker nodes, each a ``ray start --block`` process group of its own."""

    def __init__(self, cpus_per_node: int = 1, object_store_mb: int = 100) -> None:
        self.cpus = cpus_per_node
        self.store = object_store_mb * 1024 * 1024
        # short: Ray's Unix socket paths live under it (108-byte limit)
        self.tmp = Path(tempfile.mkdtemp(prefix="rlray-", dir="/tmp"))
        self.nodes: list[subprocess.Popen[bytes]] = []
        self.manager_port: dict[int, int] = {}  # node process id -> its raylet's port (Ray's NodeManagerPort)
        self._next_port = _first_port()
        self.port = 0
        self.env = {
            k: v for k, v in os.environ.items() if k not in ("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "RAY_ADDRESS")
        }
        self.env.update(RAY_USAGE_STATS_ENABLED="0", OMP_NUM_THREADS="1", RAY_AUTH_MODE="disabled")
        # a killed node is declared dead after 10 missed 1-second health checks (default: 5 x 3 s); 3 were
        # too few on a loaded 2-core CI machine: a live node missed them and its driver's objects were lost
        self.env.update(RAY_health_check_period_ms="1000", RAY_health_check_failure_threshold="10")

    @property
    def address(self) -> str:
        """The head's GCS address, for ``ray.init(address=...)`` and ``--address``."""
        return f"{HOST}:{self.port}"

    def _ports(self) -> dict[str, int]:
        base = _free_block(PORTS_PER_NODE, self._next_port)
        self._next_port = base + PORTS_PER_NODE
        names = ["node-manager", "object-manager", "dashboard-agent-listen", "dashboard-agent-grpc", "metrics-export"]
        ports = {f"--{name}-port": base + i for i, name in enumerate(names)}
        ports["--runtime-env-agent-port"] = base + 5
        ports["--min-worker-port"], ports["--max-worker-port"] = base + 6, base + PORTS_PER_NODE - 1
        return ports

    def _start(
        self, args: list[str], name: str, cpus: int | None = None, timeout: float = 60.0
    ) -> subprocess.Popen[bytes]:
        ray = str(Path(sys.executable).with_name("ray"))
        given = self._ports()
        ports = [f"{k}={v}" for k, v in given.items()]
        cmd = [
            ray,
            "start",
            "--block",
            f"--node-ip-address={HOST}",
            f"--num-cpus={self.cpus if cpus is None else cpus}",
            *args,
            *ports,
        ]
        cmd += [f"--object-store-memory={self.store}", "--disable-usage-stats"]
        log = (self.tmp / f"{name}.log").open("wb")
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=self.env, start_new_session=True)
        self.nodes.append(proc)
        self.manager_port[proc.pid] = given["--node-manager-port"]
        deadline = time.monotonic() + timeout
        while READY not in (self.tmp / f"{name}.log").read_text(errors="replace"):
            if proc.poll() is not None or time.monotonic() > deadline:
                text = (self.tmp / f"{name}.log").read_text(errors="replace")
                self.kill(proc)  # this node only: the others keep running
                self.nodes.remove(proc)
                raise RuntimeError(f"ray node {name} did not start:\n{text[-3000:]}")
            time.sleep(0.1)
        return proc

    def start(self, head_cpus: int | None = None) -> LocalRayCluster:
        """Start the head (no dashboard; ``head_cpus=0``: it runs no tasks); add workers with :meth:`add_worker`."""
        self.port = _free_block(1, self._next_port)
        self._next_port = self.port + 1
        args = ["--head", f"--port={self.port}", "--include-dashboard=false", f"--temp-dir={self.tmp}"]
        self._start(args, "head", cpus=head_cpus)
        return self

    def add_worker(self) -> subprocess.Popen[bytes]:
        """Start one more worker node joined to the head."""
        return self._start([f"--address={self.address}"], f"worker{len(self.nodes)}")

    def kill(self, node: subprocess.Popen[bytes]) -> None:
        """Kill a node abruptly: SIGKILL to its whole process group (raylet, its workers, agents)."""
        _killpg(node.pid, signal.SIGKILL)
        node.wait()

    def pids(self) -> list[int]:
        """The processes of the cluster still alive: every process in one of its nodes' sessions."""
        sids = {p.pid for p in self.nodes}
        out = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[3]) in sids and fields[0] != "Z":  # session id; zombies are already dead
                out.append(int(stat.parent.name))
        return out

    def listening_ports(self) -> set[int]:
        """The TCP ports the cluster's processes listen on (from /proc: socket inodes of their open files)."""
        inodes: set[str] = set()
        for pid in self.pids():
            try:
                links = [os.readlink(fd) for fd in Path(f"/proc/{pid}/fd").iterdir()]
            except OSError:
                continue
            inodes.update(link[8:-1] for link in links if link.startswith("socket:["))
        ports = set()
        for table in ("/proc/net/tcp", "/proc/net/tcp6"):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                if fields[3] == "0A" and fields[9] in inodes:  # 0A: LISTEN
                    ports.add(int(fields[1].rsplit(":", 1)[1], 16))
        return ports

    def stop(self) -> None:
        """SIGTERM each node's group, then SIGKILL whatever is left; wait until nothing of it runs."""
        for node in self.nodes:
            _killpg(node.pid, signal.SIGTERM)
        deadline = time.monotonic() + 2
        while self.pids() and time.monotonic() < deadline:
            time.sleep(0.1)
        for node in self.nodes:
            _killpg(node.pid, signal.SIGKILL)
        for pid in self.pids():  # a process that left its group but not its session
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for node in self.nodes:
            node.wait()
        shutil.rmtree(self.tmp, ignore_errors=True)


def _killpg(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        pass
