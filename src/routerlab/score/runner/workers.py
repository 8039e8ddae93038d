"""Scorer worker processes: one record at a time each, a crash or a hang costs only that record.

A worker is a fresh Python process (``sys.executable``, the parent's ``sys.path``, its environment) that
rebuilds its scorers from :class:`ScorerRecipe` s and then reads tasks from its stdin and writes results,
one JSON line each. JSON and not pickle both ways: a worker runs scorers on hostile answers, and what it
sends back must not be able to run code in the parent. The worker moves its own stdin and stdout out of the
way first, so neither a scorer's ``print`` nor a subprocess it starts can touch the protocol.

The parent (:func:`score_in_workers`) hands each idle worker the next task, waits for results, and treats a
worker whose pipe closes (it died: a signal, ``os._exit``, a segfault, the out-of-memory killer) or that
exceeds ``timeout_s`` on a task (it is killed) as a failure of that task alone; a fresh worker takes over.
On Linux a worker is killed with its parent (``PR_SET_PDEATHSIG``), so a killed run leaves no scorer behind.
"""

from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
import sys
import time
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import IO, Any

from routerlab.errors import RouterlabError
from routerlab.score.base import ScoreItem, Scorer, scorer_for

__all__ = ["ScorerRecipe", "Task", "score_in_workers"]

_JUDGE_SAMPLING = {"temperature": 0.0, "max_tokens": 1024}

# Runs in the worker before anything is imported: the parent's sys.path (argv[1]) finds routerlab and any
# plug-in exactly as the parent does.
_BOOT = (
    "import json, sys; sys.path[:] = json.loads(sys.argv[1]); "
    "from routerlab.score.runner.workers import worker_main; sys.exit(worker_main(int(sys.argv[2])))"
)


@dataclass(frozen=True, slots=True)
class ScorerRecipe:
    """How to build a scorer in a worker process: a name in :data:`~routerlab.score.base.SCORERS` and parameters.

    ``judge`` takes ``model`` and ``base_url`` (its OpenAI-compatible client is made in the worker; the key
    comes from ``$OPENAI_API_KEY``); ``dual`` takes those and ``exact`` (``"letter"``, ``"math"``, ...). Any
    other name is built as ``scorer_for(name, **params)``, plug-ins included. Parameters must be JSON-like.
    """

    name: str
    params: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.name:
            raise ValueError("ScorerRecipe needs a scorer name (e.g. 'letter'). Got ''.")
        object.__setattr__(self, "params", dict(self.params))

    def build(self) -> Scorer:
        """The scorer this recipe describes."""
        if self.name not in ("judge", "dual"):
            return scorer_for(self.name, **self.params)
        from routerlab.score.judge import DualJudge, LLMJudge, openai_chat_completer

        params = dict(self.params)
        exact = str(params.pop("exact", "letter"))
        model = params.pop("model", None)
        if not model:
            raise ValueError(
                f"Scorer {self.name!r} needs a judge model: params['model'] (--judge-model). Got {model!r}."
            )
        base_url = params.pop("base_url", None)
        if params:
            raise ValueError(
                f"Scorer {self.name!r} takes model, base_url{' and exact' if self.name == 'dual' else ''}. "
                f"Got also {sorted(params)}."
            )
        complete = openai_chat_completer(str(model), base_url=base_url)
        judge = LLMJudge(complete, model=str(model), sampling=_JUDGE_SAMPLING)
        return judge if self.name == "judge" else DualJudge(judge, exact)

    def to_dict(self) -> dict[str, Any]:
        """``{"name", "params"}``, as sent to a worker."""
        return {"name": self.name, "params": dict(self.params)}


@dataclass(frozen=True, slots=True)
class Task:
    """One answer to score: its position in the run, the recipe key of its source, the answer and the item."""

    index: int
    key: str
    response: str
    item: ScoreItem


def _send(out: IO[bytes], message: Mapping[str, Any]) -> None:
    # ASCII escapes: a line holds no raw line break, whatever the answer contains (U+2028, lone surrogates)
    out.write(json.dumps(message, ensure_ascii=True, default=str).encode("ascii") + b"\n")
    out.flush()


# ---------------------------------------------------------------------------------------------- the worker
def _die_with_parent(parent: int) -> None:
    """Ask Linux to SIGKILL this worker when its parent dies, so a killed run leaves no scorer running."""
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG
        except (OSError, AttributeError):  # pragma: no cover - no prctl: EOF on stdin still ends an idle worker
            pass
    if os.getppid() != parent:  # the parent died before the request took effect
        os._exit(0)


def worker_main(parent: int) -> int:
    """The worker's loop (run by the parent through ``python -c``): build the scorers, then score tasks until EOF."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C in the terminal is the parent's to handle
    _die_with_parent(parent)
    tasks = os.fdopen(os.dup(0), "rb")
    results = os.fdopen(os.dup(1), "wb")
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.dup2(2, 1)  # a scorer's print goes to stderr, not into the protocol
    init = json.loads(tasks.readline() or b"{}")
    try:
        scorers = {key: ScorerRecipe(**recipe).build() for key, recipe in init["recipes"].items()}
    except Exception as exc:
        _send(results, {"startup_error": f"{type(exc).__name__}: {exc}"})
        return 1
    _send(results, {"ready": {key: s.spec.hash for key, s in scorers.items()}})
    for raw in tasks:
        task = json.loads(raw)
        try:
            item = ScoreItem(**task["item"])
            score = scorers[task["key"]].score(task["response"], item)
            message: dict[str, Any] = {"index": task["index"], "score": score.to_dict()}
            json.dumps(message)  # a score that cannot be written fails here, as this record's error
        except Exception as exc:  # the record fails, not the run: the parent records why
            message = {"index": task["index"], "error": f"{type(exc).__name__}: {exc}"[:2000]}
        _send(results, message)
    return 0


# ---------------------------------------------------------------------------------------------- the parent
@dataclass(slots=True)
class _Worker:
    proc: subprocess.Popen[bytes]
    since: float
    buffer: bytearray = field(default_factory=bytearray)
    ready: bool = False
    task: Task | None = None

    @property
    def fd(self) -> int:
        assert self.proc.stdout is not None
        return self.proc.stdout.fileno()


#: how long a new worker may take to import routerlab and build its scorers (a loaded machine is slow)
_STARTUP_S = 120.0


def _limit(worker: _Worker, timeout_s: float) -> float:
    """Seconds ``worker`` may stay silent: the score timeout, or at least the startup allowance."""
    return timeout_s if worker.ready else max(timeout_s, _STARTUP_S)


def _start(init: bytes) -> _Worker:
    proc = subprocess.Popen(
        [sys.executable, "-c", _BOOT, json.dumps(sys.path), str(os.getpid())],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    assert proc.stdin is not None
    try:
        proc.stdin.write(init)
        proc.stdin.flush()
    except OSError:  # it died at once: seen as a start-up failure by the caller
        pass
    return _Worker(proc, time.monotonic())


def _stop(worker: _Worker, *, graceful: bool) -> None:
    if graceful and worker.proc.stdin is not None:
        try:
            worker.proc.stdin.close()  # EOF: the worker's loop ends
        except OSError:
            pass
        try:
            worker.proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            pass
    if worker.proc.poll() is None:
        worker.proc.kill()
    try:
        worker.proc.wait(timeout=5)
    except subprocess.TimeoutExpired:  # pragma: no cover - a SIGKILLed process is reaped at once
        pass
    for pipe in (worker.proc.stdin, worker.proc.stdout):
        if pipe is not None:
            try:
                pipe.close()
            except OSError:
                pass


def _death(code: int | None) -> str:
    if code is None:
        return "worker stopped answering"
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = "unknown signal"
        return f"worker killed by signal {-code} ({name})"
    return f"worker exited with code {code}"


def _item_dict(item: ScoreItem) -> dict[str, Any]:
    return {f.name: getattr(item, f.name) for f in fields(ScoreItem)}


def _messages(w: _Worker) -> tuple[list[dict[str, Any]], str | None]:
    """The complete messages waiting on ``w``'s pipe, and why the worker is unusable (``None`` while it is fine).

    ``"closed"``: its pipe is closed (it died). A line that is not JSON means the worker is broken too: its
    task fails like a crash, and the run goes on.
    """
    try:
        chunk = os.read(w.fd, 1 << 20)
    except OSError:
        chunk = b""
    w.buffer += chunk
    if chunk and b"\n" not in chunk:  # a long line still arriving: no need to scan the whole buffer again
        return [], None
    *lines, rest = w.buffer.split(b"\n")
    w.buffer = bytearray(rest)
    out = []
    for raw in lines:
        try:
            out.append(json.loads(raw))
        except ValueError:
            return out, f"worker wrote an unreadable result line: {bytes(raw[:100])!r}"
    return out, None if chunk else "closed"


def score_in_workers(
    tasks: Sequence[Task],
    recipes: Mapping[str, ScorerRecipe],
    expected: Mapping[str, str],
    *,
    workers: int,
    timeout_s: float,
) -> Iterator[tuple[int, str, Any]]:
    """Score ``tasks`` in up to ``workers`` processes; yield results as they arrive, in no fixed order.

    Yields ``(task index, "ok", score dict)`` or ``(task index, reason, message)`` with reason
    ``scorer_crashed``, ``scorer_timeout`` or ``scorer_error``. ``expected`` maps each recipe key to the spec
    hash of the scorer built in this process; a worker that builds another is an error, as is a worker that
    cannot build its scorers.
    """
    if not tasks:
        return
    init = (json.dumps({"recipes": {k: r.to_dict() for k, r in recipes.items()}}) + "\n").encode()
    queue = deque(tasks)
    pool: list[_Worker] = []
    selector = selectors.DefaultSelector()
    finished = False
    try:
        for _ in range(min(workers, len(queue))):
            pool.append(_start(init))
            selector.register(pool[-1].fd, selectors.EVENT_READ)
        while queue or any(w.task is not None for w in pool):
            for w in pool:
                if w.ready and w.task is None and queue:
                    task = queue[0]
                    message = {"index": task.index, "key": task.key, "response": task.response}
                    assert w.proc.stdin is not None
                    try:
                        _send(w.proc.stdin, {**message, "item": _item_dict(task.item)})
                    except OSError:  # it died idle: the pipe's EOF retires it below; the task waits
                        continue
                    queue.popleft()
                    w.task, w.since = task, time.monotonic()
            waiting = [w.since + _limit(w, timeout_s) for w in pool if w.task is not None or not w.ready]
            timeout = max(0.0, min(waiting) - time.monotonic()) if waiting else None
            readable = {key.fd for key, _ in selector.select(timeout)}
            now = time.monotonic()
            for k, w in enumerate(list(pool)):
                broken = None
                if w.fd in readable:
                    messages, broken = _messages(w)
                    for message in messages:
                        yield from _handle(w, message, expected)
                gone = broken is not None
                overdue = not gone and (w.task is not None or not w.ready) and now - w.since > _limit(w, timeout_s)
                if not (gone or overdue):
                    continue
                if broken == "closed":
                    try:
                        w.proc.wait(timeout=5)  # its own exit status, before any kill below
                    except subprocess.TimeoutExpired:
                        pass
                    why = _death(w.proc.poll())
                else:
                    why = broken or f"no score within {timeout_s:g} s; the worker was killed"
                selector.unregister(w.fd)
                _stop(w, graceful=False)
                if not w.ready:
                    what = why if gone else f"did not start within {_limit(w, timeout_s):g} s"
                    raise RouterlabError(f"A scorer worker failed while building its scorers ({what}).")
                if w.task is not None:
                    yield w.task.index, "scorer_crashed" if gone else "scorer_timeout", why
                pool[k] = _start(init)
                selector.register(pool[k].fd, selectors.EVENT_READ)
        finished = True
    finally:
        selector.close()
        for w in pool:
            _stop(w, graceful=finished)  # interrupted: no waiting on workers that may be busy for minutes


def _handle(w: _Worker, message: Mapping[str, Any], expected: Mapping[str, str]) -> Iterator[tuple[int, str, Any]]:
    if "startup_error" in message:
        raise RouterlabError(f"A scorer could not be built in a worker process: {message['startup_error']}")
    if "ready" in message:
        if dict(message["ready"]) != dict(expected):
            raise RouterlabError(
                f"The scorers built in a worker process have other specs than in this process ({message['ready']} "
                f"vs {dict(expected)}); a scorer's spec must depend only on its name and parameters."
            )
        w.ready, w.since = True, time.monotonic()
        return
    if w.task is None or message.get("index") != w.task.index:
        raise RouterlabError(f"A scorer worker answered for a record it was not given: {str(message)[:200]}.")
    w.task = None
    if "score" in message:
        yield message["index"], "ok", message["score"]
    else:
        yield message["index"], "scorer_error", str(message.get("error"))
