"""What a bounded-length encoder embeds of a text longer than its window (``minilm?long=tail`` and kin).

all-MiniLM-L6-v2 reads ``max_seq_length`` = 256 word pieces (254 after ``[CLS]``/``[SEP]``) and
drops the rest. RouterBench's few-shot prompts and passage-then-question prompts put the question
last, so under the default every such prompt of a task embeds as its shared preamble. The
``long`` option of the ``minilm`` and ``st:`` encoders says what to embed instead; it is written
in the encoder name as a query, ``minilm?long=chunk``, ``st:/models/bge?long=tail``:

``head`` (default; the plain name)
    the first window, as sentence-transformers does; vectors and cache key are those of the plain
    name.
``tail``
    the last window: ``text[tail_start:]`` of :class:`~routerlab.data.features.encoders.TokenSpans`
    (the last ``254 - 254 // 32 = 247`` word pieces, starting at a token; the margin keeps a
    re-tokenised tail within the limit).
``chunk``
    every window: the text is cut into consecutive windows of at most 247 word pieces (a cut moves
    back to the nearest word start, so no word is split), each window is encoded, and the unit
    window vectors are averaged **weighted by their word pieces** (so a short last window weighs
    little; with one window per text this is plain mean pooling over all tokens, up to each
    window's own normalisation), then L2-normalised.
``head+tail``
    the unweighted mean of the head and tail vectors, L2-normalised (one 384-d vector, so routers
    and caches see the usual width).

A text that fits in one window embeds identically under every option (it is encoded whole, as
under ``head``), so the options change only the long texts. Windows of all texts are encoded
together in length-sorted batches (:func:`plan_pieces` and :func:`pool_pieces`), so chunking costs
one forward pass per window, not per text.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from routerlab._arrays import l2_normalise
from routerlab.data.features.onnx_backend import BACKENDS, check_backend
from routerlab.errors import SchemaError, check_choice

if TYPE_CHECKING:
    from routerlab.data.features.encoders import Encoder

#: the values of the ``long`` option, default first
LONG_MODES = ("head", "tail", "chunk", "head+tail")
DEFAULT_LONG = "head"
#: what each value embeds of a text longer than the window (for errors and reports)
LONG_MEANING = {
    "head": "the first window (the rest is never encoded)",
    "tail": "the last window (the start is never encoded)",
    "chunk": "every window, mean-pooled weighted by word pieces",
    "head+tail": "the mean of the first and last windows",
}
#: options an encoder name may carry after ``?`` (``backend``: :mod:`routerlab.data.features.onnx_backend`)
NAME_OPTIONS = ("long", "backend")


def check_long_mode(value: str, *, where: str = "long") -> str:
    """``value`` if it is one of :data:`LONG_MODES`; else a :class:`SchemaError` naming the choices."""
    return check_choice(value, LONG_MODES, LONG_MEANING, where=where)


def split_name_options(name: str) -> tuple[str, dict[str, str]]:
    """``"minilm?long=tail"`` → ``("minilm", {"long": "tail"})``; the name unchanged with ``{}`` when it has no ``?``.

    The last ``?`` starts the options (an ``st:`` folder may hold one). Each option is ``key=value``,
    once, from :data:`NAME_OPTIONS`; a ``long`` value must be one of :data:`LONG_MODES`, a
    ``backend`` one of :data:`~routerlab.data.features.onnx_backend.BACKENDS` (``minilm?backend=onnx-int8&long=tail``).
    A clear :class:`SchemaError` otherwise, naming the option, the value and the choices.
    """
    base, sep, query = name.rpartition("?")
    if not sep:
        return name, {}
    options: dict[str, str] = {}
    for part in query.split("&"):
        key, eq, value = part.partition("=")
        if key not in NAME_OPTIONS:
            close = difflib.get_close_matches(key, NAME_OPTIONS, n=1, cutoff=0.4)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise SchemaError(
                f"Encoder {name!r}: unknown option {key!r}.{hint} Options: "
                f"?long= ({' | '.join(LONG_MODES)}), ?backend= ({' | '.join(BACKENDS)}), e.g. minilm?long=tail."
            )
        if key in options or not eq:
            raise SchemaError(f"Encoder {name!r}: write each option once as key=value, e.g. minilm?long=tail.")
        check = check_long_mode if key == "long" else check_backend
        options[key] = check(value, where=f"Encoder {name!r}: {key}")
    if not base:
        raise SchemaError(f"Encoder {name!r} names no encoder before '?'; e.g. minilm?long=tail.")
    return base, options


def name_with_mode(name: str, mode: str) -> str:
    """The encoder identity ``name`` with its ``long`` mode; ``head`` leaves it unchanged (same cache key)."""
    return name if mode == DEFAULT_LONG else f"{name}:long={mode}"


@dataclass(frozen=True, slots=True)
class Pieces:
    """The strings to encode for a batch of texts, and how to pool them back (one row per text).

    ``texts[k]`` belongs to text ``owner[k]`` with pooling weight ``weight[k]`` (word pieces for
    ``chunk``, 1 otherwise); ``single[i]`` is True when text ``i`` is one piece, encoded as is.
    """

    texts: list[str]
    owner: np.ndarray
    weight: np.ndarray
    single: np.ndarray


def _word_start(offsets: Sequence[tuple[int, int]], k: int) -> bool:
    """Whether token ``k`` starts a word (white space, or the text's start, before it)."""
    return k == 0 or offsets[k][0] > offsets[k - 1][1]


def window_starts(offsets: Sequence[tuple[int, int]], window: int) -> list[int]:
    """Token indices where consecutive windows of at most ``window`` tokens start (0 first).

    Each cut is moved back to the nearest word start within a quarter window, so a word's pieces
    stay together (a word cut in two would be re-tokenised as two words); with none, it stays put.
    """
    starts = [0]
    while len(offsets) - starts[-1] > window:
        cut = starts[-1] + window
        for k in range(cut, max(cut - window // 4, starts[-1] + 1), -1):
            if _word_start(offsets, k):
                cut = k
                break
        starts.append(cut)
    return starts


def plan_pieces(
    texts: Sequence[str],
    offsets: Sequence[Sequence[tuple[int, int]]],
    shift: Sequence[int],
    *,
    budget: int,
    tail_start: np.ndarray,
    mode: str,
) -> Pieces:
    """The pieces of ``texts`` to encode under ``mode`` (``offsets``: tokens of each stripped text, ``+ shift[i]``).

    ``budget`` is the word pieces one window holds; ``tail_start`` comes from the same tokenizer's
    :class:`~routerlab.data.features.encoders.TokenSpans`. A text within ``budget`` is one piece,
    the text itself.
    """
    check_long_mode(mode)
    window = max(budget - max(budget // 32, 1), 1)  # as TokenSpans.tail_start: room for re-tokenising
    pieces: list[str] = []
    owner: list[int] = []
    weight: list[float] = []
    single = np.zeros(len(texts), dtype=bool)
    for i, (text, offs) in enumerate(zip(texts, offsets, strict=True)):
        if len(offs) <= budget or mode == "head":
            pieces.append(text)
            owner.append(i)
            weight.append(1.0)
            single[i] = True
            continue
        if mode in ("tail", "head+tail"):
            ends = [text[int(tail_start[i]) :]] if mode == "tail" else [text, text[int(tail_start[i]) :]]
            pieces += ends
            owner += [i] * len(ends)
            weight += [1.0] * len(ends)
            single[i] = mode == "tail"
            continue
        starts = window_starts(offs, window)
        cuts = [0, *(int(shift[i]) + offs[k][0] for k in starts[1:]), len(text)]
        bounds = [*starts, len(offs)]
        for j in range(len(starts)):
            pieces.append(text[cuts[j] : cuts[j + 1]])
            owner.append(i)
            weight.append(float(bounds[j + 1] - bounds[j]))
    return Pieces(pieces, np.asarray(owner, dtype=np.intp), np.asarray(weight, dtype=np.float64), single)


def pool_pieces(vectors: np.ndarray, pieces: Pieces, n_texts: int) -> np.ndarray:
    """One unit float32 row per text: a single piece's vector as is, else the weighted mean of its pieces."""
    vectors = np.asarray(vectors, dtype=np.float32)
    out = np.zeros((n_texts, vectors.shape[1] if vectors.ndim == 2 else 0), dtype=np.float64)
    np.add.at(out, pieces.owner, vectors.astype(np.float64) * pieces.weight[:, None])
    pooled = l2_normalise(out, dtype=np.float32)
    # a text encoded whole keeps its vector bit for bit (as under head), not a re-normalised copy
    first = np.full(n_texts, -1, dtype=np.intp)
    first[pieces.owner[::-1]] = np.arange(len(pieces.owner))[::-1]
    whole = pieces.single & (first >= 0)
    pooled[whole] = vectors[first[whole]]
    return pooled


@dataclass(frozen=True, slots=True)
class TruncationReport:
    """How much of a set of texts an encoder embeds (:func:`truncation_report`).

    ``n_long``: texts longer than one window of ``max_tokens`` word pieces; ``n_truncated``: texts
    of which some part was never encoded (``n_long`` under ``head`` and ``tail``, 0 under ``chunk``);
    ``by_split``: ``(n_texts, n_long, n_truncated)`` per split when splits were given.
    """

    label: str
    encoder: str
    long: str | None
    max_tokens: int | None
    n_texts: int
    n_long: int
    n_truncated: int
    max_text_tokens: int
    by_split: dict[str, tuple[int, int, int]]

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready record (shares rounded to 4 decimals)."""
        return {
            "label": self.label,
            "encoder": self.encoder,
            "long": self.long,
            "max_tokens": self.max_tokens,
            "n_texts": self.n_texts,
            "n_long": self.n_long,
            "long_share": round(self.n_long / max(self.n_texts, 1), 4),
            "n_truncated": self.n_truncated,
            "truncated_share": round(self.n_truncated / max(self.n_texts, 1), 4),
            "max_text_tokens": self.max_text_tokens,
            "by_split": {
                k: dict(zip(("n_texts", "n_long", "n_truncated"), v, strict=True)) for k, v in self.by_split.items()
            },
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TruncationReport:
        """Rebuild a report from :meth:`to_dict` (e.g. a saved leaderboard's ``meta``)."""
        splits = d.get("by_split") or {}
        return cls(
            label=str(d["label"]),
            encoder=str(d["encoder"]),
            long=d.get("long"),
            max_tokens=d.get("max_tokens"),
            n_texts=int(d["n_texts"]),
            n_long=int(d["n_long"]),
            n_truncated=int(d["n_truncated"]),
            max_text_tokens=int(d.get("max_text_tokens", 0)),
            by_split={k: (int(v["n_texts"]), int(v["n_long"]), int(v["n_truncated"])) for k, v in splits.items()},
        )

    def sentence(self) -> str:
        """One line for people: how many texts were cut, and what the option in use does with them."""
        if self.max_tokens is None or self.n_long == 0:
            longest = f"at most {self.max_text_tokens:,} tokens"
            return f"{self.label} read every query text whole ({self.n_texts:,} texts, {longest})."
        share = 100 * self.n_long / max(self.n_texts, 1)
        head = (
            f"{self.label}: {self.n_long:,} of {self.n_texts:,} query texts ({share:.1f} %) are longer than its "
            f"{self.max_tokens}-token window (longest {self.max_text_tokens:,})"
        )
        base = self.label.rpartition("?")[0] or self.label
        if self.long in (None, DEFAULT_LONG):
            hint = f"; {base}?long=tail or ?long=chunk embeds their end" if self.long is not None else ""
            return f"{head}: only their first {self.max_tokens} tokens were embedded{hint}."
        cut = f"; {self.n_truncated:,} lose a middle part" if self.long == "head+tail" and self.n_truncated else ""
        return f"{head}: long={self.long} embeds {LONG_MEANING[self.long]}{cut}."


def truncation_report(
    encoder: str | Encoder,
    texts: Sequence[str],
    *,
    splits: Sequence[str] | np.ndarray | None = None,
    label: str | None = None,
) -> TruncationReport | None:
    """How many of ``texts`` ``encoder`` cuts, from its tokenizer alone; ``None`` when it cannot tell.

    ``label`` names the encoder for people (default: the name given, or the encoder's identity).
    """
    from routerlab.data.features.cache import _shared_encoder
    from routerlab.data.features.encoders import token_spans

    enc = _shared_encoder(encoder) if isinstance(encoder, str) else encoder
    spans = token_spans(enc, texts)
    if spans is None:
        return None
    long_mode = getattr(enc, "long", None)
    over = spans.n_tokens > spans.max_tokens if spans.max_tokens is not None else np.zeros(len(spans), dtype=bool)
    by_split: dict[str, tuple[int, int, int]] = {}
    if splits is not None:
        names = np.asarray(splits, dtype=object)
        for split in dict.fromkeys(names.tolist()):
            rows = names == split
            by_split[str(split)] = (int(rows.sum()), int(over[rows].sum()), int(spans.truncated[rows].sum()))
    return TruncationReport(
        label=label or (encoder if isinstance(encoder, str) else enc.name),
        encoder=enc.name,
        long=str(long_mode) if isinstance(long_mode, str) else None,
        max_tokens=spans.max_tokens,
        n_texts=len(spans),
        n_long=int(over.sum()),
        n_truncated=spans.n_truncated,
        max_text_tokens=int(spans.n_tokens.max()) if len(spans) else 0,
        by_split=by_split,
    )
