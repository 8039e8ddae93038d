"""Pseudo-specialist and OOD probes on the public benchmarks (`rethinking-router-evaluation.txt` §4.3–4.4).

For each dataset: inject 3 pseudo-specialists (targets chosen by ``select_targets``) and print each
router's change in agreement with the generalist (Table 4 layout), then hold the math categories out
of training and print each router's accuracy change on them (Table 5/7 layout). The paper's figures
are on EmbedLLM, which is not in ``../shared/data``; they are printed for scale, not as a target.

Usage::

    python benchmarks/probes.py [--datasets a,b] [--routers knn,kmeans,mf,mlp] [--encoder minilm]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from routerlab.audit.probes import MATH_PATTERN, PROBE_ROUTERS, ood_probe, pseudo_specialist_probe
from routerlab.data import load
from routerlab.data.features import encode
from routerlab.errors import SchemaError

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
DATASETS = ["llmrouter-dcrouter", "routerdc-7models", "routellm-evals", "routerbench-0shot-subset"]

PAPER_TABLE4 = (
    "| Overall | K-NN −0.84 | KMeans −2.40 | MF −0.64 | MLP −8.40 |  (EmbedLLM, targets logiqa/social_iqa/gpqa)"
)
PAPER_TABLE7 = "| Average (math+medical) | K-NN −18.75 | KMeans −20.17 | MF −19.56 | MLP −24.14 |  (EmbedLLM)"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--datasets", default=",".join(DATASETS))
    ap.add_argument("--routers", default=",".join(PROBE_ROUTERS))
    ap.add_argument("--encoder", default="minilm")
    args = ap.parse_args()
    routers = args.routers.split(",")
    for name in args.datasets.split(","):
        data = load(name, SHARED / name)
        t0 = time.perf_counter()
        X = encode(data, args.encoder)
        print(f"\n=== {name}: {data.n_queries} queries, {data.n_models} models, encoder {args.encoder}")
        res = pseudo_specialist_probe(data, X, routers=routers)
        print(f"pseudo-specialists (generalist {res.generalist}):")
        for s in res.specialists:
            print(
                f"  {s.name}: BestAcc {100 * s.best_accuracy:.2f} -> {100 * s.target_accuracy:.2f} on target, "
                f"{100 * s.other_accuracy:.2f} elsewhere"
            )
        print("change in agreement with the generalist (pp):")
        print(res.to_markdown(), end="")
        print("share of each target's test queries sent to its specialist (%):")
        for r in res.routers:
            print(f"  {r:<12}" + "  ".join(f"{t}: {v:.1f}" for t, v in res.to_specialist[r].items()))
        print(f"paper, for scale: {PAPER_TABLE4}")
        try:
            ood = ood_probe(data, MATH_PATTERN, X, routers=routers)
        except SchemaError as exc:  # a dataset without math categories or their test queries
            print(f"OOD: not run ({exc})")
        else:
            print(f"OOD: math categories held out of training ({', '.join(ood.holdout)}); Δ accuracy (pp):")
            print(ood.to_markdown(), end="")
            if ood.no_test:
                print(f"  held out but not scored (no test queries): {', '.join(ood.no_test)}")
            print(f"paper, for scale: {PAPER_TABLE7}")
        print(f"{name}: {time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()
