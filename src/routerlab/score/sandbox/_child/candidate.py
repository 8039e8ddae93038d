"""The candidate process: run the model's program, then answer the test process's calls (stdlib only).

Nothing decided here is trusted. The first message tells the test process which top-level names the
program defined (or how it failed); then each request (call a function, read an attribute, iterate)
is answered with the result as data (:mod:`.wire`) or as a handle to an object that stays here.
Whatever this process does to itself — patching builtins, faking ``__eq__``, rewriting the encoder,
switching off its audit hook — only changes the data it sends, and the test process compares that
data with its own genuine values.
"""

from __future__ import annotations

import builtins
import gc
import json
import os
from collections.abc import Callable
from typing import Any

from . import wire

_MAX_HANDLES = 100_000
_MAX_NAMES = 1_000
_SOLUTION = "<solution>"


def _status_of(exc: BaseException) -> str:
    if isinstance(exc, MemoryError):
        return "memory"
    if isinstance(exc, SystemExit):
        return "exited_early"
    if isinstance(exc, OSError) and exc.errno == 27:  # EFBIG: the output limit
        return "output_truncated"
    return "runtime_error"


class _Server:
    def __init__(self, namespace: dict[str, Any]) -> None:
        self.namespace = namespace
        self.handles: dict[int, Any] = {}
        self.ids: dict[int, int] = {}  # id(object) -> handle, so one object keeps one handle

    def ref_of(self, value: Any) -> list[Any]:
        key = id(value)
        if key not in self.ids:
            if len(self.handles) >= _MAX_HANDLES:
                raise MemoryError(f"more than {_MAX_HANDLES} live objects handed to the tests")
            handle = len(self.handles) + 1
            self.handles[handle] = value
            self.ids[key] = handle
        return ["h", self.ids[key]]

    def resolve(self, tag: str, payload: Any) -> Any:
        if tag == "h" and isinstance(payload, int) and payload in self.handles:
            return self.handles[payload]
        if tag == "name" and isinstance(payload, str):
            if payload not in self.namespace:
                raise NameError(f"name {payload!r} is not defined")
            return self.namespace[payload]
        raise wire.ProtocolError(f"unknown reference {tag}:{payload!r}"[:100])

    def encode(self, value: Any) -> Any:
        return wire.encode(value, self.ref_of, lenient=True)

    def handle(self, request: dict[str, Any]) -> Any:
        op = request.get("op")
        target = wire.decode(request.get("target"), self.resolve)
        if op == "call":
            args = wire.decode(request.get("args"), self.resolve)
            kwargs = wire.decode(request.get("kwargs"), self.resolve)
            if not isinstance(args, list) or not isinstance(kwargs, dict):
                raise wire.ProtocolError("call needs a list of arguments and a dict of keyword arguments")
            return target(*args, **kwargs)
        if op == "getattr":
            return getattr(target, str(request.get("name")))
        if op == "getitem":
            return target[wire.decode(request.get("key"), self.resolve)]
        if op == "contains":
            return wire.decode(request.get("key"), self.resolve) in target
        unary: dict[str, Callable[[Any], Any]] = {"bool": bool, "len": len, "iter": iter, "next": next, "str": str}
        if op in unary:
            return unary[str(op)](target)
        raise wire.ProtocolError(f"unknown operation {op!r}"[:100])


def _names(namespace: dict[str, Any], server: _Server) -> dict[str, Any]:
    """The program's top-level names and what they are: a callable, a module, or a data value."""
    described: dict[str, Any] = {}
    for name, value in list(namespace.items())[:_MAX_NAMES]:
        if name.startswith("__"):
            continue
        if type(value).__name__ == "module":
            described[name] = ["module", str(getattr(value, "__name__", ""))[:200]]
        elif callable(value):
            described[name] = ["callable"]
        else:
            try:
                described[name] = ["data", wire.encode(value, _refuse, lenient=True)]
            except (ValueError, TypeError, RecursionError, MemoryError):
                continue  # not data: the tests can still reach it through a function
    return described


def _refuse(value: Any) -> Any:
    raise TypeError(f"{type(value).__name__} is not data")


def serve(
    solution: str,
    req_fd: int,
    resp_fd: int,
    report_fd: int,
    violations: list[dict[str, str]],
    layers: dict[str, str],
) -> None:
    """Run ``solution``, announce its names, answer requests until the tests close the pipe; then report."""
    namespace: dict[str, Any] = {"__name__": "__sandbox__", "__builtins__": builtins}
    server = _Server(namespace)
    try:
        exec(compile(solution, _SOLUTION, "exec"), namespace)
    except SyntaxError as exc:
        wire.send(resp_fd, ["failed", "syntax_error", f"SyntaxError: {exc.msg} (line {exc.lineno})"])
        _report(report_fd, violations, layers)
        return
    except BaseException as exc:  # everything the program can raise, SystemExit included
        status = _status_of(exc)
        if status == "memory":
            namespace.clear()
            gc.collect()
        wire.send(resp_fd, ["failed", status, f"{type(exc).__name__}: {exc}"[:500]])
        _report(report_fd, violations, layers)
        return
    wire.send(resp_fd, ["ready", _names(namespace, server)])
    while True:
        try:
            request = wire.recv(req_fd)
        except wire.PeerClosed:
            break
        rid = request.get("id") if isinstance(request, dict) else None
        try:
            reply: list[Any] = ["ok", rid, server.encode(server.handle(request))]
        except (SystemExit, KeyboardInterrupt) as exc:
            wire.send(resp_fd, ["exit", rid, f"{type(exc).__name__}: {exc}"[:500]])
            break
        except BaseException as exc:  # the candidate's exception, reported by type name and text
            if isinstance(exc, MemoryError):
                gc.collect()
            reply = ["raise", rid, type(exc).__name__, str(exc)[:500]]
        try:
            wire.send(resp_fd, reply)
        except ValueError as exc:  # over the frame limit
            wire.send(resp_fd, ["raise", rid, "MemoryError", str(exc)[:500]])
        except wire.PeerClosed:
            break
    _report(report_fd, violations, layers)


def _report(fd: int, violations: list[dict[str, str]], layers: dict[str, str]) -> None:
    """The advisory report: recorded violations (they can only lower the score) and the in-process layers."""
    try:
        os.write(fd, (json.dumps({"violations": violations[:20], "layers": layers}) + "\n").encode()[:65536])
    except (OSError, ValueError, TypeError):
        pass
