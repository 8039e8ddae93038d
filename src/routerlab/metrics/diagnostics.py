"""Diagnostics of where routers fail and whether their differences are real.

* :func:`hard_easy_gap` — `routing-plateau.txt` (arXiv:2606.07587) §5.1 (Tab. 3): solvable queries split into hard
  and easy; the oracle–router gap on each and the share of the whole gap the hard ones explain.
* :func:`disagreement`, :func:`exchanged_wins` — §5.2 (Tab. 4): how often two routers pick
  different models, and whether their disagreements move accuracy (signed ΔY) or only exchange
  wins (|ΔY|).
* :func:`knn_bce_loss` — §5.3 (Tab. 5a): binary cross-entropy of kNN-predicted correctness against
  the correctness labels.
* :func:`significance_table` — paired-bootstrap CIs of every pairwise difference
  (`rethinking-router-evaluation.txt` ("Who Routes the Router") App. F, "differences are deemed significant when the 95
  % CI of the pairwise … difference excludes zero"), and :meth:`SignificanceTable.tiers`, which groups
  routers whose differences are within noise instead of ranking them (`routing-plateau.txt` §4.2:
  the top methods are "nearly indistinguishable").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from routerlab._arrays import l2_normalise
from routerlab.errors import SchemaError
from routerlab.metrics.bootstrap import Interval, bootstrap_means
from routerlab.metrics.core import _check, chosen
from routerlab.metrics.curves import _outcomes, _same_length, _vector

# --------------------------------------------------------------------------- hard / easy stratification


def _binary_outcomes(Y: Any) -> np.ndarray:
    arr = _outcomes(Y)
    bad = ~np.isnan(arr) & (arr != 0) & (arr != 1)
    if bad.any():
        q, m = np.argwhere(bad)[0]
        raise SchemaError(
            f"Y[{q}, {m}] = {float(arr[q, m])!r}, but this diagnostic needs 0/1 correctness labels (NaN = missing); "
            "threshold graded quality first, e.g. (Y >= 1).astype(float)."
        )
    return arr


def _choices(Y: np.ndarray, choice: Any) -> np.ndarray:
    """(n_routers, n_queries) chosen outcomes, with a clear error for a choice on a missing cell."""
    c = np.asarray(choice)
    if c.ndim == 1:
        c = c[None, :]
    if c.ndim != 2 or c.shape[0] == 0:
        raise SchemaError(f"choice must be (n_queries,) or (n_routers, n_queries). Got shape {np.shape(choice)}.")
    out = np.empty(c.shape)
    for r in range(c.shape[0]):
        _, row = _check(Y, c[r])
        assert row is not None
        got = chosen(Y, row)
        if np.isnan(got).any():
            i = int(np.flatnonzero(np.isnan(got))[0])
            raise SchemaError(
                f"choice[{r}] picks model column {int(row[i])} for query row {i}, which has no outcome; "
                "route with available=observed."
            )
        out[r] = got
    return out


@dataclass(frozen=True, slots=True)
class HardEasyGap:
    """Oracle–router gap on hard and easy solvable queries (`routing-plateau.txt` (arXiv:2606.07587) §5.1, Tab. 3).

    ``router_hard``/``router_easy`` hold each router's accuracy on the subset; ``gap_*`` is the
    oracle accuracy minus the all-router mean there; ``ratio = gap_hard / gap_easy``;
    ``share_explained`` the share of the full-test-set gap that falls on hard queries; ``spread_hard``
    the max − min router accuracy on hard queries. Undefined ratios (0 denominators) are NaN.
    """

    hard: np.ndarray
    easy: np.ndarray
    top_model: int
    f_hard: float
    f_easy: float
    oracle_hard: float
    oracle_easy: float
    router_hard: np.ndarray
    router_easy: np.ndarray
    gap_hard: float
    gap_easy: float
    ratio: float
    share_explained: float
    spread_hard: float


def hard_queries(*, Y: Any, top_model: int | None = None) -> tuple[np.ndarray, np.ndarray, int]:
    """Masks of hard and easy solvable queries, and the global top-1 model used.

    As in `routing-plateau.txt` (arXiv:2606.07587) §5.1.

    With ``n_correct(i)`` the number of models correct on query i and K the pool size, a solvable
    query (``n_correct ≥ 1``) is *hard* if ``n_correct(i) = 1``, or if
    ``1 < n_correct(i) ≤ max(8, ⌈K/2⌉)`` and the global top-1 model is incorrect on i; every other
    solvable query is *easy*; unsolvable queries are neither. The paper does not say on which split
    the "global top-1 model" is ranked; by default it is the model with the highest mean observed
    accuracy on ``Y`` itself (ties: lower column) — pass ``top_model`` to rank it on training data.
    A missing outcome counts as not correct.
    """
    Y = _binary_outcomes(Y)
    n_models = Y.shape[1]
    if top_model is None:
        obs = ~np.isnan(Y)
        with np.errstate(invalid="ignore", divide="ignore"):
            means = np.where(obs.any(axis=0), np.where(obs, Y, 0.0).sum(axis=0) / obs.sum(axis=0), -np.inf)
        top_model = int(np.argmax(means))
    elif not 0 <= int(top_model) < n_models:
        raise SchemaError(f"top_model must be a model column in [0, {n_models - 1}]. Got {top_model}.")
    correct = Y == 1  # NaN compares False
    n_correct = correct.sum(axis=1)
    cap = max(8, -(-n_models // 2))
    solvable = n_correct >= 1
    hard = solvable & ((n_correct == 1) | ((n_correct > 1) & (n_correct <= cap) & ~correct[:, int(top_model)]))
    return hard, solvable & ~hard, int(top_model)


def hard_easy_gap(*, Y: Any, choice: Any, top_model: int | None = None) -> HardEasyGap:
    """Where the oracle–router gap lies: hard vs easy solvable queries.

    As in `routing-plateau.txt` (arXiv:2606.07587) §5.1, Tab. 3.

    ``choice`` is one router's (n_queries,) or several routers' (n_routers, n_queries) chosen
    columns; hard/easy are :func:`hard_queries`. For a subset S, ``gap_S = A_oracle(S) − mean_r
    A_r(S)`` ("oracle accuracy minus all-router mean"); the share explained is
    ``Σ_{i∈hard} (oracle_i − mean_r Y_{i,r}) / Σ_i (oracle_i − mean_r Y_{i,r})`` — the hard subset's
    part of the full-test-set gap (unsolvable queries add 0 to both). ``f_hard`` is the hard share of
    *all* queries ("hard queries make up only 11.1 %–35.4 % of each benchmark").
    """
    Y = _binary_outcomes(Y)
    hard, easy, top = hard_queries(Y=Y, top_model=top_model)
    got = _choices(Y, choice)  # (R, N)
    oracle = np.nan_to_num(np.nanmax(np.where(np.isnan(Y).all(axis=1, keepdims=True), 0.0, Y), axis=1))
    per_query_gap = oracle - got.mean(axis=0)
    n = Y.shape[0]

    def acc(mask: np.ndarray) -> np.ndarray:
        return got[:, mask].mean(axis=1) if mask.any() else np.full(got.shape[0], np.nan)

    router_hard, router_easy = acc(hard), acc(easy)
    oracle_hard = float(oracle[hard].mean()) if hard.any() else float("nan")
    oracle_easy = float(oracle[easy].mean()) if easy.any() else float("nan")
    gap_hard = oracle_hard - float(router_hard.mean())
    gap_easy = oracle_easy - float(router_easy.mean())
    total = float(per_query_gap.sum())
    return HardEasyGap(
        hard=hard,
        easy=easy,
        top_model=top,
        f_hard=float(hard.sum() / n),
        f_easy=float(easy.sum() / n),
        oracle_hard=oracle_hard,
        oracle_easy=oracle_easy,
        router_hard=router_hard,
        router_easy=router_easy,
        gap_hard=gap_hard,
        gap_easy=gap_easy,
        ratio=gap_hard / gap_easy if gap_easy != 0 else float("nan"),
        share_explained=float(per_query_gap[hard].sum()) / total if total != 0 else float("nan"),
        spread_hard=float(router_hard.max() - router_hard.min()) if hard.any() else float("nan"),
    )


# --------------------------------------------------------------------------- pairwise exchange


def _pair(choice_a: Any, choice_b: Any) -> tuple[np.ndarray, np.ndarray]:
    a, b = np.asarray(choice_a), np.asarray(choice_b)
    for name, c in (("choice_a", a), ("choice_b", b)):
        if c.ndim != 1 or c.size == 0:
            raise SchemaError(f"{name} must be a non-empty 1-d array of model columns. Got shape {c.shape}.")
        if not np.issubdtype(c.dtype, np.integer):
            raise SchemaError(f"{name} must hold integer model column indices. Got dtype {c.dtype}.")
    _same_length(choice_a=a, choice_b=b)
    return a, b


def disagreement(choice_a: Any, choice_b: Any) -> float:
    """Share of queries on which two routers pick different models.

    Tab. 4's "Disagree" in `routing-plateau.txt` (arXiv:2606.07587) §5.2.
    """
    a, b = _pair(choice_a, choice_b)
    return float((a != b).mean())


@dataclass(frozen=True, slots=True)
class ExchangedWins:
    """Outcome changes between routers a and b over the same queries.

    As in `routing-plateau.txt` (arXiv:2606.07587) §5.2, Tab. 4.

    With ``ΔY_i = Y[i, a_i] − Y[i, b_i]`` (0 wherever they agree): ``wins_a`` counts ``ΔY_i > 0``
    (solved by a, missed by b), ``wins_b`` counts ``ΔY_i < 0``; ``abs_total = Σ |ΔY_i|`` and
    ``signed_total = Σ ΔY_i``. The per-disagreement means (Tab. 4's |ΔY| and |ΔY_signed| are their
    magnitudes) are NaN when the routers never disagree.
    """

    n_queries: int
    n_disagree: int
    wins_a: int
    wins_b: int
    abs_total: float
    signed_total: float

    @property
    def abs_mean(self) -> float:
        """``Σ|ΔY| / n_disagree``: how much outcomes move when the routers disagree."""
        return self.abs_total / self.n_disagree if self.n_disagree else float("nan")

    @property
    def signed_mean(self) -> float:
        """``ΣΔY / n_disagree``: the net (directional) part of that movement."""
        return self.signed_total / self.n_disagree if self.n_disagree else float("nan")

    @property
    def accuracy_gap(self) -> float:
        """``Acc(a) − Acc(b) = ΣΔY / N`` (Tab. 4's "acc gap" is its magnitude)."""
        return self.signed_total / self.n_queries


def exchanged_wins(*, Y: Any, choice_a: Any, choice_b: Any) -> ExchangedWins:
    """Decompose two routers' disagreements into exchanged wins (`routing-plateau.txt` (arXiv:2606.07587) §5.2).

    "For each pair (r_a, r_b), we further decompose disagreements into exchanged wins: queries solved
    by r_a but missed by r_b, and vice versa." A large |ΔY| with a small signed ΔY means error
    exchange, not a better router. Graded Y is allowed (a win is a strictly higher outcome).
    """
    Y = _outcomes(Y)
    a, b = _pair(choice_a, choice_b)
    got = _choices(Y, np.stack([a, b]))
    delta = got[0] - got[1]
    return ExchangedWins(
        n_queries=len(a),
        n_disagree=int((a != b).sum()),
        wins_a=int((delta > 0).sum()),
        wins_b=int((delta < 0).sum()),
        abs_total=float(np.abs(delta).sum()),
        signed_total=float(delta.sum()),
    )


# --------------------------------------------------------------------------- kNN correctness BCE

#: (query × reference) similarity cells per block: 2M float64 = 16 MiB
_BLOCK_CELLS = 1 << 21


def _features(name: str, X: Any, n_rows: int) -> np.ndarray:
    arr = np.asarray(X, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[0] != n_rows or arr.shape[1] == 0:
        raise SchemaError(f"{name} must be (n_queries, n_features) with {n_rows} rows. Got shape {arr.shape}.")
    if not np.isfinite(arr).all():
        q, f = np.argwhere(~np.isfinite(arr))[0]
        raise SchemaError(f"{name}[{q}, {f}] must be finite. Got {float(arr[q, f])!r}; re-encode that query.")
    return l2_normalise(arr)


def knn_bce_loss(
    *,
    X: Any,
    Y: Any,
    k: int,
    X_query: Any | None = None,
    Y_query: Any | None = None,
    eps: float = 1e-6,
) -> float:
    """Binary cross-entropy of kNN-predicted correctness against the labels.

    As in `routing-plateau.txt` (arXiv:2606.07587) §5.3, Tab. 5a.

    ``p̂[i, m]`` is the mean observed label of model m over query i's k nearest reference queries
    (cosine similarity on ``X``, as the kNN router; ties at the k-th similarity go to the lower
    row). Without ``X_query`` the loss is leave-one-out on the reference set (each query's own row
    is excluded from its neighbours: the "train BCE" of Tab. 5a without the trivial self-match);
    with ``X_query``/``Y_query`` the reference set predicts those queries (the test BCE). When no
    neighbour observed m, ``p̂`` falls back to m's mean over the other reference rows.
    ``BCE = −mean over observed (i, m) of [y log p̂ + (1 − y) log(1 − p̂)]``, with p̂ clipped to
    [eps, 1 − eps] — the paper does not say how it treats p̂ ∈ {0, 1}, which a kNN mean produces
    and which would make the loss infinite.
    """
    Y_ref = _outcomes(Y)
    ref = _features("X", X, Y_ref.shape[0])
    loo = X_query is None
    if loo != (Y_query is None):
        raise SchemaError("Give both X_query and Y_query (to score held-out queries) or neither (leave-one-out).")
    if loo:
        qry, Y_q = ref, Y_ref
    else:
        Y_q = _outcomes(Y_query, "Y_query")
        qry = _features("X_query", X_query, Y_q.shape[0])
        if qry.shape[1] != ref.shape[1] or Y_q.shape[1] != Y_ref.shape[1]:
            raise SchemaError(
                f"X_query/Y_query must match X/Y in features and models: X {ref.shape} vs X_query {qry.shape}, "
                f"Y {Y_ref.shape} vs Y_query {Y_q.shape}."
            )
    if not isinstance(k, (int, np.integer)) or isinstance(k, bool) or k < 1:
        raise ValueError(f"k must be a positive int. Got {k!r}.")
    if not 0 < eps < 0.5:
        raise ValueError(f"eps must be in (0, 0.5). Got {eps}.")
    n_ref = ref.shape[0]
    k_eff = min(int(k), n_ref - 1 if loo else n_ref)
    if k_eff < 1:
        raise SchemaError("Leave-one-out kNN needs at least 2 reference queries.")
    obs_ref = ~np.isnan(Y_ref)
    lab_ref = np.where(obs_ref, Y_ref, 0.0)
    col_sum, col_cnt = lab_ref.sum(axis=0), obs_ref.sum(axis=0).astype(np.float64)
    total, count = 0.0, 0
    block = max(1, _BLOCK_CELLS // n_ref)
    for start in range(0, qry.shape[0], block):
        stop = min(start + block, qry.shape[0])
        sims = np.round(qry[start:stop] @ ref.T, 12)
        if loo:
            sims[np.arange(stop - start), np.arange(start, stop)] = -np.inf
        kth = np.partition(sims, n_ref - k_eff, axis=1)[:, n_ref - k_eff : n_ref - k_eff + 1]
        above, tied = sims > kth, sims == kth
        need = k_eff - above.sum(axis=1, keepdims=True)
        mask = (above | (tied & (np.cumsum(tied, axis=1) <= need))).astype(np.float64)
        hits, seen = mask @ lab_ref, mask @ obs_ref.astype(np.float64)
        fb_sum, fb_cnt = np.broadcast_to(col_sum, hits.shape), np.broadcast_to(col_cnt, hits.shape)
        if loo:  # the fallback mean excludes the query itself
            fb_sum = fb_sum - lab_ref[start:stop]
            fb_cnt = fb_cnt - obs_ref[start:stop]
        with np.errstate(invalid="ignore", divide="ignore"):
            p = np.where(seen > 0, hits / seen, fb_sum / fb_cnt)
        y_blk = Y_q[start:stop]
        obs = ~np.isnan(y_blk)
        if (obs & np.isnan(p)).any():
            q, m = np.argwhere(obs & np.isnan(p))[0]
            raise SchemaError(
                f"Model column {m} has no label in the reference set besides query {start + q}; "
                "kNN cannot predict it. Drop that model or add labelled reference queries."
            )
        p = np.clip(p[obs], eps, 1 - eps)
        y = y_blk[obs]
        total += float(-(y * np.log(p) + (1 - y) * np.log1p(-p)).sum())
        count += int(obs.sum())
    if count == 0:
        raise SchemaError("No observed (query, model) label to score; the BCE over 0 labels is undefined.")
    return total / count


# --------------------------------------------------------------------------- significance and tiers


@dataclass(frozen=True, slots=True)
class PairwiseDifference:
    """``mean(a) − mean(b)`` over the same queries, with its paired-bootstrap interval."""

    a: str
    b: str
    interval: Interval

    @property
    def excludes_zero(self) -> bool:
        """True when the difference is beyond noise at the table's level."""
        return self.interval.excludes_zero


@dataclass(frozen=True, slots=True)
class SignificanceTable:
    """Every pairwise difference of per-query scores, with paired-bootstrap percentile CIs.

    ``estimate[i, j] = mean_i − mean_j`` and ``[low[i, j], high[i, j]]`` its interval; the table is
    antisymmetric by construction (``Δ(a, b) = −Δ(b, a)``, ``low[j, i] = −high[i, j]``) and the
    diagonal is exactly 0.
    """

    names: tuple[str, ...]
    means: np.ndarray
    estimate: np.ndarray
    low: np.ndarray
    high: np.ndarray
    level: float
    n_resamples: int
    seed: int

    @property
    def excludes_zero(self) -> np.ndarray:
        """(n, n) bool: the CI of ``Δ(i, j)`` lies entirely on one side of 0."""
        mask: np.ndarray = (self.low > 0) | (self.high < 0)
        return mask

    def _index(self, name: str) -> int:
        if name not in self.names:
            raise SchemaError(f"No router {name!r} in this table; it has {', '.join(self.names)}.")
        return self.names.index(name)

    def difference(self, a: str, b: str) -> Interval:
        """The interval of ``mean(a) − mean(b)``."""
        i, j = self._index(a), self._index(b)
        return Interval(float(self.estimate[i, j]), float(self.low[i, j]), float(self.high[i, j]), self.level)

    def rows(self) -> list[PairwiseDifference]:
        """Each unordered pair once, (a, b) in input order, as plot- and table-ready records."""
        n = len(self.names)
        return [
            PairwiseDifference(self.names[i], self.names[j], self.difference(self.names[i], self.names[j]))
            for i in range(n)
            for j in range(i + 1, n)
        ]

    def tiers(self, *, higher_is_better: bool = True) -> list[list[str]]:
        """Group routers whose differences are within noise, best group first.

        Rule (by leader): the best router not yet placed (highest mean; ties keep input order)
        leads a new tier, and the tier takes every unplaced router whose difference from the
        leader has a CI that includes 0; repeat on the rest. So every member is statistically tied
        with its tier's leader (not necessarily with every other member: ties are not
        transitive), every router left for a later tier is significantly worse than that leader,
        and routers with identical per-query scores always share a tier. A noisy router may join
        the top tier while a steadier one with a higher mean does not: it cannot be told apart from
        the leader, the steadier one can. Within a tier the order carries no claim — report the
        members as tied, not ranked.
        """
        sign = -1.0 if higher_is_better else 1.0
        order = [int(i) for i in np.argsort(sign * self.means, kind="stable")]
        sig = self.excludes_zero
        out: list[list[str]] = []
        while order:
            leader = order[0]
            members = [i for i in order if i == leader or not sig[leader, i]]
            out.append([self.names[i] for i in members])
            order = [i for i in order if i not in members]
        return out


def significance_table(
    per_query: Mapping[str, Any], *, n_resamples: int = 1000, seed: int = 0, level: float = 0.95
) -> SignificanceTable:
    """Paired-bootstrap CIs of all pairwise differences of mean per-query scores.

    `rethinking-router-evaluation.txt` ("Who Routes the Router") App. F: "paired bootstrap resampling … of test queries
    …; differences are deemed significant when the 95 % CI of the pairwise … difference excludes zero"
    (the paper uses 10,000 resamples; 1,000 is the default here, raise ``n_resamples`` for final
    tables). ``per_query`` maps each router to its (n_queries,) scores on the same queries in the
    same order (e.g. each query's chosen quality, or realised utility). One set of resampled query
    indices is shared by all routers (:func:`routerlab.metrics.bootstrap.bootstrap_means`), so
    ``Δ(i, j)`` draws equal :func:`~routerlab.metrics.bootstrap.paired_difference_ci`'s for the same
    seed; the interval is the percentile one.
    """
    if not isinstance(per_query, Mapping) or len(per_query) == 0:
        raise SchemaError("per_query must be a non-empty mapping {router name: per-query scores}.")
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1). Got {level}.")
    names = tuple(str(n) for n in per_query)
    rows = [_vector(f"per_query[{n!r}]", v) for n, v in zip(names, per_query.values(), strict=True)]
    _same_length(**{n: r for n, r in zip(names, rows, strict=True)})
    values = np.stack(rows)
    means = values.mean(axis=1)
    draws = bootstrap_means(values, n_resamples=n_resamples, seed=seed)  # (B, R)
    n = len(names)
    estimate = means[:, None] - means[None, :]
    low, high = np.zeros((n, n)), np.zeros((n, n))
    iu, ju = np.triu_indices(n, 1)
    if len(iu):
        alpha = (1 - level) / 2
        q_lo, q_hi = np.quantile(draws[:, iu] - draws[:, ju], [alpha, 1 - alpha], axis=0)
        low[iu, ju], high[iu, ju] = q_lo, q_hi
        low[ju, iu], high[ju, iu] = -q_hi, -q_lo
    np.fill_diagonal(estimate, 0.0)
    return SignificanceTable(
        names=names,
        means=means,
        estimate=estimate,
        low=low,
        high=high,
        level=level,
        n_resamples=n_resamples,
        seed=seed,
    )
