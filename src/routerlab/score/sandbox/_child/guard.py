"""The candidate process's audit hook (:pep:`578`, stdlib only): block and *record* what it must not do.

It classifies interpreter events (process creation, network, writes and reads outside the allowed
folders, signals to other processes, changing limits, calling C through ``ctypes``/``cffi``) and raises
``PermissionError`` for them. Recording is what lets the scorer score a violation 0 with its reason even
when the code catches the exception. It is a recorder, not the boundary: code in the same process can
reach this object (``sys._getframe``, ``gc``) and switch it off, which gains it nothing, because the
verdict is decided in another process and the kernel layers (Landlock, seccomp, namespaces) stay on.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Iterable
from typing import Any

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
# event -> (indexes of path arguments, index of the dir_fd argument that they are relative to, or None)
PATH_EVENTS: dict[str, tuple[tuple[int, ...], int | None]] = {
    "os.remove": ((0,), 1), "os.rmdir": ((0,), 1), "os.mkdir": ((0,), 2), "os.rename": ((0, 1), 2),
    "os.link": ((0, 1), 2), "os.symlink": ((1,), 2), "os.chmod": ((0,), 2), "os.chown": ((0,), 3),
    "os.truncate": ((0,), None), "os.utime": ((0,), 3), "os.chflags": ((0,), None), "os.lchflags": ((0,), None),
    "os.setxattr": ((0,), None), "os.removexattr": ((0,), None), "shutil.rmtree": ((0,), 1),
    "shutil.copyfile": ((1,), None), "shutil.copymode": ((1,), None), "shutil.copystat": ((1,), None),
    "shutil.move": ((0, 1), None), "shutil.copytree": ((1,), None), "shutil.chown": ((0,), None),
}  # fmt: skip
READ_EVENTS = {"os.listdir": 0, "os.scandir": 0, "glob.glob": 0}
BLOCKED_IMPORTS = frozenset({"cffi", "_cffi_backend"})
# ctypes may be imported (numpy does) but not used to reach C functions: dlopen(None) is what importing it does
FFI_EVENTS = frozenset({"ctypes.dlsym", "ctypes.dlsym/handle"})
WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_TRUNC
#: every kind a violation may have (the scorer ignores any other word a report claims)
KINDS = frozenset(
    {"fork_blocked", "network_blocked", "write_blocked", "read_blocked", "signal_blocked", "limit_blocked",
     "ffi_blocked"}
)  # fmt: skip


class Guard:
    """The audit hook: classifies events, records violations and raises to block them."""

    def __init__(self, workdir: str, readable: Iterable[str]) -> None:
        self.workdir = os.path.realpath(workdir)
        self.readable = tuple(os.path.realpath(p) for p in readable)
        self.pid = os.getpid()
        self.violations: list[dict[str, str]] = []
        self.busy = False

    @staticmethod
    def _under(full: str, root: str) -> bool:
        return full == root or full.startswith(root.rstrip("/") + "/")

    def _resolve(self, path: Any, dir_fd: Any = None) -> str | None:
        """The real path ``path`` names, relative to ``dir_fd`` when given; None when it cannot be known."""
        if isinstance(path, int):
            return None
        if isinstance(path, bytes):
            path = os.fsdecode(path)
        if not isinstance(path, (str, os.PathLike)):
            return None
        text = os.fspath(path)
        base = os.getcwd()
        if isinstance(dir_fd, int) and not os.path.isabs(text):
            try:
                base = os.readlink(f"/proc/self/fd/{dir_fd}")
            except OSError:
                return None  # a directory descriptor we cannot place: treated as outside
        return os.path.realpath(os.path.join(base, text))

    def writable(self, path: Any, dir_fd: Any = None) -> bool:
        """Whether ``path`` lies in the working directory (or is ``/dev/null``)."""
        if isinstance(path, int):
            return True  # an already open descriptor: its opening was checked
        full = self._resolve(path, dir_fd)
        return full is not None and (self._under(full, self.workdir) or full == os.devnull)

    def readable_path(self, path: Any) -> bool:
        """Whether ``path`` lies where a sandboxed Python may read (its installation or the working directory)."""
        if isinstance(path, int):
            return True
        full = self._resolve(path)
        if full is None:
            return True  # not a path (a file-like object)
        return full in (os.devnull, "/dev/urandom", "/dev/zero") or any(
            self._under(full, root) for root in (self.workdir, *self.readable)
        )

    def _open(self, args: tuple[Any, ...]) -> str | None:
        path, mode, flags = (*args, None, None, None)[:3]
        writes = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
            isinstance(flags, int) and flags & WRITE_FLAGS
        )
        if writes:
            return None if self.writable(path) else "write_blocked"
        if not self.readable_path(path):
            return "read_blocked"
        full = self._resolve(path)
        # a directory descriptor outside the working directory is how dir_fd= escapes a path check
        if full is not None and os.path.isdir(full) and not self._under(full, self.workdir):
            return "read_blocked"
        return None

    def classify(self, event: str, args: tuple[Any, ...]) -> str | None:
        """The violation kind of ``event`` with ``args``, or None when it is allowed."""
        if event in FORK_EVENTS:
            return "fork_blocked"
        if event in NETWORK_EVENTS:
            return "network_blocked"
        if event == "socket.__new__":  # AF_UNIX pairs are local (asyncio's self-pipe); seccomp denies socket()
            return None if len(args) > 1 and args[1] == 1 else "network_blocked"
        if event == "open":
            return self._open(args)
        if event in PATH_EVENTS:
            idx, fd_at = PATH_EVENTS[event]
            dir_fd = args[fd_at] if fd_at is not None and fd_at < len(args) else None
            return "write_blocked" if any(i < len(args) and not self.writable(args[i], dir_fd) for i in idx) else None
        if event in READ_EVENTS:
            at = READ_EVENTS[event]
            return None if at >= len(args) or self.readable_path(args[at]) else "read_blocked"
        if event in ("os.kill", "os.killpg"):
            return None if event == "os.kill" and args and args[0] == self.pid else "signal_blocked"
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
