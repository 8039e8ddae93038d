"""Unit-test scoring of generated code (HumanEval, MBPP) in a sandboxed subprocess.

`routing-plateau.txt` App. D: "code benchmarks use unit-test execution"; `unsolvability-ceiling-artifacts.txt`
§3.1 scores HumanEval and MBPP (§6.3: small tiers write 50-65% more tokens, so truncated code is common
and must score 0 with its reason, not crash the run).

The sandbox (:func:`run_sandboxed`) layers, each best effort and reported in ``SandboxResult.layers``:

* a fresh temporary working directory (removed afterwards), ``python -I -B`` (isolated mode: no user
  site, no ``PYTHON*`` variables), a stripped environment, its own session so the whole process group
  is killed on timeout;
* resource limits set between fork and exec: CPU seconds, address space (memory), file size (which caps
  stdout, stderr and every file written), open files, processes (``RLIMIT_NPROC``; the kernel does not
  apply it to uid 0), no core dumps;
* a private network namespace (``unshare(CLONE_NEWNET)``; needs CAP_SYS_ADMIN, so usually only as root
  outside Docker's default profile), ``no_new_privs`` and an emptied capability bounding set (so uid 0
  code cannot raise its limits back);
* inside the interpreter (see :mod:`routerlab.score._sandbox_boot`): Landlock write confinement,
  a seccomp filter against fork/exec/sockets and an audit hook that blocks and records violations.

Each failure is a status, and the :class:`CodeScorer` scores it 0 with that status as the reason:
``timeout``, ``memory``, ``fork_blocked``, ``network_blocked``, ``write_blocked``, ``signal_blocked``,
``ffi_blocked``, ``limit_blocked``, ``output_truncated``, ``syntax_error``, ``test_failed``,
``runtime_error``, ``exited_early`` (the code exited before the tests finished), ``crashed`` (killed by a
signal without a report), ``harness_error`` (the *tests* do not compile: not the model's fault, so the
score is NaN — no outcome — rather than 0), and
``no_code``. This contains accidents and the usual escapes of model-written code; it is not a
security boundary against a determined attacker (run untrusted code in a container or VM for that):
reads are not restricted, and code that digs the bootstrap's nonce out of interpreter memory could fake a
pass. Limits are applied with ``preexec_fn``, so call :func:`run_sandboxed` from one thread per process
(parallelise with processes).
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import math
import os
import re
import resource
import secrets
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
from typing import Any

from routerlab.score.base import Score, ScoreItem, ScorerSpec

__all__ = [
    "UNPARSED_STATUSES",
    "CodeScorer",
    "SandboxLimits",
    "SandboxResult",
    "build_program",
    "extract_code",
    "run_sandboxed",
    "sandbox_layers",
]

_VERSION = "1"
_BOOT = Path(__file__).with_name("_sandbox_boot.py")
_CLONE_NEWNET = 0x40000000
_PR_SET_NO_NEW_PRIVS, _PR_CAPBSET_DROP = 38, 24
#: statuses that mean the candidate's code could not even be read as a program
UNPARSED_STATUSES = frozenset({"no_code", "syntax_error"})


@dataclass(frozen=True, slots=True)
class SandboxLimits:
    """Limits of one sandboxed run.

    Attributes:
        timeout_s: wall-clock limit; the process group is killed after it.
        cpu_s: CPU-time limit (``RLIMIT_CPU``); default ``ceil(timeout_s)``.
        memory_mb: address-space limit (``RLIMIT_AS``) in MiB.
        max_output_bytes: ``RLIMIT_FSIZE``: caps stdout, stderr and each file the code writes.
        max_open_files: ``RLIMIT_NOFILE``.
        max_processes: ``RLIMIT_NPROC`` (0: no new process or thread; ignored by the kernel for uid 0).
        network_namespace: run in a private network namespace when the kernel allows it.
        landlock: confine writes to the working directory with Landlock when available.
        seccomp: deny fork/exec/sockets with a seccomp filter when available.
        audit_hook: block and record violations with an audit hook (turn off only to test the kernel layers).

    """

    timeout_s: float = 10.0
    cpu_s: int | None = None
    memory_mb: int = 512
    max_output_bytes: int = 1 << 20
    max_open_files: int = 64
    max_processes: int = 0
    network_namespace: bool = True
    landlock: bool = True
    seccomp: bool = True
    audit_hook: bool = True

    def __post_init__(self) -> None:
        if not self.timeout_s > 0 or self.memory_mb < 16 or self.max_output_bytes < 1024 or self.max_open_files < 8:
            raise ValueError(
                "SandboxLimits need timeout_s > 0, memory_mb >= 16, max_output_bytes >= 1024 and "
                f"max_open_files >= 8. Got {self}."
            )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (recorded in the scorer spec)."""
        return asdict(self)


@dataclass(frozen=True, slots=True)
class SandboxResult:
    """What happened in one sandboxed run; ``status`` is one of the words in the module docstring."""

    status: str
    returncode: int | None
    stdout: str
    stderr: str
    duration_s: float
    error: str | None = None
    violations: tuple[Mapping[str, str], ...] = ()
    layers: Mapping[str, str] = field(default_factory=dict)
    output_truncated: bool = False

    @property
    def passed(self) -> bool:
        """True when the solution and the tests ran to the end without error or violation."""
        return self.status == "passed"


# ------------------------------------------------------------------------------------ running
@lru_cache(maxsize=1)
def _libc() -> Any:
    try:
        return ctypes.CDLL(None, use_errno=True)
    except OSError:  # not a glibc/musl system: the kernel-level extras are skipped
        return None


def _preexec(limits: SandboxLimits) -> Callable[[], None]:
    """Runs in the child between fork and exec: limits, network namespace, no_new_privs, capabilities."""
    libc = _libc() if sys.platform.startswith("linux") else None
    unshare = getattr(libc, "unshare", None) if limits.network_namespace else None
    prctl = getattr(libc, "prctl", None)
    cpu = limits.cpu_s if limits.cpu_s is not None else max(1, math.ceil(limits.timeout_s))
    memory = limits.memory_mb << 20

    def fn() -> None:
        os.umask(0o077)
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
        resource.setrlimit(resource.RLIMIT_FSIZE, (limits.max_output_bytes, limits.max_output_bytes))
        resource.setrlimit(resource.RLIMIT_NOFILE, (limits.max_open_files, limits.max_open_files))
        if unshare is not None:
            unshare(_CLONE_NEWNET)  # fails without CAP_SYS_ADMIN; the boot script reports whether it took
        resource.setrlimit(resource.RLIMIT_NPROC, (limits.max_processes, limits.max_processes))
        if prctl is not None:
            prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
            for cap in range(64):  # empty the bounding set: uid 0 keeps no capability across exec
                if prctl(_PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
                    break
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))  # last: the parent image may be larger

    return fn


def _read_capped(fh: Any, cap: int) -> tuple[str, bool]:
    fh.seek(0, os.SEEK_END)
    size = fh.tell()
    fh.seek(0)
    data = fh.read(cap)
    return data.decode("utf-8", errors="replace"), size >= cap


def _read_status(fd: int, nonce: str) -> dict[str, Any] | None:
    os.set_blocking(fd, False)
    chunks = []
    total = 0
    while total < 1 << 20:
        try:
            chunk = os.read(fd, 65536)
        except BlockingIOError:
            break
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
    for line in b"".join(chunks).decode("utf-8", errors="replace").splitlines():
        head, _, body = line.partition(" ")
        if secrets.compare_digest(head, nonce):
            try:
                loaded = json.loads(body)
            except json.JSONDecodeError:
                return None
            return loaded if isinstance(loaded, dict) else None
    return None


def _signal_name(number: int) -> str:
    try:
        return f"{number} ({signal.Signals(number).name})"
    except ValueError:
        return str(number)


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def run_sandboxed(
    solution: str, tests: str = "", *, limits: SandboxLimits | None = None, python: str | None = None
) -> SandboxResult:
    """Run ``solution`` then ``tests`` (Python source) in one namespace inside the sandbox.

    Args:
        solution: the candidate program.
        tests: code run after it (asserts, ``check(entry_point)``); an ``AssertionError`` there is
            ``test_failed``.
        limits: the limits; default :class:`SandboxLimits()`.
        python: the interpreter; default the running one (``sys.executable``).

    """
    limits = limits or SandboxLimits()
    nonce = secrets.token_hex(16)
    workdir = tempfile.mkdtemp(prefix="routerlab-sandbox-")
    harness = tempfile.mkdtemp(prefix="routerlab-harness-")
    read_fd, write_fd = os.pipe()
    start = time.monotonic()
    timed_out = False
    try:
        try:
            parent_netns = os.stat("/proc/self/ns/net").st_ino
        except OSError:
            parent_netns = None
        config = {
            "nonce": nonce, "status_fd": write_fd, "workdir": workdir, "solution": solution, "tests": tests,
            "parent_netns": parent_netns, "landlock": limits.landlock, "seccomp": limits.seccomp,
            "audit_hook": limits.audit_hook,
        }  # fmt: skip
        cfg_path = os.path.join(harness, "config.json")
        with open(cfg_path, "w", encoding="utf-8") as fh:
            json.dump(config, fh)
        env = {
            "PATH": "/usr/bin:/bin", "HOME": workdir, "TMPDIR": workdir, "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8",
            "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
        }  # fmt: skip
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            proc = subprocess.Popen(
                [python or sys.executable, "-I", "-B", str(_BOOT), cfg_path],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                cwd=workdir,
                env=env,
                pass_fds=(write_fd,),
                start_new_session=True,
                preexec_fn=_preexec(limits),  # limits must be set between fork and exec
            )
            os.close(write_fd)
            write_fd = -1
            try:
                proc.wait(timeout=limits.timeout_s)
            except subprocess.TimeoutExpired:
                timed_out = True
                _kill_group(proc.pid)
                proc.wait()
            _kill_group(proc.pid)  # anything left in the session
            duration = time.monotonic() - start
            stdout, out_full = _read_capped(out, limits.max_output_bytes)
            stderr, err_full = _read_capped(err, limits.max_output_bytes)
        report = _read_status(read_fd, nonce)
    finally:
        for fd in (read_fd, write_fd):
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
        shutil.rmtree(workdir, ignore_errors=True)
        shutil.rmtree(harness, ignore_errors=True)
    rc = proc.returncode
    truncated = out_full or err_full
    error = None if report is None else report.get("error")
    if timed_out or rc == -signal.SIGXCPU:
        status = "timeout"
        error = f"killed after {limits.timeout_s:g} s wall clock" if timed_out else "CPU time limit"
    elif report is not None:
        status = str(report.get("status"))
        if truncated and status in ("runtime_error", "test_failed", "exited_early"):
            status = "output_truncated"
    elif "MemoryError" in stderr or "Cannot allocate memory" in stderr:
        status = "memory"
    elif truncated:
        status = "output_truncated"
    elif rc is not None and rc >= 0:
        status = "exited_early"
        error = f"the program exited with status {rc} before the tests finished"
    else:
        status = "crashed"
        error = f"killed by signal {_signal_name(-rc)}" if rc else "no report"
    return SandboxResult(
        status=status,
        returncode=rc,
        stdout=stdout,
        stderr=stderr,
        duration_s=round(duration, 4),
        error=error,
        violations=tuple(report.get("violations", ())) if report else (),
        layers=dict(report.get("layers", {})) if report else {},
        output_truncated=truncated,
    )


def sandbox_layers(limits: SandboxLimits | None = None) -> dict[str, str]:
    """Which sandbox layers work on this machine: runs a trivial program and returns its report."""
    result = run_sandboxed("pass", "", limits=limits)
    layers = dict(result.layers)
    layers["rlimits"] = "on (RLIMIT_NPROC ignored for uid 0)" if os.geteuid() == 0 else "on"
    return layers


# ------------------------------------------------------------------------------------ programs
_FENCE = re.compile(r"```[ \t]*(?P<lang>[\w+#.-]*)[^\n]*\n(?P<body>.*?)(?:```|\Z)", re.DOTALL)


def extract_code(response: str | None, entry_point: str | None = None) -> tuple[str | None, str]:
    """The code in a response and the rule used.

    Fenced blocks (```python ... ```, an unterminated last fence counts — truncated responses): the
    longest block that defines ``entry_point``, else the longest Python-or-untagged block. No fence: the
    whole response (a completion). Returns ``(None, "no_code")`` for an empty response.
    """
    text = re.sub(r"<think>.*?</think>", "", response or "", flags=re.DOTALL | re.IGNORECASE)
    if not text.strip():
        return None, "no_code"
    blocks = [
        (m.group("lang").lower(), m.group("body"))
        for m in _FENCE.finditer(text)
        if m.group("lang").lower() in ("", "python", "py", "python3")
    ]
    if blocks:
        if entry_point:
            defining = [
                b for _, b in blocks if re.search(rf"^\s*(?:async\s+)?def\s+{re.escape(entry_point)}\s*\(", b, re.M)
            ]
            if defining:
                return max(defining, key=len), "fenced_entry_point"
        return max((b for _, b in blocks), key=len), "fenced_longest"
    if "```" in text:
        return None, "no_code"  # only non-Python fences
    return text, "unfenced"


def build_program(code: str, item: ScoreItem) -> tuple[str, str]:
    """``(solution, tests)`` for HumanEval- or MBPP-style items.

    HumanEval (``entry_point`` set): if ``code`` defines the entry point, the solution is the prompt
    (``item.text``, which may hold helpers and imports; its docstring-only function is then redefined)
    followed by ``code``; otherwise ``code`` is a completion appended to the prompt. The tests are
    ``item.tests`` followed by ``check(entry_point)`` when they define ``check``. MBPP: the solution is
    ``code``; the tests are ``test_setup`` and the assert lines.
    """
    tests = item.tests if isinstance(item.tests, str) else "\n".join(item.tests or ())
    setup = item.test_setup or ""
    if item.entry_point:
        defines = re.search(rf"^\s*(?:async\s+)?def\s+{re.escape(item.entry_point)}\s*\(", code, re.M)
        solution = (item.text + "\n\n" + code) if defines else (item.text + code)
        if re.search(r"^def\s+check\s*\(", tests, re.M):
            tests = f"{tests}\n\ncheck({item.entry_point})\n"
    else:
        solution = code
    return solution, (setup + "\n" + tests) if setup else tests


class CodeScorer:
    """1.0 when the extracted code passes the item's unit tests in the sandbox, else 0.0 with the status.

    ``parsed`` is False when no code could be extracted or it does not compile (a format artifact, §5.3,
    or a truncated answer, §5.2). Keyword arguments are :class:`SandboxLimits` fields.
    """

    def __init__(self, **limits: Any) -> None:
        self.limits = SandboxLimits(**limits)
        self._spec = ScorerSpec("code", _VERSION, {"limits": self.limits.to_dict(), "python": sys.version.split()[0]})

    @property
    def spec(self) -> ScorerSpec:
        """Name, version and parameters (the sandbox limits and the Python version)."""
        return self._spec

    def score(self, response: str, item: ScoreItem) -> Score:
        """Extract code from ``response``, run it with ``item``'s tests, score pass/fail."""
        if not item.tests:
            raise ValueError(f"query {item.query_id!r} has no tests; the code scorer needs unit tests.")
        code, rule = extract_code(response, item.entry_point)
        if code is None:
            return Score(0.0, None, False, None, "no_code", self._spec, {"rule": rule})
        solution, tests = build_program(code, item)
        result = run_sandboxed(solution, tests, limits=self.limits)
        detail = {
            "rule": rule,
            "status": result.status,
            "error": result.error,
            "violations": [dict(v) for v in result.violations],
            "duration_s": result.duration_s,
            "returncode": result.returncode,
            "stderr_tail": result.stderr[-2000:],
            "output_truncated": result.output_truncated,
            "layers": dict(result.layers),
        }
        return Score(
            math.nan if result.status == "harness_error" else (1.0 if result.passed else 0.0),
            None,
            result.status not in UNPARSED_STATUSES,
            code,
            result.status,
            self._spec,
            detail,
        )
