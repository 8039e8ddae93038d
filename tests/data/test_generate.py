"""Generated answers and SelfAsk (routerlab.data.features.generate) on a tiny random "instruct" Llama.

The decoding loop is checked against transformers' own greedy search and against the softmax it
samples from; SelfAsk's P(True) against a hand computation from the model's logits.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch", reason="local LMs need torch (pip install 'routerlab[lm]')")
pytest.importorskip("transformers", reason="local LMs need transformers (pip install 'routerlab[lm]')")

import torch

from routerlab.data.features.generate import (
    GenSettings,
    QueryGeneration,
    answer_prompt,
    decode,
    generate_query,
    generation_identity,
    p_true,
    selfask_prompt,
)
from routerlab.data.features.lm import load_lm
from routerlab.data.loaders.mcq import mcq_prompt
from routerlab.errors import RouterlabError, SchemaError
from tests.data.tiny_chat_lm import build_tiny_chat_lm
from tests.data.tiny_lm import build_tiny_lm, tiny_questions

TEXTS = [mcq_prompt(q, c) for q, c, _ in tiny_questions(12, seed=3)]
FAST = GenSettings(k=3, max_new_tokens=5)


@pytest.fixture(scope="module")
def lm(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    return load_lm(str(build_tiny_chat_lm(tmp_path_factory.mktemp("tiny-chat"), TEXTS)))


def _ids(lm, text: str) -> list[int]:  # type: ignore[no-untyped-def]
    return list(lm.tokenizer(answer_prompt(lm, text), add_special_tokens=False)["input_ids"])


def test_the_greedy_row_is_transformers_greedy_search(lm) -> None:  # type: ignore[no-untyped-def]
    for text in TEXTS[:4]:
        ids = _ids(lm, text)
        with torch.inference_mode():
            ref = lm.model.generate(
                input_ids=torch.tensor([ids]), max_new_tokens=7, do_sample=False, pad_token_id=lm.pad_id
            )[0, len(ids) :].tolist()
        alone = decode(lm, ids, n_samples=0, max_new_tokens=7, temperature=1.0, generator=None)[0]
        batched = decode(lm, ids, n_samples=4, max_new_tokens=7, temperature=1.0, generator=torch.Generator())[0]
        assert list(alone.tokens) == ref == list(batched.tokens)  # samples beside it do not change it
        assert alone.finish_reason == "length" and alone.truncated and alone.completion_tokens == 7


def test_samples_follow_the_softmax_at_the_temperature(lm) -> None:  # type: ignore[no-untyped-def]
    """One decoding step, many samples: their frequencies are softmax(logits / T), not softmax(logits)."""
    ids = _ids(lm, TEXTS[0])
    with torch.inference_mode():
        z = lm.model(input_ids=torch.tensor([ids])).logits[0, -1].double()
    n, temperature = 4000, 0.6
    rows = decode(
        lm, ids, n_samples=n, max_new_tokens=1, temperature=temperature, generator=torch.Generator().manual_seed(1)
    )
    first = np.array([r.tokens[0] if r.tokens else -1 for r in rows[1:]])
    eos = lm.tokenizer.eos_token_id
    first[first == -1] = eos
    freq = np.bincount(first, minlength=len(z)) / n
    expected = torch.softmax(z / temperature, -1).numpy()
    at_one = torch.softmax(z, -1).numpy()
    tv = 0.5 * np.abs(freq - expected).sum()
    assert tv < 0.04  # sampling noise at n=4000 is about 0.02
    assert 0.5 * np.abs(at_one - expected).sum() > 0.1  # and the temperature visibly matters on this model


def test_an_end_of_sequence_token_stops_an_answer(lm, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    def run(ids: list[int]):  # type: ignore[no-untyped-def]
        return decode(
            lm, ids, n_samples=1, max_new_tokens=6, temperature=1.0, generator=torch.Generator().manual_seed(7)
        )

    for text in TEXTS:  # a sampled answer with a token that neither it nor the greedy answer had before
        ids = _ids(lm, text)
        greedy, sample = run(ids)
        later = [j for j, t in enumerate(sample.tokens) if t not in (*sample.tokens[:j], *greedy.tokens)]
        if later and later[-1] > 0:
            break
    j = later[-1]
    assert j > 0, "no sampled answer with a new token after its first"
    monkeypatch.setattr(lm.model.generation_config, "eos_token_id", [sample.tokens[j]])
    kept, stopped = run(ids)
    assert kept == greedy  # an answer that never meets the stop token runs to the budget
    assert stopped.tokens == sample.tokens[:j] and stopped.finish_reason == "stop"
    assert not stopped.truncated and stopped.completion_tokens == j + 1  # the stop token was generated
    assert greedy.truncated and greedy.finish_reason == "length" and len(greedy.tokens) == 6


def test_sampling_is_reproducible_per_query_and_seed(lm) -> None:  # type: ignore[no-untyped-def]
    a = generate_query(lm, TEXTS[2], FAST)
    torch.manual_seed(12345)  # the global generator plays no part
    torch.rand(100)
    generate_query(lm, TEXTS[3], FAST)  # nor does what ran before
    b = generate_query(lm, TEXTS[2], FAST)
    assert a.samples == b.samples and a.greedy == b.greedy and a.selfask_logits == b.selfask_logits
    c = generate_query(lm, TEXTS[2], GenSettings(k=3, max_new_tokens=5, seed=1))
    assert c.greedy == a.greedy and c.samples != a.samples
    assert len(a.samples) == 3 and all(len(s.tokens) <= 5 for s in a.samples)


def test_p_true_is_the_two_way_softmax_of_the_models_logits(lm) -> None:  # type: ignore[no-untyped-def]
    for text in TEXTS[:3]:
        gen = generate_query(lm, text, FAST)
        prompt = selfask_prompt(lm, text, gen.greedy.text)
        ids = lm.tokenizer(prompt, add_special_tokens=False)["input_ids"]
        assert prompt.endswith("<|im_start|>assistant\nThe proposed answer is:")
        assert f"Proposed Answer: {gen.greedy.text.strip()}\n" in prompt
        with torch.inference_mode():
            last = lm.model(input_ids=torch.tensor([ids])).logits[0, -1].double()
        vocab = lm.tokenizer.get_vocab()
        lt, lf = float(last[vocab[" True"]]), float(last[vocab[" False"]])
        by_hand = math.exp(lt) / (math.exp(lt) + math.exp(lf))
        assert gen.p_true == pytest.approx(by_hand, rel=1e-6)  # float32 logits: one row vs all rows
        assert 0.0 <= gen.p_true <= 1.0 and gen.selfask_prompt_tokens == len(ids)


def test_p_true_is_stable_at_extreme_logits() -> None:
    assert p_true(1000.0, -1000.0) == 1.0 and p_true(-1000.0, 1000.0) == 0.0
    assert p_true(2.0, 2.0) == 0.5
    assert p_true(1.0, 0.0) == pytest.approx(1 / (1 + math.exp(-1)))


def test_a_record_round_trips_through_json(lm) -> None:  # type: ignore[no-untyped-def]
    gen = generate_query(lm, TEXTS[4], FAST)
    assert QueryGeneration.from_json(gen.to_json()) == gen
    assert gen.prompt_tokens == len(_ids(lm, TEXTS[4])) and gen.cpu_s > 0


def test_settings_are_validated_and_part_of_the_identity(lm) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(SchemaError, match=r"GenSettings.k must be an int >= 2 .*Got 1"):
        GenSettings(k=1)
    with pytest.raises(SchemaError, match=r"GenSettings.temperature must be a finite number > 0. Got 0"):
        GenSettings(temperature=0)
    with pytest.raises(SchemaError, match=r"GenSettings.max_new_tokens must be an int >= 1"):
        GenSettings(max_new_tokens=0)
    ids = {generation_identity(lm.name, s) for s in (GenSettings(), GenSettings(k=6), GenSettings(seed=2))}
    assert len(ids) == 3


def test_a_model_without_a_chat_template_is_refused(tmp_path: Path) -> None:
    plain = load_lm(str(build_tiny_lm(tmp_path / "plain", TEXTS[:2])))
    with pytest.raises(RouterlabError, match="has no chat template"):
        generate_query(plain, TEXTS[0], FAST)
