"""RouterXBench's Table 3 layout on collected data: Final vs Mean vs Dirichlet probes (and the §6 MLP probe).

First slice of issue 14's experiments (`routerxbench.txt`, arXiv:2602.11877). For a collected
``RoutingData`` (``routerlab collect-lm``: a small local model beside GPT-4 / Mixtral) and the small
model's hidden-state encoder, every router is fitted on ``train`` with each configuration of its
``param_grid``, the one with the best validation AUROC is kept (our selection rule: the paper fixes one
configuration), and on ``test`` the script prints, per router:

* AUROC of the router's "keep the small model" score against the small model's correctness (§3.3 (1)),
  with a percentile bootstrap 95 % CI over test queries and the paired difference to ``probe_dirichlet``;
* LPM (d1 = 0.3, Eq. 6), MPM (Eq. 11) and HCR (RP band 85–95 %, Eqs. 7–9) of the call-rate curve Φ
  between the small model and ``--large`` (Eqs. 1–5); '-' where undefined.

Every router's score is read the way the report reads it: ``scores[:, large] − scores[:, small]`` is
the strength of the call to the large model, so the probes (whose small-model score is p̂) and
routerlab's other families (kNN, ...) are compared on one footing.

    PYTHONPATH=src python benchmarks/probes_xbench.py --data COLLECTION/routing.parquet \\
        --encoder hidden:smollm2-135m --large gpt-4-1106 --signals COLLECTION

``--signals`` adds Tab. 1's logit rows (MaxLogits, Entropy, ConfidenceMargin over the answer
letters), read from the collection's outcome table.

First run (merged with the probe-collect branch; its 300-query MMLU collection, 204/36/60 train/val/
test, SmolLM2-135M right on 25 %, i.e. at chance): test AUROC ProbeFinal 0.398, ProbeMean 0.441,
ProbeDirichlet 0.312, the MLP probe 0.414, kNN 0.594, MaxLogits 0.460, Entropy 0.468,
ConfidenceMargin 0.463, every 95 % CI about ±0.15 wide — 60 test
queries and 36 validation ones decide nothing; the full ~14k collection is what the tables need.

Not here yet (issue 14): out-of-domain rows (MedQA, held-out MMLU subject groups), the logit and
verbal baselines (SelfAsk, semantic entropy), Table 4's input-embedding / external
encoder rows (``--encoder hidden:...?layers=input``, ``minilm`` with ``n_layers=1``), §6 data scaling,
significance tiers, and writing the result as a routerlab report.
"""

from __future__ import annotations

import argparse
import itertools
import os
import time
from collections.abc import Callable
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
from scipy.stats import rankdata

from routerlab.data.features.value import featurize
from routerlab.data.io import read_parquet
from routerlab.data.schema import RoutingData
from routerlab.errors import RouterlabError
from routerlab.metrics import auroc_score, call_rate_curve, hcr_score, lpm_score, mpm_score
from routerlab.routers import ROUTERS, Router, make_router
from routerlab.routers.probe import with_encoder_layout

#: (row label, registered router, fixed parameters, features): Tab. 3's three aggregations, the §6 MLP
#: probe and kNN on the hidden states; Tab. 1's logit baselines on the small model's answer-letter signals
ROWS: list[tuple[str, str, dict[str, Any], str]] = [
    ("ProbeFinal", "probe_final", {}, "hidden"),
    ("ProbeMean", "probe_mean", {}, "hidden"),
    ("ProbeDirichlet", "probe_dirichlet", {}, "hidden"),
    ("ProbeDirichlet MLP(64)", "probe_dirichlet", {"hidden": 64}, "hidden"),
    ("kNN (same features)", "knn", {}, "hidden"),
    ("MaxLogits", "logit_max_prob", {}, "signals"),
    ("Entropy", "logit_entropy", {}, "signals"),
    ("ConfidenceMargin", "logit_margin", {}, "signals"),
]
REFERENCE = "ProbeDirichlet"


def _auc(score: np.ndarray, label: np.ndarray) -> float:
    """AUROC by ranks (as :func:`routerlab.metrics.auroc_score`), NaN for a one-class resample."""
    n_pos = int(label.sum())
    n_neg = len(label) - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(score)
    return float((ranks[label == 1].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def _or_none(f: Callable[[], float]) -> float | None:
    try:
        return float(f())
    except (RouterlabError, ValueError):
        return None


def keep_small_score(router: Router, data: RoutingData, X: np.ndarray, small: int, large: int) -> np.ndarray:
    """Higher = keep the small model: ``scores[:, small] − scores[:, large]`` (the report's strong score, negated)."""
    scores = router.predict_scores(data, X)
    return np.asarray(scores[:, small] - scores[:, large])


def select_on_val(
    name: str,
    fixed: dict[str, Any],
    encoder: str,
    parts: dict[str, tuple[RoutingData, np.ndarray]],
    pair: tuple[int, int],
) -> tuple[Router, dict[str, Any]]:
    """Fit every configuration of the router's ``param_grid`` on train; keep the best validation AUROC."""
    grid = {k: v for k, v in ROUTERS.get(name).param_grid.items() if k not in fixed}
    train, X_train = parts["train"]
    val, X_val = parts["val"]
    best: tuple[float, Router | None, dict[str, Any]] = (-np.inf, None, {})
    for values in itertools.product(*grid.values()):
        params = {**fixed, **dict(zip(grid, values, strict=True))}
        router = with_encoder_layout(make_router(name, **params), encoder).fit(train, X_train)
        auc = _auc(keep_small_score(router, val, X_val, *pair), val.Y[:, pair[0]] >= 0.5)
        if auc > best[0] or best[1] is None:
            best = (auc, router, params)
    assert best[1] is not None
    return best[1], best[2]


def signals_matrix(collection: str, data: RoutingData, model: str) -> np.ndarray:
    """The small model's logit signals per query of ``data`` (collect-lm's columns, letter signals first)."""
    from routerlab.collect.local_lm import SIGNALS, read_outcomes  # the probe-collect side of issue 14

    rows = {r["query_id"]: r for r in read_outcomes(collection, model=model)}
    return np.array([[float(rows[q][c]) for c in SIGNALS] for q in data.query_ids], dtype=np.float64)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True, help="a collected routing.parquet")
    ap.add_argument("--encoder", default="hidden:smollm2-135m")
    ap.add_argument("--large", default=None, help="the large model (default: the best by mean quality)")
    ap.add_argument("--resamples", type=int, default=1000)
    ap.add_argument("--signals", default=None, help="the collect-lm folder, for the logit-signal rows (Tab. 1)")
    ap.add_argument("--model", default="smollm2-135m", help="the collected small model (for --signals)")
    args = ap.parse_args()

    data = read_parquet(args.data)
    small = int(np.argmin(data.mean_cost()))
    large = data.model_index(args.large) if args.large else int(np.nanargmax(data.mean_quality()))
    both = data.observed[:, small] & data.observed[:, large]
    data = data.subset(both).select_models([data.model_names[small], data.model_names[large]])
    pair = (0, 1)
    features = featurize(data, args.encoder)
    matrices = {"hidden": features.matrix}
    if args.signals:
        matrices["signals"] = signals_matrix(args.signals, data, args.model)
    parts = {
        kind: {s: (data.subset(data.splits == s), m[data.splits == s]) for s in ("train", "val", "test")}
        for kind, m in matrices.items()
    }
    test = parts["hidden"]["test"][0]
    y_small, y_large = test.Y[:, 0], test.Y[:, 1]
    label = (y_small >= 0.5).astype(float)
    print(
        f"{data.name}: small {data.model_names[0]} ({np.nanmean(data.Y[:, 0]):.3f}), large {data.model_names[1]} "
        f"({np.nanmean(data.Y[:, 1]):.3f}); splits {data.split_sizes()}; features {features.encoder}"
    )

    g = np.random.default_rng(0)
    draws = g.integers(0, len(label), size=(args.resamples, len(label)))
    kept: dict[str, np.ndarray] = {}
    rows = []
    for row, name, fixed, kind in ROWS:
        if kind not in parts:
            continue
        t0 = time.perf_counter()
        router, params = select_on_val(name, fixed, features.encoder, parts[kind], pair)
        s = keep_small_score(router, test, parts[kind]["test"][1], *pair)
        kept[row] = s
        curve = call_rate_curve(y_small=y_small, y_large=y_large, p_small_suffices=s)
        boot = np.array([_auc(s[d], label[d]) for d in draws])
        rows.append(
            (
                row,
                auroc_score(score=s, label=label),
                np.nanpercentile(boot, [2.5, 97.5]),
                _or_none(lambda c=curve: lpm_score(curve=c, d1=0.3)),
                _or_none(lambda c=curve: mpm_score(curve=c, d1=0.3, rho1=0.85)),
                _or_none(lambda c=curve: hcr_score(curve=c, rho=(0.85, 0.95))),
                params,
                time.perf_counter() - t0,
            )
        )
    ref = kept[REFERENCE]
    print(
        f"\n{'router':<24}{'AUROC':>7}  {'95% CI':<15}{'Δ vs Dir. [95% CI]':<24}{'LPM':>6}{'MPM':>6}{'HCR':>6}  "
        "selected (s)"
    )
    for row, auc, ci, lpm, mpm, hcr, params, secs in rows:
        diff = np.array([_auc(kept[row][d], label[d]) - _auc(ref[d], label[d]) for d in draws])
        lo, hi = np.nanpercentile(diff, [2.5, 97.5])
        delta = "" if row == REFERENCE else f"{auc - auroc_score(score=ref, label=label):+.3f} [{lo:+.3f}, {hi:+.3f}]"
        cells = "".join(f"{'-' if v is None else f'{v:.3f}':>6}" for v in (lpm, mpm, hcr))
        shown = {k: v for k, v in params.items() if k != "n_layers"}
        print(f"{row:<24}{auc:>7.3f}  [{ci[0]:.3f}, {ci[1]:.3f}]  {delta:<24}{cells}  {shown} ({secs:.1f})")


if __name__ == "__main__":
    main()
