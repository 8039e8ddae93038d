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

Figures (README, "RouterXBench's tables"): SmolLM2-135M on 6,000 MMLU questions (cloze, accuracy
0.287; 4170/588/1242 train/val/test) and 500 MedQA questions (0.240), 200 generated for the verbal
rows; 1000 resamples; 16 min on one core. In-domain the hidden-state probes are the only routers
above chance (ProbeDirichlet 0.554 [0.520, 0.588], ProbeMean 0.552, MLP 0.545), over the logit
signals (0.49-0.51) and MiniLM routers (0.46-0.47); Final < Mean ≈ Dirichlet as in the paper's
Tab. 3; out of domain at most faint transfer; §6 flat from 1K to 4,170 training queries.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
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
    XBenchResults,
    XBenchTable,
    keep_small_score,
    mmlu_groups,
    rows_markdown,
    scaling_sizes,
    select_on_validation,
    table1_rows,
    write_xbench,
)

REFERENCE = "ProbeDirichlet"
MLP = {"hidden": 256, "n_layers": 1}  # EmbeddingMLP: one hidden layer; lr selected on validation
#: Tab. 1: (row, router, fixed parameters, feature kind)
TABLE1: list[tuple[str, str, dict[str, Any], str]] = [
    ("ProbeFinal", "probe_final", {}, "hidden"),
    ("ProbeMean", "probe_mean", {}, "hidden"),
    ("ProbeDirichlet", "probe_dirichlet", {}, "hidden"),
    ("ProbeDirichlet MLP(64)", "probe_dirichlet", {"hidden": 64}, "hidden"),
    ("SelfAsk", "selfask", {}, "verbal"),
    ("SemanticEntropy", "semantic_entropy", {}, "verbal"),
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

#: `routerxbench.txt` Tab. 1 (AUROC %, Llama-3.1-8B-Instruct → a large model; probes trained on 12K mixed
#: Alpaca / Big Math / MMLU queries): MMLU in-domain, and the four held-out MMLU-style subject groups
#: (out-of-domain columns STEM, Human., Social Sci., Others). Our row names map onto theirs.
PAPER_COLUMNS = ("in", "stem", "humanities", "social_sciences", "other")
PAPER_TABLE1: dict[str, dict[str, float]] = {
    row: dict(zip(PAPER_COLUMNS, values, strict=True))
    for row, values in {
        "SelfAsk": (53.75, 53.74, 55.86, 56.06, 50.91),
        "SemanticEntropy": (53.93, 56.27, 51.72, 52.90, 53.95),
        "ConfidenceMargin": (46.56, 54.42, 46.97, 54.37, 49.52),
        "Entropy": (49.26, 49.70, 52.36, 48.54, 49.23),
        "MaxLogits": (43.82, 50.03, 50.53, 41.14, 46.43),
        "EmbeddingMLP (MiniLM)": (54.89, 52.97, 53.77, 48.16, 50.45),
        "ProbeDirichlet": (67.88, 65.32, 57.84, 58.82, 62.77),
    }.items()
}
#: `routerxbench.txt` Tab. 3 (AUROC %, MMLU column): Final 49.45, Mean 67.10, Dirichlet 67.88
PAPER_TABLE3_MMLU = {"ProbeFinal": 49.45, "ProbeMean": 67.10, "ProbeDirichlet": 67.88}


def paper_vs_ours(t1: dict[str, dict[str, Table1Row]]) -> str:
    """Paper (Llama-3.1-8B, AUROC %) beside ours (AUROC % [95 % CI]) for MMLU in-domain and each held-out group."""
    columns: list[tuple[str, str, str]] = []  # (paper column, header, our setting)
    for name in t1:
        if name.startswith("In-domain, generated subset"):
            columns.append(("in", "in (generated subset)", name))  # the only in-domain column with verbal rows
        elif name.startswith("In-domain"):
            columns.append(("in", "in", name))
        for group in PAPER_COLUMNS[1:]:
            if name.startswith(f"OOD: held-out {group} "):
                columns.append((group, group, name))
    head = " | ".join(f"{header}: paper | ours" for _, header, _ in columns)
    lines = [f"| router | {head} |", "|---" * (1 + 2 * len(columns)) + "|"]
    for row, paper in PAPER_TABLE1.items():
        cells = []
        for key, _, setting in columns:
            ours = t1[setting].get(row)
            cells.append(f"{paper[key]:.1f}")
            cells.append(
                "–"
                if ours is None
                else f"{100 * ours.auroc.estimate:.1f} [{100 * ours.auroc.low:.1f}, {100 * ours.auroc.high:.1f}]"
            )
        lines.append(f"| {row} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


Part = dict[str, tuple[RoutingData, np.ndarray]]  # feature kind -> (data, features) of one part


@dataclass
class Setting:
    name: str
    train: Part
    val: Part
    test: Part


def answer_of(data: RoutingData) -> str:
    """The collection's answer method (``letter`` or ``cloze``), from its RoutingData's meta."""
    return "cloze" if str(data.meta.get("answer", "")).startswith("cloze") else "letter"


def signals_matrix(collection: str, data: RoutingData, model: str) -> np.ndarray:
    """The small model's logit signals per query of ``data`` (collect-lm's columns, letter signals first)."""
    from routerlab.collect.local_lm import SIGNALS, read_outcomes  # benchmark-only: the collection's table

    rows = {r["query_id"]: r for r in read_outcomes(collection, model=model, answer=answer_of(data))}
    return np.array([[float(rows[q][c]) for c in SIGNALS] for q in data.query_ids], dtype=np.float64)


def load(run: str, model: str, large: str | None, *, require_large: bool) -> RoutingData:
    """The run's small model and the large one, on queries where the needed outcomes are observed."""
    data = read_parquet(str(Path(run) / "routing.parquet"))
    small = data.model_index(model)
    big = data.model_index(large) if large else int(np.nanargmax(data.mean_quality()))
    keep = data.observed[:, small] & (data.observed[:, big] if require_large else True)
    return data.subset(keep).select_models([data.model_names[small], data.model_names[big]])


def verbal_matrix(data: RoutingData, encoder: str) -> np.ndarray:
    """SelfAsk / semantic entropy per query (``collect-lm-gen``'s cache); NaN rows where none was generated."""
    from routerlab.data.features import get_encoder
    from routerlab.data.features.cache import text_key
    from routerlab.data.features.verbal import VERBAL_COLUMNS

    enc = get_encoder(encoder)
    if data.texts is None:
        raise SystemExit(f"{data.name}: no query texts; the verbal signals are found by text")
    keys = [text_key(str(t)).hex() for t in data.texts]
    found = enc.cache.signals(enc.identity, enc.classes, keys)  # type: ignore[attr-defined]
    out = np.full((data.n_queries, len(VERBAL_COLUMNS)), np.nan)
    for i, k in enumerate(keys):
        if k in found:
            out[i] = found[k]
    return out


def matrices(run: str, data: RoutingData, model: str, verbal: str | None) -> dict[str, np.ndarray]:
    answer = answer_of(data)
    enc = f"hidden:{model}" + ("" if answer == "letter" else f"?answer={answer}")
    sep = "&" if "?" in enc else "?"
    out = {
        "hidden": featurize(data, enc).matrix,
        "signals": signals_matrix(run, data, model),
        "minilm": featurize(data, "minilm").matrix,
    }
    if verbal:
        out["verbal"] = verbal_matrix(data, verbal)
    for layers in ("final", "mean", "input"):
        out[layers] = featurize(data, f"{enc}{sep}layers={layers}").matrix
    return out


def part(data: RoutingData, mats: dict[str, np.ndarray], mask: np.ndarray) -> Part:
    return {k: (data.subset(mask), m[mask]) for k, m in mats.items()}


def encoder_of(kind: str, model: str) -> str:
    """The encoder name a router's layout is read from (``with_encoder_layout``: ``hidden:...`` = stacked layers)."""
    named = {"hidden": f"hidden:{model}", "minilm": "minilm", "signals": "signals", "verbal": f"verbal:{model}"}
    return named.get(kind, f"hidden:{model}")


def score_rows(
    setting: Setting, rows: list[tuple[str, str, dict[str, Any], str]], model: str, reference: str, resamples: int
) -> list[Table1Row]:
    scores: dict[str, np.ndarray] = {}
    params: dict[str, dict[str, Any]] = {}
    for row, name, fixed, kind in rows:
        if kind not in setting.test or any(
            np.isnan(p[kind][1]).any() for p in (setting.train, setting.val, setting.test)
        ):
            continue  # verbal signals are generated on a subset: those rows live in the generated-subset setting
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
    if "verbal" in run_mats:
        out += generated_subset(run_data, run_mats, out[0])
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


def generated_subset(data: RoutingData, mats: dict[str, np.ndarray], indomain: Setting) -> list[Setting]:
    """In-domain again, tested on the test queries with verbal signals: every router on the same queries.

    Verbal signals (SelfAsk, semantic entropy) take generation, so ``collect-lm-gen`` may cover a
    subset. Here the verbal routers are fitted (Platt calibration only: their AUROC is the signal's
    own) on the covered train / val queries; every other router keeps the full train / val split. An
    empty list when the generated queries hold no test query, or all of them (then Table 1 has them).
    """
    covered = ~np.isnan(mats["verbal"]).any(axis=1)
    sp = data.splits
    test = covered & (sp == "test")
    if covered.all() or not test.any() or (covered & (sp == "train")).sum() < 20:
        return []
    train = dict(indomain.train)
    val = dict(indomain.val)
    train["verbal"] = (data.subset(covered & (sp == "train")), mats["verbal"][covered & (sp == "train")])
    val["verbal"] = (data.subset(covered & (sp == "val")), mats["verbal"][covered & (sp == "val")])
    name = (
        f"In-domain, generated subset (verbal {int((covered & (sp == 'train')).sum())}/"
        f"{int((covered & (sp == 'val')).sum())}/{int(test.sum())})"
    )
    return [Setting(name, train, val, part(data, mats, test))]


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
    ap.add_argument(
        "--scaling",
        default="1000,4000,all",
        help="§6 training-set sizes, comma-separated ('all' = every training query; the paper's 1K/4K/all)",
    )
    ap.add_argument("--note", default=None, help="free text shown under Notes in the report (e.g. what transfers)")
    ap.add_argument(
        "--verbal",
        default=None,
        help="verbal-signal encoder (e.g. verbal:smollm2-135m, from `routerlab collect-lm-gen`): adds SelfAsk and "
        "SemanticEntropy rows where every query of a setting has them, and a generated-subset setting otherwise",
    )
    args = ap.parse_args()
    try:
        wanted = [None if x.strip() == "all" else int(x) for x in args.scaling.split(",") if x.strip()]
    except ValueError:
        ap.error(f"--scaling must be sizes or 'all', comma-separated, e.g. 1000,2000,all. Got {args.scaling!r}.")

    t_start = time.perf_counter()
    data = load(args.run, args.model, args.large, require_large=True)
    mats = matrices(args.run, data, args.model, args.verbal)
    ood = None
    if args.ood_run:
        ood_data = load(args.ood_run, args.model, data.model_names[1], require_large=False)
        ood = (ood_data, matrices(args.ood_run, ood_data, args.model, args.verbal))
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
        if s.name.startswith("In-domain, generated subset"):
            continue  # Table 4 needs no second in-domain column
        rows4 = score_rows(s, probe4, args.model, TABLE4[0][0], args.resamples)
        t4[s.name] = {r.router: r for r in rows4}
        out["table4"][s.name] = [r.as_dict() for r in rows4]
        print(f"{s.name}: done ({time.perf_counter() - t_start:.0f} s)", flush=True)
    md += [
        "",
        "## Paper vs ours — Table 1 AUROC (%): routerxbench (Llama-3.1-8B) beside this run",
        "",
        paper_vs_ours(t1),
    ]
    md += ["", "## Table 3 — layer aggregation (AUROC [95% CI])", "", grid_markdown(TABLE3, t1)]
    md += [
        "",
        "Paper, Tab. 3 MMLU column: " + ", ".join(f"{k} {v:.2f}" for k, v in PAPER_TABLE3_MMLU.items()) + ".",
    ]
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
    sizes = scaling_sizes(n_train, wanted)
    for label, n in sizes:
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
    results = XBenchResults(
        title=f"{args.model} → {data.model_names[1]}",
        model=args.model,
        large_model=data.model_names[1],
        table1=XBenchTable.from_rows({s: list(r.values()) for s, r in t1.items()}, reference=REFERENCE),
        table3=XBenchTable.from_rows({s: [r[n] for n in TABLE3 if n in r] for s, r in t1.items()}, reference=REFERENCE),
        table4=XBenchTable.from_rows({s: list(r.values()) for s, r in t4.items()}, reference=TABLE4[0][0]),
        scaling=XBenchTable.from_rows(
            {label: list(scaling[f"train {label}"].values()) for label, _ in sizes},
            reference=REFERENCE,
            n_train=dict(sizes),
        ),
        notes=(("Paper vs ours", paper_vs_ours(t1)), *((("Notes", args.note),) if args.note else ())),
        commands=(shlex.join(["python", *sys.argv]),),
        n_resamples=args.resamples,
    )
    write_xbench(results, args.out)
    print("\n".join(md))
    print(
        f"\nwrote {args.out}/tables.md, tables.json and xbench.json (`routerlab report {args.out}`) "
        f"in {time.perf_counter() - t_start:.0f} s"
    )


if __name__ == "__main__":
    main()
