"""The seed-protocol figures of learned routers on the leaderboard: their rows and :func:`attach_sweep`.

``routerlab evaluate --out DIR`` runs the seed protocol (:mod:`routerlab.experiments.sweep`) for
the learned routers; :func:`attach_sweep` copies the figures of its summary (``DIR/sweep/summary.json``)
onto the leaderboard as :class:`SeedProtocolRow` values (quality and U(λ) as mean ± std over the
seeds of the validation-selected configuration), which ``leaderboard.json`` keeps
(:mod:`routerlab.experiments.evaluate.results`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from routerlab.decisions import lam_key
from routerlab.errors import SchemaError

if TYPE_CHECKING:
    from routerlab.experiments.evaluate.leaderboard import Leaderboard

#: where ``routerlab evaluate --out DIR`` keeps the sweep summary the seed-protocol rows come from
SWEEP_SUMMARY = "sweep/summary.json"


@dataclass(frozen=True, slots=True)
class SeedProtocolRow:
    """A learned router's seed-protocol figures at one λ (from the sweep summary, see :func:`attach_sweep`).

    ``quality`` and ``utility`` are means over ``seeds`` (the seeds of the validation-selected
    configuration) with their standard deviations (ddof 0; None with one seed), ``mean_cost`` the
    mean cost, ``oracle_gap``/``cna`` those of the mean quality against the oracle of the sweep's
    test split. ``status`` is ``"failed"`` (every figure None) when every run of the router failed.
    """

    router: str
    encoder: str
    lam: float
    status: str
    params: dict[str, Any]
    seeds: tuple[int, ...]
    quality: float | None
    quality_std: float | None
    mean_cost: float | None
    utility: float | None
    utility_std: float | None
    oracle_gap: float | None
    cna: float | None

    @property
    def label(self) -> str:
        """The router's name as tables show it: ``knn (minilm)``, or the name alone without an encoder."""
        return self.router if self.encoder in ("", "none") else f"{self.router} ({self.encoder})"

    @property
    def n_seeds(self) -> int:
        """How many seeds the mean ± std are over."""
        return len(self.seeds)


def format_mean_std(mean: float, std: float | None, n: int) -> str:
    """``mean ± std`` over ``n`` seeds as the leaderboards show it; the mean alone for one seed or no std."""
    return f"{mean:.4f} ± {std:.4f}" if n > 1 and std is not None else f"{mean:.4f}"


def _opt_float(value: Any) -> float | None:
    return None if value is None else float(value)


def _seed_rows(raw: Any) -> tuple[SeedProtocolRow, ...]:
    """Seed-protocol rows from their JSON form (``leaderboard.json``'s ``seed_protocol``)."""
    if not isinstance(raw, list):
        raise TypeError(f"seed_protocol must be a list of rows, not {type(raw).__name__}")
    out = []
    for r in raw:
        out.append(
            SeedProtocolRow(
                router=str(r["router"]),
                encoder=str(r["encoder"]),
                lam=float(r["lam"]),
                status=str(r["status"]),
                params=dict(r.get("params") or {}),
                seeds=tuple(int(x) for x in r.get("seeds") or ()),
                quality=_opt_float(r.get("quality")),
                quality_std=_opt_float(r.get("quality_std")),
                mean_cost=_opt_float(r.get("mean_cost")),
                utility=_opt_float(r.get("utility")),
                utility_std=_opt_float(r.get("utility_std")),
                oracle_gap=_opt_float(r.get("oracle_gap")),
                cna=_opt_float(r.get("cna")),
            )
        )
    return tuple(out)


def attach_sweep(board: Leaderboard, sweep: Any, *, source: str = SWEEP_SUMMARY) -> Leaderboard:
    """``board`` with the seed-protocol figures of the learned routers of ``sweep`` (see :mod:`.results`).

    ``sweep`` is a :class:`~routerlab.experiments.sweep.SweepResult` or the content of its
    ``summary.json`` (a dict with ``rows`` and ``protocol``). One :class:`SeedProtocolRow` is made per
    summary row and λ of ``board`` (every summary row: a sweep over one dataset, as ``routerlab
    evaluate`` runs), with the figures ``routerlab evaluate`` prints: quality and U(λ) mean ± std,
    mean cost, gap ``oracle - mean quality`` and CNA ``mean quality / oracle`` against the oracle
    of the sweep's test split; failed routers get a row with status ``"failed"``. ``source`` is
    where the summary is saved, relative to the results directory (recorded in
    ``meta["seed_protocol"]``). The board's own rows and predictions are unchanged; :meth:`Leaderboard.save`
    and :meth:`Leaderboard.save_results` write the new rows to ``leaderboard.json``/``.md``.
    """
    doc: Mapping[str, Any] = sweep.to_dict() if hasattr(sweep, "to_dict") else sweep
    if not isinstance(doc, Mapping) or not isinstance(doc.get("rows"), list):
        raise SchemaError(
            f"attach_sweep() needs a SweepResult or the content of a sweep summary.json; got {type(sweep).__name__}."
        )
    protocol = dict(doc.get("protocol") or {})
    lams = board.lams or sorted(float(v) for v in protocol.get("lams", []))
    rows: list[SeedProtocolRow] = []
    for r in doc["rows"]:
        oracle = _opt_float(r.get("oracle_test_acc"))
        for lam in lams:
            k = lam_key(lam)
            mean = _opt_float((r.get("test_quality_mean") or {}).get(k))
            ok = r.get("status") == "ok" and oracle is not None and mean is not None
            q = mean if ok else None
            rows.append(
                SeedProtocolRow(
                    router=str(r["router"]),
                    encoder=str(r.get("encoder", "none")),
                    lam=float(lam),
                    status="ok" if ok else "failed",
                    params=dict(r.get("params") or {}),
                    seeds=tuple(int(x) for x in r.get("seeds") or ()),
                    quality=q,
                    quality_std=_opt_float((r.get("test_quality_std") or {}).get(k)) if ok else None,
                    mean_cost=_opt_float((r.get("test_cost_mean") or {}).get(k)) if ok else None,
                    utility=_opt_float((r.get("test_utility_mean") or {}).get(k)) if ok else None,
                    utility_std=_opt_float((r.get("test_utility_std") or {}).get(k)) if ok else None,
                    oracle_gap=oracle - q if oracle is not None and q is not None else None,
                    cna=q / oracle if oracle and q is not None else None,
                )
            )
    ordered = sorted(
        rows,
        key=lambda s: (s.lam, -(s.utility if s.utility is not None else -np.inf), s.mean_cost or 0.0, s.label),
    )
    meta = dict(board.meta)
    meta["seed_protocol"] = {
        "source": source,
        "std_ddof": protocol.get("std_ddof", 0),
        "sample_seed": protocol.get("sample_seed"),
        "summary_schema_version": doc.get("schema_version"),
        "meaning": "validation-selected configuration; test quality and U(λ) as mean ± std over its seeds",
    }
    if protocol.get("selection") == "cv":
        meta["seed_protocol"] |= {
            "selection": "cv",
            "cv_folds": protocol.get("cv_folds"),
            "meaning": f"configuration selected by {protocol.get('cv_folds')}-fold cross-validation on train ∪ val "
            "and refitted on train ∪ val; test quality and U(λ) as mean ± std over its seeds",
        }
    return dataclasses.replace(board, seed_protocol=tuple(ordered), meta=meta)
