"""RouterXBench's tables (Tab. 1, 3, 4 and §6 data scaling) on a ``routerlab collect-lm`` collection.

Issue 14's experiments (`routerxbench.txt`, arXiv:2602.11877). A small local model (``--model``)
answered MMLU (``--run DIR``, with GPT-4-1106 / Mixtral outcomes from RouteLLM) and optionally MedQA
(``--ood-run DIR``: the small model only). Every router is fitted on the run's ``train`` split with each
configuration of its ``param_grid``, the best validation AUROC is kept (validation only, never test:
:func:`routerlab.experiments.xbench.select_on_validation`), and scored on the test queries of each
setting:

* **in-domain**: the run's MMLU train / val / test split;
* **MedQA (OOD)**: trained and selected on MMLU, tested on every MedQA query (LPM/MPM/HCR '–': no
  large-model outcomes on MedQA, AUROC needs only the small model's correctness);
* **held-out group G (OOD)**: trained and selected on the other three MMLU subject groups (their train
  / val queries), tested on every query of G.

Written to ``--out``: ``tables.md`` (Tab. 1 per setting with AUROC [95 % CI], the paired-bootstrap
difference to ProbeDirichlet with its significance tier, LPM/MPM/HCR; Tab. 3 Final vs Mean vs
Dirichlet; Tab. 4 hidden states vs the LLM's input embeddings vs MiniLM under the same linear probe;
§6 data scaling) and ``tables.json``.

    ROUTERLAB_DATA_DIR=../shared/data PYTHONPATH=src python benchmarks/probes_xbench.py \\
        --run runs/mmlu300 --ood-run runs/medqa100 --out runs/xbench

First run (H6's collections: 300 MMLU queries, 204/36/60 train/val/test, SmolLM2-135M at 0.250 =
chance on four options; 100 MedQA queries at 0.290; 1000 resamples; 41 s on 2 cores): most CIs span
±0.15 and include 0.5 — the label is near noise and the test sets hold 60–103 queries. In-domain:
ProbeFinal 0.398, ProbeMean 0.441, ProbeDirichlet 0.312 [0.173, 0.447] (below chance beyond its CI: a
probe fitted to 204 near-noise labels can anti-generalise, and nothing here corrects for the many
comparisons), MLP probe 0.414, MaxLogits 0.460, Entropy 0.468, ConfidenceMargin 0.463, kNN 0.594
(LLM hidden) and 0.515 (MiniLM), EmbeddingMLP (MiniLM) 0.393; MMLU → MedQA: probes 0.41–0.46, logit
signals 0.57–0.58. ProbeDirichlet scores every held-out humanities query alike (AUROC 0.500, CI of
width 0; its best validation AUROC was 0.5). §6 has one column here (204 training queries < 1K).
These tables check the machinery; the ~14k collection is what they need.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np

from routerlab.data.features.value import featurize
from routerlab.data.io import read_parquet
from routerlab.data.schema import RoutingData
from routerlab.experiments.xbench import (
    Table1Row,
    keep_small_score,
    mmlu_groups,
    rows_markdown,
    scaling_sizes,
    select_on_validation,
    table1_rows,
)

REFERENCE = "ProbeDirichlet"
MLP = {"hidden": 256, "n_layers": 1}  # EmbeddingMLP: one hidden layer; lr selected on validation
#: Tab. 1: (row, router, fixed parameters, feature kind)
TABLE1: list[tuple[str, str, dict[str, Any], str]] = [
    ("ProbeFinal", "probe_final", {}, "hidden"),
    ("ProbeMean", "probe_mean", {}, "hidden"),
    ("ProbeDirichlet", "probe_dirichlet", {}, "hidden"),
    ("ProbeDirichlet MLP(64)", "probe_dirichlet", {"hidden": 64}, "hidden"),
    ("MaxLogits", "logit_max_prob", {}, "signals"),
    ("Entropy", "logit_entropy", {}, "signals"),
    ("ConfidenceMargin", "logit_margin", {}, "signals"),
    ("kNN (LLM hidden)", "knn", {}, "hidden"),
    ("kNN (MiniLM)", "knn", {}, "minilm"),
    ("EmbeddingMLP (MiniLM)", "mlp", MLP, "minilm"),
]
TABLE3 = ["ProbeFinal", "ProbeMean", "ProbeDirichlet"]
#: Tab. 4: one linear probe (probe_final on a single vector, C selected on validation) per representation
TABLE4: list[tuple[str, str]] = [
    ("LLM hidden, final layer", "final"),
    ("LLM hidden, mean of layers", "mean"),
    ("LLM input embeddings", "input"),
    ("External encoder (MiniLM)", "minilm"),
]
SCALING = ["ProbeMean", "ProbeDirichlet", "EmbeddingMLP (MiniLM)"]

Part = dict[str, tuple[RoutingData, np.ndarray]]  # feature kind -> (data, features) of one part


@dataclass
class Setting:
    name: str
    train: Part
    val: Part
    test: Part


def signals_matrix(collection: str, data: RoutingData, model: str) -> np.ndarray:
    """The small model's logit signals per query of ``data`` (collect-lm's columns, letter signals first)."""
    from routerlab.collect.local_lm import SIGNALS, read_outcomes  # benchmark-only: the collection's table

    rows = {r["query_id"]: r for r in read_outcomes(collection, model=model)}
    return np.array([[float(rows[q][c]) for c in SIGNALS] for q in data.query_ids], dtype=np.float64)


def load(run: str, model: str, large: str | None, *, require_large: bool) -> RoutingData:
    """The run's small model and the large one, on queries where the needed outcomes are observed."""
    data = read_parquet(str(Path(run) / "routing.parquet"))
    small = data.model_index(model)
    big = data.model_index(large) if large else int(np.nanargmax(data.mean_quality()))
    keep = data.observed[:, small] & (data.observed[:, big] if require_large else True)
    return data.subset(keep).select_models([data.model_names[small], data.model_names[big]])


def matrices(run: str, data: RoutingData, model: str) -> dict[str, np.ndarray]:
    enc = f"hidden:{model}"
    out = {
        "hidden": featurize(data, enc).matrix,
        "signals": signals_matrix(run, data, model),
        "minilm": featurize(data, "minilm").matrix,
    }
    for layers in ("final", "mean", "input"):
        out[layers] = featurize(data, f"{enc}?layers={layers}").matrix
    return out


def part(data: RoutingData, mats: dict[str, np.ndarray], mask: np.ndarray) -> Part:
    return {k: (data.subset(mask), m[mask]) for k, m in mats.items()}


def encoder_of(kind: str, model: str) -> str:
    return {"hidden": f"hidden:{model}", "minilm": "minilm", "signals": "signals"}.get(kind, f"hidden:{model}")


def score_rows(
    setting: Setting, rows: list[tuple[str, str, dict[str, Any], str]], model: str, reference: str, resamples: int
) -> list[Table1Row]:
    scores: dict[str, np.ndarray] = {}
    params: dict[str, dict[str, Any]] = {}
    for row, name, fixed, kind in rows:
        t0 = time.perf_counter()
        sel = select_on_validation(name, fixed, encoder_of(kind, model), setting.train[kind], setting.val[kind])
        scores[row] = keep_small_score(sel.router, *setting.test[kind], 0, 1)
        params[row] = {**sel.params, "val_auroc": round(sel.val_auroc, 3), "s": round(time.perf_counter() - t0, 1)}
    test = next(iter(setting.test.values()))[0]
    y_large = test.Y[:, 1] if test.observed[:, 1].all() else None
    return table1_rows(
        scores, y_small=test.Y[:, 0], y_large=y_large, reference=reference, params=params, n_resamples=resamples
    )


def settings(
    run_data: RoutingData, run_mats: dict[str, np.ndarray], ood: tuple[RoutingData, dict[str, np.ndarray]] | None
) -> list[Setting]:
    sp = run_data.splits
    out = [
        Setting(
            f"In-domain (MMLU {int((sp == 'train').sum())}/{int((sp == 'val').sum())}/{int((sp == 'test').sum())})",
            part(run_data, run_mats, sp == "train"),
            part(run_data, run_mats, sp == "val"),
            part(run_data, run_mats, sp == "test"),
        )
    ]
    if ood is not None:
        ood_data, ood_mats = ood
        out.append(
            Setting(
                f"OOD: MMLU → MedQA ({ood_data.n_queries})",
                out[0].train,
                out[0].val,
                part(ood_data, ood_mats, np.ones(ood_data.n_queries, dtype=bool)),
            )
        )
    groups = mmlu_groups(run_data)
    for g in sorted(set(groups)):
        rest = groups != g
        out.append(
            Setting(
                f"OOD: held-out {g} ({int((~rest).sum())})",
                part(run_data, run_mats, rest & (sp == "train")),
                part(run_data, run_mats, rest & (sp == "val")),
                part(run_data, run_mats, ~rest),
            )
        )
    return out


def auroc_cell(r: Table1Row) -> str:
    return f"{r.auroc.estimate:.3f} [{r.auroc.low:.3f}, {r.auroc.high:.3f}]"


def grid_markdown(rows: list[str], columns: dict[str, dict[str, Table1Row]]) -> str:
    """AUROC [95 % CI] of ``rows`` (routers) under each column (setting or training size)."""
    lines = ["| | " + " | ".join(columns) + " |", "|---" * (len(columns) + 1) + "|"]
    for row in rows:
        lines.append(
            f"| {row} | " + " | ".join(auroc_cell(c[row]) if row in c else "–" for c in columns.values()) + " |"
        )
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", required=True, help="a `routerlab collect-lm` folder on MMLU")
    ap.add_argument("--ood-run", default=None, help="a `routerlab collect-lm` folder on MedQA (out of domain)")
    ap.add_argument("--out", required=True, help="folder for tables.md and tables.json")
    ap.add_argument("--model", default="smollm2-135m", help="the collected small model")
    ap.add_argument("--large", default=None, help="the large model (default: the best by mean quality)")
    ap.add_argument("--resamples", type=int, default=1000, help="paired bootstrap resamples")
    ap.add_argument("--seed", type=int, default=0, help="seed of the §6 training subsamples")
    args = ap.parse_args()

    t_start = time.perf_counter()
    data = load(args.run, args.model, args.large, require_large=True)
    mats = matrices(args.run, data, args.model)
    ood = None
    if args.ood_run:
        ood_data = load(args.ood_run, args.model, data.model_names[1], require_large=False)
        ood = (ood_data, matrices(args.ood_run, ood_data, args.model))
    md = [
        f"# RouterXBench tables: {args.model} → {data.model_names[1]}",
        "",
        f"Run `{args.run}` ({data.n_queries} queries, small-model accuracy {np.nanmean(data.Y[:, 0]):.3f}, "
        f"large {np.nanmean(data.Y[:, 1]):.3f})"
        + (
            f"; OOD run `{args.ood_run}` ({ood[0].n_queries} queries, accuracy {np.nanmean(ood[0].Y[:, 0]):.3f})"
            if ood
            else ""
        )
        + ". "
        f"AUROC: keep-small score vs small-model correctness; LPM (d1 = 0.3), MPM, HCR (85–95 %) of Φ; "
        f"Δ: paired bootstrap ({args.resamples} resamples) vs {REFERENCE}, `*` 95 % / `**` 99 % CI excludes 0; "
        "hyper-parameters selected on validation AUROC.",
    ]
    out: dict[str, Any] = {"run": args.run, "ood_run": args.ood_run, "table1": {}, "table4": {}, "scaling": {}}
    t1: dict[str, dict[str, Table1Row]] = {}
    t4: dict[str, dict[str, Table1Row]] = {}
    probe4 = [(label, "probe_final", {"n_layers": 1}, kind) for label, kind in TABLE4]
    for s in settings(data, mats, ood):
        rows = score_rows(s, TABLE1, args.model, REFERENCE, args.resamples)
        t1[s.name] = {r.router: r for r in rows}
        md += ["", f"## Table 1 — {s.name}", "", rows_markdown(rows, reference=REFERENCE)]
        out["table1"][s.name] = [r.as_dict() for r in rows]
        rows4 = score_rows(s, probe4, args.model, TABLE4[0][0], args.resamples)
        t4[s.name] = {r.router: r for r in rows4}
        out["table4"][s.name] = [r.as_dict() for r in rows4]
        print(f"{s.name}: done ({time.perf_counter() - t_start:.0f} s)", flush=True)
    md += ["", "## Table 3 — layer aggregation (AUROC [95% CI])", "", grid_markdown(TABLE3, t1)]
    md += [
        "",
        "## Table 4 — representation, same linear probe (AUROC [95% CI])",
        "",
        grid_markdown([r for r, _ in TABLE4], t4),
    ]

    indomain = settings(data, mats, None)[0]
    n_train = next(iter(indomain.train.values()))[0].n_queries
    order = np.random.default_rng(args.seed).permutation(n_train)
    scaling: dict[str, dict[str, Table1Row]] = {}
    for label, n in scaling_sizes(n_train):
        sub = np.zeros(n_train, dtype=bool)
        sub[order[:n]] = True
        s = Setting(
            label, {k: (d.subset(sub), X[sub]) for k, (d, X) in indomain.train.items()}, indomain.val, indomain.test
        )
        rows = score_rows(s, [r for r in TABLE1 if r[0] in SCALING], args.model, REFERENCE, args.resamples)
        scaling[f"train {label}"] = {r.router: r for r in rows}
        out["scaling"][label] = [r.as_dict() for r in rows]
    md += [
        "",
        "## §6 data scaling — in-domain test AUROC [95% CI] by training queries",
        "",
        grid_markdown(SCALING, scaling),
    ]

    Path(args.out).mkdir(parents=True, exist_ok=True)
    (Path(args.out) / "tables.md").write_text("\n".join(md) + "\n")
    (Path(args.out) / "tables.json").write_text(json.dumps(out, indent=1, allow_nan=True) + "\n")
    print("\n".join(md))
    print(f"\nwrote {args.out}/tables.md and tables.json in {time.perf_counter() - t_start:.0f} s")


if __name__ == "__main__":
    main()
