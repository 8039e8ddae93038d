"""Kernel-enforced layers applied inside a sandbox process (stdlib only): Landlock and seccomp.

Both are irreversible once applied and are inherited by every thread and child. Each function returns
``"on ..."`` or ``"off (why)"`` rather than raising, because a missing kernel feature must be reported
in the score, not crash the run.
"""

from __future__ import annotations

import ctypes
import errno
import os
import platform
import sys
from collections.abc import Iterable

_SYS_CREATE_RULESET, _SYS_ADD_RULE, _SYS_RESTRICT_SELF = 444, 445, 446
# Landlock filesystem rights (include/uapi/linux/landlock.h)
_EXECUTE, _WRITE_FILE, _READ_FILE, _READ_DIR = 1 << 0, 1 << 1, 1 << 2, 1 << 3
_FILE_RIGHTS_MASK = _EXECUTE | _WRITE_FILE | _READ_FILE | (1 << 14) | (1 << 15)  # what a rule on a file may hold
_SCOPE_ABSTRACT_UNIX, _SCOPE_SIGNAL = 1 << 0, 1 << 1


def read_roots(workdir: str) -> list[str]:
    """What a sandboxed Python needs to read: its installation, ``sys.path``, the system's shared libraries."""
    candidates = [sys.prefix, sys.exec_prefix, sys.base_prefix, sys.base_exec_prefix, *sys.path]
    candidates += ["/lib", "/lib64", "/usr/lib", "/usr/lib64", "/usr/local/lib", "/etc/ld.so.cache",
                   "/usr/share/zoneinfo", "/etc/localtime", "/sys/devices/system/cpu", "/dev/urandom",
                   "/dev/zero"]  # fmt: skip
    roots: list[str] = []
    parent = os.path.dirname(os.path.realpath(workdir))
    for path in candidates:
        if not path:
            continue
        real = os.path.realpath(path)
        # a root that would open "/" or the folder holding every run's working directory is refused
        if real in ("/", parent) or parent.startswith(real.rstrip("/") + "/") or not os.path.exists(real):
            continue
        if real not in roots:
            roots.append(real)
    return roots


def landlock(workdir: str, readable: Iterable[str], *, scope_signals: bool = True) -> str:
    """Allow writes only beneath ``workdir`` (and ``/dev/null``), reads only beneath ``readable`` and it.

    With Landlock ABI >= 4 TCP bind/connect is denied; with ABI >= 6 signals to processes outside this
    Landlock domain and abstract Unix sockets outside it are denied too (``scope_signals``).
    """
    libc = ctypes.CDLL(None, use_errno=True)
    syscall = libc.syscall
    syscall.restype = ctypes.c_long
    abi = syscall(_SYS_CREATE_RULESET, None, ctypes.c_size_t(0), ctypes.c_uint32(1))  # ..._VERSION
    if abi < 1:
        return f"off (errno {ctypes.get_errno()})"
    handled = (1 << 13) - 1  # EXECUTE .. MAKE_SYM
    if abi >= 2:
        handled |= 1 << 13  # REFER
    if abi >= 3:
        handled |= 1 << 14  # TRUNCATE
    if abi >= 5:
        handled |= 1 << 15  # IOCTL_DEV

    class RulesetAttr(ctypes.Structure):
        _fields_ = [("fs", ctypes.c_uint64), ("net", ctypes.c_uint64), ("scoped", ctypes.c_uint64)]

    class PathBeneath(ctypes.Structure):
        _pack_ = 1
        _fields_ = [("allowed", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]

    scoped = (_SCOPE_SIGNAL | _SCOPE_ABSTRACT_UNIX) if abi >= 6 and scope_signals else 0
    attr = RulesetAttr(handled, 0b11 if abi >= 4 else 0, scoped)  # net: BIND_TCP | CONNECT_TCP, no rule = denied
    size = 24 if abi >= 6 else 16 if abi >= 4 else 8
    ruleset = syscall(_SYS_CREATE_RULESET, ctypes.byref(attr), ctypes.c_size_t(size), ctypes.c_uint32(0))
    if ruleset < 0:
        return f"off (create errno {ctypes.get_errno()})"
    read = _EXECUTE | _READ_FILE | _READ_DIR
    rules = [(workdir, handled), ("/dev/null", _WRITE_FILE | _READ_FILE | (handled & (1 << 14)))]
    rules += [(path, read) for path in readable]
    try:
        for path, allowed in rules:
            try:
                fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
            except OSError:
                continue  # vanished since it was listed: nothing to allow
            try:
                if not os.path.isdir(path):
                    allowed &= _FILE_RIGHTS_MASK
                rule = PathBeneath(allowed & handled, fd)
                rc = syscall(
                    _SYS_ADD_RULE, ctypes.c_int(ruleset), ctypes.c_int(1), ctypes.byref(rule), ctypes.c_uint32(0)
                )
            finally:
                os.close(fd)
            if rc != 0:
                return f"off (add_rule {path} errno {ctypes.get_errno()})"
        libc.prctl(38, 1, 0, 0, 0)  # PR_SET_NO_NEW_PRIVS: required before restricting an unprivileged task
        if syscall(_SYS_RESTRICT_SELF, ctypes.c_int(ruleset), ctypes.c_uint32(0)) != 0:
            return f"off (restrict errno {ctypes.get_errno()})"
    finally:
        os.close(ruleset)
    return f"on (abi {abi}{', signals scoped' if scoped else ''})"


# x86-64 / aarch64 syscall numbers (arch/x86/entry/syscalls/syscall_64.tbl, include/uapi/asm-generic/unistd.h)
_TABLES: dict[str, tuple[int, dict[str, int]]] = {
    "x86_64": (0xC000003E, {
        "clone": 56, "fork": 57, "vfork": 58, "execve": 59, "execveat": 322, "clone3": 435, "socket": 41,
        "kill": 62, "tkill": 200, "tgkill": 234, "rt_sigqueueinfo": 129, "rt_tgsigqueueinfo": 297,
        "pidfd_open": 434, "pidfd_send_signal": 424, "pidfd_getfd": 438, "ptrace": 101, "process_vm_readv": 310,
        "process_vm_writev": 311, "process_madvise": 440, "kcmp": 312, "setsid": 112, "setpgid": 109,
        "unshare": 272, "setns": 308, "mount": 165, "umount2": 166, "pivot_root": 155, "chroot": 161,
        "add_key": 248, "request_key": 249, "keyctl": 250, "bpf": 321, "perf_event_open": 298, "userfaultfd": 323,
        "io_uring_setup": 425, "io_uring_enter": 426, "io_uring_register": 427, "name_to_handle_at": 303,
        "open_by_handle_at": 304, "open_tree": 428, "move_mount": 429, "fsopen": 430, "fsmount": 432,
        "mount_setattr": 442,
    }),
    "aarch64": (0xC00000B7, {
        "clone": 220, "execve": 221, "execveat": 281, "clone3": 435, "socket": 198,
        "kill": 129, "tkill": 130, "tgkill": 131, "rt_sigqueueinfo": 138, "rt_tgsigqueueinfo": 240,
        "pidfd_open": 434, "pidfd_send_signal": 424, "pidfd_getfd": 438, "ptrace": 117, "process_vm_readv": 270,
        "process_vm_writev": 271, "process_madvise": 440, "kcmp": 272, "setsid": 157, "setpgid": 154,
        "unshare": 97, "setns": 268, "mount": 40, "umount2": 39, "pivot_root": 41, "chroot": 51,
        "add_key": 217, "request_key": 218, "keyctl": 219, "bpf": 280, "perf_event_open": 241, "userfaultfd": 282,
        "io_uring_setup": 425, "io_uring_enter": 426, "io_uring_register": 427, "name_to_handle_at": 264,
        "open_by_handle_at": 265, "open_tree": 428, "move_mount": 429, "fsopen": 430, "fsmount": 432,
        "mount_setattr": 442,
    }),
}  # fmt: skip
# what each syscall gets: "deny" (EPERM), "nosys" (ENOSYS: clone3, so threads fall back to clone),
# "clone" (threads only), "self" (a signal only to this process: its pid is the first argument)
_ACTIONS = {"clone": "clone", "clone3": "nosys", "kill": "self", "tgkill": "self", "rt_sigqueueinfo": "self",
            "rt_tgsigqueueinfo": "self"}  # fmt: skip


def seccomp(*, allow_fork: bool = False) -> str:
    """Deny process creation, exec, sockets, signals to other processes, tracing, namespaces and mounts.

    Signals (``kill``, ``tgkill``, ``rt_*sigqueueinfo``) are allowed only with this process's own pid as
    target, so ``os.kill(os.getpid(), ...)`` and ``abort()`` still work. ``socketpair`` stays allowed
    (asyncio's self-pipe); ``socket`` does not, so no address family reaches anything. With
    ``allow_fork`` process creation stays allowed (the supervisor that forks the candidate).
    """
    machine = platform.machine()
    if machine not in _TABLES:
        return f"off (no syscall table for {machine})"
    arch, numbers = _TABLES[machine]
    own_pid = os.getpid()
    allow, deny, nosys = 0x7FFF0000, 0x00050000 | errno.EPERM, 0x00050000 | errno.ENOSYS
    ld, jeq, jset, jge, ret = 0x20, 0x15, 0x45, 0x35, 0x06
    prog: list[tuple[int, str | int, str | int, int]] = [(ld, 0, 0, 4), (jeq, 0, "deny", arch), (ld, 0, 0, 0)]
    if machine == "x86_64":
        prog.append((jge, "deny", 0, 0x40000000))  # x32 ABI numbers
    for name, nr in numbers.items():
        action = _ACTIONS.get(name, "deny")
        if allow_fork and name in ("clone", "clone3", "fork", "vfork"):
            continue
        prog.append((jeq, action, 0, nr))
    labels = {"allow": len(prog)}
    prog.append((ret, 0, 0, allow))
    labels["deny"] = len(prog)
    prog.append((ret, 0, 0, deny))
    labels["nosys"] = len(prog)
    prog.append((ret, 0, 0, nosys))
    labels["clone"] = len(prog)  # CLONE_THREAD in the flags: a thread, allowed (jumps only go forward)
    prog += [(ld, 0, 0, 16), (jset, 0, 1, 0x00010000), (ret, 0, 0, allow), (ret, 0, 0, deny)]
    labels["self"] = len(prog)  # the low 32 bits of the first argument (a pid_t) must be our own pid
    prog += [(ld, 0, 0, 16), (jeq, 0, 1, own_pid), (ret, 0, 0, allow), (ret, 0, 0, deny)]

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


def die_with_parent() -> None:
    """``PR_SET_PDEATHSIG(SIGKILL)``: this process is killed when its supervisor dies."""
    ctypes.CDLL(None, use_errno=True).prctl(1, 9, 0, 0, 0)
