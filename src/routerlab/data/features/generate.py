r"""A small local LM's *generated* answers and its self-evaluation P(True): the model side of the verbal signals.

routerxbench (arXiv 2602.11877) §5.1 "Baselines" (1), "Verbose-based. Routers that depend on auxiliary
generations, such as self-evaluation (Kadavath et al., 2022) or semantic entropy (Kuhn et al., 2023)":
unlike the logit and hidden-state signals (:mod:`routerlab.data.features.lm`, one pass over the prompt),
these need the small model to answer in text. For each multiple-choice query this module produces one
greedy answer, ``K`` sampled answers and one self-evaluation pass (:func:`generate_query`);
:mod:`routerlab.data.features.verbal` turns them into the two signals.

**Answer prompt** (:data:`ANSWER_PROMPT_VERSION`): the model's own chat template
(``apply_chat_template(..., add_generation_prompt=True)``) over one user message: the query text
without its trailing ``"Answer:"`` (the question and its lettered options, as
:func:`~routerlab.data.loaders.mcq.mcq_prompt` renders them), a blank line and
:data:`ANSWER_INSTRUCTION`. A model without a chat template is refused: these are instruct models.
The templated text already holds its special tokens, so it is tokenised without adding more.

**Decoding** (:func:`decode`): one prefill of the prompt; its KV cache is repeated to ``1 + K`` rows.
Row 0 is greedy (argmax); rows ``1..K`` are ancestral samples from ``softmax(logits / T)`` — no
top-k, no top-p, no repetition penalty (``transformers``' ``generate`` would add the model's
``generation_config`` defaults, so the loop is written out here). The samples are drawn with a
``torch.Generator`` seeded per query from ``(seed, text)`` (:func:`sample_seed`, through
:func:`routerlab._random.stable_uniform`), so a query's samples depend on nothing else: not the batch,
not the order, not a resume. A row ends at an end-of-sequence token (the tokenizer's and the
``generation_config``'s; ``finish_reason="stop"``, the token not kept in the text) or after
``max_new_tokens`` tokens (``finish_reason="length"``: truncated, the budget of
`unsolvability-ceiling-artifacts.txt` §5.2). Finished rows leave the batch.

**SelfAsk** (:data:`SELFASK_VERSION`): the self-evaluation prompt of Kadavath et al. 2022, "Language
Models (Mostly) Know What They Know" (arXiv:2207.05221)::

    Question: <question and options>
    Proposed Answer: <the greedy answer>
    Is the proposed answer:
     (A) True
     (B) False
    The proposed answer is:

everything up to ``(B) False`` as the user message of the chat template, ``"The proposed answer
is:"`` as the start of the assistant's turn. One forward pass gives the next-token logits of
``" True"`` and ``" False"`` (each must be one token after the prefix, checked as the option
letters are, :func:`~routerlab.data.features.lm.letter_token_ids`), and P(True) is their
two-way softmax, ``σ(l_True − l_False)`` (:func:`p_true`): the probability the model puts on "True"
among the two answers it was offered. The words are read instead of the labels ``" (A)"``/``" (B)"``
because those share their first token ``" ("`` in a BPE vocabulary.
"""

from __future__ import annotations

import inspect
import json
import logging
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from routerlab._random import stable_uniform
from routerlab.data.features.cache import text_key
from routerlab.data.features.lm import LocalLM, letter_token_ids, model_identity
from routerlab.errors import RouterlabError, SchemaError

log = logging.getLogger(__name__)

__all__ = [
    "ANSWER_INSTRUCTION",
    "ANSWER_PROMPT_VERSION",
    "DEFAULT_K",
    "DEFAULT_MAX_NEW_TOKENS",
    "DEFAULT_SEED",
    "DEFAULT_TEMPERATURE",
    "GEN_VERSION",
    "SELFASK_VERSION",
    "GenSettings",
    "Generated",
    "QueryGeneration",
    "answer_prompt",
    "decode",
    "generate_query",
    "generation_identity",
    "p_true",
    "sample_seed",
    "selfask_logits",
    "selfask_prompt",
]

#: bump when the decoding loop changes what it returns
GEN_VERSION = 1
ANSWER_PROMPT_VERSION = 1
SELFASK_VERSION = 1
ANSWER_INSTRUCTION = "Answer with the letter of the correct option (A, B, C or D)."
SELFASK_PREFIX = "The proposed answer is:"
SELFASK_WORDS = ("True", "False")
DEFAULT_K = 5
DEFAULT_MAX_NEW_TOKENS = 24
DEFAULT_TEMPERATURE = 1.0
DEFAULT_SEED = 0
_ANSWER_SUFFIX = "Answer:"


@dataclass(frozen=True, slots=True)
class GenSettings:
    """What a generation run does per query: ``k`` samples at ``temperature``, ``max_new_tokens`` each, ``seed``."""

    k: int = DEFAULT_K
    max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS
    temperature: float = DEFAULT_TEMPERATURE
    seed: int = DEFAULT_SEED

    def __post_init__(self) -> None:
        checks = (
            ("k", self.k, isinstance(self.k, int) and self.k >= 2, "an int >= 2 (semantic entropy compares samples)"),
            ("max_new_tokens", self.max_new_tokens, isinstance(self.max_new_tokens, int) and self.max_new_tokens >= 1,
             "an int >= 1 (the answer's token budget)"),
            ("temperature", self.temperature, isinstance(self.temperature, (int, float))
             and math.isfinite(self.temperature) and self.temperature > 0, "a finite number > 0"),
            ("seed", self.seed, isinstance(self.seed, int) and self.seed >= 0, "an int >= 0"),
        )  # fmt: skip
        for field, value, ok, what in checks:
            if not ok or isinstance(value, bool):
                raise SchemaError(f"GenSettings.{field} must be {what}. Got {value!r}.")

    def tag(self) -> str:
        """The settings as they enter an identity: ``k=5:T=1:max_new=24:seed=0``."""
        return f"k={self.k}:T={self.temperature:g}:max_new={self.max_new_tokens}:seed={self.seed}"


def generation_identity(model: str, settings: GenSettings) -> str:
    """The identity of ``model``'s generations under ``settings``: weights, prompts, decoding versions, settings.

    Every cache of generated answers is keyed by it, so other weights, prompts or settings never share a row.
    """
    prompts = f"gen=v{GEN_VERSION}:answer-prompt=chat-v{ANSWER_PROMPT_VERSION}:selfask=kadavath-v{SELFASK_VERSION}"
    return f"{model_identity(model)}:{prompts}:{settings.tag()}"


@dataclass(frozen=True, slots=True)
class Generated:
    """One generated answer: its text, its token ids (end-of-sequence excluded) and why it ended."""

    text: str
    tokens: tuple[int, ...]
    finish_reason: str  # "stop" (an end-of-sequence token) or "length" (the max_new_tokens budget)

    @property
    def truncated(self) -> bool:
        """Whether the answer hit the token budget before ending by itself."""
        return self.finish_reason == "length"

    @property
    def completion_tokens(self) -> int:
        """Tokens the model generated, the end-of-sequence token included when it stopped."""
        return len(self.tokens) + (self.finish_reason == "stop")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"text": self.text, "tokens": list(self.tokens), "finish_reason": self.finish_reason}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Generated:
        """Inverse of :meth:`to_dict`."""
        return cls(str(data["text"]), tuple(int(t) for t in data["tokens"]), str(data["finish_reason"]))


@dataclass(frozen=True, slots=True)
class QueryGeneration:
    """Everything :func:`generate_query` computes for one query (see the module doc).

    ``selfask_logits``: next-token logits of ``" True"`` and ``" False"`` after the SelfAsk prompt;
    ``cpu_s``/``wall_s``: process CPU and wall seconds of the whole query (prefill, greedy and sampled
    answers, SelfAsk pass).
    """

    prompt_tokens: int
    greedy: Generated
    samples: tuple[Generated, ...]
    selfask_logits: tuple[float, float]
    selfask_prompt_tokens: int
    cpu_s: float
    wall_s: float

    @property
    def p_true(self) -> float:
        """SelfAsk's P(True) (:func:`p_true`)."""
        return p_true(*self.selfask_logits)

    def to_json(self) -> str:
        """The record as compact JSON (what the caches store)."""
        return json.dumps(
            {
                "prompt_tokens": self.prompt_tokens,
                "greedy": self.greedy.to_dict(),
                "samples": [s.to_dict() for s in self.samples],
                "selfask_logits": list(self.selfask_logits),
                "selfask_prompt_tokens": self.selfask_prompt_tokens,
                "cpu_s": self.cpu_s,
                "wall_s": self.wall_s,
            },
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, text: str) -> QueryGeneration:
        """Inverse of :meth:`to_json`."""
        d = json.loads(text)
        lt, lf = d["selfask_logits"]
        return cls(
            int(d["prompt_tokens"]),
            Generated.from_dict(d["greedy"]),
            tuple(Generated.from_dict(s) for s in d["samples"]),
            (float(lt), float(lf)),
            int(d["selfask_prompt_tokens"]),
            float(d["cpu_s"]),
            float(d["wall_s"]),
        )


def p_true(logit_true: float, logit_false: float) -> float:
    """P(True) of Kadavath et al. 2022 normalised over the two answers: ``exp(l_T) / (exp(l_T) + exp(l_F))``.

    Written as ``σ(l_T − l_F)``, evaluated so that neither branch overflows.
    """
    d = float(logit_true) - float(logit_false)
    if d >= 0:
        return 1.0 / (1.0 + math.exp(-d))
    e = math.exp(d)
    return e / (1.0 + e)


def _question_body(text: str) -> str:
    stripped = text.rstrip()
    return stripped[: -len(_ANSWER_SUFFIX)].rstrip() if stripped.endswith(_ANSWER_SUFFIX) else stripped


def _chat(tokenizer: Any, user: str, name: str) -> str:
    if getattr(tokenizer, "chat_template", None) is None:
        raise RouterlabError(
            f"{name}: its tokenizer has no chat template, and generated answers need one (an instruct model's "
            "prompt format). Use an instruct model, or add a chat_template to the model folder's tokenizer_config."
        )
    messages = [{"role": "user", "content": user}]
    rendered = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    return str(rendered)


def answer_prompt(lm: LocalLM, text: str) -> str:
    """The chat-templated prompt asking for the answer letter of the query ``text`` (module doc)."""
    return _chat(lm.tokenizer, f"{_question_body(text)}\n\n{ANSWER_INSTRUCTION}", lm.name)


def selfask_prompt(lm: LocalLM, text: str, proposed: str) -> str:
    """Kadavath et al.'s self-evaluation prompt for ``proposed`` as the answer to ``text`` (module doc)."""
    user = (
        f"Question: {_question_body(text)}\nProposed Answer: {proposed.strip()}\n"
        f"Is the proposed answer:\n (A) {SELFASK_WORDS[0]}\n (B) {SELFASK_WORDS[1]}"
    )
    return _chat(lm.tokenizer, user, lm.name) + SELFASK_PREFIX


def sample_seed(text: str, seed: int) -> int:
    """The seed of a query's sampler: a hash of ``(seed, text)`` (``stable_uniform``), so it depends on nothing else."""
    draw = stable_uniform([text_key(text).hex()], seed, salt="lm-answer-samples")[0]
    return int(draw * 2.0**62)


def _encode(lm: LocalLM, prompt: str) -> list[int]:
    ids = list(lm.tokenizer(prompt, add_special_tokens=False)["input_ids"])
    if not ids:
        raise RouterlabError(f"{lm.name}: a prompt is empty after tokenising; every query needs text.")
    return ids


def _eos_ids(lm: LocalLM) -> frozenset[int]:
    ids: set[int] = set()
    if lm.tokenizer.eos_token_id is not None:
        ids.add(int(lm.tokenizer.eos_token_id))
    configured = getattr(getattr(lm.model, "generation_config", None), "eos_token_id", None)
    if configured is not None:
        ids.update(int(t) for t in (configured if isinstance(configured, (list, tuple)) else [configured]))
    if not ids:
        raise RouterlabError(f"{lm.name}: no end-of-sequence token in its tokenizer or generation config.")
    return frozenset(ids)


def decode(
    lm: LocalLM,
    prompt_ids: Sequence[int],
    *,
    n_samples: int,
    max_new_tokens: int,
    temperature: float,
    generator: Any,
) -> list[Generated]:
    """The greedy answer then ``n_samples`` sampled answers to ``prompt_ids``: one prefill, one batched decode.

    ``generator`` is the ``torch.Generator`` of the samples (unused when ``n_samples`` is 0). See the
    module doc for the rules; row 0 of the result is greedy.
    """
    import torch

    eos = _eos_ids(lm)
    n_rows = 1 + n_samples
    tokens: list[list[int]] = [[] for _ in range(n_rows)]
    finish = ["length"] * n_rows
    with torch.inference_mode():
        out = lm.model(input_ids=torch.tensor([list(prompt_ids)], dtype=torch.long), use_cache=True, logits_to_keep=1)
        cache = out.cache if hasattr(out, "cache") else out.past_key_values  # transformers 5 renamed it
        cache_arg = "cache" if "cache" in inspect.signature(lm.model.forward).parameters else "past_key_values"
        if n_rows > 1:
            cache.batch_repeat_interleave(n_rows)
        logits = out.logits[:, -1, :].expand(n_rows, -1)
        rows = torch.arange(n_rows)  # the answer each batch row belongs to
        for step in range(max_new_tokens):
            z = logits.double()
            nxt = torch.empty(len(rows), dtype=torch.long)
            greedy = rows == 0
            if bool(greedy.any()):
                nxt[greedy] = z[greedy].argmax(dim=-1)
            if bool((~greedy).any()):
                probs = torch.softmax(z[~greedy] / temperature, dim=-1)
                nxt[~greedy] = torch.multinomial(probs, 1, generator=generator).squeeze(1)
            keep: list[int] = []
            for b, (row, token) in enumerate(zip(rows.tolist(), nxt.tolist(), strict=True)):
                if token in eos:
                    finish[row] = "stop"
                else:
                    tokens[row].append(token)
                    keep.append(b)
            if not keep or step == max_new_tokens - 1:
                break
            if len(keep) < len(rows):
                index = torch.tensor(keep, dtype=torch.long)
                cache.batch_select_indices(index)
                rows, nxt = rows[index], nxt[index]
            out = lm.model(input_ids=nxt.unsqueeze(1), use_cache=True, **{cache_arg: cache})
            logits = out.logits[:, -1, :]
    return [
        Generated(str(lm.tokenizer.decode(t, skip_special_tokens=True)), tuple(t), f)
        for t, f in zip(tokens, finish, strict=True)
    ]


def selfask_logits(lm: LocalLM, prompt: str) -> tuple[tuple[float, float], int]:
    """The next-token logits of ``" True"`` and ``" False"`` after ``prompt`` (one forward pass), and its length."""
    import torch

    ids = _encode(lm, prompt)
    word_ids = letter_token_ids(lm.tokenizer, SELFASK_WORDS, prefix=SELFASK_PREFIX)
    with torch.inference_mode():
        out = lm.model(input_ids=torch.tensor([ids], dtype=torch.long), use_cache=False, logits_to_keep=1)
    last = out.logits[0, -1].double()
    return (float(last[word_ids[0]]), float(last[word_ids[1]])), len(ids)


def generate_query(lm: LocalLM, text: str, settings: GenSettings) -> QueryGeneration:
    """Greedy answer, ``settings.k`` sampled answers and SelfAsk's logits for the query ``text`` (module doc)."""
    import torch

    cpu0, wall0 = time.process_time(), time.perf_counter()
    prompt_ids = _encode(lm, answer_prompt(lm, text))
    generator = torch.Generator().manual_seed(sample_seed(text, settings.seed))
    answers = decode(
        lm,
        prompt_ids,
        n_samples=settings.k,
        max_new_tokens=settings.max_new_tokens,
        temperature=settings.temperature,
        generator=generator,
    )
    logits, n_selfask = selfask_logits(lm, selfask_prompt(lm, text, answers[0].text))
    return QueryGeneration(
        prompt_tokens=len(prompt_ids),
        greedy=answers[0],
        samples=tuple(answers[1:]),
        selfask_logits=logits,
        selfask_prompt_tokens=n_selfask,
        cpu_s=time.process_time() - cpu0,
        wall_s=time.perf_counter() - wall0,
    )
