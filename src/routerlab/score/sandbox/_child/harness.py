"""The test process: runs the item's tests and decides pass/fail (stdlib only).

It never executes the candidate's code. The tests' trusted context (a HumanEval prompt with its helper
functions, an MBPP ``test_setup``) runs here; the names the candidate's program defined are bound to
proxies whose calls cross to the candidate process, and every result comes back as data rebuilt with
exact builtin types (:mod:`.wire`). A result that is not data (an object of the candidate's own class,
a generator) stays in the candidate process as a :class:`Remote`: it can be called, iterated, indexed
or passed back, and it is equal only to itself, so an object whose ``__eq__`` always answers True
compares unequal here.
"""

from __future__ import annotations

import builtins
import errno
import importlib
import sys
import traceback
from typing import Any

from . import wire

_ERRORS = {name for name, obj in vars(builtins).items() if isinstance(obj, type) and issubclass(obj, Exception)}
#: the statuses the candidate may report for its own failure (anything else is read as runtime_error)
#: (not syntax_error: this process compiles the program itself, so the candidate cannot claim to be unparsed)
CANDIDATE_STATUSES = frozenset({"runtime_error", "exited_early", "memory", "output_truncated"})
_BUILTIN_NAMES = frozenset(dir(builtins))
_MAX_NAMES = 10_000


class CandidateExited(BaseException):
    """The candidate process exited or died (a BaseException, so tests' ``except Exception`` cannot hide it)."""


class CandidateBrokeProtocol(BaseException):
    """The candidate process sent something that is not a well-formed reply."""


class _Channel:
    def __init__(self, req_fd: int, resp_fd: int) -> None:
        self.req_fd, self.resp_fd = req_fd, resp_fd
        self.next_id = 0

    def receive(self) -> Any:
        try:
            return wire.recv(self.resp_fd)
        except wire.PeerClosed:
            raise CandidateExited("the candidate process exited") from None
        except wire.ProtocolError as exc:
            raise CandidateBrokeProtocol(str(exc)) from None

    def request(self, op: str, target: list[Any], **fields: Any) -> Any:
        self.next_id += 1
        rid = self.next_id
        try:
            wire.send(self.req_fd, {"id": rid, "op": op, "target": target, **fields})
        except wire.PeerClosed:
            raise CandidateExited("the candidate process exited") from None
        reply = self.receive()
        if not isinstance(reply, list) or len(reply) < 2 or reply[1] != rid:
            raise CandidateBrokeProtocol("a reply that does not answer the request")
        kind = reply[0]
        if kind == "ok" and len(reply) == 3:
            try:
                return wire.decode(reply[2], self.resolve)
            except wire.ProtocolError as exc:
                raise CandidateBrokeProtocol(str(exc)) from None
        if kind == "raise" and len(reply) == 4 and isinstance(reply[2], str) and isinstance(reply[3], str):
            name = reply[2] if reply[2] in _ERRORS else "RuntimeError"
            remote: BaseException = getattr(builtins, name)(reply[3][:500])
            remote.routerlab_remote = True  # type: ignore[attr-defined]  # raised by the candidate, not the tests
            raise remote
        if kind == "exit":
            raise CandidateExited("the candidate called sys.exit during a test")
        raise CandidateBrokeProtocol(f"an unknown reply kind {str(kind)[:20]!r}")

    def resolve(self, tag: str, payload: Any) -> Any:
        if tag == "h" and isinstance(payload, int):
            return Remote(self, ["h", payload])
        raise wire.ProtocolError("the candidate may only send handles")


class Remote:
    """An object that stays in the candidate process; only its own identity is compared here."""

    __slots__ = ("_channel", "_target")

    def __init__(self, channel: _Channel, target: list[Any]) -> None:
        self._channel, self._target = channel, target

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._channel.request(
            "call", self._target, args=wire.encode(list(args), _ref_of), kwargs=wire.encode(kwargs, _ref_of)
        )

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return self._channel.request("getattr", self._target, name=name)

    def __getitem__(self, key: Any) -> Any:
        return self._channel.request("getitem", self._target, key=wire.encode(key, _ref_of))

    def __contains__(self, key: Any) -> bool:
        return bool(self._channel.request("contains", self._target, key=wire.encode(key, _ref_of)) is True)

    def __bool__(self) -> bool:
        result = self._channel.request("bool", self._target)
        if type(result) is not bool:
            raise TypeError("__bool__ of a candidate object did not return a bool")
        return result

    def __len__(self) -> int:
        result = self._channel.request("len", self._target)
        if type(result) is not int or result < 0:
            raise TypeError("__len__ of a candidate object did not return a non-negative int")
        return result

    def __iter__(self) -> Any:
        return self._channel.request("iter", self._target)

    def __next__(self) -> Any:
        return self._channel.request("next", self._target)

    def __str__(self) -> str:
        result = self._channel.request("str", self._target)
        if type(result) is not str:
            raise TypeError("__str__ of a candidate object did not return a str")
        return result

    def __repr__(self) -> str:
        return f"<candidate object {self._target[1]!r}>"


def _ref_of(value: Any) -> Any:
    if isinstance(value, Remote):
        return value._target
    raise TypeError(f"a {type(value).__name__} cannot be passed to the candidate: only data crosses the sandbox")


def _bind(namespace: dict[str, Any], names: Any, channel: _Channel, entry_point: str | None) -> None:
    """Bind the candidate's names that the trusted context does not define (the entry point always).

    Names of builtins are never bound: a candidate's top-level ``abs = lambda x: 0`` would otherwise be
    what ``assert abs(candidate(x) - y) < 1e-6`` calls. A module is bound only to the real standard-library
    module of that name (``import math``, ``import os.path as path``), never to the candidate's object.
    """
    if not isinstance(names, dict):
        raise CandidateBrokeProtocol("the names message is not a dict")
    for name, kind in list(names.items())[:_MAX_NAMES]:
        if not (isinstance(name, str) and name.isidentifier() and not name.startswith("__")):
            continue
        if (name in namespace or name in _BUILTIN_NAMES) and name != entry_point:
            continue  # the trusted helper wins (HumanEval's poly, encode_cyclic): the candidate cannot replace it
        if not isinstance(kind, list) or not kind:
            continue
        if kind[0] == "callable":
            namespace[name] = Remote(channel, ["name", name])
        elif kind[0] == "module" and len(kind) == 2 and isinstance(kind[1], str):
            module = kind[1].split(".")[0]
            if module in sys.stdlib_module_names and kind[1].split(".")[-1] == name:
                try:
                    namespace[name] = importlib.import_module(kind[1])
                except Exception:  # not importable here: the tests will say NameError
                    pass
        elif kind[0] == "data" and len(kind) == 2:
            try:
                namespace[name] = wire.decode(kind[1], channel.resolve)
            except wire.ProtocolError as exc:
                raise CandidateBrokeProtocol(str(exc)) from None
    if entry_point and entry_point.isidentifier():
        namespace[entry_point] = Remote(channel, ["name", entry_point])


def _where(exc: BaseException) -> str:
    lines = [f.lineno for f in traceback.extract_tb(exc.__traceback__) if f.filename == "<tests>"]
    return f" (tests line {lines[-1]})" if lines else ""


def _classify(exc: BaseException) -> tuple[str, str]:
    """``(status, trusted summary)`` for an exception raised while the tests ran."""
    name = type(exc).__name__
    if isinstance(exc, CandidateExited):
        return "candidate_exited", str(exc)
    if isinstance(exc, CandidateBrokeProtocol):
        return "protocol_error", "the candidate process broke the data protocol"
    if getattr(exc, "routerlab_remote", False):
        status = "memory" if isinstance(exc, MemoryError) else "runtime_error"
        return status, f"the candidate raised {name}{_where(exc)}"
    if isinstance(exc, MemoryError):
        return "memory", f"MemoryError in the tests{_where(exc)}"
    if isinstance(exc, OSError) and exc.errno == errno.EFBIG:
        return "output_truncated", "the output limit was reached"
    if isinstance(exc, AssertionError):
        return "test_failed", f"AssertionError{_where(exc)}"
    return "runtime_error", f"{name} in the tests{_where(exc)}"


def run(cfg: dict[str, Any], req_fd: int, resp_fd: int) -> dict[str, Any]:
    """Run the tests against the candidate; return the verdict (status, stage, error, untrusted detail)."""
    try:
        compile(cfg["solution"], "<solution>", "exec", dont_inherit=True)
    except (SyntaxError, ValueError) as exc:  # ValueError: a NUL byte in the source
        msg = f"SyntaxError: {exc.msg} (line {exc.lineno})" if isinstance(exc, SyntaxError) else str(exc)
        return {"status": "syntax_error", "stage": "solution", "error": msg[:300]}
    except (RecursionError, MemoryError):
        return {"status": "syntax_error", "stage": "solution", "error": "the program is too deeply nested to compile"}
    try:
        setup = compile(cfg.get("setup") or "", "<setup>", "exec", dont_inherit=True)
        tests = compile(cfg.get("tests") or "", "<tests>", "exec", dont_inherit=True)
    except (SyntaxError, ValueError) as exc:
        return {"status": "harness_error", "stage": "tests", "error": f"the tests do not compile: {exc}"[:300]}
    namespace: dict[str, Any] = {"__name__": "__tests__", "__builtins__": builtins}
    try:
        exec(setup, namespace)
    except Exception as exc:
        return {"status": "harness_error", "stage": "setup", "error": f"the setup raised {type(exc).__name__}: {exc}"}
    channel = _Channel(req_fd, resp_fd)
    stage = "solution"
    try:
        hello = channel.receive()
        if not (isinstance(hello, list) and len(hello) >= 2):
            raise CandidateBrokeProtocol("the first message is malformed")
        if hello[0] == "failed":
            status = hello[1] if hello[1] in CANDIDATE_STATUSES else "runtime_error"
            detail = str(hello[2])[:500] if len(hello) > 2 else ""
            return {"status": status, "stage": "solution", "error": "the program failed before the tests ran",
                    "untrusted": detail}  # fmt: skip
        if hello[0] != "ready":
            raise CandidateBrokeProtocol("the first message is neither ready nor failed")
        _bind(namespace, hello[1], channel, cfg.get("entry_point"))
        stage = "tests"
        exec(tests, namespace)
    except BaseException as exc:  # the tests' own failures and the candidate's, told apart by _classify
        status, summary = _classify(exc)
        untrusted = f"{type(exc).__name__}: {exc}"[:500]
        try:
            traceback.print_exc()
        except BaseException:  # printing must not change the outcome
            pass
        return {"status": status, "stage": stage, "error": summary, "untrusted": untrusted}
    return {"status": "passed", "stage": "tests", "error": None}
