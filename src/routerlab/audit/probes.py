"""Probes that fit routers to test the benchmark itself: pseudo-specialists and out-of-distribution hold-outs.

Both follow `rethinking-router-evaluation.txt` ("Who Routes the Router"):

* **Pseudo-specialists** (§4.3, "Effective Expert Model Extension", Tables 3–4): inject ``k`` synthetic
  models, each targeting a hard category with accuracy close to ``BestAcc(t) + 25 pp`` there and the
  pool's average accuracy elsewhere, and report how much each router's *agreement* with the top-1
  generalist changes. A router that can exploit a specialist when one exists leaves the generalist on
  the targeted categories; one that cannot keeps agreeing with it (the "adaptability" probe).
* **OOD hold-outs** (§4.4 "OOD Testing Framework", Table 5; App. I.2, Table 7): hold named categories
  (e.g. every math task) out of training and report each router's test accuracy on them, trained with
  and without them; the difference is the OOD change.

Unlike the data checks in :mod:`routerlab.audit.checks`, these fit routers (default: kNN, KMeans, MF
and MLP, the four of the paper's Tables 4–5) on the ``train`` split with their default
hyper-parameters and a fixed ``random_state``, and score them on the ``test`` split. They are
registered audit checks, but not in :data:`~routerlab.audit.DEFAULT_CHECKS`; name them:
``audit(data, ["pseudo_specialists", "ood_holdout"], encoder="minilm")``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Union

import numpy as np

from routerlab.audit._common import RETHINKING, group_means, pick_best
from routerlab.audit.findings import Finding, make_finding
from routerlab.data.schema import ModelInfo, RoutingData
from routerlab.errors import SchemaError

if TYPE_CHECKING:
    from routerlab.routers.base import Router

log = logging.getLogger(__name__)

#: The routers of `rethinking-router-evaluation.txt` ("Who Routes the Router") Tables 4, 5 and 7.
PROBE_ROUTERS: tuple[str, ...] = ("knn", "kmeans", "mf", "mlp")
#: Category names treated as math when no hold-out is named (App. I.2's first OOD setting).
MATH_PATTERN = r"math|gsm|asdiv|arith|algebra|aime|svamp|mgsm|mathqa"
#: Encoder used when neither ``X`` nor ``encoder`` is given: model-free, so it works everywhere.
DEFAULT_ENCODER = "hashing"
PSEUDO_PREFIX = "pseudo:"


# ------------------------------------------------------------------------------------------ shared
def category_labels(data: RoutingData) -> np.ndarray:
    """The category of each query: ``data.categories`` when present, else ``data.sources``."""
    return data.categories if data.categories is not None else data.sources


def _features(data: RoutingData, X: np.ndarray | None, encoder: str | None) -> np.ndarray:
    if X is not None:
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or len(X) != data.n_queries:
            raise SchemaError(
                f"X must be a (n_queries, n_features) array with n_queries = {data.n_queries}; got shape "
                f"{X.shape}. Encode the same RoutingData (routerlab.data.features.encode(data, 'minilm'))."
            )
        return X
    if data.texts is None:
        raise SchemaError(
            f"Dataset {data.name!r} has no query texts, so the probe's routers have no features. Pass "
            "embeddings computed from the original questions as X=..."
        )
    from routerlab.data.features import encode

    return encode(data, encoder or DEFAULT_ENCODER)


def _split_masks(data: RoutingData) -> tuple[np.ndarray, np.ndarray]:
    train, test = data.splits == "train", data.splits == "test"
    if not train.any() or not test.any():
        raise SchemaError(
            f"The probes fit on the 'train' split and score on 'test'; {data.name!r} has splits "
            f"{data.split_sizes()}. Assign splits with data.with_splits(routerlab.data.splits.hash_split(...))."
        )
    return train, test


RouterSpec = Union[str, "Router"]


def router_label(spec: RouterSpec) -> str:
    """A router's label in probe results: the registered name, or ``name(param=value, ...)`` for an instance."""
    if isinstance(spec, str):
        return spec
    from routerlab.routers import describe

    return describe(spec)


def _fit_route(
    spec: RouterSpec, train: RoutingData, X_train: np.ndarray, test: RoutingData, X_test: np.ndarray, random_state: int
) -> np.ndarray:
    from routerlab.routers import clone, make_router

    router = make_router(spec) if isinstance(spec, str) else clone(spec)
    if "random_state" in router.get_params():
        router.set_params(random_state=random_state)
    router.fit(train, X_train)
    choice: np.ndarray = router.route(test, X_test, available=test.observed)
    return choice


def match_categories(data: RoutingData, patterns: str | Sequence[str]) -> list[str]:
    """Category names selected by ``patterns``: exact names, else case-insensitive regular expressions.

    A comma-separated string is split. A pattern that selects nothing is an error naming the categories.
    """
    if isinstance(patterns, str):
        patterns = [p.strip() for p in patterns.split(",") if p.strip()]
    cats = sorted({str(c) for c in category_labels(data)})
    chosen: list[str] = []
    for pat in patterns:
        if pat in cats:
            hits = [pat]
        else:
            try:
                rx = re.compile(pat, re.IGNORECASE)
            except re.error as exc:
                raise SchemaError(f"Category pattern {pat!r} is not a valid regular expression: {exc}.") from None
            hits = [c for c in cats if rx.search(c)]
        if not hits:
            raise SchemaError(
                f"Category pattern {pat!r} matches none of {data.name!r}'s categories: {', '.join(cats)}."
            )
        chosen.extend(h for h in hits if h not in chosen)
    return chosen


# ---------------------------------------------------------------------------------- pseudo-specialists
@dataclass(frozen=True, slots=True)
class PseudoSpecialist:
    """One injected model: its target category and the accuracies it was given (all splits)."""

    name: str
    target: str
    best_accuracy: float  # BestAcc(t) of the real pool
    target_accuracy: float  # realised accuracy on t
    other_accuracy: float  # realised accuracy elsewhere


def select_targets(
    data: RoutingData, k: int = 3, *, min_share: float = 0.01, eligible: Sequence[str] | None = None
) -> list[str]:
    """Hard, non-dominated, well-represented categories to give a pseudo-specialist (§4.3, Table 3).

    Rule (the paper states the criteria, not a formula): among categories holding at least
    ``min_share`` of the queries, keep those whose best–mean gap (``BestAcc(t) − MeanAcc(t)``) is at
    most the median gap ("non-dominated"), and take the ``k`` with the lowest mean accuracy
    ("challenging"); ties go to the larger category, then the name. ``eligible`` restricts the choice
    (the probe passes the categories present in both its train and test splits).
    """
    labels = category_labels(data).astype(str)
    cats, acc, _ = group_means(data, labels)
    n = np.array([np.sum(labels == c) for c in cats], dtype=np.float64)
    mean_acc, best_acc = _mean_best(acc)
    gap = best_acc - mean_acc
    ok = (n / n.sum() >= min_share) & np.isfinite(mean_acc)
    if eligible is not None:
        ok &= np.isin(cats, list(eligible))
    if not ok.any():
        raise SchemaError(
            f"No category of {data.name!r} holds {min_share:.0%} of the queries with outcomes; lower min_share."
        )
    ok &= gap <= np.median(gap[ok]) + 1e-12
    order = sorted(np.flatnonzero(ok), key=lambda i: (mean_acc[i], -n[i], cats[i]))
    return [cats[i] for i in order[:k]]


def _mean_best(acc: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per row of per-category model accuracies: the pool's mean and best (NaN where no model has outcomes)."""
    fin = np.isfinite(acc)
    k = fin.sum(axis=1)
    mean = np.where(k > 0, np.where(fin, acc, 0.0).sum(axis=1) / np.maximum(k, 1), np.nan)
    best = np.where(k > 0, np.where(fin, acc, -np.inf).max(axis=1), np.nan)
    return mean, best


def _exact_share(rng: np.random.Generator, n: int, p: float) -> np.ndarray:
    """0/1 outcomes for ``n`` queries with exactly ``round(p · n)`` ones at random places."""
    out = np.zeros(n)
    out[rng.permutation(n)[: round(float(np.clip(p, 0.0, 1.0)) * n)]] = 1.0
    return out


def add_pseudo_specialists(
    data: RoutingData,
    targets: Sequence[str],
    *,
    boost: float = 0.25,
    random_state: int = 42,
) -> tuple[RoutingData, list[PseudoSpecialist]]:
    """``data`` with one synthetic model per target category appended.

    As in `rethinking-router-evaluation.txt` ("Who Routes the Router") §4.3.

    The model for target ``t`` is correct on exactly ``round(min(BestAcc(t) + boost, 1) · n_t)`` of
    ``t``'s queries and, on every other category ``c``, on ``round(MeanAcc(c) · n_c)`` of them — "the
    pseudo-model accuracy close to BestAcc(t) + 25 % and average accuracy for other tasks" — at
    random positions drawn from ``random_state``. Accuracies are the real pool's observed means per
    category over all splits. Its cost on each query is the median of the real models' costs there,
    so it neither wins nor loses on price. Outcomes are 0/1.
    """
    if not 0.0 < boost <= 1.0:
        raise SchemaError(f"boost must be in (0, 1] (an accuracy gain, 0.25 = 25 pp). Got {boost!r}.")
    labels = category_labels(data).astype(str)
    cats, acc, _ = group_means(data, labels)
    index = {c: i for i, c in enumerate(cats)}
    missing = [t for t in targets if t not in index]
    if missing:
        raise SchemaError(f"Unknown target categories {missing}; {data.name!r} has: {', '.join(cats)}.")
    mean_acc, best_acc = _mean_best(acc)
    rng = np.random.default_rng(random_state)
    cost_col = np.zeros(data.n_queries)
    for q in np.flatnonzero(np.isfinite(data.cost).any(axis=1)):
        cost_col[q] = float(np.median(data.cost[q][np.isfinite(data.cost[q])]))
    Y_new, cost_new, models, injected = [data.Y], [data.cost], list(data.models), []
    for t in targets:
        col = np.zeros(data.n_queries)
        for c, i in index.items():
            rows = np.flatnonzero(labels == c)
            p = min(best_acc[i] + boost, 1.0) if c == t else mean_acc[i]
            col[rows] = _exact_share(rng, len(rows), float(p) if np.isfinite(p) else 0.0)
        name = f"{PSEUDO_PREFIX}{t}"
        if name in data.model_names:
            raise SchemaError(f"Model {name!r} already exists in {data.name!r}; pseudo-specialists cannot be re-added.")
        on_t = labels == t
        injected.append(
            PseudoSpecialist(
                name=name,
                target=t,
                best_accuracy=float(best_acc[index[t]]),
                target_accuracy=float(col[on_t].mean()),
                other_accuracy=float(col[~on_t].mean()) if (~on_t).any() else float("nan"),
            )
        )
        Y_new.append(col[:, None])
        cost_new.append(cost_col[:, None])
        models.append(ModelInfo(name=name, family="pseudo-specialist"))
    meta = {**dict(data.meta), "pseudo_specialists": [s.target for s in injected]}
    augmented = RoutingData(
        name=data.name,
        query_ids=data.query_ids,
        sources=data.sources,
        splits=data.splits,
        models=tuple(models),
        Y=np.hstack(Y_new),
        cost=np.hstack(cost_new),
        cost_unit=data.cost_unit,
        texts=data.texts,
        categories=data.categories,
        meta=meta,
    )
    return augmented, injected


@dataclass(frozen=True, slots=True)
class AdaptabilityResult:
    """Agreement (%) of each router with the top-1 generalist, before and after adding pseudo-specialists."""

    generalist: str
    specialists: tuple[PseudoSpecialist, ...]
    routers: tuple[str, ...]
    groups: tuple[str, ...]  # "overall", then each target category
    before: dict[str, dict[str, float]] = field(default_factory=dict)
    after: dict[str, dict[str, float]] = field(default_factory=dict)
    # share (%) of each target's test queries that the router sends to that target's specialist
    to_specialist: dict[str, dict[str, float]] = field(default_factory=dict)

    def delta(self, router: str, group: str = "overall") -> float:
        """Change in agreement (pp): after − before; negative = less reliance on the generalist."""
        return self.after[router][group] - self.before[router][group]

    def to_markdown(self) -> str:
        """Table 4 of the paper: rows are groups, columns routers, cells the change in agreement (pp)."""
        head = "| group | " + " | ".join(self.routers) + " |"
        lines = [head, "|---|" + "---:|" * len(self.routers)]
        for g in self.groups:
            lines.append(f"| {g} | " + " | ".join(f"{self.delta(r, g):+.2f}" for r in self.routers) + " |")
        return "\n".join(lines) + "\n"


def _agreement(choice: np.ndarray, model: int, mask: np.ndarray) -> float:
    return float(100.0 * np.mean(choice[mask] == model)) if mask.any() else float("nan")


def pseudo_specialist_probe(
    data: RoutingData,
    X: np.ndarray | None = None,
    *,
    encoder: str | None = None,
    routers: Sequence[RouterSpec] = PROBE_ROUTERS,
    targets: Sequence[str] | None = None,
    n_specialists: int = 3,
    boost: float = 0.25,
    random_state: int = 42,
) -> AdaptabilityResult:
    """The adaptability probe of `rethinking-router-evaluation.txt` ("Who Routes the Router") §4.3 (Table 4).

    Agreement is "the average percentage of queries for which a router selects the same model as the
    heuristic router": here the share of test queries routed to the top-1 generalist (the best single
    model on train, App. E), overall and on each target category, for each router fitted on the real
    pool and again on the pool with :func:`add_pseudo_specialists`. Targets default to
    :func:`select_targets`.
    """
    X = _features(data, X, encoder)
    train_m, test_m = _split_masks(data)
    labels_all = category_labels(data).astype(str)
    in_both = sorted(set(labels_all[train_m]) & set(labels_all[test_m]))
    chosen_targets = list(targets) if targets is not None else select_targets(data, n_specialists, eligible=in_both)
    augmented, injected = add_pseudo_specialists(data, chosen_targets, boost=boost, random_state=random_state)
    train = data.subset(train_m)  # the heuristic router's model (App. E): best mean quality on train
    g = pick_best(train.mean_quality(), train.mean_cost(), np.ones(data.n_models, dtype=bool))
    labels = labels_all[test_m]
    groups = ("overall", *chosen_targets)
    masks = {"overall": np.ones(int(test_m.sum()), dtype=bool), **{t: labels == t for t in chosen_targets}}
    result = AdaptabilityResult(
        generalist=data.model_names[g],
        specialists=tuple(injected),
        routers=tuple(router_label(r) for r in routers),
        groups=groups,
    )
    for spec, name in zip(routers, result.routers, strict=True):
        for pool, store in ((data, result.before), (augmented, result.after)):
            choice = _fit_route(spec, pool.subset(train_m), X[train_m], pool.subset(test_m), X[test_m], random_state)
            store[name] = {grp: _agreement(choice, g, m) for grp, m in masks.items()}
            if pool is augmented:
                result.to_specialist[name] = {
                    s.target: _agreement(choice, augmented.model_index(s.name), masks[s.target]) for s in injected
                }
        log.info("pseudo-specialists: %s overall agreement change %+.2f pp", name, result.delta(name))
    return result


def pseudo_specialists(
    data: RoutingData,
    *,
    X: np.ndarray | None = None,
    encoder: str | None = None,
    routers: Sequence[RouterSpec] = PROBE_ROUTERS,
    targets: Sequence[str] | None = None,
    n_specialists: int = 3,
    boost: float = 0.25,
    random_state: int = 42,
) -> list[Finding]:
    """Audit check wrapping :func:`pseudo_specialist_probe`: one finding per router.

    A router whose agreement with the generalist on the targeted categories drops by less than 10 pp
    (it barely uses a specialist that is 25 pp better there) gets a warning: on this pool it cannot
    show adaptability, so a benchmark where it looks fine may only be rewarding generalist selection.
    """
    check = "pseudo_specialists"
    ref = f"{RETHINKING} §4.3 (pseudo-specialists, Tables 3–4)"
    if data.texts is None and X is None:
        return [make_finding(check, "info", "Not applicable: no query texts or embeddings (X=) to fit routers on")]
    res = pseudo_specialist_probe(
        data,
        X,
        encoder=encoder,
        routers=routers,
        targets=targets,
        n_specialists=n_specialists,
        boost=boost,
        random_state=random_state,
    )
    how = "given (X=)" if X is not None else f"encoder {encoder or DEFAULT_ENCODER!r}"
    out = [
        make_finding(
            check,
            "info",
            f"Injected {len(res.specialists)} pseudo-specialists; generalist {res.generalist}",
            numbers={
                "features": how,
                "boost": boost,
                "specialists": [
                    {
                        "name": s.name,
                        "best_accuracy": round(s.best_accuracy, 4),
                        "target_accuracy": round(s.target_accuracy, 4),
                        "other_accuracy": round(s.other_accuracy, 4),
                    }
                    for s in res.specialists
                ],
                "agreement_change_pp": {r: {g: round(res.delta(r, g), 2) for g in res.groups} for r in res.routers},
            },
            involved=[s.target for s in res.specialists],
            reference=ref,
        )
    ]
    for r in res.routers:
        targets_delta = [res.delta(r, t) for t in res.groups[1:]]
        mean_t = float(np.nanmean(targets_delta)) if targets_delta else float("nan")
        weak = np.isfinite(mean_t) and mean_t > -10.0
        out.append(
            make_finding(
                check,
                "warning" if weak else "info",
                f"{r}: agreement with {res.generalist} {res.delta(r):+.2f} pp overall, "
                f"{mean_t:+.2f} pp on the targeted categories",
                numbers={
                    "before": {g: round(v, 2) for g, v in res.before[r].items()},
                    "after": {g: round(v, 2) for g, v in res.after[r].items()},
                    "to_specialist_pct": {t: round(v, 2) for t, v in res.to_specialist[r].items()},
                },
                involved=[r],
                advice=(
                    f"{r} barely uses a specialist that is {boost:.0%} better on its category: on this pool it "
                    "cannot show adaptability. Compare routers on a pool with real specialists."
                    if weak
                    else ""
                ),
                reference=ref,
            )
        )
    return out


# ---------------------------------------------------------------------------------------------- OOD
@dataclass(frozen=True, slots=True)
class OODResult:
    """Test accuracy (%) on held-out categories when trained with them (in-distribution) and without (OOD)."""

    holdout: tuple[str, ...]
    routers: tuple[str, ...]
    n_test: dict[str, int]
    no_test: tuple[str, ...] = ()  # held out of training, but with no test query to score
    in_dist: dict[str, dict[str, float]] = field(default_factory=dict)
    ood: dict[str, dict[str, float]] = field(default_factory=dict)

    def delta(self, router: str, category: str) -> float:
        """OOD accuracy minus in-distribution accuracy (pp); "Average" is the mean over categories."""
        if category == "Average":
            return float(np.mean([self.delta(router, c) for c in self.holdout]))
        return self.ood[router][category] - self.in_dist[router][category]

    def to_markdown(self) -> str:
        """Table 5/7 of the paper: rows are held-out categories and their average, cells Δ accuracy (pp)."""
        lines = ["| category | n test | " + " | ".join(f"{r} Δ" for r in self.routers) + " |"]
        lines.append("|---|---:|" + "---:|" * len(self.routers))
        for c in (*self.holdout, "Average"):
            n = self.n_test.get(c, sum(self.n_test.values()))
            lines.append(f"| {c} | {n} | " + " | ".join(f"{self.delta(r, c):+.2f}" for r in self.routers) + " |")
        return "\n".join(lines) + "\n"


def ood_probe(
    data: RoutingData,
    holdout: str | Sequence[str],
    X: np.ndarray | None = None,
    *,
    encoder: str | None = None,
    routers: Sequence[RouterSpec] = PROBE_ROUTERS,
    random_state: int = 42,
) -> OODResult:
    """OOD hold-out of `rethinking-router-evaluation.txt` ("Who Routes the Router") §4.4 and App. I.2 (Tables 5 and 7).

    Each router is fitted twice on the ``train`` split — with every category, and without the
    ``holdout`` categories (names or regular expressions, see :func:`match_categories`) — and scored on
    the test queries of each held-out category. Accuracy is the mean quality of the chosen models (%).
    """
    X = _features(data, X, encoder)
    train_m, test_m = _split_masks(data)
    cats = match_categories(data, holdout)
    labels = category_labels(data)
    held = np.isin(labels, cats)
    if not (train_m & ~held).any():
        raise SchemaError(f"Holding out {cats} leaves no training queries; hold out fewer categories.")
    eval_m = test_m & held & data.observed.any(axis=1)
    if not eval_m.any():
        raise SchemaError(f"The held-out categories {cats} have no test queries with outcomes in {data.name!r}.")
    test = data.subset(eval_m)
    cat_masks = {c: labels[eval_m] == c for c in cats if np.any(labels[eval_m] == c)}
    skipped = tuple(c for c in cats if c not in cat_masks)
    if skipped:
        log.warning("ood: held out of training but not scored (no test queries): %s", ", ".join(skipped))
    cats = list(cat_masks)
    result = OODResult(
        holdout=tuple(cats),
        routers=tuple(router_label(r) for r in routers),
        n_test={c: int(m.sum()) for c, m in cat_masks.items()},
        no_test=skipped,
    )
    Yt = np.where(test.observed, test.Y, np.nan)
    for spec, name in zip(routers, result.routers, strict=True):
        for train_mask, store in ((train_m, result.in_dist), (train_m & ~held, result.ood)):
            choice = _fit_route(spec, data.subset(train_mask), X[train_mask], test, X[eval_m], random_state)
            got = Yt[np.arange(len(choice)), choice]
            store[name] = {c: float(100.0 * np.mean(got[m])) for c, m in cat_masks.items()}
        log.info("ood: %s average change %+.2f pp", name, result.delta(name, "Average"))
    return result


def ood_holdout(
    data: RoutingData,
    *,
    X: np.ndarray | None = None,
    encoder: str | None = None,
    routers: Sequence[RouterSpec] = PROBE_ROUTERS,
    holdout: str | Sequence[str] | None = None,
    random_state: int = 42,
) -> list[Finding]:
    """Audit check wrapping :func:`ood_probe`; ``holdout`` defaults to the math categories (App. I.2).

    One finding per router with its accuracy on the held-out categories in and out of distribution;
    a drop of more than 5 pp on average is a warning: the router's in-distribution figure overstates
    how it will do on unseen task types.
    """
    check = "ood_holdout"
    ref = f"{RETHINKING} §4.4 (OOD testing, Table 5), App. I.2 (Table 7)"
    if data.texts is None and X is None:
        return [make_finding(check, "info", "Not applicable: no query texts or embeddings (X=) to fit routers on")]
    if holdout is None:
        cats = sorted({str(c) for c in category_labels(data)})
        if not any(re.search(MATH_PATTERN, c, re.IGNORECASE) for c in cats):
            return [
                make_finding(
                    check,
                    "info",
                    "Not run: no math category to hold out by default",
                    advice="Name the categories to hold out: holdout='medmcqa,clinical' (names or regexes).",
                    reference=ref,
                )
            ]
        holdout = MATH_PATTERN
    res = ood_probe(data, holdout, X, encoder=encoder, routers=routers, random_state=random_state)
    out = [
        make_finding(
            check,
            "info",
            f"Held out {len(res.holdout)} categories from training: {', '.join(res.holdout)}",
            numbers={
                "n_test": res.n_test,
                "held_out_without_test_queries": list(res.no_test),
                "delta_pp": {r: round(res.delta(r, "Average"), 2) for r in res.routers},
            },
            involved=list(res.holdout),
            reference=ref,
        )
    ]
    for r in res.routers:
        d = res.delta(r, "Average")
        out.append(
            make_finding(
                check,
                "warning" if d < -5.0 else "info",
                f"{r}: {d:+.2f} pp on held-out categories when they are not in training",
                numbers={
                    "in_distribution_pct": {c: round(v, 2) for c, v in res.in_dist[r].items()},
                    "ood_pct": {c: round(v, 2) for c, v in res.ood[r].items()},
                    "delta_pp": {c: round(res.delta(r, c), 2) for c in (*res.holdout, "Average")},
                },
                involved=[r],
                advice=(
                    f"{r} loses {-d:.1f} pp on task types it has not seen: report OOD figures beside the "
                    "in-distribution ones, or add these task types to training data."
                    if d < -5.0
                    else ""
                ),
                reference=ref,
            )
        )
    return out


__all__: list[str] = [
    "DEFAULT_ENCODER",
    "MATH_PATTERN",
    "PROBE_ROUTERS",
    "AdaptabilityResult",
    "OODResult",
    "PseudoSpecialist",
    "add_pseudo_specialists",
    "category_labels",
    "match_categories",
    "ood_holdout",
    "ood_probe",
    "pseudo_specialist_probe",
    "pseudo_specialists",
    "select_targets",
]
