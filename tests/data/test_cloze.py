"""The ``cloze`` answer method (options scored by their per-character log-likelihood) on a tiny random Llama."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch", reason="local LMs need torch (pip install 'routerlab[lm]')")
pytest.importorskip("transformers", reason="local LMs need transformers (pip install 'routerlab[lm]')")

from routerlab.collect.local_lm import collect_lm, read_outcomes, routing_data
from routerlab.data.features import get_encoder
from routerlab.data.features.cache import text_key
from routerlab.data.features.hidden import HiddenStateStore, hidden_store_dir, parse_lm_encoder_name, signal_store
from routerlab.data.features.lm import cloze_prompt, distribution_signals, load_lm, model_identity, split_mcq
from routerlab.data.loaders.mcq import QuestionSet, mcq_prompt
from routerlab.errors import RouterlabError, SchemaError
from tests.data.tiny_lm import build_tiny_lm, tiny_questions

QUESTIONS = tiny_questions(12, seed=3)
TEXTS = [mcq_prompt(q, c) for q, c, _ in QUESTIONS]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> str:
    corpus = [*TEXTS, *(cloze_prompt(q) + " " + " ".join(c) for q, c, _ in QUESTIONS)]
    return str(build_tiny_lm(tmp_path_factory.mktemp("tiny-lm"), corpus))


def _hand_scores(model_dir: str, question: str, options: list[str]) -> np.ndarray:
    """Per-character log-likelihood of each option, one plain unbatched forward pass per option."""
    import torch

    lm = load_lm(model_dir)
    prompt = f"Question: {question}\nAnswer:"
    ctx = lm.tokenizer(prompt)["input_ids"]
    out = []
    for option in options:
        ids = lm.tokenizer(prompt + " " + option)["input_ids"]
        with torch.no_grad():
            logits = lm.model(input_ids=torch.tensor([ids])).logits[0].double()
        logp = torch.log_softmax(logits, dim=-1)
        total = sum(float(logp[t - 1, ids[t]]) for t in range(len(ctx), len(ids)))
        out.append(total / len(option))
    return np.array(out)


def test_split_mcq_inverts_the_prompt_and_refuses_other_text() -> None:
    for q, c, _ in QUESTIONS:
        assert split_mcq(mcq_prompt(q, c)) == (q, c)
    tricky = mcq_prompt("Which line?\nA. is not an option here", ["x\ny", "", "B. z", "w"])
    assert split_mcq(tricky) == ("Which line?\nA. is not an option here", ["x\ny", "", "B. z", "w"])
    with pytest.raises(RouterlabError, match="ending in"):
        split_mcq("What is 2+2?")
    with pytest.raises(RouterlabError, match=r"'B\. '"):
        split_mcq("Q\nA. x\nC. y\nD. z\nAnswer:")


def test_cloze_scores_equal_a_hand_computation(tiny: str) -> None:
    lm = load_lm(tiny)
    result = lm.forward_cloze(TEXTS[:6])  # one batched prompt pass, one batched option pass per question
    for j, (q, c, _) in enumerate(QUESTIONS[:6]):
        hand = _hand_scores(tiny, q, c)
        np.testing.assert_allclose(result.letter_logits[j], hand, rtol=1e-4, atol=1e-5)
        assert result.answer[j] == int(np.argmax(hand))
    mx, ent, margin = distribution_signals(result.letter_logits.astype(np.float64))
    np.testing.assert_allclose(result.letter_max_prob, mx, rtol=1e-5)
    np.testing.assert_allclose(result.letter_entropy, ent, rtol=1e-5)
    np.testing.assert_allclose(result.letter_margin, margin, rtol=1e-5, atol=1e-7)
    # the hidden states are the cloze prompt's alone: the same as a letter-method pass over that prompt
    np.testing.assert_array_equal(result.hidden, lm.forward([cloze_prompt(q) for q, _, _ in QUESTIONS[:6]]).hidden)
    np.testing.assert_array_equal(result.n_tokens, lm.count_tokens(TEXTS[:6]))


def test_cached_prompt_pass_equals_the_full_sequence_pass(tiny: str) -> None:
    """The key/value-cache path and the full-sequence path (the boundary-merge fallback) agree per option."""
    lm = load_lm(tiny)
    for q, c, _ in QUESTIONS:
        prompt = cloze_prompt(q)
        cached, vocab, hidden, n_ctx = lm._cloze_one(prompt, c)
        np.testing.assert_allclose(cached, lm.option_logliks(prompt, c), rtol=1e-5, atol=1e-5)
        assert n_ctx == len(lm.tokenizer(prompt)["input_ids"])
        full = lm.forward([prompt])
        np.testing.assert_allclose(hidden.astype(np.float32), full.hidden[0].astype(np.float32), rtol=1e-2, atol=1e-2)
        p = np.exp(vocab - vocab.max())
        assert p.max() / p.sum() == pytest.approx(float(full.vocab_max_prob[0]), rel=1e-5)


def test_option_order_does_not_change_the_chosen_text_or_the_states(tiny: str) -> None:
    lm = load_lm(tiny)
    rng = np.random.default_rng(0)
    for q, c, _ in QUESTIONS[:6]:
        perm = rng.permutation(4)
        shuffled = [c[k] for k in perm]
        a = lm.forward_cloze([mcq_prompt(q, c)])
        b = lm.forward_cloze([mcq_prompt(q, shuffled)])
        assert c[int(a.answer[0])] == shuffled[int(b.answer[0])]
        np.testing.assert_allclose(b.letter_logits[0], a.letter_logits[0][perm], rtol=1e-5, atol=1e-6)
        np.testing.assert_array_equal(a.hidden, b.hidden)
        assert a.letter_max_prob[0] == pytest.approx(b.letter_max_prob[0], rel=1e-5)


def test_methods_have_their_own_identity_stores_and_rows(tiny: str, tmp_path: Path) -> None:
    letter, cloze = model_identity(tiny), model_identity(tiny, "cloze")
    assert letter != cloze and "answer=cloze-v1" in cloze and "answer=" not in letter
    assert hidden_store_dir(letter) != hidden_store_dir(cloze)
    qs = QuestionSet(
        "tinyset",
        [f"t/{i}" for i in range(len(TEXTS))],
        list(TEXTS),
        ["s"] * len(TEXTS),
        np.array([g for *_, g in QUESTIONS]),
        (),
        np.zeros((len(TEXTS), 0)),
    )
    s_letter = collect_lm(qs, tmp_path, model=tiny, batch_size=5)
    s_cloze = collect_lm(qs, tmp_path, model=tiny, answer="cloze", batch_size=5)
    assert (s_letter.computed, s_cloze.computed, s_cloze.already_done) == (12, 12, 0)  # letter rows not reused
    assert collect_lm(qs, tmp_path, model=tiny, answer="cloze").computed == 0
    rows_l = read_outcomes(tmp_path, model=tiny)
    rows_c = read_outcomes(tmp_path, model=tiny, answer="cloze")
    assert {r["model"] for r in rows_l} == {letter} and {r["model"] for r in rows_c} == {cloze}
    expected = load_lm(tiny).forward_cloze(TEXTS)
    by_id = {r["query_id"]: r for r in rows_c}
    for i, qid in enumerate(qs.query_ids):
        r = by_id[qid]
        assert r["answer"] == int(expected.answer[i]) and r["correct"] == int(expected.answer[i] == qs.gold[i])
        np.testing.assert_allclose([r["logit_a"], r["logit_b"], r["logit_c"], r["logit_d"]],
                                   expected.letter_logits[i], rtol=1e-5, atol=1e-6)  # fmt: skip
    keys = [text_key(t) for t in TEXTS]
    stored = HiddenStateStore(cloze).lookup(keys)
    np.testing.assert_array_equal(np.stack([stored[k] for k in keys]), expected.hidden)
    assert not np.array_equal(HiddenStateStore(letter).lookup(keys)[keys[0]], stored[keys[0]])
    np.testing.assert_allclose(signal_store(cloze).lookup(keys)[keys[0]][:4], expected.letter_logits[0], rtol=1e-5)
    # the encoders read the cloze stores by name, without a new forward pass (a missing row would run one)
    enc = get_encoder(f"hidden:{tiny}?answer=cloze&layers=final")
    np.testing.assert_array_equal(enc.encode(TEXTS), expected.hidden[:, -1, :].astype(np.float32))
    assert enc.name != get_encoder(f"hidden:{tiny}?layers=final").name
    logits = get_encoder(f"logits:{tiny}?answer=cloze").encode(TEXTS)
    np.testing.assert_allclose(logits[:, :4], expected.letter_logits, rtol=1e-5)
    data = routing_data(tmp_path, model=tiny, answer="cloze")
    assert data.models[0].provider_id == cloze and data.meta["answer"].startswith("cloze")
    np.testing.assert_array_equal(data.Y[:, 0], [by_id[q]["correct"] for q in data.query_ids])


def test_bad_method_and_encoder_names_say_what_to_write(tiny: str, tmp_path: Path) -> None:
    with pytest.raises(RouterlabError, match="letter, cloze"):
        model_identity(tiny, "mc")
    with pytest.raises(SchemaError, match="answer: letter, cloze"):
        parse_lm_encoder_name("hidden:m?answer=mc")
    with pytest.raises(SchemaError, match=r"\?answer="):
        parse_lm_encoder_name("logits:m?layers=final")
    assert parse_lm_encoder_name("hidden:m?layers=mean&answer=cloze") == ("m", {"layers": "mean", "answer": "cloze"})
    with pytest.raises(RouterlabError, match="ending in"):
        load_lm(tiny).forward_cloze(["free text, no options"])


def test_cli_collects_with_cloze_and_refuses_an_unknown_method(tiny: str, tmp_path: Path, shared_data: Path) -> None:
    from typer.testing import CliRunner

    from routerlab.cli.main import app

    base = ["collect-lm", "--model", tiny, "--data-dir", str(shared_data), "--limit", "3"]
    bad = CliRunner().invoke(app, [*base, "--out", str(tmp_path / "bad"), "--answer", "mc"])
    assert bad.exit_code == 2 and "--answer must be one of letter, cloze. Got 'mc'" in bad.output
    out = tmp_path / "run"
    ok = CliRunner().invoke(app, [*base, "--out", str(out), "--answer", "cloze"])
    assert ok.exit_code == 0, ok.output
    rows = read_outcomes(out, model=tiny, answer="cloze")
    assert len(rows) == 3 and {r["model"] for r in rows} == {model_identity(tiny, "cloze")}
    assert read_outcomes(out, model=tiny) == []  # nothing under the letter identity
