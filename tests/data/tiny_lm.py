"""A tiny random-weight Llama (2 layers × 32 dims) with a word-level tokenizer, saved as a model folder.

Fast stand-in for SmolLM2 in tests: same architecture class, same loading path (a Hugging Face
folder), single-token option letters (``" A"`` … ``" D"`` follow ``"Answer:"`` as one token each).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from routerlab.data.loaders.mcq import QuestionSet

N_LAYERS = 2
DIM = 32


def tiny_questions(n: int, *, seed: int = 0) -> list[tuple[str, list[str], int]]:
    """``n`` made-up questions (question, 4 choices, gold index), deterministic in ``seed``."""
    import random

    rng = random.Random(seed)
    words = "alpha beta gamma delta omega sigma theta kappa lambda zeta rho tau phi chi psi".split()
    out = []
    for i in range(n):
        q = f"Question {i}: which " + " ".join(rng.choice(words) for _ in range(rng.randint(3, 12))) + "?"
        choices = [" ".join(rng.choice(words) for _ in range(rng.randint(1, 4))) for _ in range(4)]
        out.append((q, choices, rng.randrange(4)))
    return out


def tiny_question_set(n: int, *, large: bool = True) -> QuestionSet:
    """``tiny_questions(n, seed=1)`` as a QuestionSet ("tinyset", 3 subjects), random large-model outcomes."""
    import numpy as np

    from routerlab.data.loaders.mcq import QuestionSet, mcq_prompt
    from routerlab.data.loaders.routellm import STRONG, WEAK

    qs = tiny_questions(n, seed=1)
    rng = np.random.default_rng(0)
    return QuestionSet(
        name="tinyset",
        query_ids=[f"tiny/{i:04d}" for i in range(n)],
        texts=[mcq_prompt(q, c) for q, c, _ in qs],
        subjects=[f"subj{i % 3}" for i in range(n)],
        gold=np.array([g for *_, g in qs]),
        large_models=(WEAK, STRONG) if large else (),
        large=rng.integers(0, 2, size=(n, 2)).astype(float) if large else np.zeros((n, 0)),
    )


def build_tiny_lm(folder: Path, corpus: Sequence[str] = ()) -> Path:
    """Write a tiny random Llama and a tokenizer covering ``corpus``'s words to ``folder``; returns it."""
    import torch
    from tokenizers import Regex, Tokenizer, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    split = pre_tokenizers.Split(Regex(r" ?[^\s]+|\s"), behavior="isolated")
    vocab: dict[str, int] = {"[UNK]": 0, "[PAD]": 1, "[EOS]": 2}
    base = ["Answer:", " A", " B", " C", " D", "\n", " Answer:", "A.", "B.", "C.", "D."]
    for text in [*base, *corpus]:
        for piece, _ in split.pre_tokenize_str(text):
            vocab.setdefault(piece, len(vocab))
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = split
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", eos_token="[EOS]")
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(vocab),
        hidden_size=DIM,
        intermediate_size=64,
        num_hidden_layers=N_LAYERS,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        pad_token_id=1,
        eos_token_id=2,
        bos_token_id=2,
        tie_word_embeddings=True,
    )
    model = LlamaForCausalLM(config)
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(folder))
    fast.save_pretrained(str(folder))
    return folder
