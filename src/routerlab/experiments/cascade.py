"""A cascade beside the one-shot routers on the same test split: deferral curves, AUC with paired CIs, matched cost.

Protocol (:func:`evaluate_cascade`):

1. The one-shot routers (default knn, mlp, best_single and the oracle bound) are fitted and scored by
   :func:`~routerlab.experiments.evaluate.evaluate` on ``train_splits`` / ``test_split``; each is traced
   along 51 λ in [0, 1] (cost-utility choice with its own cost estimate, missing outcomes rerouted).
2. The :class:`~routerlab.routers.cascade.Cascade` is fitted on the same training queries and their
   responses: scorers, out-of-fold scores, and the Pareto frontier of (chain, thresholds) on those scores.
   Nothing of the test split is read to decide; the scorer sees ``test.without_outcomes()``. Test queries
   where some model has no outcome leave the comparison for every method (a chain through that model could
   not be replayed; RouterBench's split rows), so all methods are scored on the same complete queries.
3. Every frontier policy is replayed on the test queries; cost is the sum of every model called. The
   points of each method make its deferral curve (non-decreasing hull); AUC over the cheapest to the
   dearest single model's mean test cost, with a paired bootstrap over test queries for each AUC and for
   AUC(cascade) − AUC(router) (`rethinking-router-evaluation.txt` ("Who Routes the Router") App. F).
4. Matched cost: for budgets set on training data (the best single model's mean training cost, and a half
   and a quarter of it), the cascade's policy chosen on training (best out-of-fold quality within the
   budget) is run on test and compared, query by query, with best_single at λ = 0; every method's hull
   is also read at the same test costs.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from routerlab._markdown import md_table
from routerlab.data.features.value import Features
from routerlab.data.responses import Responses
from routerlab.data.schema import RoutingData
from routerlab.errors import SchemaError
from routerlab.experiments.evaluate import evaluate
from routerlab.metrics import core as M
from routerlab.metrics.bootstrap import Interval, paired_difference_ci
from routerlab.metrics.curves import Curve, non_decreasing_hull
from routerlab.metrics.deferral_ci import deferral_auc_intervals
from routerlab.routers.cascade import Cascade, CascadePolicy, CascadeRun, OperatingPoint

log = logging.getLogger(__name__)

CASCADE = "cascade"
DEFAULT_ROUTERS = ("knn", "mlp", "best_single", "oracle")
#: λ grid tracing a one-shot router's deferral curve
CURVE_LAMBDAS: tuple[float, ...] = tuple(float(v) for v in np.round(np.linspace(0.0, 1.0, 51), 4))
#: matched-cost budgets as fractions of the best single model's mean training cost
BUDGET_FRACTIONS = (1.0, 0.5, 0.25)
CASCADE_JSON = "cascade.json"
CASCADE_MD = "cascade.md"
#: a cascade.json written by routerlab is a few hundred KiB; a larger file is refused before parsing
MAX_CASCADE_BYTES = 64 * 2**20
_WRITER = "Write it with `routerlab cascade --out DIR` (CascadeEvaluation.save)"
#: the matched-cost table's left-aligned columns: budget, chain, train cost / quality
MATCHED_LEFT = 3
MATCHED_LEAD = (
    "Budget = a fraction of the best single model's mean training cost; the cascade's policy is the best "
    "out-of-fold training quality within it. Δ = cascade − best_single (λ = 0) on the same test queries. "
    "Hull columns: each method's deferral curve read at the cascade's test cost (the mix of its two λ "
    "points around that cost), with the paired Δ cascade − method [95 % CI]; – where the method cannot spend "
    "that little."
)


@dataclass(frozen=True, slots=True)
class MatchedCost:
    """The cascade's policy chosen on training for one budget, scored on test beside best_single (λ = 0)."""

    budget: float
    fraction: float
    policy: dict[str, Any]
    train_cost: float
    train_quality: float
    test_cost: float
    test_quality: float
    reference: str
    reference_cost: float
    reference_quality: float
    delta: Interval
    hull_quality: dict[str, float]
    #: cascade − each router's hull at the cascade's test cost (a mix of two of its λ points), paired over queries
    versus: dict[str, Interval] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class CascadeEvaluation:
    """What :func:`evaluate_cascade` measured (module doc); :meth:`to_markdown` prints it."""

    dataset: str
    cost_unit: str
    n_train: int
    n_test: int
    x_range: tuple[float, float]
    points: dict[str, Curve]
    auc: dict[str, Interval]
    auc_delta: dict[str, Interval]
    matched: tuple[MatchedCost, ...]
    frontier: tuple[OperatingPoint, ...]
    model_cost: dict[str, float]
    model_quality: dict[str, float]
    params: dict[str, Any]
    meta: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "dataset": self.dataset,
            "cost_unit": self.cost_unit,
            "n_train": self.n_train,
            "n_test": self.n_test,
            "x_range": list(self.x_range),
            "points": {k: {"cost": c.x.tolist(), "quality": c.y.tolist()} for k, c in self.points.items()},
            "auc": {k: asdict(v) for k, v in self.auc.items()},
            "auc_delta_cascade_minus": {k: asdict(v) for k, v in self.auc_delta.items()},
            "matched_cost": [_matched_dict(m) for m in self.matched],
            "frontier_train": [p.to_dict() for p in self.frontier],
            "model_cost": self.model_cost,
            "model_quality": self.model_quality,
            "params": self.params,
            "meta": self.meta,
        }

    def auc_table(self) -> tuple[list[str], list[list[str]]]:
        """Head and rows (plain text) of the AUC table: each method's points, AUC [95 % CI], Δ cascade − method."""
        head = ["method", "points", "AUC [95 % CI]", "Δ AUC cascade − method [95 % CI]"]
        rows = []
        for name in sorted(self.auc, key=lambda n: -self.auc[n].estimate):
            a = self.auc[name]
            d = self.auc_delta.get(name)
            rows.append(
                [
                    name,
                    str(len(self.points[name])),
                    f"{a.estimate:.4f} [{a.low:.4f}, {a.high:.4f}]",
                    "–" if d is None else _ci(d),
                ]
            )
        return head, rows

    def matched_table(self) -> tuple[list[str], list[list[str]]]:
        """Head and rows (plain text) of the matched-cost table; one hull column per one-shot method."""
        names = sorted({k for m in self.matched for k in m.hull_quality})
        head = [
            "budget",
            "chain (thresholds)",
            "train cost / quality",
            "test cost",
            "test quality",
            "best_single quality (cost)",
            "Δ quality [95 % CI]",
            *[f"{n} hull" for n in names],
        ]
        rows = []
        for m in self.matched:
            chain = " → ".join(
                f"{c}" + (f" (≥{t:.3g})" if i < len(m.policy["thresholds"]) else "")
                for i, (c, t) in enumerate(zip(m.policy["chain"], [*m.policy["thresholds"], 0.0], strict=True))
            )
            rows.append(
                [
                    f"{m.fraction:g} × {m.budget:.6g}",
                    chain,
                    f"{m.train_cost:.6g} / {m.train_quality:.4f}",
                    f"{m.test_cost:.6g}",
                    f"{m.test_quality:.4f}",
                    f"{m.reference_quality:.4f} ({m.reference_cost:.6g})",
                    _ci(m.delta),
                    *[_hull_cell(m, n) for n in names],
                ]
            )
        return head, rows

    def auc_lead(self) -> str:
        """What the AUC table measures, in one paragraph."""
        return (
            f"Deferral AUC over mean cost [{self.x_range[0]:.6g}, {self.x_range[1]:.6g}] {self.cost_unit} (cheapest to "
            f"dearest single model on test), quality 0 below a method's cheapest point; the cascade's cost counts "
            f"every call it made; 95 % paired bootstrap over test queries ({self.meta.get('n_resamples')} resamples, "
            f"seed {self.meta.get('seed')}); * = CI excludes 0."
        )

    def to_markdown(self) -> str:
        """Tables: AUC with CIs and Δ AUC vs the cascade; the matched-cost comparison."""
        lines = [
            f"# Cascade vs one-shot routers: {self.dataset} (test, {self.n_test} queries; {self.n_train} training)",
            "",
            self.auc_lead(),
            "",
            *md_table(*self.auc_table()),
            "",
            "## Matched cost",
            "",
            MATCHED_LEAD,
            "",
            *md_table(*self.matched_table(), left=MATCHED_LEFT),
        ]
        notes = self.meta.get("notes", [])
        if notes:
            lines += ["", *[f"- {n}" for n in notes]]
        return "\n".join(lines) + "\n"

    @classmethod
    def from_dict(cls, doc: Any, *, source: str = CASCADE_JSON) -> CascadeEvaluation:
        """Validate a parsed ``cascade.json`` (:meth:`to_dict`'s form); errors name ``source``, field and value."""
        return _Reader(source).evaluation(doc)

    def save(self, out_dir: str | Path) -> dict[str, Path]:
        """Write ``cascade.json`` and ``cascade.md`` into ``out_dir``."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        paths = {"json": out / CASCADE_JSON, "markdown": out / CASCADE_MD}
        paths["json"].write_text(json.dumps(self.to_dict(), indent=2, allow_nan=False) + "\n")
        paths["markdown"].write_text(self.to_markdown())
        return paths


def _matched_dict(m: MatchedCost) -> dict[str, Any]:
    out = asdict(m)  # NaN (a method that cannot spend that little) becomes None for strict JSON
    out["hull_quality"] = {k: (v if np.isfinite(v) else None) for k, v in m.hull_quality.items()}
    return out


def _hull_cell(m: MatchedCost, name: str) -> str:
    q = m.hull_quality.get(name, float("nan"))
    if not np.isfinite(q):
        return "–"
    d = m.versus.get(name)
    return f"{q:.4f}" + (f" ({_ci(d)})" if d is not None else "")


def _ci(d: Interval) -> str:
    mark = "*" if d.excludes_zero else ""
    return f"{d.estimate:+.4f} [{d.low:+.4f}, {d.high:+.4f}]{mark}"


def _router_values(board: Any, name: str, test: RoutingData) -> tuple[np.ndarray, np.ndarray]:
    """(cost, quality), each (n_λ, n_test): the router's choices along :data:`CURVE_LAMBDAS`."""
    decisions = board.decisions(name)
    choices = [decisions.choose(lam=lam) for lam in CURVE_LAMBDAS]
    cost = np.stack([M.chosen(test.cost, c) for c in choices])
    quality = np.stack([M.chosen(test.Y, c) for c in choices])
    return cost, quality


def _cascade_values(runs: Sequence[CascadeRun], test: RoutingData) -> tuple[np.ndarray, np.ndarray]:
    return np.stack([r.cost for r in runs]), np.stack([r.quality(test.Y) for r in runs])


def _model_points(test: RoutingData) -> tuple[dict[str, float], dict[str, float]]:
    cost, quality = test.mean_cost(), test.mean_quality()
    keep = np.isfinite(cost) & np.isfinite(quality)
    names = [n for n, k in zip(test.model_names, keep, strict=True) if k]
    return (
        {n: float(c) for n, c in zip(names, cost[keep], strict=True)},
        {n: float(q) for n, q in zip(names, quality[keep], strict=True)},
    )


def evaluate_cascade(
    data: RoutingData,
    responses: Responses,
    *,
    routers: Sequence[str] = DEFAULT_ROUTERS,
    cascade: Cascade | None = None,
    encoder: str | None = "hashing",
    features: np.ndarray | Features | None = None,
    train_splits: Sequence[str] = ("train",),
    test_split: str = "test",
    n_resamples: int = 1000,
    seed: int = 0,
) -> CascadeEvaluation:
    """Fit the one-shot ``routers`` and a cascade on ``train_splits``; compare them on ``test_split`` (module doc).

    ``responses`` are the models' answers (:func:`routerlab.data.load_responses`), aligned here by query id;
    ``cascade`` gives the cascade's hyper-parameters (a fresh copy is fitted); ``encoder``/``features`` feed
    the one-shot routers as in :func:`~routerlab.experiments.evaluate.evaluate`.
    """
    if "best_single" not in routers:
        raise SchemaError(f"routers must include 'best_single' (the matched-cost reference). Got {list(routers)}.")
    params = (cascade or Cascade()).get_params()
    Cascade(**params).validate(data)  # a bad chain fails before any router is fitted
    if features is not None:
        encoder = None
    # a test query where some model has no outcome cannot be replayed for every chain: it leaves the comparison
    incomplete = (data.splits == test_split) & ~data.observed.all(axis=1)
    if incomplete.any():
        keep = ~incomplete
        data = data.subset(keep)
        if isinstance(features, Features):
            features = features.subset(keep)
        elif features is not None:
            features = np.asarray(features)[keep]
    board = evaluate(
        data,
        list(routers),
        lams=(0.0,),
        train_splits=train_splits,
        test_split=test_split,
        encoder=encoder,
        features=features,
    )
    test = board.test
    if test is None:  # pragma: no cover - evaluate always keeps it
        raise SchemaError("evaluate() kept no test queries.")
    train = data.split(*train_splits)
    fitted = Cascade(**params).fit(train, responses)
    blind = test.without_outcomes()  # the scorer reads texts and answers, never an outcome
    conf = fitted.confidence(blind, responses)
    runs = [fitted.run(blind, responses, p.policy, available=test.observed, confidence=conf) for p in fitted.frontier_]
    per_query = {CASCADE: _cascade_values(runs, test)}
    for name in routers:
        per_query[name] = _router_values(board, name, test)
    model_cost, model_quality = _model_points(test)
    x_range = (min(model_cost.values()), max(model_cost.values()))
    if not x_range[1] > x_range[0]:
        raise SchemaError(
            f"Every single model costs the same on {data.name!r}'s test split; a deferral AUC needs a cost range."
        )
    auc, versus = deferral_auc_intervals(
        per_query, x_range=x_range, reference=CASCADE, n_resamples=n_resamples, seed=seed
    )
    auc_delta = {k: Interval(-v.estimate, -v.high, -v.low, v.level) for k, v in versus.items()}
    points = {k: Curve(x=c.mean(axis=1), y=q.mean(axis=1)) for k, (c, q) in per_query.items()}
    matched = _matched(fitted, train, test, blind, responses, conf, board, per_query, n_resamples, seed)
    notes = []
    if incomplete.any():
        notes.append(
            f"{int(incomplete.sum())} test queries with a model lacking an outcome left the comparison (every method "
            "is scored on the same complete test queries; training keeps them)."
        )
    unanswered = max((r.unanswered for r in runs), default=0)
    if unanswered:
        notes.append(f"up to {unanswered} test queries had no chain model with an outcome; counted as quality 0.")
    absent = responses.aligned(data).missing.mean(axis=0)
    for name, share in zip(data.model_names, absent, strict=True):
        if share > 0:  # the scorer then reads the query (and the "no response" flag) alone
            notes.append(f"{name}: {100 * share:.1f} % of the queries have no response (None, not '').")
    return CascadeEvaluation(
        dataset=data.name,
        cost_unit=data.cost_unit,
        n_train=train.n_queries,
        n_test=test.n_queries,
        x_range=(float(x_range[0]), float(x_range[1])),
        points=points,
        auc=auc,
        auc_delta=auc_delta,
        matched=matched,
        frontier=fitted.frontier_,
        model_cost=model_cost,
        model_quality=model_quality,
        params={"cascade": params, "routers": list(routers), "encoder": encoder},
        meta={
            "n_resamples": n_resamples,
            "seed": seed,
            "train_splits": list(train_splits),
            "test_split": test_split,
            "curve_lambdas": len(CURVE_LAMBDAS),
            "test_queries_dropped_incomplete": int(incomplete.sum()),
            "responses": {k: v for k, v in responses.meta.items() if k != "aligned"},
            "notes": notes,
        },
    )


def hull_mix(cost: np.ndarray, quality: np.ndarray, at: float) -> np.ndarray | None:
    """Per-query quality of a method's deferral hull at mean cost ``at``: the mix of the two hull points around it.

    ``cost``/``quality`` are (n_points, n_queries). The hull (:func:`~routerlab.metrics.curves.non_decreasing_hull`
    of the mean points) is reached between two vertices by the stochastic policy that plays the cheaper one with
    probability 1 − w; its expected per-query quality is ``(1 − w)·q_a + w·q_b``. Flat after the last vertex;
    None below the first (no policy of the method spends that little).
    """
    xs, ys = cost.mean(axis=1), quality.mean(axis=1)
    hull = non_decreasing_hull(np.column_stack([xs, ys]))
    vertex = [int(np.flatnonzero((xs == x) & (ys == y))[0]) for x, y in zip(hull.x, hull.y, strict=True)]
    if at < hull.x[0]:
        return None
    if at >= hull.x[-1]:
        out: np.ndarray = quality[vertex[-1]]
        return out
    i = int(np.searchsorted(hull.x, at, side="right")) - 1
    w = (at - hull.x[i]) / (hull.x[i + 1] - hull.x[i])
    mixed: np.ndarray = (1 - w) * quality[vertex[i]] + w * quality[vertex[i + 1]]
    return mixed


def _matched(
    fitted: Cascade,
    train: RoutingData,
    test: RoutingData,
    blind: RoutingData,
    responses: Responses,
    conf: np.ndarray,
    board: Any,
    per_query: dict[str, tuple[np.ndarray, np.ndarray]],
    n_resamples: int,
    seed: int,
) -> tuple[MatchedCost, ...]:
    reference = board.prediction("best_single").choice(0.0)
    ref_quality = M.chosen(test.Y, reference)
    ref_cost = M.chosen(test.cost, reference)
    best = int(np.nanargmax(train.mean_quality()))  # best_single's model, as it is fitted: training quality
    base = float(train.mean_cost()[best])
    out = []
    for fraction in BUDGET_FRACTIONS:
        point = fitted.policy_for_budget(fraction * base)
        run = fitted.run(blind, responses, point.policy, available=test.observed, confidence=conf)
        quality = run.quality(test.Y)
        delta = paired_difference_ci(quality, ref_quality, n_resamples=n_resamples, seed=seed)
        spent = float(run.cost.mean())
        mixes = {k: hull_mix(c, q, spent) for k, (c, q) in per_query.items() if k != CASCADE}
        versus = {
            k: paired_difference_ci(quality, mix, n_resamples=n_resamples, seed=seed)
            for k, mix in mixes.items()
            if mix is not None
        }
        out.append(
            MatchedCost(
                budget=fraction * base,
                fraction=fraction,
                policy=point.policy.to_dict(),
                train_cost=point.cost,
                train_quality=point.quality,
                test_cost=spent,
                test_quality=float(quality.mean()),
                reference="best_single",
                reference_cost=float(ref_cost.mean()),
                reference_quality=float(ref_quality.mean()),
                delta=delta,
                hull_quality={k: float("nan") if mix is None else float(mix.mean()) for k, mix in mixes.items()},
                versus=versus,
            )
        )
    return tuple(out)


def read_cascade(path: str | Path) -> CascadeEvaluation:
    """Read and validate ``cascade.json`` (``path`` is the file or its folder), as untrusted input.

    A file over :data:`MAX_CASCADE_BYTES` is refused before parsing; bad UTF-8/JSON, a nesting bomb, a
    duplicate key, a missing or mistyped field, or a non-finite number is a SchemaError naming the file, the
    field, the value and the fix.
    """
    p = Path(path)
    if p.is_dir():
        p = p / CASCADE_JSON
    if not p.is_file():
        raise SchemaError(f"{str(p)!r} does not exist. {_WRITER}.")
    with p.open("rb") as f:
        raw = f.read(MAX_CASCADE_BYTES + 1)  # never more than the cap, whatever the file grows to
    if len(raw) > MAX_CASCADE_BYTES:
        raise SchemaError(f"{p}: more than {MAX_CASCADE_BYTES:,} bytes; not a cascade.json routerlab wrote. {_WRITER}.")
    try:
        doc = json.loads(raw.decode("utf-8"), object_pairs_hook=_unique_keys, parse_constant=_no_constant)
    except SchemaError as exc:
        raise SchemaError(f"{p}: {exc}") from None
    except (ValueError, RecursionError) as exc:  # bad UTF-8 or JSON, or a nesting bomb
        raise SchemaError(f"{p} is not valid UTF-8 JSON ({exc}). {_WRITER}.") from None
    return CascadeEvaluation.from_dict(doc, source=str(p))


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise SchemaError(f"the key {key!r} appears twice in one object; {_WRITER} (one value per key).")
        out[key] = value
    return out


def _no_constant(name: str) -> Any:
    raise SchemaError(f"holds {name}, which strict JSON has no place for; {_WRITER} (it writes null).")


_TOP = (
    "dataset",
    "cost_unit",
    "n_train",
    "n_test",
    "x_range",
    "points",
    "auc",
    "auc_delta_cascade_minus",
    "matched_cost",
    "frontier_train",
    "model_cost",
    "model_quality",
)
_MATCHED = (
    "budget",
    "fraction",
    "policy",
    "train_cost",
    "train_quality",
    "test_cost",
    "test_quality",
    "reference",
    "reference_cost",
    "reference_quality",
    "delta",
    "hull_quality",
)


class _Reader:
    """Builds a :class:`CascadeEvaluation` from parsed JSON; each error names ``source: path.to.field``."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, where: str, what: str, got: Any) -> SchemaError:
        shown = f"an object with keys {sorted(got)[:8]}" if isinstance(got, dict) else repr(got)
        shown = shown if len(shown) <= 80 else shown[:77] + "..."
        return SchemaError(f"{self.source}: {where or 'the document'} {what}. Got {shown}. {_WRITER}.")

    def obj(self, v: Any, where: str, required: Sequence[str] = (), optional: Sequence[str] = ()) -> dict[str, Any]:
        if not isinstance(v, dict):
            raise self.fail(where, "must be a JSON object", v)
        for key in required:
            if key not in v:
                raise self.fail(f"{where}.{key}" if where else key, "is missing", v)
        if required or optional:
            known = {*required, *optional}
            extra = sorted(k for k in v if k not in known)
            if extra:
                raise self.fail(
                    f"{where}.{extra[0]}" if where else extra[0], "is not a field of cascade.json", v[extra[0]]
                )
        return v

    def text(self, v: Any, where: str) -> str:
        if not isinstance(v, str) or not v:
            raise self.fail(where, "must be a non-empty string", v)
        return v

    def num(self, v: Any, where: str) -> float:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not np.isfinite(v):
            raise self.fail(where, "must be a finite number", v)
        return float(v)

    def count(self, v: Any, where: str) -> int:
        if type(v) is not int or v < 1:
            raise self.fail(where, "must be a positive integer", v)
        return v

    def nums(self, v: Any, where: str) -> np.ndarray:
        if not isinstance(v, list) or not v:
            raise self.fail(where, "must be a non-empty list of numbers", v)
        return np.array([self.num(x, f"{where}[{i}]") for i, x in enumerate(v)])

    def interval(self, v: Any, where: str) -> Interval:
        o = self.obj(v, where, ("estimate", "low", "high", "level"))
        iv = Interval(*(self.num(o[k], f"{where}.{k}") for k in ("estimate", "low", "high", "level")))
        if iv.low > iv.high or not 0 < iv.level < 1:
            raise self.fail(where, "must have low <= high and 0 < level < 1", v)
        return iv

    def intervals(self, v: Any, where: str) -> dict[str, Interval]:
        return {self.text(k, where): self.interval(x, f"{where}.{k}") for k, x in self.obj(v, where).items()}

    def policy(self, v: Any, where: str) -> CascadePolicy:
        o = self.obj(v, where, ("chain", "thresholds"), ("train_cost", "train_quality"))
        chain, thresholds = o["chain"], o["thresholds"]
        if not isinstance(chain, list) or not isinstance(thresholds, list):
            raise self.fail(where, "needs lists 'chain' and 'thresholds'", v)
        try:
            return CascadePolicy(
                tuple(self.text(c, f"{where}.chain[{i}]") for i, c in enumerate(chain)),
                tuple(self.num(t, f"{where}.thresholds[{i}]") for i, t in enumerate(thresholds)),
            )
        except SchemaError as exc:
            raise SchemaError(f"{self.source}: {where} is not a valid cascade policy: {exc} {_WRITER}.") from None

    def matched(self, v: Any, where: str) -> MatchedCost:
        o = self.obj(v, where, _MATCHED, ("versus",))
        hull = self.obj(o["hull_quality"], f"{where}.hull_quality")
        return MatchedCost(
            budget=self.num(o["budget"], f"{where}.budget"),
            fraction=self.num(o["fraction"], f"{where}.fraction"),
            policy=self.policy(o["policy"], f"{where}.policy").to_dict(),
            train_cost=self.num(o["train_cost"], f"{where}.train_cost"),
            train_quality=self.num(o["train_quality"], f"{where}.train_quality"),
            test_cost=self.num(o["test_cost"], f"{where}.test_cost"),
            test_quality=self.num(o["test_quality"], f"{where}.test_quality"),
            reference=self.text(o["reference"], f"{where}.reference"),
            reference_cost=self.num(o["reference_cost"], f"{where}.reference_cost"),
            reference_quality=self.num(o["reference_quality"], f"{where}.reference_quality"),
            delta=self.interval(o["delta"], f"{where}.delta"),
            # null: the method cannot spend that little (to_dict wrote NaN as null)
            hull_quality={
                k: float("nan") if x is None else self.num(x, f"{where}.hull_quality.{k}") for k, x in hull.items()
            },
            versus=self.intervals(o.get("versus", {}), f"{where}.versus"),
        )

    def evaluation(self, doc: Any) -> CascadeEvaluation:
        o = self.obj(doc, "", _TOP, ("params", "meta"))
        points = {}
        for name, p in self.obj(o["points"], "points").items():
            q = self.obj(p, f"points.{name}", ("cost", "quality"))
            x, y = self.nums(q["cost"], f"points.{name}.cost"), self.nums(q["quality"], f"points.{name}.quality")
            if x.size != y.size:
                raise self.fail(f"points.{name}", "needs as many qualities as costs", p)
            points[name] = Curve(x=x, y=y)
        auc = self.intervals(o["auc"], "auc")
        if CASCADE not in points or set(auc) != set(points):
            raise self.fail("auc", f"must name the methods of 'points' ({sorted(points)}), '{CASCADE}' among them", auc)
        delta = self.intervals(o["auc_delta_cascade_minus"], "auc_delta_cascade_minus")
        if not set(delta) <= set(points):
            raise self.fail("auc_delta_cascade_minus", f"names a method not in 'points' ({sorted(points)})", delta)
        x_range = self.nums(o["x_range"], "x_range")
        if x_range.size != 2 or not x_range[0] < x_range[1]:
            raise self.fail("x_range", "must be [low, high] with low < high", o["x_range"])
        cost = {k: self.num(x, f"model_cost.{k}") for k, x in self.obj(o["model_cost"], "model_cost").items()}
        quality = {
            k: self.num(x, f"model_quality.{k}") for k, x in self.obj(o["model_quality"], "model_quality").items()
        }
        if not cost or set(cost) != set(quality):
            raise self.fail("model_quality", f"must name the same models as model_cost ({sorted(cost)})", quality)
        matched, frontier = o["matched_cost"], o["frontier_train"]
        if not isinstance(matched, list) or not isinstance(frontier, list):
            raise self.fail("matched_cost", "and frontier_train must be lists", matched)
        meta = self.obj(o.get("meta", {}), "meta")
        notes = meta.get("notes", [])
        if not isinstance(notes, list) or not all(isinstance(n, str) for n in notes):
            raise self.fail("meta.notes", "must be a list of strings", notes)
        return CascadeEvaluation(
            dataset=self.text(o["dataset"], "dataset"),
            cost_unit=self.text(o["cost_unit"], "cost_unit"),
            n_train=self.count(o["n_train"], "n_train"),
            n_test=self.count(o["n_test"], "n_test"),
            x_range=(float(x_range[0]), float(x_range[1])),
            points=points,
            auc=auc,
            auc_delta=delta,
            matched=tuple(self.matched(m, f"matched_cost[{i}]") for i, m in enumerate(matched)),
            frontier=tuple(
                OperatingPoint(
                    self.policy(f, f"frontier_train[{i}]"),
                    self.num(f.get("train_cost"), f"frontier_train[{i}].train_cost"),
                    self.num(f.get("train_quality"), f"frontier_train[{i}].train_quality"),
                )
                for i, f in enumerate(frontier)
            ),
            model_cost=cost,
            model_quality=quality,
            params=self.obj(o.get("params", {}), "params"),
            meta=meta,
        )
