"""Run model-written code against unit tests so that the verdict is decided where the code cannot reach.

`routing-plateau.txt` (arXiv:2606.07587) App. D scores code benchmarks "by unit-test execution";
`unsolvability-ceiling-artifacts.txt` ("Unsolvability Ceiling in Multi-LLM Routing") §3.1 scores HumanEval and MBPP. A
scorer that runs untrusted code in the process that decides pass/fail can be talked into "passed": an object whose
``__eq__`` always answers True, a patched ``builtins`` or ``json.dumps``, a forged status line, an audit hook switched
off. So :func:`run_sandboxed` runs **two** processes:

* the **candidate process** runs the model's program and nothing else. It answers calls from the tests
  over a pipe, sending results as data (:mod:`._child.wire`): exact builtin types, rebuilt by the
  receiver, or opaque handles for anything else. It holds no secret and no pipe to the scorer's verdict.
* the **test process** runs the item's tests with the trusted context (a HumanEval prompt and its helper
  functions, an MBPP ``test_setup``) and decides pass/fail. The candidate's functions are proxies there;
  their results are genuine values compared by Python's own ``==``. Its verdict reaches the scorer on a
  pipe only it holds.

Layers around the candidate, each reported in ``SandboxResult.layers`` ("on ..." or "off (why)"):

* private **namespaces** made between fork and exec: network (no route anywhere), PID (the candidate is
  the first process of its own PID namespace: it sees and can signal no process outside, not the scorer,
  not its supervisor), mount (a size- and inode-limited **tmpfs** as working directory: the disk quota;
  an empty read-only ``/proc``: no other process's memory, environment or command line), IPC and UTS.
  Root gets them directly; other users through a user namespace where the kernel allows one;
* **Landlock** (Linux >= 5.13): reads only beneath the Python installation, ``sys.path`` and the system's
  shared libraries, writes only in the working directory, no TCP, and (ABI >= 6) no signal to a process
  outside its domain;
* **seccomp**: no fork/exec, no ``socket``, no signal except to itself, no ptrace or
  ``process_vm_*``, no new namespaces, mounts, keyrings, BPF, perf or io_uring; i386 system calls denied;
* resource limits: CPU seconds, address space, file size (caps stdout, stderr and every file), open
  files, no core dumps; ``no_new_privs`` and an empty capability bounding set;
* an audit hook that records violations (so a caught ``PermissionError`` still scores 0 with its reason).

Statuses: ``passed``; ``test_failed`` (an assertion in the tests failed); ``runtime_error``;
``syntax_error``; ``timeout``; ``memory``; ``output_truncated``; ``exited_early`` (the program exited
before the tests finished); ``crashed`` (killed by a signal); ``protocol_error`` (the candidate sent
something that is not data); ``disk_quota``; a violation (``fork_blocked``, ``network_blocked``,
``write_blocked``, ``read_blocked``, ``signal_blocked``, ``limit_blocked``, ``ffi_blocked``); and
``harness_error`` — the *tests* do not compile or their setup raises: not the model's fault, no outcome.
Text that the candidate controls (its exception messages, its stderr) is returned in ``untrusted_*``
fields, capped, never mixed into ``error``.

What it does not promise: it is not a VM. A kernel bug, a side channel, or a layer reported "off" on an
old kernel weakens it; the candidate can read the Python installation and its own working directory and
can use its CPU, memory and time limits in full. Limits are applied with ``preexec_fn``: call
:func:`run_sandboxed` from one thread per process (parallelise with processes).
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import math
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import IO, Any

from routerlab.score.sandbox._child.guard import KINDS as VIOLATION_KINDS

__all__ = ["STATUSES", "SandboxLimits", "SandboxResult", "run_sandboxed", "sandbox_layers"]

_HERE = Path(__file__).resolve().parent
_LOADER = "import sys; sys.path.insert(0, sys.argv[2]); from _child import boot; boot.main(sys.argv[1])"
_CLONE_NEWNS, _CLONE_NEWUTS, _CLONE_NEWIPC = 0x00020000, 0x04000000, 0x08000000
_CLONE_NEWUSER, _CLONE_NEWPID, _CLONE_NEWNET = 0x10000000, 0x20000000, 0x40000000
_MS_RDONLY, _MS_NOSUID, _MS_NODEV, _MS_NOEXEC, _MS_REC, _MS_PRIVATE = 1, 2, 4, 8, 1 << 14, 1 << 18
_PR_SET_NO_NEW_PRIVS, _PR_CAPBSET_DROP = 38, 24
_REPORT_CAP = 1 << 16
#: every status a run can end with (the module docstring says what each means)
STATUSES = frozenset(
    {"passed", "test_failed", "runtime_error", "syntax_error", "timeout", "memory", "output_truncated",
     "exited_early", "crashed", "protocol_error", "disk_quota", "harness_error"} | VIOLATION_KINDS
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class SandboxLimits:
    """Limits of one sandboxed run.

    Attributes:
        timeout_s: wall-clock limit for the whole run; both processes are killed after it.
        cpu_s: CPU-time limit per process (``RLIMIT_CPU``); default ``ceil(timeout_s)``.
        memory_mb: address-space limit (``RLIMIT_AS``) per process, in MiB.
        max_output_bytes: ``RLIMIT_FSIZE``: caps stdout, stderr and each file the code writes.
        max_open_files: ``RLIMIT_NOFILE``.
        max_processes: ``RLIMIT_NPROC`` (0: no new process; ignored by the kernel for uid 0).
        disk_mb: size of the tmpfs working directory (the disk quota), in MiB.
        max_files: inodes of that tmpfs (files and folders the code may create).
        network_namespace: run in private namespaces (network, mount, IPC, UTS) when the kernel allows it.
        pid_namespace: run the candidate as the first process of its own PID namespace.
        landlock: confine reads and writes with Landlock when available.
        seccomp: the system-call filter when available.
        audit_hook: record and block violations in the interpreter (turn off only to test the kernel layers).

    """

    timeout_s: float = 10.0
    cpu_s: int | None = None
    memory_mb: int = 512
    max_output_bytes: int = 1 << 20
    max_open_files: int = 64
    max_processes: int = 0
    disk_mb: int = 64
    max_files: int = 1024
    network_namespace: bool = True
    pid_namespace: bool = True
    landlock: bool = True
    seccomp: bool = True
    audit_hook: bool = True

    def __post_init__(self) -> None:
        if (
            not self.timeout_s > 0
            or self.memory_mb < 16
            or self.max_output_bytes < 1024
            or self.max_open_files < 16
            or self.disk_mb < 1
            or self.max_files < 16
        ):
            raise ValueError(
                "SandboxLimits need timeout_s > 0, memory_mb >= 16, max_output_bytes >= 1024, "
                f"max_open_files >= 16, disk_mb >= 1 and max_files >= 16. Got {self}."
            )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (recorded in the scorer spec)."""
        return asdict(self)


@dataclass(frozen=True, slots=True)
class SandboxResult:
    """What happened in one sandboxed run; ``status`` is one of :data:`STATUSES`.

    ``error`` is written by the trusted side only (the scorer or the test process); ``stdout``,
    ``stderr`` and ``untrusted_error`` carry text the candidate controls.
    """

    status: str
    returncode: int | None
    stdout: str
    stderr: str
    duration_s: float
    error: str | None = None
    violations: tuple[Mapping[str, str], ...] = ()
    layers: Mapping[str, str] = field(default_factory=dict)
    output_truncated: bool = False
    untrusted_error: str | None = None

    @property
    def passed(self) -> bool:
        """True when the tests ran to the end without error or violation."""
        return self.status == "passed"


# ------------------------------------------------------------------------------------ spawning
@lru_cache(maxsize=1)
def _libc() -> Any:
    try:
        return ctypes.CDLL(None, use_errno=True)
    except OSError:  # not a glibc/musl system: the kernel-level extras are skipped
        return None


def _preexec(limits: SandboxLimits, workdir: str, *, candidate: bool, report_fd: int) -> Callable[[], None]:
    """Runs in the child between fork and exec: limits, namespaces, tmpfs, capabilities; reports what took."""
    libc = _libc() if sys.platform.startswith("linux") else None
    unshare = getattr(libc, "unshare", None) if limits.network_namespace else None
    mount = getattr(libc, "mount", None)
    prctl = getattr(libc, "prctl", None)
    cpu = limits.cpu_s if limits.cpu_s is not None else max(1, math.ceil(limits.timeout_s))
    memory = limits.memory_mb << 20
    uid, gid, root = os.getuid(), os.getgid(), os.geteuid() == 0
    want_pid = candidate and limits.pid_namespace
    flags = _CLONE_NEWNET | _CLONE_NEWNS | _CLONE_NEWIPC | _CLONE_NEWUTS | (_CLONE_NEWPID if want_pid else 0)
    tmpfs = f"size={limits.disk_mb}m,nr_inodes={limits.max_files},mode=0700".encode()
    target = workdir.encode()

    def errno_text() -> str:
        return f"off (errno {ctypes.get_errno()})"

    def namespaces(state: dict[str, str]) -> None:
        if unshare is None:
            state["network_namespace"] = "off (disabled)" if not limits.network_namespace else "off (no libc)"
            return
        if not root:  # an unprivileged user gets the other namespaces through a user namespace
            if unshare(_CLONE_NEWUSER) != 0:
                state["user_namespace"] = errno_text()
            else:
                for name, text in (("setgroups", "deny"), ("uid_map", f"0 {uid} 1"), ("gid_map", f"0 {gid} 1")):
                    with open(f"/proc/self/{name}", "w") as fh:
                        fh.write(text)
                state["user_namespace"] = "on"
        if unshare(flags) != 0:
            state["pid_namespace"] = state["disk_quota"] = errno_text()
            state["network_namespace"] = "on" if unshare(_CLONE_NEWNET) == 0 else errno_text()
            return
        state["network_namespace"] = "on"
        state["pid_namespace"] = "on" if want_pid else "off (not for this process)"
        if mount is None or mount(None, b"/", None, _MS_REC | _MS_PRIVATE, None) != 0:
            state["disk_quota"] = errno_text()
            return
        if mount(b"tmpfs", target, b"tmpfs", _MS_NOSUID | _MS_NODEV, tmpfs) == 0:
            os.chdir(workdir)  # the cwd was set before the mount and still points beneath it
            state["disk_quota"] = f"on (tmpfs {limits.disk_mb} MiB, {limits.max_files} inodes)"
        else:
            state["disk_quota"] = errno_text()
        hide = _MS_RDONLY | _MS_NOSUID | _MS_NODEV | _MS_NOEXEC
        ok = mount(b"tmpfs", b"/proc", b"tmpfs", hide, b"size=4k,mode=0555") == 0
        state["proc_hidden"] = "on" if ok else errno_text()

    def fn() -> None:
        state: dict[str, str] = {}
        os.umask(0o077)
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
        resource.setrlimit(resource.RLIMIT_FSIZE, (limits.max_output_bytes, limits.max_output_bytes))
        resource.setrlimit(resource.RLIMIT_NOFILE, (limits.max_open_files, limits.max_open_files))
        try:
            namespaces(state)
        except OSError as exc:
            state.setdefault("network_namespace", f"off ({exc})")
        if not candidate:  # the candidate's supervisor must fork once; its child sets this limit itself
            resource.setrlimit(resource.RLIMIT_NPROC, (limits.max_processes, limits.max_processes))
        if prctl is not None:
            prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
            for cap in range(64):  # empty the bounding set: uid 0 keeps no capability across exec
                if prctl(_PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
                    break
        os.write(report_fd, json.dumps(state).encode())
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))  # last: the parent image may be larger

    return fn


def _feed(proc: subprocess.Popen[bytes], config: Mapping[str, Any]) -> None:
    assert proc.stdin is not None
    with contextlib.suppress(BrokenPipeError, OSError):  # a child that died early is judged by its exit
        proc.stdin.write(json.dumps(config).encode("utf-8"))
    with contextlib.suppress(BrokenPipeError, OSError):
        proc.stdin.close()


def _read_pipe(fd: int, cap: int = _REPORT_CAP) -> bytes:
    os.set_blocking(fd, False)
    chunks, total = [], 0
    while total < cap:
        try:
            chunk = os.read(fd, cap - total)
        except BlockingIOError:
            break
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
    return b"".join(chunks)


def _json_line(raw: bytes) -> dict[str, Any]:
    try:
        loaded = json.loads(raw.decode("utf-8", errors="replace").splitlines()[0]) if raw.strip() else None
    except (json.JSONDecodeError, IndexError, RecursionError):
        return {}
    return loaded if isinstance(loaded, dict) else {}


def _read_capped(fh: IO[bytes], cap: int) -> tuple[str, bool]:
    fh.seek(0, os.SEEK_END)
    size = fh.tell()
    fh.seek(0)
    return fh.read(cap).decode("utf-8", errors="replace"), size >= cap


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def _disk_usage(path: str, stop_at: int) -> int:
    """Bytes under ``path`` (stops counting past ``stop_at``): the quota's fallback without a tmpfs."""
    total = 0
    for folder, _, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(folder, name)).st_blocks * 512
            if total > stop_at:
                return total
    return total


# ------------------------------------------------------------------------------------ verdict
def _signal_name(number: int) -> str:
    try:
        return f"{number} ({signal.Signals(number).name})"
    except ValueError:
        return str(number)


def _candidate_ending(ended: Mapping[str, Any], cpu_limit: int) -> tuple[str, str]:
    """Status and reason for a candidate process that went away before the tests finished."""
    sig, code, cpu = ended.get("signal"), ended.get("exit"), ended.get("cpu_s")
    cpu_spent = isinstance(cpu, int | float) and cpu >= cpu_limit - 0.05
    if isinstance(sig, int):
        if sig == signal.SIGXCPU or (sig == signal.SIGKILL and cpu_spent):
            return "timeout", "CPU time limit"
        return "crashed", f"the program was killed by signal {_signal_name(sig)}"
    if isinstance(code, int):
        return "exited_early", f"the program exited with status {code} before the tests finished"
    return "crashed", "the candidate process ended without a report"


def _violations(report: Mapping[str, Any]) -> tuple[dict[str, str], ...]:
    """The candidate's advisory violations, kept only in the known shape (they can only lower a score)."""
    raw = report.get("violations")
    if not isinstance(raw, list):
        return ()
    kept = []
    for v in raw[:20]:
        if isinstance(v, dict) and v.get("kind") in VIOLATION_KINDS:
            kept.append({k: str(v.get(k, ""))[:200] for k in ("kind", "event", "args")})
    return tuple(kept)


def _sanitize(text: str | None, cap: int = 2000) -> str | None:
    """Untrusted text made safe to store and print: capped, no control characters but newline and tab."""
    if text is None:
        return None
    text = text[-cap:]
    return "".join(c if c in "\n\t" or (c.isprintable() and c not in "\u202e\u202d") else "\ufffd" for c in text)


# ------------------------------------------------------------------------------------ running
def run_sandboxed(
    solution: str,
    tests: str = "",
    *,
    setup: str = "",
    entry_point: str | None = None,
    limits: SandboxLimits | None = None,
    python: str | None = None,
) -> SandboxResult:
    """Run ``solution`` in the candidate process and ``tests`` against it in the test process.

    Args:
        solution: the candidate program (untrusted).
        tests: test code (asserts, ``def check(candidate)`` followed by ``check(entry_point)``); it sees the
            candidate's top-level names as proxies, except names ``setup`` defines.
        setup: trusted code run before the tests in the test process (a HumanEval prompt with its helper
            functions, an MBPP ``test_setup``); its definitions win over the candidate's.
        entry_point: a name always bound to the candidate's definition (HumanEval's function).
        limits: the limits; default :class:`SandboxLimits()`.
        python: the interpreter; default the running one (``sys.executable``).

    """
    limits = limits or SandboxLimits()
    cpu_limit = limits.cpu_s if limits.cpu_s is not None else max(1, math.ceil(limits.timeout_s))
    start = time.monotonic()
    dirs = [tempfile.mkdtemp(prefix="routerlab-sandbox-") for _ in range(2)]
    fds: list[int] = []

    def pipe() -> tuple[int, int]:
        r, w = os.pipe()
        fds.extend((r, w))
        return r, w

    def close(*numbers: int) -> None:
        for fd in numbers:
            if fd in fds:
                fds.remove(fd)
                with contextlib.suppress(OSError):
                    os.close(fd)

    req_r, req_w = pipe()
    resp_r, resp_w = pipe()
    report_r, report_w = pipe()
    sup_r, sup_w = pipe()
    status_r, status_w = pipe()
    cl_r, cl_w = pipe()
    tl_r, tl_w = pipe()
    env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "OMP_NUM_THREADS": "1",
           "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}  # fmt: skip
    exe = python or sys.executable
    common = {"landlock": limits.landlock, "seccomp": limits.seccomp, "audit_hook": limits.audit_hook}
    procs: list[subprocess.Popen[bytes]] = []
    timed_out = quota_hit = False
    try:
        with (
            tempfile.TemporaryFile() as c_out,
            tempfile.TemporaryFile() as c_err,
        ):

            def spawn(
                role: str, workdir: str, out: IO[bytes] | int, err: IO[bytes] | int, keep: tuple[int, ...], lay: int
            ) -> Any:
                proc = subprocess.Popen(
                    [exe, "-I", "-B", "-c", _LOADER, role, str(_HERE)],
                    stdin=subprocess.PIPE,
                    stdout=out,
                    stderr=err,
                    cwd=workdir,
                    env={**env, "HOME": workdir, "TMPDIR": workdir},
                    pass_fds=keep,
                    start_new_session=True,
                    preexec_fn=_preexec(limits, workdir, candidate=role == "candidate", report_fd=lay),
                )
                procs.append(proc)
                return proc

            cand = spawn("candidate", dirs[0], c_out, c_err, (req_r, resp_w, report_w, sup_w), cl_w)
            close(req_r, resp_w, report_w, sup_w, cl_w)  # the candidate alone holds these ends now
            _feed(cand, {**common, "role": "candidate", "workdir": dirs[0], "solution": solution, "req_fd": req_r,
                         "max_processes": limits.max_processes,
                         "resp_fd": resp_w, "report_fd": report_w, "supervisor_fd": sup_w})  # fmt: skip
            # the test process's own output is never stored (its verdict comes on status_w)
            tester = spawn("tests", dirs[1], subprocess.DEVNULL, subprocess.DEVNULL, (req_w, resp_r, status_w), tl_w)
            close(req_w, resp_r, status_w, tl_w)
            _feed(tester, {**common, "role": "tests", "workdir": dirs[1], "solution": solution, "tests": tests,
                           "setup": setup, "entry_point": entry_point, "req_fd": req_w, "resp_fd": resp_r,
                           "status_fd": status_w})  # fmt: skip
            cand_layers = _json_line(_read_pipe(cl_r))
            watch = not str(cand_layers.get("disk_quota", "")).startswith("on")
            quota = limits.disk_mb << 20
            deadline = start + limits.timeout_s
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    timed_out = True
                    break
                try:
                    tester.wait(timeout=min(remaining, 0.05) if watch else remaining)
                    break
                except subprocess.TimeoutExpired:
                    if watch and _disk_usage(dirs[0], quota) > quota:
                        quota_hit = True
                        break
            if not (timed_out or quota_hit):
                with contextlib.suppress(subprocess.TimeoutExpired):
                    cand.wait(timeout=2.0)  # it saw the end of the requests and is writing its report
            for proc in procs:
                _kill_group(proc.pid)
            for proc in procs:
                proc.wait()
            duration = time.monotonic() - start
            stdout, out_full = _read_capped(c_out, limits.max_output_bytes)
            stderr, err_full = _read_capped(c_err, limits.max_output_bytes)
        verdict = _json_line(_read_pipe(status_r))
        ended = _json_line(_read_pipe(sup_r))
        advisory = _json_line(_read_pipe(report_r))
        tests_layers = _json_line(_read_pipe(tl_r))
    finally:
        close(*list(fds))
        for proc in procs:
            if proc.poll() is None:
                _kill_group(proc.pid)
                proc.wait()
        for d in dirs:
            shutil.rmtree(d, ignore_errors=True)

    truncated = out_full or err_full
    violations = _violations(advisory)
    error: str | None = verdict.get("error") if isinstance(verdict.get("error"), str) else None
    untrusted = verdict.get("untrusted") if isinstance(verdict.get("untrusted"), str) else None
    status = str(verdict.get("status", ""))
    if timed_out:
        status, error = "timeout", f"killed after {limits.timeout_s:g} s wall clock"
    elif quota_hit:
        status, error = "disk_quota", f"the working directory grew past {limits.disk_mb} MiB"
    elif not verdict:
        status = "crashed"
        error = f"the test process ended without a verdict (exit {tester.returncode})"
    elif status == "candidate_exited":
        status, error = _candidate_ending(ended, cpu_limit)
    elif status not in STATUSES:
        status, error = "crashed", "the test process sent an unknown status"
    if violations and status != "harness_error" and status != "syntax_error":
        status = violations[0]["kind"]
        error = None if verdict.get("status") == "passed" else error
    if truncated and status in ("runtime_error", "test_failed", "exited_early", "crashed"):
        status = "output_truncated"
    layers: dict[str, str] = {}
    for source in (cand_layers, {"landlock": ended.get("landlock")}, advisory.get("layers")):
        if isinstance(source, dict):
            layers.update({str(k): str(v)[:200] for k, v in source.items() if v is not None})
    if isinstance(verdict.get("layers"), dict):
        layers.update({f"tests_{k}": str(v)[:200] for k, v in verdict["layers"].items()})
    layers.update({f"tests_{k}": str(v)[:200] for k, v in tests_layers.items()})
    return SandboxResult(
        status=status,
        returncode=ended.get("exit") if isinstance(ended.get("exit"), int) else (
            -ended["signal"] if isinstance(ended.get("signal"), int) else None),
        stdout=_sanitize(stdout, limits.max_output_bytes) or "",
        stderr=_sanitize(stderr, limits.max_output_bytes) or "",
        duration_s=round(duration, 4),
        error=error,
        violations=violations,
        layers=layers,
        output_truncated=truncated,
        untrusted_error=_sanitize(untrusted, 500),
    )  # fmt: skip


def sandbox_layers(limits: SandboxLimits | None = None) -> dict[str, str]:
    """Which sandbox layers work on this machine: runs a trivial program and returns its report."""
    result = run_sandboxed("pass", "", limits=limits)
    layers = dict(result.layers)
    layers["rlimits"] = "on (RLIMIT_NPROC ignored for uid 0)" if os.geteuid() == 0 else "on"
    return layers
