"""RouterXBench's tables for a binary small/large router: AUROC, LPM, MPM, HCR with paired-bootstrap CIs.

`routerxbench.txt` (arXiv:2602.11877) compares routers that decide, before a small local model
answers, whether to call a large model. Each router gives every test query a "keep the small model"
score; Tab. 1 reports, per router,

* AUROC of that score against the small model's correctness (§3.3 (1));
* LPM (Eq. 6, d1 = 0.3), MPM (Eqs. 10–11) and HCR (Eqs. 7–9, band 85–95 %) of the call-rate curve
  Φ between the small and the large model (§3.1, Eqs. 1–5) — undefined (None) when the large model's
  outcomes are unknown (e.g. MedQA) or Φ has no such band.

Comparisons are paired (`rethinking-router-evaluation.txt` §4.4, App. F): one matrix of resampled
test-query indices is drawn and every router's AUROC is computed on the same resamples, so the
difference to a reference router has its own percentile interval. Our significance tiers: ``**``
when the 99 % interval of the difference excludes 0, ``*`` when the 95 % one does, blank otherwise.

Hyper-parameters are chosen on validation only (:func:`select_on_validation`: best validation AUROC
over the router's ``param_grid``); the paper fixes one configuration per router.

The tables of a run are saved as ``xbench.json`` (:class:`XBenchResults`, :func:`write_xbench`,
:func:`read_xbench`; the format is documented on :class:`XBenchResults`), which ``routerlab report
DIR`` renders as its RouterXBench section.
"""

from __future__ import annotations

import itertools
import json
import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import numpy as np
from scipy.stats import rankdata

from routerlab._random import rng
from routerlab._version import __version__
from routerlab.data.loaders.mcq import mmlu_group
from routerlab.data.schema import RoutingData
from routerlab.errors import DataNotFoundError, RouterlabError, SchemaError
from routerlab.metrics import call_rate_curve, hcr_score, lpm_score, mpm_score
from routerlab.metrics.bootstrap import Interval
from routerlab.routers import ROUTERS, Router, make_router
from routerlab.routers.probe import with_encoder_layout

log = logging.getLogger(__name__)

#: Tab. 2's operating points: LPM up to a 30 % call rate, the high band at 85–95 % relative performance
D1 = 0.3
RHO = (0.85, 0.95)


def auroc_or_nan(score: np.ndarray, label: np.ndarray) -> float:
    """AUROC by average ranks (as :func:`routerlab.metrics.auroc_score`); NaN when ``label`` has one class.

    A bootstrap resample of a small test set can hold one class only; it carries no AUROC and is dropped.
    """
    n_pos = int(label.sum())
    n_neg = len(label) - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(score)
    return float((ranks[label == 1].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def paired_auroc_draws(
    scores: Mapping[str, np.ndarray], label: np.ndarray, *, n_resamples: int = 1000, seed: int = 0
) -> dict[str, np.ndarray]:
    """Each router's AUROC on the same ``n_resamples`` bootstrap resamples of the test queries (NaN: one class)."""
    label = np.asarray(label, dtype=np.float64)
    for name, s in scores.items():
        if np.shape(s) != label.shape:
            raise SchemaError(
                f"router {name!r}: {np.shape(s)} scores for {label.shape} labels; score every test query."
            )
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be >= 1. Got {n_resamples}.")
    draws = rng(seed).integers(0, len(label), size=(n_resamples, len(label)))
    return {name: np.array([auroc_or_nan(np.asarray(s)[d], label[d]) for d in draws]) for name, s in scores.items()}


def _interval(estimate: float, draws: np.ndarray, level: float) -> Interval:
    finite = draws[np.isfinite(draws)]
    if finite.size == 0:
        return Interval(estimate, float("nan"), float("nan"), level)
    alpha = (1 - level) / 2
    low, high = np.quantile(finite, [alpha, 1 - alpha])
    return Interval(estimate, float(low), float(high), level)


def significance_mark(diff_draws: np.ndarray) -> str:
    """``**`` if the 99 % paired interval of the difference excludes 0, ``*`` if the 95 % one does, else ``""``."""
    for mark, level in (("**", 0.99), ("*", 0.95)):
        if _interval(0.0, diff_draws, level).excludes_zero:
            return mark
    return ""


def call_rate_metrics(
    keep_small: np.ndarray, y_small: np.ndarray, y_large: np.ndarray | None
) -> tuple[float | None, float | None, float | None]:
    """(LPM, MPM, HCR) of the call-rate curve of ``keep_small`` (Eqs. 1–11); None where undefined.

    None when the large model's outcomes are unknown (an out-of-domain set with the small model
    only) or when the paper leaves the metric undefined (no mid band for MPM, no band for HCR).
    """
    if y_large is None or not np.isfinite(y_large).all():
        return None, None, None
    curve = call_rate_curve(y_small=y_small, y_large=y_large, p_small_suffices=keep_small)
    metrics: tuple[Callable[[], float], ...] = (
        lambda: lpm_score(curve=curve, d1=D1),
        lambda: mpm_score(curve=curve, d1=D1, rho1=RHO[0]),
        lambda: hcr_score(curve=curve, rho=RHO),
    )
    out: list[float | None] = []
    for f in metrics:
        try:
            out.append(float(f()))
        except ValueError:  # the metric is undefined on this curve (documented in routerlab.metrics.curves)
            out.append(None)
    return out[0], out[1], out[2]


@dataclass(frozen=True, slots=True)
class Table1Row:
    """One router's line of Tab. 1: AUROC with its CI, the paired difference to the reference, LPM/MPM/HCR."""

    router: str
    auroc: Interval
    delta: Interval | None  # None for the reference itself
    mark: str
    lpm: float | None
    mpm: float | None
    hcr: float | None
    params: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """The row as JSON-ready values (intervals as estimate/low/high/level; NaN stays NaN)."""

        def iv(i: Interval | None) -> dict[str, float] | None:
            return None if i is None else {"estimate": i.estimate, "low": i.low, "high": i.high, "level": i.level}

        return {
            "router": self.router,
            "auroc": iv(self.auroc),
            "delta_vs_reference": iv(self.delta),
            "significance": self.mark,
            "lpm": self.lpm,
            "mpm": self.mpm,
            "hcr": self.hcr,
            "params": {k: _jsonable(v) for k, v in self.params.items()},
        }


def _jsonable(v: Any) -> Any:
    return v if isinstance(v, str | int | float | bool) or v is None else repr(v)


def table1_rows(
    scores: Mapping[str, np.ndarray],
    *,
    y_small: np.ndarray,
    y_large: np.ndarray | None,
    reference: str,
    params: Mapping[str, dict[str, Any]] | None = None,
    n_resamples: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> list[Table1Row]:
    """Tab. 1's rows for routers scored on the same test queries; ``scores[name]`` is higher = keep the small model.

    The label is the small model's correctness (``y_small >= 0.5``, App. B.1). Raises SchemaError
    when the test queries hold one class only (no AUROC) or ``reference`` is not among ``scores``.
    """
    if reference not in scores:
        raise SchemaError(f"reference router {reference!r} is not among the scored routers {sorted(scores)}.")
    y_small = np.asarray(y_small, dtype=np.float64)
    label = (y_small >= 0.5).astype(np.float64)
    if label.min() == label.max():
        raise SchemaError(
            f"AUROC needs both classes, but the small model is {'right' if label[0] else 'wrong'} on all "
            f"{len(label)} test queries; test on a set where it both succeeds and fails."
        )
    draws = paired_auroc_draws(scores, label, n_resamples=n_resamples, seed=seed)
    ref_auc = auroc_or_nan(np.asarray(scores[reference]), label)
    rows = []
    for name, s in scores.items():
        s = np.asarray(s, dtype=np.float64)
        auc = auroc_or_nan(s, label)
        delta, mark = None, ""
        if name != reference:
            diff = draws[name] - draws[reference]
            delta = _interval(auc - ref_auc, diff, level)
            mark = significance_mark(diff)
        lpm, mpm, hcr = call_rate_metrics(s, y_small, None if y_large is None else np.asarray(y_large, float))
        rows.append(
            Table1Row(
                name, _interval(auc, draws[name], level), delta, mark, lpm, mpm, hcr, dict((params or {}).get(name, {}))
            )
        )
    return rows


def keep_small_score(router: Router, data: RoutingData, X: np.ndarray, small: int, large: int) -> np.ndarray:
    """Higher = keep the small model: ``scores[:, small] − scores[:, large]`` (the report's strong score, negated).

    Read this way, the probes (whose small-model score is p̂) and routerlab's other families (kNN,
    MLP, ...) are compared on one footing.
    """
    scores = router.predict_scores(data, X)
    return np.asarray(scores[:, small] - scores[:, large], dtype=np.float64)


@dataclass(frozen=True, slots=True)
class Selected:
    """A router fitted on train with the configuration of best validation AUROC."""

    router: Router
    params: dict[str, Any]
    val_auroc: float


def select_on_validation(
    name: str,
    fixed: Mapping[str, Any],
    encoder: str,
    train: tuple[RoutingData, np.ndarray],
    val: tuple[RoutingData, np.ndarray],
    pair: tuple[int, int] = (0, 1),
) -> Selected:
    """Fit each configuration of ``name``'s ``param_grid`` (less ``fixed``) on train; keep the best validation AUROC.

    Test data never enters: the choice rests on ``val`` alone. Ties keep the first configuration.
    """
    grid = {k: v for k, v in ROUTERS.get(name).param_grid.items() if k not in fixed}
    val_data, X_val = val
    label = (val_data.Y[:, pair[0]] >= 0.5).astype(np.float64)
    best: Selected | None = None
    for values in itertools.product(*grid.values()):
        params = {**fixed, **dict(zip(grid, values, strict=True))}
        router = with_encoder_layout(make_router(name, **params), encoder).fit(*train)
        auc = auroc_or_nan(keep_small_score(router, val_data, X_val, *pair), label)
        # a NaN validation AUROC (one-class validation set) never displaces a finite one
        if best is None or (math.isfinite(auc) and (not math.isfinite(best.val_auroc) or auc > best.val_auroc)):
            best = Selected(router, params, auc)
    assert best is not None  # itertools.product of an empty grid still yields one configuration
    log.info("%s: selected %s (validation AUROC %.3f)", name, best.params, best.val_auroc)
    return best


def mmlu_groups(data: RoutingData) -> np.ndarray:
    """Each query's MMLU group (:data:`~routerlab.data.loaders.mcq.MMLU_GROUPS`) from its id ``mmlu/<subject>/<n>``."""
    out = []
    for qid in data.query_ids:
        parts = str(qid).split("/")
        if len(parts) < 3 or parts[0] != "mmlu":
            raise SchemaError(
                f"query id {qid!r} is not an MMLU id 'mmlu/<subject>/<n>'; subject groups need MMLU queries."
            )
        out.append(mmlu_group(parts[1]))
    return np.array(out)


def scaling_sizes(n_train: int, sizes: Sequence[int | None] = (1000, 4000, None)) -> list[tuple[str, int]]:
    """§6's training-set sizes capped at ``n_train``: (label, size) pairs, a size reached twice kept once.

    ``None`` means all training queries. A capped size is labelled ``"1K (all 204)"`` so the table says so.
    """
    out: list[tuple[str, int]] = []
    for size in sizes:
        n = n_train if size is None else min(size, n_train)
        if size is None:
            label = f"all ({n_train})"
        else:
            label = f"{size // 1000}K" if size % 1000 == 0 else str(size)
            if size > n_train:
                label += f" (all {n_train})"
        if all(n != m for _, m in out):
            out.append((label, n))
    return out


def fmt3(value: float | None, signed: bool = False) -> str:
    """A RouterXBench number at the paper's 3 decimals (``+`` on differences); – when undefined."""
    if value is None or not math.isfinite(value):
        return "–"
    return f"{value:+.3f}" if signed else f"{value:.3f}"


def rows_markdown(rows: Sequence[Table1Row], *, reference: str) -> str:
    """Tab. 1's layout as a Markdown table (AUROC [95 % CI], Δ vs the reference [95 % CI] and tier, LPM, MPM, HCR)."""
    lines = [
        f"| router | AUROC [95% CI] | Δ AUROC vs {reference} [95% CI] | LPM | MPM | HCR | selected |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        a = r.auroc
        delta = (
            "(reference)"
            if r.delta is None
            else (f"{r.delta.estimate:+.3f} [{r.delta.low:+.3f}, {r.delta.high:+.3f}]{r.mark}")
        )
        shown = ", ".join(f"{k}={v}" for k, v in r.params.items() if k != "n_layers") or "–"
        lines.append(
            f"| {r.router} | {fmt3(a.estimate)} [{fmt3(a.low)}, {fmt3(a.high)}] | {delta} | "
            f"{fmt3(r.lpm)} | {fmt3(r.mpm)} | {fmt3(r.hcr)} | {shown} |"
        )
    return "\n".join(lines)


XBENCH_JSON = "xbench.json"
#: version of the ``xbench.json`` format; :func:`read_xbench` refuses any other
XBENCH_SCHEMA_VERSION = 1
#: a larger ``xbench.json`` is refused unread (the tables of a run take a few hundred KB)
MAX_XBENCH_BYTES = 20_000_000
#: a row's significance tier (:func:`significance_mark`)
MARKS = ("", "*", "**")
_WRITER = "Write the file with routerlab.experiments.xbench.write_xbench"


@dataclass(frozen=True, slots=True)
class XBenchGroup:
    """Rows scored on the same test queries: one setting (Tab. 1, 3, 4) or one §6 training size."""

    name: str
    rows: tuple[Table1Row, ...]
    n_train: int | None = None  # training queries; the §6 table needs it (the x-axis of its curve)
    n_test: int | None = None  # test queries

    def row(self, router: str) -> Table1Row | None:
        """The row of ``router``, or None when it was not scored in this group."""
        return next((r for r in self.rows if r.router == router), None)


@dataclass(frozen=True, slots=True)
class XBenchTable:
    """A table in Tab. 1's layout, one group of rows per setting; Δ AUROC and tiers are against ``reference``."""

    reference: str
    groups: tuple[XBenchGroup, ...]

    @classmethod
    def from_rows(
        cls,
        groups: Mapping[str, Sequence[Table1Row]],
        *,
        reference: str,
        n_train: Mapping[str, int] | None = None,
        n_test: Mapping[str, int] | None = None,
    ) -> XBenchTable:
        """From :func:`table1_rows`' rows per group name (in order), with each group's sizes where known."""
        for what, sizes in (("n_train", n_train), ("n_test", n_test)):
            unknown = sorted(set(sizes or {}) - set(groups))
            if unknown:
                raise SchemaError(
                    f"{what} names group(s) {unknown} that are not among the groups {list(groups)}; "
                    "key the sizes by the groups' names."
                )
        return cls(
            reference,
            tuple(
                XBenchGroup(name, tuple(rows), (n_train or {}).get(name), (n_test or {}).get(name))
                for name, rows in groups.items()
            ),
        )

    @property
    def routers(self) -> tuple[str, ...]:
        """Every router of the table, in order of first appearance."""
        return tuple(dict.fromkeys(r.router for g in self.groups for r in g.rows))


@dataclass(frozen=True, slots=True)
class XBenchResults:
    """The RouterXBench tables of one run, as saved in ``xbench.json`` (format :data:`XBENCH_SCHEMA_VERSION`).

    The file is one object of strict JSON (an undefined number is ``null``, never ``NaN``)::

        {"schema_version": 1,
         "routerlab_version": "0.9.0",             # the writer's, for the record
         "title": "SmolLM2-135M vs GPT-4 on MMLU",
         "model": "smollm2-135m",                  # the small model: its correctness is the AUROC label
         "large_model": "gpt-4-1106-preview",
         "n_resamples": 1000,                      # paired-bootstrap resamples, or null
         "table1": TABLE,                          # Tab. 1, one group per setting (required)
         "table3": TABLE | null,                   # Tab. 3: Final vs Mean vs Dirichlet aggregation
         "table4": TABLE | null,                   # Tab. 4: representations under one linear probe
         "scaling": TABLE | null,                  # §6: one group per training size (n_train required)
         "notes": [{"title": "Paper vs ours", "text": "..."}],
         "commands": ["python benchmarks/probes_xbench.py --run runs/mmlu --out runs/xbench"]}
        TABLE    = {"reference": "ProbeDirichlet",
                    "groups": [{"name": "In-domain", "n_train": 204 | null, "n_test": 60 | null,
                                "rows": [ROW, ...]}]}
        ROW      = {"router": "ProbeMean",
                    "auroc": INTERVAL,                       # in [0, 1]
                    "delta_vs_reference": INTERVAL | null,   # in [-1, 1]; null on the reference's row only
                    "significance": "" | "*" | "**",         # :func:`significance_mark` of Δ
                    "lpm": x | null, "mpm": x | null, "hcr": x | null,   # in [0, 1]; null: undefined
                    "params": {"C": 1.0, "val_auroc": 0.61}}  # the selected configuration: scalars only
        INTERVAL = {"estimate": x, "low": x | null, "high": x | null, "level": 0.95}
                   # low and high are null together: no bootstrap resample held both classes

    A row is :meth:`Table1Row.as_dict` with NaN written as null. :func:`read_xbench` treats the
    file as untrusted: a field missing, unknown (a typo would drop a number silently), of the wrong
    type, out of range or NaN; a router twice in a group, a group twice in a table; a Δ on the
    reference's row or none on another; a tier that its 95 % interval contradicts — each is a
    :class:`~routerlab.errors.SchemaError` naming the field, the value and the fix.
    """

    title: str
    model: str
    large_model: str
    table1: XBenchTable
    table3: XBenchTable | None = None
    table4: XBenchTable | None = None
    scaling: XBenchTable | None = None
    notes: tuple[tuple[str, str], ...] = ()  # (title, text): e.g. ("Paper vs ours", "...")
    commands: tuple[str, ...] = ()  # the commands that produced the tables
    n_resamples: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON document (see the class doc); not validated — :func:`write_xbench` validates it."""
        return {
            "schema_version": XBENCH_SCHEMA_VERSION,
            "routerlab_version": __version__,
            "title": self.title,
            "model": self.model,
            "large_model": self.large_model,
            "n_resamples": self.n_resamples,
            "table1": _table_json(self.table1),
            "table3": None if self.table3 is None else _table_json(self.table3),
            "table4": None if self.table4 is None else _table_json(self.table4),
            "scaling": None if self.scaling is None else _table_json(self.scaling),
            "notes": [{"title": t, "text": x} for t, x in self.notes],
            "commands": list(self.commands),
        }

    @classmethod
    def from_dict(cls, doc: Any, *, source: str = XBENCH_JSON) -> XBenchResults:
        """Validate a parsed ``xbench.json`` document (see the class doc); errors name ``source`` and the field."""
        at = _At(source, "")
        if not isinstance(doc, dict):
            at.fail("must be a JSON object", doc, f"{_WRITER}.")
        if "schema_version" not in doc:
            at["schema_version"].missing(
                "it is not an xbench.json written by routerlab (the benchmark's tables.json is another file). "
                f"{_WRITER}."
            )
        version = doc["schema_version"]
        if type(version) is not int or version != XBENCH_SCHEMA_VERSION:
            at["schema_version"].fail(
                f"is not a version this routerlab reads ({XBENCH_SCHEMA_VERSION})",
                version,
                "Read the file with the routerlab that wrote it, or write it again with this one's write_xbench.",
            )
        obj = _object(
            doc,
            at,
            ("schema_version", "title", "model", "large_model", "table1"),
            ("routerlab_version", "n_resamples", "table3", "table4", "scaling", "notes", "commands"),
        )
        if "routerlab_version" in obj:
            _string(obj["routerlab_version"], at["routerlab_version"])
        notes = _list(obj.get("notes", []), at["notes"], allow_empty=True)
        commands = _list(obj.get("commands", []), at["commands"], allow_empty=True)
        return cls(
            title=_string(obj["title"], at["title"]),
            model=_string(obj["model"], at["model"]),
            large_model=_string(obj["large_model"], at["large_model"]),
            table1=_table(obj["table1"], at["table1"]),
            table3=_optional_table(obj, "table3", at),
            table4=_optional_table(obj, "table4", at),
            scaling=_optional_table(obj, "scaling", at, need_n_train=True),
            notes=tuple(_note(n, at["notes"][i]) for i, n in enumerate(notes)),
            commands=tuple(_string(c, at["commands"][i]) for i, c in enumerate(commands)),
            n_resamples=_count(obj.get("n_resamples"), at["n_resamples"]),
        )


def write_xbench(results: XBenchResults, folder: str | Path) -> Path:
    """Write ``folder/xbench.json`` (created with its parents) and return its path.

    The document is validated as :func:`read_xbench` would (a file this writes is always readable)
    and replaces any previous file in one rename, so a reader never sees half a file.
    """
    doc = results.to_dict()
    XBenchResults.from_dict(doc, source="write_xbench(results)")
    path = Path(folder) / XBENCH_JSON
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{XBENCH_JSON}.tmp")
    tmp.write_text(json.dumps(doc, indent=1, ensure_ascii=False, allow_nan=False) + "\n", encoding="utf-8")
    tmp.replace(path)
    log.info("RouterXBench tables written to %s", path)
    return path


def read_xbench(path: str | Path) -> XBenchResults:
    """Read and validate ``xbench.json`` (``path`` is the file or its folder); see :class:`XBenchResults`."""
    p = Path(path)
    if p.is_dir():
        p = p / XBENCH_JSON
    if not p.is_file():
        raise DataNotFoundError(
            f"{str(p)!r} does not exist. {_WRITER} (benchmarks/probes_xbench.py --out DIR writes DIR/{XBENCH_JSON})."
        )
    try:
        with p.open("rb") as f:
            raw = f.read(MAX_XBENCH_BYTES + 1)  # never more than the cap, whatever the file grows to
    except OSError as exc:
        raise RouterlabError(f"{p} could not be read ({exc}); check its permissions.") from None
    if len(raw) > MAX_XBENCH_BYTES:
        raise SchemaError(
            f"{p}: more bytes than the {MAX_XBENCH_BYTES:,} an xbench.json may hold; it is not one "
            f"written by routerlab. {_WRITER}."
        )
    try:
        doc = json.loads(raw.decode("utf-8"), object_pairs_hook=_unique_keys)
    except SchemaError as exc:
        raise SchemaError(f"{p}: {exc}") from None
    except (ValueError, RecursionError) as exc:  # bad UTF-8 or JSON, or a nesting bomb
        raise SchemaError(f"{p} is not valid UTF-8 JSON ({exc}). {_WRITER}.") from None
    return XBenchResults.from_dict(doc, source=str(p))


def _table_json(table: XBenchTable) -> dict[str, Any]:
    return {
        "reference": table.reference,
        "groups": [
            {"name": g.name, "n_train": g.n_train, "n_test": g.n_test, "rows": [_row_json(r) for r in g.rows]}
            for g in table.groups
        ],
    }


def _row_json(row: Table1Row) -> dict[str, Any]:
    """:meth:`Table1Row.as_dict` as strict JSON: NaN bounds, metrics and parameters as null.

    A NaN estimate is kept, so that validation refuses it: an AUROC must be a number.
    """
    doc = row.as_dict()
    for key in ("auroc", "delta_vs_reference"):
        if doc[key] is not None:
            doc[key] = {**doc[key], "low": _null_nan(doc[key]["low"]), "high": _null_nan(doc[key]["high"])}
    for key in ("lpm", "mpm", "hcr"):
        doc[key] = _null_nan(doc[key])
    doc["params"] = {k: _null_nan(v) for k, v in doc["params"].items()}
    return doc


def _null_nan(v: Any) -> Any:
    return None if isinstance(v, float) and not math.isfinite(v) else v


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [k for k, _ in pairs]
    dup = next((k for k in keys if keys.count(k) > 1), None)
    if dup is not None:
        raise SchemaError(f"the key {dup!r} appears twice in one object; keep one (JSON keeps the last silently).")
    return dict(pairs)


@dataclass(frozen=True, slots=True)
class _At:
    """Where a value sits in the document, for error messages: ``source: table1.groups[0].rows[2].auroc``."""

    source: str
    path: str

    def __getitem__(self, key: str | int) -> _At:
        if isinstance(key, int):
            return _At(self.source, f"{self.path}[{key}]")
        return _At(self.source, f"{self.path}.{key}" if self.path else key)

    def fail(self, what: str, got: Any, fix: str) -> NoReturn:
        raise SchemaError(f"{self.source}: {self.path or 'the document'} {what}. Got {_shown(got)}. {fix}")

    def missing(self, fix: str) -> NoReturn:
        raise SchemaError(f"{self.source}: the field {self.path} is missing. {fix}")


def _shown(v: Any) -> str:
    if isinstance(v, dict):
        return f"an object with keys {sorted(v)[:8]}"
    if isinstance(v, list):
        return f"a list of {len(v)}"
    text = repr(v)
    return text if len(text) <= 80 else text[:77] + "..."


def _object(v: Any, at: _At, required: Sequence[str], optional: Sequence[str] = ()) -> dict[str, Any]:
    if not isinstance(v, dict):
        at.fail("must be a JSON object", v, f"{_WRITER}.")
    known = (*required, *optional)
    for key in v:
        if key not in known:
            at[key].fail(
                f"is not a field of xbench.json version {XBENCH_SCHEMA_VERSION} (known here: {', '.join(known)})",
                v[key],
                "Remove it or fix its name; unknown fields are refused so that a misspelt one is not ignored.",
            )
    for key in required:
        if key not in v:
            at[key].missing(f"Add it; this object needs {', '.join(required)}.")
    return v


def _list(v: Any, at: _At, *, allow_empty: bool = False) -> list[Any]:
    if not isinstance(v, list) or (not v and not allow_empty):
        at.fail("must be a " + ("" if allow_empty else "non-empty ") + "JSON list", v, f"{_WRITER}.")
    return v


def _string(v: Any, at: _At) -> str:
    if not isinstance(v, str) or not v.strip():
        at.fail("must be a non-empty string", v, "Give it a name or text.")
    return v


def _number(v: Any, at: _At, lo: float, hi: float, *, null: bool = False) -> float | None:
    """A JSON number in [lo, hi] (a boolean is not one); None for ``null`` when ``null`` is allowed."""
    wanted = f"must be a number in [{lo:g}, {hi:g}]" + (" or null" if null else "")
    if v is None and null:
        return None
    if isinstance(v, bool) or not isinstance(v, int | float):
        at.fail(wanted, v, "Write a plain JSON number." + (" An undefined value is null." if null else ""))
    try:
        x = float(v)
    except OverflowError:
        at.fail(wanted, v, "Write a plain JSON number in range.")
    if not math.isfinite(x):
        fix = "NaN and Infinity are not JSON; " + (
            "write an undefined value as null." if null else "this value must be defined: re-run the table."
        )
        at.fail(wanted, v, fix)
    if not lo <= x <= hi:
        at.fail(wanted, v, "It is out of range: check what wrote it.")
    return x


def _count(v: Any, at: _At) -> int | None:
    if v is None:
        return None
    if type(v) is not int or v < 1:
        at.fail("must be a whole number >= 1 or null", v, "Write a count such as 1000, or null when unknown.")
    return v


def _read_interval(v: Any, at: _At, lo: float, hi: float) -> Interval:
    obj = _object(v, at, ("estimate", "low", "high", "level"))
    estimate = _number(obj["estimate"], at["estimate"], lo, hi)
    low = _number(obj["low"], at["low"], lo, hi, null=True)
    high = _number(obj["high"], at["high"], lo, hi, null=True)
    level = _number(obj["level"], at["level"], 0.0, 1.0)
    assert estimate is not None and level is not None  # not nullable
    if not 0 < level < 1:
        at["level"].fail("must lie strictly between 0 and 1", obj["level"], "Write the interval's level, e.g. 0.95.")
    if (low is None) != (high is None):
        at.fail(
            "has one bound null and the other not (low, high)",
            (low, high),
            "Both are null (no resample held both classes) or both are numbers.",
        )
    if low is not None and high is not None and low > high:
        at.fail("has low > high (low, high)", (low, high), "Write the interval as low <= high.")
    return Interval(estimate, math.nan if low is None else low, math.nan if high is None else high, level)


_ROW_KEYS = ("router", "auroc", "delta_vs_reference", "significance", "lpm", "mpm", "hcr", "params")


def _row(v: Any, at: _At, reference: str) -> Table1Row:
    obj = _object(v, at, _ROW_KEYS)
    router = _string(obj["router"], at["router"])
    auroc = _read_interval(obj["auroc"], at["auroc"], 0.0, 1.0)
    raw_delta = obj["delta_vs_reference"]
    delta = None if raw_delta is None else _read_interval(raw_delta, at["delta_vs_reference"], -1.0, 1.0)
    if (router == reference) != (delta is None):
        at["delta_vs_reference"].fail(
            f"must be null on the reference {reference!r}'s own row and an interval on every other row",
            raw_delta,
            "Score every router against the table's reference (table1_rows does).",
        )
    mark = obj["significance"]
    if mark not in MARKS:
        at["significance"].fail("must be one of '', '*', '**'", mark, "Use significance_mark's tiers.")
    if delta is not None and delta.level == 0.95 and bool(mark) != (delta.excludes_zero):
        at["significance"].fail(
            f"contradicts the row's 95 % interval of Δ [{delta.low}, {delta.high}] (a tier needs it to exclude 0, "
            "and no tier means it includes 0)",
            mark,
            "Compute both from the same paired draws (table1_rows does).",
        )
    if delta is None and mark:
        at["significance"].fail("must be '' on the reference's own row", mark, "Clear it.")
    lpm, mpm, hcr = (_number(obj[k], at[k], 0.0, 1.0, null=True) for k in ("lpm", "mpm", "hcr"))
    return Table1Row(router, auroc, delta, mark, lpm, mpm, hcr, _params(obj["params"], at["params"]))


def _params(v: Any, at: _At) -> dict[str, Any]:
    obj = _object(v, at, (), tuple(v) if isinstance(v, dict) else ())
    for key, value in obj.items():
        if isinstance(value, float) and not math.isfinite(value):
            at[key].fail("must be finite", value, "NaN and Infinity are not JSON; write an undefined value as null.")
        if not (value is None or isinstance(value, str | int | float | bool)):
            at[key].fail("must be a string, number, boolean or null", value, "Write nested values as their repr.")
    return dict(obj)


def _group(v: Any, at: _At, reference: str, need_n_train: bool) -> XBenchGroup:
    obj = _object(v, at, ("name", "rows"), ("n_train", "n_test"))
    name = _string(obj["name"], at["name"])
    n_train = _count(obj.get("n_train"), at["n_train"])
    if need_n_train and n_train is None:
        at["n_train"].fail(
            "must be the number of training queries of this §6 column (the x-axis of the scaling curve)",
            obj.get("n_train"),
            "Give n_train for every scaling group (XBenchTable.from_rows(..., n_train=...)).",
        )
    rows = [_row(r, at["rows"][i], reference) for i, r in enumerate(_list(obj["rows"], at["rows"]))]
    seen: set[str] = set()
    for i, r in enumerate(rows):
        if r.router in seen:
            at["rows"][i]["router"].fail(
                "repeats a router of this group", r.router, "Give each router one row per group."
            )
        seen.add(r.router)
    return XBenchGroup(name, tuple(rows), n_train, _count(obj.get("n_test"), at["n_test"]))


def _table(v: Any, at: _At, *, need_n_train: bool = False) -> XBenchTable:
    obj = _object(v, at, ("reference", "groups"))
    reference = _string(obj["reference"], at["reference"])
    raw = _list(obj["groups"], at["groups"])
    groups = [_group(g, at["groups"][i], reference, need_n_train) for i, g in enumerate(raw)]
    names = [g.name for g in groups]
    for i, name in enumerate(names):
        if name in names[:i]:
            at["groups"][i]["name"].fail("repeats a group of this table", name, "Give each group its own name.")
    return XBenchTable(reference, tuple(groups))


def _optional_table(obj: Mapping[str, Any], key: str, at: _At, *, need_n_train: bool = False) -> XBenchTable | None:
    v = obj.get(key)
    return None if v is None else _table(v, at[key], need_n_train=need_n_train)


def _note(v: Any, at: _At) -> tuple[str, str]:
    obj = _object(v, at, ("title", "text"))
    return _string(obj["title"], at["title"]), _string(obj["text"], at["text"])
