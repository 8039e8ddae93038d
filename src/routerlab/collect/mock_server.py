"""A loopback server that speaks the OpenAI chat-completions wire protocol, for dry runs and tests.

No GPU or paid API is needed to try a collection config: point its endpoints at this server.
It answers ``POST /v1/chat/completions`` and ``GET /v1/models`` like vLLM or any OpenAI-compatible
host (``id``, ``object = "chat.completion"``, ``created``, ``model``, ``choices[0].message``,
``finish_reason``, ``usage``), and it can misbehave on a schedule, which is what a collection must
survive (``unsolvability-ceiling-artifacts.txt`` ("Unsolvability Ceiling in Multi-LLM Routing") §2.2 / §3.2: greedy
decoding under per-source token budgets, with truncation as a measured artifact, §5.2):

* **Answers.** The default backend is deterministic: a hash of (model, prompt) picks a letter A–D
  and a length, so different "models" disagree and a same request always gets the same answer.
  The answer is ``"Let me think. w1 w2 ... The answer is X."``; a *token* is a whitespace-separated
  word. An answer longer than ``max_tokens`` is cut there with ``finish_reason = "length"`` (so a
  truncated answer loses its letter, as in the paper's Artifact 2); otherwise ``"stop"``.
  ``usage.prompt_tokens`` counts the words of every message. Another backend (e.g. a real small
  language model, :func:`transformers_backend`) can be plugged in with ``backend=``.
* **Faults** (:class:`FaultSchedule`), by a counter of requests received (1-based): every
  ``every_429``-th answers 429 with ``Retry-After``; every ``every_500``-th answers 500; every
  ``every_timeout``-th sleeps ``hang_s`` before answering (longer than a client's timeout); every
  ``every_drop``-th starts a chunked answer and closes the connection mid-body. When several apply
  to one request the first in that order wins.
* **Latency.** ``latency_s`` (+ up to ``jitter_s``, from the prompt hash) before each answer.
* **Down window.** While ``app.state.down`` holds a fault name, *every* chat request gets that fault
  (an outage: ``"500"`` answers 500, ``"drop"`` cuts every connection, ...); ``None`` ends it. Set it
  in-process, or over HTTP with ``PUT /admin/down`` and the body ``{"fault": "500"}`` (``{"fault":
  null}`` ends it; ``GET /admin/down`` reads it), so a test can take a server in another process
  down and up again; ``down=`` / ``--down`` start the server down.
* **Fault plan** (``fault_plan=True`` / ``--fault-plan``). A request whose body carries
  ``"mock_faults": {"<model>": "<fault>"}`` gets that fault when it is for that model (a model not
  named gets none): the client decides, request by request, which upstream fails and how. A client
  that routes through a gateway which forwards the body as is can so make sure, by construction,
  that at least one upstream answers each request. A bad plan is a 400 naming the field.

Which fault a request gets: the down window first, then the request's fault plan, then the schedule.

Run it with :func:`serve_in_thread` (tests), :func:`serve_in_subprocess` (benchmarks: a separate
process, so the client's CPU is measured fairly), or from a shell::

    python -m routerlab.collect.mock_server --port 8000 --models small,large --every-429 10

``app.state.log`` keeps one :class:`ServedRequest` per request, for tests that check what was asked;
``app.state.faults`` may be replaced while the server runs.
Needs the ``serve`` extra (fastapi, uvicorn).
"""

import argparse
import asyncio
import hashlib
import json
import logging
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from routerlab._optional import optional_dependency, require

log = logging.getLogger(__name__)

#: the fault names of :class:`FaultSchedule` (``"ok"`` = no fault)
FAULTS = ("ok", "429", "500", "timeout", "drop")
#: the body field of a request's fault plan (``{"<model>": "<fault>"}``), read when ``fault_plan=True``
FAULT_PLAN_FIELD = "mock_faults"

__all__ = [
    "FAULTS",
    "FAULT_PLAN_FIELD",
    "Completion",
    "FaultSchedule",
    "GenerateBackend",
    "ServedRequest",
    "create_app",
    "hash_backend",
    "main",
    "planned_fault",
    "serve_in_subprocess",
    "serve_in_thread",
    "transformers_backend",
]


@dataclass(frozen=True, slots=True)
class Completion:
    """What a backend returns for one chat request."""

    text: str
    finish_reason: str
    prompt_tokens: int
    completion_tokens: int


class GenerateBackend(Protocol):
    """Turns one chat request into a :class:`Completion` (may block; it runs in a worker thread if slow)."""

    def __call__(
        self, *, model: str, messages: Sequence[dict[str, Any]], max_tokens: int, temperature: float, seed: int | None
    ) -> Completion:
        """Generate one answer."""
        ...


@dataclass(frozen=True, slots=True)
class FaultSchedule:
    """Which requests misbehave, by the 1-based count ``n`` of requests the server received.

    ``script`` fixes the first ``len(script)`` requests exactly (each ``"ok"``, ``"429"``,
    ``"500"``, ``"timeout"`` or ``"drop"``); after it, ``every_*`` apply (0 = never).
    """

    every_429: int = 0
    every_500: int = 0
    every_timeout: int = 0
    every_drop: int = 0
    #: seconds sent in the ``Retry-After`` header of a 429 (None: no header)
    retry_after_s: float | None = 0.05
    #: how long a "timeout" request sleeps before answering
    hang_s: float = 5.0
    script: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        bad = [f for f in self.script if f not in FAULTS]
        if bad:
            raise ValueError(f"FaultSchedule.script may hold only {FAULTS}; got {bad}")

    def fault_for(self, n: int) -> str | None:
        """The fault of the ``n``-th request: ``"429"``, ``"500"``, ``"timeout"``, ``"drop"`` or None."""
        if n <= len(self.script):
            fault = self.script[n - 1]
            return None if fault == "ok" else fault
        for name, every in (
            ("429", self.every_429),
            ("500", self.every_500),
            ("timeout", self.every_timeout),
            ("drop", self.every_drop),
        ):
            if every > 0 and n % every == 0:
                return name
        return None


def planned_fault(body: dict[str, Any], model: str) -> str | None:
    """The fault the request's plan (``body["mock_faults"]``) names for ``model``; None for none or ``"ok"``.

    A ValueError naming the field when the plan is not a mapping of model names to :data:`FAULTS`.
    """
    plan = body.get(FAULT_PLAN_FIELD)
    if plan is None:
        return None
    if not isinstance(plan, dict) or not all(isinstance(f, str) and f in FAULTS for f in plan.values()):
        raise ValueError(
            f"'{FAULT_PLAN_FIELD}' must map model names to one of {list(FAULTS)}; got {plan!r}. "
            'Write e.g. {"small": "500", "large": "ok"}.'
        )
    fault = plan.get(model)
    return None if fault in (None, "ok") else str(fault)


def _check_down(fault: Any) -> str | None:
    if fault is None or (isinstance(fault, str) and fault in FAULTS[1:]):
        return fault
    raise ValueError(f"The down fault must be one of {list(FAULTS[1:])} or null; got {fault!r}.")


@dataclass(frozen=True, slots=True)
class ServedRequest:
    """One request as the server saw it: ``outcome`` is ``"ok"`` or the fault name."""

    n: int
    model: str
    prompt_sha: str
    max_tokens: int
    outcome: str


def _words(messages: Sequence[dict[str, Any]]) -> int:
    return sum(len(str(m.get("content") or "").split()) for m in messages)


def _prompt_sha(messages: Sequence[dict[str, Any]]) -> str:
    text = json.dumps([[m.get("role"), m.get("content")] for m in messages], ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def hash_backend(
    *, model: str, messages: Sequence[dict[str, Any]], max_tokens: int, temperature: float, seed: int | None
) -> Completion:
    """The deterministic default backend (see the module doc): same (model, prompt) → same answer."""
    digest = hashlib.sha256(f"{model}\x1f{_prompt_sha(messages)}".encode()).digest()
    letter = "ABCD"[digest[0] % 4]
    n_filler = digest[1] % 48
    words = ["Let", "me", "think."] + [f"w{i}" for i in range(1, n_filler + 1)] + ["The", "answer", "is", f"{letter}."]
    finish = "stop"
    if max_tokens >= 0 and len(words) > max_tokens:
        words, finish = words[:max_tokens], "length"
    return Completion(" ".join(words), finish, _words(messages), len(words))


def transformers_backend(model_dir: str, *, gguf_file: str | None = None) -> GenerateBackend:
    """A backend that runs a real causal language model with ``transformers`` on the CPU.

    ``model_dir`` is a local folder (no hub access); ``gguf_file`` names a GGUF file in it (needs
    the ``gguf`` package). Greedy decoding when ``temperature == 0``, else sampling seeded by
    ``seed``. Tokens are the model's own; ``finish_reason`` is ``"length"`` when the answer used all
    of ``max_tokens`` without an end-of-sequence token.
    """
    with optional_dependency("The transformers backend needs torch and transformers: pip install 'routerlab[probe]'"):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer
    options: dict[str, Any] = {"gguf_file": gguf_file} if gguf_file else {}
    tokenizer: Any = AutoTokenizer.from_pretrained(model_dir, **options)
    lm: Any = AutoModelForCausalLM.from_pretrained(model_dir, **options)
    lm.eval()
    lock = threading.Lock()

    def generate(
        *, model: str, messages: Sequence[dict[str, Any]], max_tokens: int, temperature: float, seed: int | None
    ) -> Completion:
        prompt: Any = tokenizer.apply_chat_template(list(messages), add_generation_prompt=True, return_tensors="pt")
        ids: Any = prompt if isinstance(prompt, torch.Tensor) else prompt["input_ids"]
        sample = temperature > 0
        with lock, torch.no_grad():
            if seed is not None:
                torch.manual_seed(seed)
            out = lm.generate(
                ids,
                attention_mask=torch.ones_like(ids),
                max_new_tokens=max_tokens,
                do_sample=sample,
                temperature=temperature if sample else None,
                top_p=None,
                top_k=None,
                pad_token_id=tokenizer.eos_token_id,
            )
        new = out[0, ids.shape[1] :].tolist()
        eos = tokenizer.eos_token_id
        stopped = bool(new) and new[-1] == eos
        text = str(tokenizer.decode(new, skip_special_tokens=True))
        finish = "length" if len(new) >= max_tokens and not stopped else "stop"
        return Completion(text, finish, int(ids.shape[1]), len(new))

    return generate


def create_app(
    models: Sequence[str] = ("mock",),
    *,
    latency_s: float = 0.0,
    jitter_s: float = 0.0,
    faults: FaultSchedule | None = None,
    backend: GenerateBackend | None = None,
    blocking_backend: bool = False,
    keep_log: bool = True,
    down: str | None = None,
    fault_plan: bool = False,
) -> Any:
    """A FastAPI app serving ``models`` over the OpenAI chat-completions protocol (see the module doc).

    ``blocking_backend=True`` runs the backend in a worker thread (for a real model). An unknown
    ``model`` gets a 404 with an OpenAI-style error body, a request without ``messages`` a 400.
    ``down`` starts the server in a down window (a fault name; ``app.state.down``); ``fault_plan``
    honours each request's ``mock_faults`` plan (see the module doc).
    """
    with optional_dependency("The mock server needs fastapi and uvicorn: pip install 'routerlab[serve]'"):
        from fastapi import FastAPI, Request
        from fastapi.responses import JSONResponse, Response, StreamingResponse

    generate: GenerateBackend = backend or hash_backend
    app = FastAPI(title="routerlab mock OpenAI server", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.log = []
    app.state.count = 0
    app.state.faults = faults or FaultSchedule()  # may be replaced while serving
    app.state.down = _check_down(down)  # may be set while serving (PUT /admin/down)
    served: set[str] = set(models)

    def error(status: int, message: str, kind: str, headers: dict[str, str] | None = None) -> Response:
        body = {"error": {"message": message, "type": kind, "code": status}}
        return JSONResponse(body, status_code=status, headers=headers)

    @app.get("/v1/models")
    async def list_models() -> dict[str, Any]:
        data = [{"id": m, "object": "model", "created": 0, "owned_by": "routerlab-mock"} for m in models]
        return {"object": "list", "data": data}

    @app.get("/admin/down")
    async def get_down() -> dict[str, Any]:
        return {"fault": app.state.down}

    @app.put("/admin/down")
    async def set_down(request: Request) -> Response:
        try:
            body = await request.json()
            if not isinstance(body, dict) or "fault" not in body:
                raise ValueError("The body must be a JSON object with the key 'fault'.")
            app.state.down = _check_down(body["fault"])
        except ValueError as exc:
            return error(
                400, f'\'fault\': {exc} Send {{"fault": "500"}} or {{"fault": null}}.', "invalid_request_error"
            )
        log.info("down window: %s", app.state.down or "ended")
        return JSONResponse({"fault": app.state.down})

    @app.post("/v1/chat/completions")
    async def chat(request: Request) -> Response:
        app.state.count += 1
        n = app.state.count
        try:
            body = await request.json()
        except ValueError:
            return error(400, "The body is not valid JSON.", "invalid_request_error")
        model = body.get("model") if isinstance(body, dict) else None
        messages = body.get("messages") if isinstance(body, dict) else None
        if not isinstance(messages, list) or not messages:
            return error(400, "'messages' must be a non-empty list.", "invalid_request_error")
        if model not in served:
            return error(404, f"The model {model!r} does not exist.", "invalid_request_error")
        max_tokens = int(body.get("max_tokens") or body.get("max_completion_tokens") or 16)
        schedule: FaultSchedule = app.state.faults
        try:
            planned = planned_fault(body, model) if fault_plan else None
        except ValueError as exc:
            return error(400, str(exc), "invalid_request_error")
        fault = app.state.down or planned or schedule.fault_for(n)
        if keep_log:
            app.state.log.append(ServedRequest(n, model, _prompt_sha(messages), max_tokens, fault or "ok"))
        if fault == "429":
            wait = schedule.retry_after_s
            return error(
                429, "Rate limit reached.", "rate_limit_error", None if wait is None else {"Retry-After": f"{wait:g}"}
            )
        if fault == "500":
            return error(500, "The server had an error.", "server_error")
        if fault == "timeout":
            await asyncio.sleep(schedule.hang_s)
        delay = latency_s
        if jitter_s > 0:
            delay += jitter_s * (int(_prompt_sha(messages)[:8], 16) / 0xFFFFFFFF)
        if delay > 0:
            await asyncio.sleep(delay)
        params = {
            "model": model,
            "messages": messages,
            "max_tokens": max_tokens,
            "temperature": float(body.get("temperature") or 0.0),
            "seed": body.get("seed"),
        }
        done = await asyncio.to_thread(lambda: generate(**params)) if blocking_backend else generate(**params)
        payload = {
            "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": done.text},
                    "finish_reason": done.finish_reason,
                }
            ],
            "usage": {
                "prompt_tokens": done.prompt_tokens,
                "completion_tokens": done.completion_tokens,
                "total_tokens": done.prompt_tokens + done.completion_tokens,
            },
        }
        if fault == "drop":
            raw = json.dumps(payload).encode()

            async def cut() -> AsyncIterator[bytes]:
                yield raw[: len(raw) // 2]
                await asyncio.sleep(0)
                raise ConnectionAbortedError("mock server: connection dropped mid-response on purpose")

            return StreamingResponse(cut(), media_type="application/json")
        return JSONResponse(payload)

    return app


# ---------------------------------------------------------------------------------------------- running
def _bound_socket(host: str, port: int) -> socket.socket:
    # IPPROTO_TCP (not 0) so that asyncio sets TCP_NODELAY on accepted connections (no 40 ms delayed-ACK stalls)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)  # connections made before uvicorn runs wait in the backlog instead of being refused
    sock.set_inheritable(True)
    return sock


def serve_in_thread(
    app: Any, *, host: str = "127.0.0.1", port: int = 0, log_level: str = "critical", http: str = "auto"
) -> tuple[str, Callable[[], None]]:
    """Run ``app`` with uvicorn in a background thread; return its base URL (``.../v1``) and a stop function.

    ``port=0`` picks a free port. The stop function asks the server to exit and waits for it
    (a second call does nothing).
    """
    uvicorn = require("uvicorn", "Serving needs uvicorn: pip install 'routerlab[serve]'")
    sock = _bound_socket(host, port)
    config = uvicorn.Config(
        app, log_level=log_level, access_log=False, lifespan="off", timeout_graceful_shutdown=1, http=http
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="mock-openai-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20.0
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            sock.close()
            raise RuntimeError(f"The mock server did not start on {host}:{sock.getsockname()[1]}.")
        time.sleep(0.01)
    url = f"http://{host}:{sock.getsockname()[1]}/v1"

    def stop() -> None:
        if not thread.is_alive():
            return
        server.should_exit = True
        thread.join(timeout=10.0)
        sock.close()

    return url, stop


def serve_in_subprocess(args: Sequence[str] = (), *, host: str = "127.0.0.1") -> tuple[str, Callable[[], None]]:
    """Run ``python -m routerlab.collect.mock_server --port 0 ARGS`` in a child process; return (url, stop).

    The child prints its URL on its first line; stop terminates it (SIGTERM, then SIGKILL after 5 s).
    """
    cmd = [sys.executable, "-m", "routerlab.collect.mock_server", "--host", host, "--port", "0", *args]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=None, text=True, env=dict(os.environ))
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    if not line.startswith("http://"):
        proc.kill()
        raise RuntimeError(f"The mock server process did not start (it printed {line!r}).")

    def stop() -> None:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=5.0)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()

    return line, stop


def _pool_models(path: str) -> list[str]:
    """The model ids a pool file (``routerlab serve --pool``) or collect config sends: each endpoint's ``model``."""
    from routerlab._yaml import read_yaml
    from routerlab.collect.config import EndpointConfig

    raw, _ = read_yaml(Path(path), what="pool", expected="a mapping with 'endpoints' (a list of endpoints)")
    endpoints = raw.get("endpoints") if isinstance(raw, dict) else None
    if not isinstance(endpoints, list) or not endpoints:
        raise SystemExit(f"{path}: no 'endpoints' list; give a routerlab serve pool file or a collect config.")
    return [EndpointConfig.model_validate(e).model_id for e in endpoints]


def main(argv: Sequence[str] | None = None) -> None:
    """Command-line entry point: ``python -m routerlab.collect.mock_server --help``."""
    parser = argparse.ArgumentParser(
        prog="python -m routerlab.collect.mock_server", description=__doc__.split("\n\n")[0] if __doc__ else None
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000, help="0 picks a free port (printed on the first line)")
    parser.add_argument("--models", default="mock", help="comma-separated model names to serve")
    parser.add_argument(
        "--pool", default=None, help="serve every endpoint's model id of this pool or collect config file instead"
    )
    parser.add_argument("--latency", type=float, default=0.0, help="seconds before each answer")
    parser.add_argument("--jitter", type=float, default=0.0, help="up to this many more seconds, by prompt hash")
    for name in ("429", "500", "timeout", "drop"):
        parser.add_argument(f"--every-{name}", type=int, default=0, help=f"every Nth request gets a {name} fault")
    parser.add_argument("--hang", type=float, default=5.0, help="seconds a 'timeout' request sleeps")
    parser.add_argument("--down", default=None, choices=FAULTS[1:], help="start in a down window with this fault")
    parser.add_argument(
        "--fault-plan", action="store_true", help=f"honour each request's '{FAULT_PLAN_FIELD}' fault plan"
    )
    parser.add_argument("--http", default="auto", help="uvicorn HTTP implementation: auto, h11 or httptools")
    parser.add_argument("--loop", default="auto", help="uvicorn event loop: auto, asyncio or uvloop")
    parser.add_argument("--log-level", default="warning")
    ns = parser.parse_args(argv)
    import uvicorn

    faults = FaultSchedule(
        every_429=ns.every_429,
        every_500=ns.every_500,
        every_timeout=ns.every_timeout,
        every_drop=ns.every_drop,
        hang_s=ns.hang,
    )
    models = _pool_models(ns.pool) if ns.pool else [m.strip() for m in ns.models.split(",") if m.strip()]
    app = create_app(
        models,
        latency_s=ns.latency,
        jitter_s=ns.jitter,
        faults=faults,
        keep_log=False,
        down=ns.down,
        fault_plan=ns.fault_plan,
    )
    sock = _bound_socket(ns.host, ns.port)
    print(f"http://{ns.host}:{sock.getsockname()[1]}/v1", flush=True)
    config = uvicorn.Config(app, log_level=ns.log_level, access_log=False, lifespan="off", http=ns.http, loop=ns.loop)
    uvicorn.Server(config).run(sockets=[sock])


if __name__ == "__main__":  # pragma: no cover
    main()
