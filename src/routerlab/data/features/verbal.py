r"""A small local LM's verbal signals — SelfAsk's P(True), semantic entropy — their cache and the ``verbal:`` encoder.

routerxbench (arXiv 2602.11877) §5.1 "Baselines" (1) and Tab. 1's rows SelfAsk and SemanticEntropy. The
generations they come from are :mod:`routerlab.data.features.generate`'s (greedy answer, ``K`` samples,
one self-evaluation pass per query); ``routerlab collect-lm-gen`` (:mod:`routerlab.collect.local_gen`)
runs them and fills the cache below.

**SelfAsk** ``selfask_p_true``: Kadavath et al. 2022's P(True) of the greedy answer, normalised over
the answers "True" and "False" (:func:`routerlab.data.features.generate.p_true`). Higher = the model
judges its answer right.

**Semantic entropy** ``semantic_entropy`` (:func:`discrete_semantic_entropy`): Kuhn, Gal & Farquhar,
"Semantic Uncertainty" (ICLR 2023, arXiv:2302.09664) cluster ``K`` sampled answers into meaning
classes and take the entropy over the classes. Two choices, both forced by the setting:

* *Classes.* Kuhn et al. decide that two answers mean the same with a bidirectional-entailment NLI
  model; none is available offline here (``MODELS.md`` lists sentence encoders and causal LMs only).
  For a multiple-choice question an answer's meaning *is* the option it picks, so the class of an
  answer is the option letter that the project's ``letter`` scorer extracts from it
  (:mod:`routerlab.score.letter`, the rules every outcome is scored by). An answer from which no
  letter can be extracted is a class of its own — it commits to nothing, so it agrees with no
  other answer, and two unparsed answers are not taken to mean the same (:func:`answer_classes`).
  The classifier is injected by the caller (``data`` does not import ``score``) and its name and
  version are part of the cache key (``classes``), so another extraction rule never shares a value.
* *Estimator.* The discrete estimator of Farquhar, Kossen, Kuhn & Gal, "Detecting hallucinations in
  large language models using semantic entropy" (Nature 630, 2024, Methods, "discrete semantic
  entropy"): ``p̂(c) = n_c / K``, the share of the ``K`` samples in class ``c``, and
  ``SE = −Σ_c p̂(c) ln p̂(c)`` (nats). It needs no sequence probabilities (the samples are drawn at
  temperature 1.0, :mod:`~routerlab.data.features.generate`). Lower = the samples agree.

**Cache** (:class:`GenerationCache`, ``cache_dir()/"lm-generations"/"generations.sqlite"``, SQLite
in WAL mode, ``schema_version`` 1): content-addressed — a row is found by the generation identity
(:func:`~routerlab.data.features.generate.generation_identity`: weights, prompts, decoding version,
settings) and the SHA-256 of the query text, never by a query id or a folder. ``generations``
holds each query's whole record (:class:`~routerlab.data.features.generate.QueryGeneration` as JSON)
and its P(True); ``semantic_entropy`` holds the sample classes and the entropy per
``(identity, classes, text)``. A new classifier re-reads the stored samples; nothing is generated
again.

**Encoder** ``verbal:<model>[?k=K&max_new_tokens=T&temperature=X&seed=S&classes=C]`` (registered as
``verbal``): float32 rows with the columns :data:`VERBAL_COLUMNS`, read from the cache. The options
default to ``collect-lm-gen``'s defaults; ``classes`` defaults to the one classifier the cache holds
values of for those settings (an error names them when there are several). A text without a row is
an error naming the command that generates it: a generation run is minutes, not a side effect of
reading features.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import logging
import math
import sqlite3
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from routerlab._sqlite import enable_wal
from routerlab.data.features.cache import text_key
from routerlab.data.features.encoders import Progress
from routerlab.data.features.generate import (
    DEFAULT_K,
    DEFAULT_MAX_NEW_TOKENS,
    DEFAULT_SEED,
    DEFAULT_TEMPERATURE,
    GenSettings,
    generation_identity,
)
from routerlab.data.registry import cache_dir
from routerlab.errors import RouterlabError, SchemaError

log = logging.getLogger(__name__)

__all__ = [
    "VERBAL_COLUMNS",
    "GenerationCache",
    "VerbalSignalEncoder",
    "answer_classes",
    "discrete_semantic_entropy",
    "parse_verbal_name",
]

#: the columns of a ``verbal:`` row, in order
VERBAL_COLUMNS = ("selfask_p_true", "semantic_entropy")
CACHE_SCHEMA_VERSION = 1
_UNPARSED = "\x00unparsed:"

_DDL = """
CREATE TABLE IF NOT EXISTS store_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS generations (
    identity TEXT NOT NULL, text_sha256 TEXT NOT NULL, record TEXT NOT NULL, selfask_p_true REAL NOT NULL,
    created_at TEXT NOT NULL, PRIMARY KEY (identity, text_sha256)
);
CREATE TABLE IF NOT EXISTS semantic_entropy (
    identity TEXT NOT NULL, classes TEXT NOT NULL, text_sha256 TEXT NOT NULL, labels TEXT NOT NULL,
    value REAL NOT NULL, created_at TEXT NOT NULL, PRIMARY KEY (identity, classes, text_sha256)
);
"""


def answer_classes(labels: Sequence[str | None]) -> list[str]:
    """The meaning class of each answer: its extracted letter, or a class of its own when none was extracted."""
    return [label if label is not None else f"{_UNPARSED}{i}" for i, label in enumerate(labels)]


def discrete_semantic_entropy(labels: Sequence[str | None]) -> float:
    """Discrete semantic entropy (nats) of ``K`` answers given their class labels (``None`` = unparsed).

    Farquhar et al. 2024 (Nature 630), Methods, "discrete semantic entropy": ``p̂(c) = n_c / K`` and
    ``SE = −Σ_c p̂(c) ln p̂(c)``; classes as in :func:`answer_classes` (module doc). Counts ``[3, 1, 1]``
    give ``−(0.6 ln 0.6 + 2 · 0.2 ln 0.2) ≈ 0.9503``; ``K`` answers in one class give 0; ``K`` classes
    give ``ln K``.
    """
    if not labels:
        raise SchemaError("semantic entropy needs at least one answer; got none.")
    k = len(labels)
    counts = Counter(answer_classes(labels)).values()
    return max(0.0, -math.fsum((n / k) * math.log(n / k) for n in counts))


def _now() -> str:
    return _dt.datetime.now(_dt.UTC).replace(tzinfo=None).isoformat(timespec="milliseconds")


def cache_path() -> Path:
    """The generation cache's SQLite file."""
    return cache_dir() / "lm-generations" / "generations.sqlite"


class GenerationCache:
    """The content-addressed cache of generated answers and verbal signals (module doc).

    Every write is one transaction; rows are only inserted (``INSERT OR IGNORE``): a stored row is final.
    """

    def __init__(self, path: Path | None = None) -> None:
        self.path = path if path is not None else cache_path()

    @contextmanager
    def connect(self, *, write: bool = False) -> Iterator[sqlite3.Connection]:
        """A connection (creating the file and tables when ``write``); read-only readers never create it."""
        if not write and not self.path.exists():
            with closing(sqlite3.connect(":memory:")) as con:
                con.executescript(_DDL)
                yield con
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with closing(sqlite3.connect(str(self.path), timeout=60.0)) as con:
            enable_wal(con)
            con.execute("PRAGMA synchronous=FULL")  # a committed batch survives a kill
            con.executescript(_DDL)
            con.execute("INSERT OR IGNORE INTO store_meta VALUES ('schema_version', ?)", (str(CACHE_SCHEMA_VERSION),))
            con.commit()
            row = con.execute("SELECT value FROM store_meta WHERE key = 'schema_version'").fetchone()
            if row is None or int(row[0]) != CACHE_SCHEMA_VERSION:
                raise SchemaError(
                    f"{str(self.path)!r} has generation-cache schema {row[0] if row else None}; this routerlab "
                    f"reads {CACHE_SCHEMA_VERSION}. Move the file away; it will be rebuilt."
                )
            yield con

    def records(self, identity: str, keys: Sequence[str]) -> dict[str, str]:
        """The stored record JSON of each text key (hex SHA-256) that has one under ``identity``."""
        sql = "SELECT text_sha256, record FROM generations WHERE identity = ? AND text_sha256 IN ({})"
        with self.connect() as con:
            return {k: rec for k, rec in _select(con, sql, (identity,), keys)}

    def entropies(self, identity: str, classes: str, keys: Sequence[str]) -> dict[str, tuple[str, float]]:
        """The stored ``(labels JSON, semantic entropy)`` of each key under ``identity`` and classifier ``classes``."""
        sql = (
            "SELECT text_sha256, labels, value FROM semantic_entropy WHERE identity = ? AND classes = ? "
            "AND text_sha256 IN ({})"
        )
        with self.connect() as con:
            return {k: (labels, float(v)) for k, labels, v in _select(con, sql, (identity, classes), keys)}

    def signals(self, identity: str, classes: str, keys: Sequence[str]) -> dict[str, tuple[float, float]]:
        """``(selfask_p_true, semantic_entropy)`` of each key that has both under ``identity`` and ``classes``."""
        sql = (
            "SELECT g.text_sha256, g.selfask_p_true, s.value FROM generations g JOIN semantic_entropy s "
            "USING (identity, text_sha256) WHERE g.identity = ? AND s.classes = ? AND g.text_sha256 IN ({})"
        )
        with self.connect() as con:
            return {k: (float(p), float(se)) for k, p, se in _select(con, sql, (identity, classes), keys)}

    def put(
        self,
        identity: str,
        classes: str,
        records: Sequence[tuple[str, str, float]],
        entropies: Sequence[tuple[str, str, float]],
    ) -> None:
        """Store ``(key, record JSON, P(True))`` and ``(key, labels JSON, SE)`` rows in one transaction."""
        created = _now()
        with self.connect(write=True) as con, con:
            con.executemany(
                "INSERT OR IGNORE INTO generations VALUES (?, ?, ?, ?, ?)",
                [(identity, k, rec, float(p), created) for k, rec, p in records],
            )
            con.executemany(
                "INSERT OR IGNORE INTO semantic_entropy VALUES (?, ?, ?, ?, ?, ?)",
                [(identity, classes, k, labels, float(v), created) for k, labels, v in entropies],
            )

    def classifiers(self, identity: str) -> list[tuple[str, int]]:
        """The classifiers with semantic-entropy rows under ``identity``, and how many rows each has."""
        with self.connect() as con:
            rows = con.execute(
                "SELECT classes, COUNT(*) FROM semantic_entropy WHERE identity = ? GROUP BY classes ORDER BY classes",
                (identity,),
            ).fetchall()
        return [(str(c), int(n)) for c, n in rows]

    def identities(self, prefix: str) -> list[tuple[str, int]]:
        """Generation identities starting with ``prefix`` (a model's identity) and their row counts."""
        with self.connect() as con:
            rows = con.execute(
                "SELECT identity, COUNT(*) FROM generations WHERE substr(identity, 1, ?) = ? GROUP BY identity",
                (len(prefix), prefix),
            ).fetchall()
        return [(str(i), int(n)) for i, n in rows]


def _select(con: sqlite3.Connection, sql: str, fixed: tuple[str, ...], keys: Sequence[str]) -> list[tuple[Any, ...]]:
    """The rows of ``sql`` (its ``IN ({})`` filled with the text keys) for ``keys``, in chunks."""
    out: list[tuple[Any, ...]] = []
    wanted = list(dict.fromkeys(keys))
    for start in range(0, len(wanted), 500):  # SQLite caps the number of bound parameters
        chunk = wanted[start : start + 500]
        out.extend(con.execute(sql.format(", ".join("?" * len(chunk))), (*fixed, *chunk)).fetchall())
    return out


_OPTIONS = ("k", "max_new_tokens", "temperature", "seed", "classes")


def parse_verbal_name(name: str) -> tuple[str, GenSettings, str | None]:
    """``"verbal:<model>?k=5&max_new_tokens=24&temperature=1&seed=0&classes=C"`` → ``(model, settings, classes)``.

    Absent options take ``collect-lm-gen``'s defaults (``classes``: ``None``); a clear error for a malformed name.
    """
    _, _, body = name.partition(":")
    model, _, query = body.partition("?")
    if not model:
        raise SchemaError(f"Encoder {name!r} names no model; write verbal:<model>, e.g. verbal:smollm2-135m.")
    values: dict[str, str] = {}
    for part in query.split("&") if query else []:
        key, sep, value = part.partition("=")
        if key not in _OPTIONS or key in values or not sep or not value:
            raise SchemaError(
                f"Encoder {name!r}: options are {', '.join(o + '=' for o in _OPTIONS)} each once with a value; got "
                f"{part!r}. Example: verbal:smollm2-135m?k=5&max_new_tokens=24."
            )
        values[key] = value
    try:
        settings = GenSettings(
            k=int(values.get("k", DEFAULT_K)),
            max_new_tokens=int(values.get("max_new_tokens", DEFAULT_MAX_NEW_TOKENS)),
            temperature=float(values.get("temperature", DEFAULT_TEMPERATURE)),
            seed=int(values.get("seed", DEFAULT_SEED)),
        )
    except ValueError as exc:
        raise SchemaError(
            f"Encoder {name!r}: {exc}; k, max_new_tokens and seed are ints, temperature a number."
        ) from None
    return model, settings, values.get("classes")


class VerbalSignalEncoder:
    """``verbal:<model>``: SelfAsk's P(True) and the semantic entropy per query, :data:`VERBAL_COLUMNS` in order.

    Rows come from the :class:`GenerationCache` that ``routerlab collect-lm-gen`` fills; see the module doc.
    """

    caches_itself = True

    def __init__(
        self,
        model: str = "smollm2-135m",
        *,
        settings: GenSettings | None = None,
        classes: str | None = None,
        cache: GenerationCache | None = None,
    ) -> None:
        self.model = model
        self.settings = settings if settings is not None else GenSettings()
        self.identity = generation_identity(model, self.settings)
        self.cache = cache if cache is not None else GenerationCache()
        self.classes = classes if classes is not None else self._only_classifier()
        digest = hashlib.sha256(self.classes.encode("utf-8")).hexdigest()[:12]
        self.name = f"verbal:{self.identity}:classes={digest}:cols={','.join(VERBAL_COLUMNS)}"
        self.dim: int | None = len(VERBAL_COLUMNS)

    def _hint(self) -> str:
        s = self.settings
        return (
            f"routerlab collect-lm-gen --model {self.model} --k {s.k} --max-new-tokens {s.max_new_tokens} "
            f"--temperature {s.temperature:g} --gen-seed {s.seed} --out DIR (over these queries)"
        )

    def _only_classifier(self) -> str:
        found = self.cache.classifiers(self.identity)
        if len(found) == 1:
            return found[0][0]
        if not found:
            others = [i for i, _ in self.cache.identities(self.identity.split(":gen=")[0])]
            also = f" The cache holds other settings for this model: {others}." if others else ""
            raise RouterlabError(
                f"verbal:{self.model}: no verbal signals under {self.settings.tag()} in {str(self.cache.path)!r}; "
                f"generate them with `{self._hint()}`.{also}"
            )
        listed = ", ".join(f"{c!r} ({n} rows)" for c, n in found)
        raise RouterlabError(
            f"verbal:{self.model}: the cache holds semantic entropies under several answer classifiers ({listed}); "
            "name one with &classes=... in the encoder name."
        )

    def encode(self, texts: Sequence[str], *, batch_size: int = 64, progress: Progress | None = None) -> np.ndarray:
        """float32 ``(n, 2)`` rows of :data:`VERBAL_COLUMNS`; every text must have been generated."""
        keys = [text_key(t).hex() for t in texts]
        found = self.cache.signals(self.identity, self.classes, keys)
        missing = [i for i, k in enumerate(keys) if k not in found]
        if missing:
            raise RouterlabError(
                f"verbal:{self.model}: {len(missing)} of {len(texts)} texts have no verbal signals under "
                f"{self.settings.tag()} (first: {texts[missing[0]][:60]!r}...); generate them with `{self._hint()}`."
            )
        out = np.array([found[k] for k in keys], dtype=np.float32).reshape(len(keys), len(VERBAL_COLUMNS))
        if progress is not None:
            progress(len(keys), len(keys))
        return out

    def __repr__(self) -> str:
        return f"VerbalSignalEncoder(model={self.model!r}, settings={self.settings!r}, classes={self.classes!r})"
