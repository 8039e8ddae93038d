"""Bootstrap run inside the code sandbox's subprocess, before the candidate code (stdlib only).

Started as ``python -I -B _sandbox_boot.py CONFIG.json`` by :func:`routerlab.score.code.run_sandboxed`,
with resource limits, a network namespace and a dropped capability set already applied by the parent.
Here, in order:

1. **Landlock** (Linux >= 5.13, best effort): file writes, creations, removals and renames are allowed
   only beneath the working directory (and ``/dev/null``); with Landlock ABI >= 4 TCP bind/connect is
   denied too. Kernel-enforced and irreversible.
2. **seccomp** (x86-64 / aarch64, best effort): ``fork``/``vfork``/``clone`` without ``CLONE_THREAD``,
   ``execve``/``execveat`` and non-Unix ``socket`` fail with EPERM (``clone3`` with ENOSYS so threads
   fall back to ``clone``). Kernel-enforced and irreversible.
3. An **audit hook** (:pep:`578`; hooks cannot be removed) that blocks and *records* process creation,
   network use, writes outside the working directory, signals to other processes, changing resource
   limits and calling C functions through ``ctypes``/``cffi``. Recording is what lets the parent score a
   violation 0 with the reason
   even when the code catches the exception.
4. The candidate code, then the tests, in one fresh namespace.

The result goes to the parent through an inherited pipe as ``NONCE JSON``; the nonce proves the line came
from this bootstrap after the tests ran, so ``sys.exit(0)`` or ``os._exit(0)`` in the candidate cannot fake
a pass. Audit hooks are not a security boundary on their own (CPython documents as much); the kernel layers
above are the backstop.
"""

from __future__ import annotations

import builtins
import errno
import functools
import gc
import json
import os
import sys
import traceback
from collections.abc import Callable
from typing import Any

sys.dont_write_bytecode = True

FORK_EVENTS = frozenset(
    {"os.fork", "os.forkpty", "os.system", "os.exec", "os.posix_spawn", "os.spawn", "subprocess.Popen",
     "os.startfile", "pty.spawn"}
)  # fmt: skip
NETWORK_EVENTS = frozenset(
    {"socket.connect", "socket.bind", "socket.sendto", "socket.sendmsg", "socket.getaddrinfo",
     "socket.gethostbyname", "socket.gethostbyaddr", "socket.getnameinfo", "urllib.Request",
     "http.client.connect", "ftplib.connect", "smtplib.connect", "imaplib.open", "poplib.connect",
     "nntplib.connect", "telnetlib.Telnet.open", "webbrowser.open"}
)  # fmt: skip
# event -> indexes of the path arguments that must lie inside the working directory
PATH_EVENTS: dict[str, tuple[int, ...]] = {
    "os.remove": (0,), "os.rmdir": (0,), "os.mkdir": (0,), "os.rename": (0, 1), "os.link": (0, 1),
    "os.symlink": (1,), "os.chmod": (0,), "os.chown": (0,), "os.truncate": (0,), "os.utime": (0,),
    "os.chflags": (0,), "os.lchflags": (0,), "os.setxattr": (0,), "os.removexattr": (0,),
    "shutil.rmtree": (0,), "shutil.copyfile": (1,), "shutil.copymode": (1,), "shutil.copystat": (1,),
    "shutil.move": (0, 1), "shutil.copytree": (1,), "shutil.chown": (0,),
}  # fmt: skip
BLOCKED_IMPORTS = frozenset({"cffi", "_cffi_backend"})
# ctypes may be imported (numpy does) but not used to reach C functions: dlopen(None) is what importing it does
FFI_EVENTS = frozenset({"ctypes.dlsym", "ctypes.dlsym/handle"})
WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_TRUNC


# ------------------------------------------------------------------------------------ kernel layers
def _landlock(workdir: str) -> str:
    """Restrict writes to ``workdir`` with Landlock; returns "on (abi N)" or why it is off."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    syscall = libc.syscall
    syscall.restype = ctypes.c_long
    abi = syscall(444, None, ctypes.c_size_t(0), ctypes.c_uint32(1))  # LANDLOCK_CREATE_RULESET_VERSION
    if abi < 1:
        return f"off (errno {ctypes.get_errno()})"
    write_file, truncate = 1 << 1, (1 << 14 if abi >= 3 else 0)
    fs = write_file | sum(1 << b for b in range(4, 13)) | (1 << 13 if abi >= 2 else 0) | truncate

    class RulesetAttr(ctypes.Structure):
        _fields_ = [("fs", ctypes.c_uint64), ("net", ctypes.c_uint64)]

    class PathBeneath(ctypes.Structure):
        _pack_ = 1
        _fields_ = [("allowed", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]

    attr = RulesetAttr(fs, 0b11 if abi >= 4 else 0)  # net: BIND_TCP | CONNECT_TCP, no rule = denied
    size = 16 if abi >= 4 else 8
    ruleset = syscall(444, ctypes.byref(attr), ctypes.c_size_t(size), ctypes.c_uint32(0))
    if ruleset < 0:
        return f"off (create errno {ctypes.get_errno()})"
    for path, allowed in ((workdir, fs), ("/dev/null", write_file | truncate)):
        fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
        rule = PathBeneath(allowed, fd)
        rc = syscall(445, ctypes.c_int(ruleset), ctypes.c_int(1), ctypes.byref(rule), ctypes.c_uint32(0))
        os.close(fd)
        if rc != 0:
            os.close(ruleset)
            return f"off (add_rule errno {ctypes.get_errno()})"
    libc.prctl(38, 1, 0, 0, 0)  # PR_SET_NO_NEW_PRIVS
    rc = syscall(446, ctypes.c_int(ruleset), ctypes.c_uint32(0))
    os.close(ruleset)
    return f"on (abi {abi})" if rc == 0 else f"off (restrict errno {ctypes.get_errno()})"


def _seccomp() -> str:
    """Deny process creation, exec and non-Unix sockets with a seccomp filter; "on" or why it is off."""
    import ctypes
    import platform

    machine = platform.machine()
    tables = {  # arch audit id, {syscall: action}
        "x86_64": (0xC000003E, {56: "clone", 57: "deny", 58: "deny", 59: "deny", 322: "deny", 435: "nosys",
                                41: "socket"}),
        "aarch64": (0xC00000B7, {220: "clone", 221: "deny", 281: "deny", 435: "nosys", 198: "socket"}),
    }  # fmt: skip
    if machine not in tables:
        return f"off (no syscall table for {machine})"
    arch, calls = tables[machine]
    allow, deny, nosys = 0x7FFF0000, 0x00050000 | errno.EPERM, 0x00050000 | errno.ENOSYS
    ld, jeq, jset, jge, ret = 0x20, 0x15, 0x45, 0x35, 0x06
    # (code, jt-label, jf-label, k); labels resolved to relative jumps below
    prog: list[tuple[int, str | int, str | int, int]] = [(ld, 0, 0, 4), (jeq, 0, "allow", arch), (ld, 0, 0, 0)]
    if machine == "x86_64":
        prog.append((jge, "deny", 0, 0x40000000))  # x32 ABI numbers
    prog += [(jeq, action, 0, nr) for nr, action in calls.items()]
    labels = {"allow": len(prog)}
    prog.append((ret, 0, 0, allow))
    labels["deny"] = len(prog)
    prog.append((ret, 0, 0, deny))
    labels["nosys"] = len(prog)
    prog.append((ret, 0, 0, nosys))
    labels["clone"] = len(prog)  # CLONE_THREAD in the flags: a thread, allowed (jumps only go forward)
    prog += [(ld, 0, 0, 16), (jset, 0, 1, 0x00010000), (ret, 0, 0, allow), (ret, 0, 0, deny)]
    labels["socket"] = len(prog)  # AF_UNIX sockets only
    prog += [(ld, 0, 0, 16), (jeq, 0, 1, 1), (ret, 0, 0, allow), (ret, 0, 0, deny)]

    class Filter(ctypes.Structure):
        _fields_ = [("code", ctypes.c_uint16), ("jt", ctypes.c_uint8), ("jf", ctypes.c_uint8), ("k", ctypes.c_uint32)]

    class Fprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_uint16), ("filter", ctypes.POINTER(Filter))]

    def rel(i: int, target: str | int) -> int:
        return target if isinstance(target, int) else labels[target] - i - 1

    filters = (Filter * len(prog))(*[Filter(c, rel(i, t), rel(i, f), k) for i, (c, t, f, k) in enumerate(prog)])
    fprog = Fprog(len(prog), filters)
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(38, 1, 0, 0, 0)  # PR_SET_NO_NEW_PRIVS
    rc = libc.prctl(22, 2, ctypes.byref(fprog), 0, 0)  # PR_SET_SECCOMP, SECCOMP_MODE_FILTER
    return "on" if rc == 0 else f"off (errno {ctypes.get_errno()})"


# ------------------------------------------------------------------------------------ audit hook
class _Guard:
    """The audit hook: classifies events, records violations and raises to block them."""

    def __init__(self, workdir: str) -> None:
        self.workdir = os.path.realpath(workdir)
        self.pid = os.getpid()
        self.violations: list[dict[str, str]] = []
        self.busy = False

    def inside(self, path: Any) -> bool:
        if isinstance(path, int):
            return True  # an already open descriptor: its opening was checked
        if isinstance(path, bytes):
            path = os.fsdecode(path)
        if not isinstance(path, (str, os.PathLike)):
            return True
        full = os.path.realpath(os.path.join(os.getcwd(), os.fspath(path)))
        return full == self.workdir or full.startswith(self.workdir + os.sep) or full == os.devnull

    def classify(self, event: str, args: tuple[Any, ...]) -> str | None:
        if event in FORK_EVENTS:
            return "fork_blocked"
        if event in NETWORK_EVENTS:
            return "network_blocked"
        if event == "socket.__new__":
            return None if len(args) > 1 and args[1] == 1 else "network_blocked"  # AF_UNIX is local
        if event == "open":
            path, mode, flags = (*args, None, None, None)[:3]
            writes = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
                isinstance(flags, int) and flags & WRITE_FLAGS
            )
            return "write_blocked" if writes and not self.inside(path) else None
        if event in PATH_EVENTS:
            idx = PATH_EVENTS[event]
            return "write_blocked" if any(i < len(args) and not self.inside(args[i]) for i in idx) else None
        if event in ("os.kill", "os.killpg"):
            return None if args and args[0] in (self.pid, 0) and event == "os.kill" else "signal_blocked"
        if event in ("resource.setrlimit", "resource.prlimit"):
            return "limit_blocked"
        if event in FFI_EVENTS or (event == "ctypes.dlopen" and args and args[0] is not None):
            return "ffi_blocked"
        if event == "import" and args and str(args[0]).split(".")[0] in BLOCKED_IMPORTS:
            return "ffi_blocked"
        return None

    def __call__(self, event: str, args: tuple[Any, ...]) -> None:
        if self.busy:
            return
        self.busy = True
        try:
            kind = self.classify(event, args)
        finally:
            self.busy = False
        if kind is not None:
            self.violations.append({"kind": kind, "event": event, "args": repr(args)[:200]})
            raise PermissionError(errno.EPERM, f"routerlab sandbox: {event} is not allowed ({kind})")


# ------------------------------------------------------------------------------------ main
def _status_of(exc: BaseException, stage: str) -> str:
    if isinstance(exc, MemoryError):
        return "memory"
    if isinstance(exc, SystemExit):
        return "exited_early"
    if isinstance(exc, OSError) and exc.errno == errno.EFBIG:
        return "output_truncated"
    if isinstance(exc, AssertionError) and stage == "tests":
        return "test_failed"
    return "runtime_error"


def main() -> None:
    """Apply the layers, run solution then tests, report ``NONCE JSON`` on the status descriptor."""
    with open(sys.argv[1], encoding="utf-8") as fh:
        cfg = json.load(fh)
    nonce: str = cfg["nonce"]
    status_fd: int = cfg["status_fd"]
    workdir: str = cfg["workdir"]
    memory_line = (nonce + ' {"status": "memory", "error": "MemoryError"}\n').encode()
    os.chdir(workdir)
    layers: dict[str, str] = {}
    try:
        netns = os.stat("/proc/self/ns/net").st_ino
        layers["network_namespace"] = "on" if netns != cfg.get("parent_netns") else "off"
    except OSError:
        layers["network_namespace"] = "unknown"
    kernel_layers: tuple[tuple[str, Callable[[], str]], ...] = (
        ("landlock", functools.partial(_landlock, workdir)),
        ("seccomp", _seccomp),
    )
    for name, fn in kernel_layers:
        if not sys.platform.startswith("linux"):
            layers[name] = f"off (not Linux: {sys.platform})"
        elif cfg.get(name, True):
            try:
                layers[name] = fn()
            except Exception as exc:  # a missing libc symbol or kernel feature: the layer is off
                layers[name] = f"off ({type(exc).__name__}: {exc})"
        else:
            layers[name] = "off (disabled)"
    guard = _Guard(workdir)
    if cfg.get("audit_hook", True):
        sys.addaudithook(guard)
        layers["audit_hook"] = "on"
    else:
        layers["audit_hook"] = "off (disabled)"

    status, error, stage = "passed", None, "solution"
    namespace: dict[str, Any] = {"__name__": "__sandbox__", "__builtins__": builtins}
    try:
        code = compile(cfg["solution"], "<solution>", "exec")
        try:
            tests = compile(cfg["tests"], "<tests>", "exec")
        except SyntaxError as exc:
            status, error = "harness_error", f"SyntaxError in tests: {exc}"
        else:
            exec(code, namespace)
            stage = "tests"
            exec(tests, namespace)
    except SyntaxError as exc:
        status, error = "syntax_error", f"SyntaxError: {exc.msg} (line {exc.lineno})"
    except BaseException as exc:  # everything the candidate can raise, SystemExit included
        status = _status_of(exc, stage)
        if status == "memory":
            namespace.clear()
            del exc
            gc.collect()
            error = "MemoryError"
        else:
            error = f"{type(exc).__name__}: {exc}"[:500]
            try:
                traceback.print_exc()
            except BaseException:  # printing must not change the outcome
                pass
    if guard.violations:
        status = guard.violations[0]["kind"]
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BaseException:  # a full output file must not hide the status
            pass
    try:
        payload = {"status": status, "stage": stage, "error": error, "violations": guard.violations[:20],
                   "layers": layers}  # fmt: skip
        line = (nonce + " " + json.dumps(payload) + "\n").encode()
    except MemoryError:
        line = memory_line
    os.write(status_fd, line)
    os._exit(0)


if __name__ == "__main__":
    main()
