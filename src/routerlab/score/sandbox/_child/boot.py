"""Entry point of a sandbox process (stdlib only): ``python -I -B -c <loader> ROLE``, its config on stdin.

``ROLE`` is ``tests`` (the trusted test process, :mod:`.harness`) or ``candidate``. A candidate process
is a *supervisor*: it applies Landlock (inherited by its child), forks the candidate — the first process
of the private PID namespace the parent created, so it sees no process outside, not even this one —
waits for it and reports how it ended (exit status, signal, CPU time) on a pipe the candidate does not
hold. The candidate then applies seccomp and the audit hook and serves the tests (:mod:`.candidate`).
"""

from __future__ import annotations

import json
import os
import resource
import sys
from collections.abc import Callable
from typing import Any

from . import candidate, guard, harness, kernel, wire

_ = wire  # imported before any restriction: nothing is read from this folder afterwards


def _layer(enabled: bool, fn: Callable[[], str]) -> str:
    if not sys.platform.startswith("linux"):
        return f"off (not Linux: {sys.platform})"
    if not enabled:
        return "off (disabled)"
    try:
        return fn()
    except Exception as exc:  # a missing libc symbol or kernel feature: the layer is off, and says why
        return f"off ({type(exc).__name__}: {exc})"


def _flush() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BaseException:  # a full output file must not hide the verdict
            pass


def _tests(cfg: dict[str, Any], roots: list[str]) -> None:
    workdir = cfg["workdir"]
    layers = {
        "landlock": _layer(cfg["landlock"], lambda: kernel.landlock(workdir, roots)),
        "seccomp": _layer(cfg["seccomp"], kernel.seccomp),
    }
    verdict = harness.run(cfg, cfg["req_fd"], cfg["resp_fd"])
    os.close(cfg["req_fd"])  # the candidate sees the end of the requests and reports
    _flush()
    verdict["layers"] = layers
    os.write(cfg["status_fd"], (json.dumps(verdict) + "\n").encode())


def _candidate(cfg: dict[str, Any], roots: list[str]) -> None:
    workdir = cfg["workdir"]
    landlock = _layer(cfg["landlock"], lambda: kernel.landlock(workdir, roots))
    pid = os.fork()
    if pid == 0:
        try:
            os.close(cfg["supervisor_fd"])
            kernel.die_with_parent()
            resource.setrlimit(resource.RLIMIT_NPROC, (cfg["max_processes"], cfg["max_processes"]))
            layers = {"seccomp": _layer(cfg["seccomp"], kernel.seccomp)}
            hook = guard.Guard(workdir, roots)
            if cfg["audit_hook"]:
                sys.addaudithook(hook)
            layers["audit_hook"] = "on" if cfg["audit_hook"] else "off (disabled)"
            candidate.serve(cfg["solution"], cfg["req_fd"], cfg["resp_fd"], cfg["report_fd"], hook.violations, layers)
        except BaseException:  # the candidate's own failures are reported by serve; this is the last resort
            pass
        finally:
            _flush()
            os._exit(0)
    for fd in (cfg["req_fd"], cfg["resp_fd"], cfg["report_fd"]):
        os.close(fd)
    _, status, usage = os.wait4(pid, 0)
    ended: dict[str, Any] = {"landlock": landlock, "cpu_s": round(usage.ru_utime + usage.ru_stime, 4)}
    if os.WIFSIGNALED(status):
        ended["signal"] = os.WTERMSIG(status)
    else:
        ended["exit"] = os.WEXITSTATUS(status)
    os.write(cfg["supervisor_fd"], (json.dumps(ended) + "\n").encode())


def main(role: str) -> None:
    """Read the config from stdin, run ``role``, exit without running any interpreter teardown hooks."""
    sandbox_dir = sys.path.pop(0)  # the loader put this package's folder first; the candidate must not import it
    del sandbox_dir
    cfg = json.loads(sys.stdin.buffer.read().decode("utf-8"))
    os.chdir(cfg["workdir"])
    roots = kernel.read_roots(cfg["workdir"])
    if role == "tests":
        _tests(cfg, roots)
    else:
        _candidate(cfg, roots)
    _flush()
    os._exit(0)
