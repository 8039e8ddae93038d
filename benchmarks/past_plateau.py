"""Issue 15's acceptance table: does any router move past the plateau of the seed-001 families?

For each dataset of a committed sweep config (``benchmarks/configs/*.yaml``):

1. the seed protocol (``routerlab sweep``: stage 1 on validation — or k-fold CV with
   ``selection: cv`` — stage 2 over the seeds), resumable, into ``OUT/<dataset>/sweep``;
2. every router's selected configuration refitted once at seed 42 and scored on test with the
   baselines (``routerlab evaluate``'s leaderboard, saved to ``OUT/<dataset>`` for ``routerlab
   report``);
3. the table: test accuracy at λ = 0 with its 95 % bootstrap CI, the mean ± std over seeds (and the
   std over CV folds of the selection score under ``selection: cv``), the deferral curve's AUC with its
   paired-bootstrap CI, and paired-bootstrap Δ against the **best old family** and against the
   best single model. The best old family is the one with the highest *validation* accuracy
   (stage-2 mean; the CV score under ``selection: cv``) among ``--old`` — never chosen on test.

Usage::

    python benchmarks/past_plateau.py benchmarks/configs/past-plateau-routerdc.yaml --out runs/past-plateau \
        [--old knn,kmeans,mlp,mf,feat_lr,contrastive,irt,elo,linucb,rf,gbdt] [--n-jobs 2] [--resamples 1000]
        [--routers a,b]   # a staged run: only these of the config's routers (records are reused later)

Writes ``OUT/<dataset>/acceptance.md`` and prints it. Data: ``ROUTERLAB_DATA_DIR`` or the dataset
entry's ``path``; features are the config's first encoder (cached on disk after the first run).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import numpy as np

from routerlab.data.features.value import featurize
from routerlab.experiments.evaluate import attach_sweep, evaluate, quality_deltas
from routerlab.experiments.sweep import SweepConfig, load_datasets, run_sweep
from routerlab.metrics import apgr_score, call_rate_curve, cpt_cost
from routerlab.report.content import build_content
from routerlab.routers import ROUTERS, make_router, router_tags
from routerlab.routers.probe import with_encoder_layout

#: the routers of `routing-plateau.txt` Table 1 that routerlab has (the "seed-001 families")
OLD_FAMILIES = ("knn", "kmeans", "mlp", "mf", "feat_lr", "contrastive", "irt", "elo", "linucb", "rf", "gbdt")
BASELINES = ("oracle", "best_single", "random", "cheapest")


def _selected(sweep: Any, encoder: str) -> list[Any]:
    """Each ok summary row's configuration as a router at seed 42, as the protocol's stage 1 fits it."""
    routers = []
    for row in sweep.summary:
        if row.status != "ok" or router_tags(row.router).baseline:
            continue
        router = make_router(row.router, **row.params)
        with_encoder_layout(router, encoder)
        if "random_state" in router.get_params():
            router.set_params(random_state=42)
        routers.append(router)
    return routers


def _selection_score(row: Any) -> float:
    if row.cv is not None:
        return float(row.cv["score_mean"])
    return float(row.stage2_val_acc_mean if row.stage2_val_acc_mean is not None else row.val_acc_mean)


def run_dataset(config: SweepConfig, key: str, data: Any, out: Path, old: tuple[str, ...], n_resamples: int) -> str:
    ref = next(r for r in config.datasets if r.key == key)
    encoder = config.encoders[0]
    cfg = config.model_copy(update={"datasets": [ref], "encoders": [encoder], "out_dir": out / key / "sweep"})
    t0 = time.perf_counter()
    needs_x = any(ROUTERS.get(r).requires_features for r in cfg.routers)
    features = featurize(data, encoder, cache=True) if needs_x else None
    given = None if features is None else {(key, encoder): features.matrix}
    sweep = run_sweep(cfg, data={key: data}, features=given)
    t_sweep = time.perf_counter() - t0
    train_splits = ("train", "val") if cfg.selection == "cv" else ("train",)
    routers = [*[b for b in BASELINES if b in ROUTERS.names()], *_selected(sweep, encoder)]
    board = evaluate(data, routers, lams=cfg.lams, train_splits=train_splits, features=features)
    board = attach_sweep(board, sweep)
    folder = out / key
    board.save_results(folder)
    content = build_content(folder, n_resamples=n_resamples, seed=0)
    rows = {r.router: r for r in sweep.summary if r.status == "ok"}
    olds = [r for r in rows.values() if r.router in old]
    if not olds:
        raise SystemExit(f"{key}: none of the old families {old} ran; add them to the config's routers.")
    best_old = max(olds, key=_selection_score)
    quality = {e.row.router: e.quality for e in content.entries[0.0]}
    vs_old = quality_deltas(board, 0.0, reference=best_old.router, n_resamples=n_resamples)
    vs_single = quality_deltas(board, 0.0, n_resamples=n_resamples)
    lines = [
        f"## {key}: {board.n_queries} test queries, encoder {encoder}, selection {cfg.selection}",
        "",
        f"Best old family (highest validation score among {', '.join(r.router for r in olds)}): "
        f"**{best_old.router}**. Protocol {t_sweep:.0f} s ({sweep.n_executed} runs run, {sweep.n_skipped} resumed).",
        "",
        "| router | test acc λ=0 [95 % CI] | seed mean ± std | fold std | AUC deferral [95 % CI] "
        f"| Δ vs {best_old.router} [95 % CI] | Δ vs best_single [95 % CI] |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    order = sorted(quality, key=lambda r: -quality[r].estimate)
    for name in order:
        q, srow = quality[name], rows.get(name)
        seeds = f"{srow.test_acc_mean:.4f} ± {srow.test_acc_std or 0:.4f} ({len(srow.seeds)})" if srow else "–"
        fold = f"{srow.cv['score_std']:.4f}" if srow is not None and srow.cv else "–"
        auc = content.deferral_auc.get(name)
        auc_s = f"{auc.estimate:.4f} [{auc.low:.4f}, {auc.high:.4f}]" if auc else "–"
        d_old = vs_old.get(name)
        d_single = vs_single.get(name)
        lines.append(
            f"| {name} | {q.estimate:.4f} [{q.low:.4f}, {q.high:.4f}] | {seeds} | {fold} | {auc_s} "
            f"| {d_old.cell() if d_old else '–'} | {d_single.cell() if d_single else '–'} |"
        )
    lines += ["", f"Routers' test accuracy: their selected configuration refitted at seed 42 ({cfg.selection})."]
    lines += ["", *utility_table(content, order)]
    if board.test is not None and board.test.n_models == 2:
        lines += ["", *routellm_table(board, n_resamples)]
    text = "\n".join(lines) + "\n"
    (folder / "acceptance.md").write_text(text, encoding="utf-8")
    return text


def utility_table(content: Any, order: list[str]) -> list[str]:
    """U(λ) − U(λ) of best_single at every λ of the board, paired-bootstrap 95 % CI; "all λ" when every CI is > 0."""
    lams = sorted(content.significance)
    if not lams or "best_single" not in content.significance[lams[0]].table.names:
        return []
    head = " | ".join(f"ΔU({lam:g})" for lam in lams)
    lines = [
        "### U(λ) against best_single at every λ (paired bootstrap over test queries, 95 % CI; * excludes 0)",
        "",
        f"| router | {head} | beats best_single at every λ |",
        "|---|" + "---:|" * (len(lams) + 1),
    ]
    for name in order:
        table = content.significance[lams[0]].table
        if name == "best_single" or name not in table.names:
            continue
        cells, wins = [], True
        for lam in lams:
            iv = content.significance[lam].table.difference(name, "best_single")
            star = "*" if iv.low > 0 or iv.high < 0 else ""
            cells.append(f"{iv.estimate:+.4f} [{iv.low:+.4f}, {iv.high:+.4f}]{star}")
            wins &= iv.low > 0
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {'yes' if wins else 'no'} |")
    return lines


def _two_model_metrics(yw: np.ndarray, ys: np.ndarray, score: np.ndarray) -> tuple[float, float, float]:
    curve = call_rate_curve(y_small=yw, y_large=ys, strong_score=score)
    return apgr_score(curve=curve), cpt_cost(curve=curve, pgr=0.5), cpt_cost(curve=curve, pgr=0.8)


def routellm_table(board: Any, n_resamples: int, seed: int = 0) -> list[str]:
    """RouteLLM's APGR, CPT(50 %) and CPT(80 %) per router and source (2-model data), with bootstrap CIs.

    The strong model is the one with the higher mean test outcome; a router's strong score is its
    predicted quality of the strong model minus the weak one's (routerlab.metrics.call_rate_curve).
    Queries without both outcomes leave the table. CIs: percentile bootstrap over test queries.
    """
    test = board.test
    strong = int(np.nanargmax(np.nanmean(test.Y, axis=0)))
    weak = 1 - strong
    both = test.observed.all(axis=1)
    sources = ["all", *sorted({str(s) for s in test.sources})] if test.sources is not None else ["all"]
    lines = [
        f"### RouteLLM's metrics: strong {test.model_names[strong]}, weak {test.model_names[weak]} "
        f"(95 % percentile bootstrap CI, {n_resamples} resamples)",
        "",
        "| source | n | router | APGR | CPT(50 %) | CPT(80 %) |",
        "|---|---:|---|---:|---:|---:|",
    ]
    gen = np.random.default_rng(seed)
    for source in sources:
        rows = both if source == "all" else both & (np.asarray(test.sources, dtype=str) == source)
        idx = np.flatnonzero(rows)
        if len(idx) < 20:
            continue
        yw, ys = test.Y[idx, weak], test.Y[idx, strong]
        draws = gen.integers(0, len(idx), size=(n_resamples, len(idx)))
        for pred in board.predictions:
            name = pred.router
            if pred.scores is None or pred.needs_outcomes:
                continue
            score = pred.scores[idx, strong] - pred.scores[idx, weak]
            try:
                est = _two_model_metrics(yw, ys, score)
                boot = np.array([_two_model_metrics(yw[d], ys[d], score[d]) for d in draws])
            except Exception as exc:  # the weak model beats the strong one on this source: no gap to recover
                lines.append(f"| {source} | {len(idx)} | {name} | – ({exc}) | – | – |")
                continue
            lo, hi = np.quantile(boot, [0.025, 0.975], axis=0)
            cells = [f"{e:.3f} [{a:.3f}, {b:.3f}]" for e, a, b in zip(est, lo, hi, strict=True)]
            lines.append(f"| {source} | {len(idx)} | {name} | " + " | ".join(cells) + " |")
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("config", type=Path)
    ap.add_argument("--out", type=Path, default=Path("runs/past-plateau"))
    ap.add_argument("--old", default=",".join(OLD_FAMILIES))
    ap.add_argument("--n-jobs", type=int, default=None)
    ap.add_argument("--resamples", type=int, default=1000)
    ap.add_argument("--routers", default=None, help="comma-separated subset of the config's routers (a staged run)")
    args = ap.parse_args()
    overrides: dict[str, Any] = {"out_dir": args.out}
    if args.routers:
        overrides["routers"] = args.routers.split(",")
    if args.n_jobs is not None:
        overrides["n_jobs"] = args.n_jobs
    config = SweepConfig.from_yaml(args.config, **overrides)
    np.seterr(all="ignore")
    t0 = time.perf_counter()
    for key, data in load_datasets(config).items():
        print(run_dataset(config, key, data, args.out, tuple(args.old.split(",")), args.resamples), flush=True)
    print(f"total wall time {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
