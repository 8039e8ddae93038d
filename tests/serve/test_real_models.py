"""Two real small language models behind the gateway (benchmarks/serve_real_models.py), ``slow``.

SmolLM2-135M and Gemma 3 270M, each served by ``python -m llama_cpp.server`` (a real
OpenAI-compatible server); a router fitted on their real, letter-scored answers to 12 ARC-Challenge
questions; ``routerlab serve`` in a subprocess; 10 prompts sent with the ``openai`` client, one
streamed. Skipped with the reason when llama_cpp, its server's dependencies, a model or the data
is missing. Takes 1-1.5 min on two shared cores.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from benchmarks.serve_real_models import (
    PROMPTS,
    Missing,
    arc_questions,
    ask_all,
    check,
    fit_router,
    model_files,
    send_prompts,
    start_llama_server,
    write_pool,
)
from benchmarks.soak_serve import start_gateway

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    try:
        files = model_files()
        arc_questions(1)
    except Missing as exc:
        pytest.skip(str(exc))
    folder = tmp_path_factory.mktemp("llama")
    urls, stops = {}, []
    try:
        for name, gguf in files.items():
            urls[name], stop = start_llama_server(name, gguf, log=folder / f"{name}.log")
            stops.append(stop)
        yield urls
    finally:
        for stop in stops:
            stop()


def test_two_real_models_behind_the_gateway(servers: dict[str, str], tmp_path: Path) -> None:
    from routerlab.serve.log import read_log

    questions = arc_questions(12)
    outcomes = ask_all(servers, questions)
    # real answers, really scored: every answer has tokens and a cost, and each score is 0 or 1
    assert outcomes.tokens_out.min() >= 1 and (outcomes.cost > 0).all()
    assert set(outcomes.Y.ravel()) <= {0.0, 1.0} and all(a.strip() for row in outcomes.answers for a in row)
    fit_router(outcomes, tmp_path / "router")
    write_pool(tmp_path / "pool.yaml", servers)
    log = tmp_path / "decisions.sqlite"
    gateway, stop = start_gateway(
        tmp_path / "router", tmp_path / "pool.yaml", log, deadline_s=300.0, stderr=tmp_path / "err"
    )
    try:
        sent = send_prompts(gateway)
    finally:
        stop()
    records = read_log(log)
    assert len(sent) == len(PROMPTS) + 1 and sum(s.stream for s in sent) == 1
    assert check(sent, records, list(servers)) == []
    assert {s.routed_to for s in sent} <= set(servers) and all(s.text.strip() for s in sent)
    by_id = {r["request_id"]: r for r in records}
    for s in sent:
        r = by_id[s.request_id]
        assert r["status"] == 200 and r["error_code"] is None and r["answered_by"] == s.routed_to
        if not s.stream:  # the log's tokens are the answer's usage, and they cost something
            assert (r["prompt_tokens"], r["completion_tokens"]) == s.usage and r["cost_usd"] > 0
    # llama_cpp.server sends no usage in a stream (it ignores stream_options.include_usage): nor does the log
    (streamed,) = [s for s in sent if s.stream]
    record = by_id[streamed.request_id]
    assert streamed.text.strip() and (record["prompt_tokens"], record["completion_tokens"]) == (
        streamed.usage or (None, None)
    )
