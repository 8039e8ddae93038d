"""Verbal baselines on a real ``collect-lm-gen`` run: speed, artifact rates, accuracy, AUROC of SelfAsk and SE.

Reads what the commands wrote — nothing is generated here::

    routerlab collect-lm-gen --out RUN --limit N --seed 0 --k 5 --max-new-tokens 24 --threads 1
    routerlab score RUN/answers.jsonl --scorer letter        # -> RUN/answers.parquet (outcome/parsed/truncated)
    python benchmarks/verbal_signals.py RUN [--lm LM_RUN ...]

and prints, as Markdown:

* questions/s of the generation runs (from the ``runs`` table: questions done / wall seconds);
* the greedy answers' parse and truncation rates (from the scored ``answers.parquet``, i.e. as
  ``routerlab score`` judged them) and the samples' (from the stored letters and finish reasons);
* the greedy answer's accuracy under the ``letter`` scorer with a Wilson 95 % interval (Wilson 1927);
* AUROC (`routerxbench.txt` §3.3 (1): the router's score against the small model being right) of
  SelfAsk's P(True) (higher = confident) and of −semantic entropy (lower entropy = confident), with
  a seeded percentile-bootstrap 95 % interval over queries (1,000 resamples), against (a) the
  generated greedy answer's own correctness and (b) the correctness that the hidden-state runs use —
  ``collect-lm``'s letter (argmax of the ``' A'..' D'`` logits) or cloze outcome of each
  ``--lm`` folder, joined by query id (the two commands draw the same ``--limit``/``--seed`` sample).

Figures on the 2-core development machine (2026-12-01, ``--threads 1``, the other core busy with other
jobs; SmolLM2-135M-Instruct, K = 5, T = 1.0, max_new_tokens = 24, ``--gen-seed 0``), MMLU
``--limit 450 --seed 0`` (grown from a first ``--limit 200`` run; the 200 are its first part)::

    generation: 0.253 then 0.283 questions/s (3.6 CPU s/question: prefill, greedy + 5 samples decoded
    together, SelfAsk pass); 450 questions = 28 CPU minutes
    | answers       | n    | parse rate | truncation rate | parse failure among truncated | accuracy (95% Wilson) |
    | greedy        | 450  | 95.8%      | 14.7%           | 13.6%                         | 0.229 [0.192, 0.270]  |
    | sampled (T=1) | 2250 | 80.7%      | 31.4%           | -                             | -                     |
    greedy letters: A 88.4%, B 1.3%, C 3.1%, D 2.9%, unparsed 4.2%
    P(True) mean 0.243 (sd 0.089); semantic entropy mean 1.145 nats (0 on 0.2% of questions)
    | correctness                             | n   | acc.  | AUROC SelfAsk        | AUROC -SE            |
    | generated greedy answer (letter scorer) | 450 | 0.229 | 0.455 [0.390, 0.518] | 0.579 [0.515, 0.642] |
    | collect-lm cloze outcome                | 450 | 0.287 | 0.476 [0.413, 0.534] | 0.528 [0.474, 0.582] |
    | collect-lm letter outcome               | 450 | 0.256 | 0.492 [0.427, 0.552] | 0.552 [0.492, 0.613] |

    routerlab audit answers.parquet --checks artifacts: 347 unsolved (wrong greedy answer); truncation on
    52 (15.0%), parse failure on 19 (5.5%), either on 62 (17.9%); ceiling 22.9%, 36.7% if every truncated
    or unparsed answer were recoverable.

MedQA ``--limit 40 --seed 0``, same settings: 0.268 questions/s; greedy parse rate 87.5%, truncation
25.0%, accuracy 0.175 [0.087, 0.319]; samples 81.5% parsed, 30.0% truncated; AUROC SelfAsk 0.515,
-SE 0.530 (40 questions: CIs of ±0.25).

At this scale both verbal signals sit at chance or near it, as routerxbench's Tab. 1 reports for
MMLU (SelfAsk 53.75, SemanticEntropy 53.93 with Llama-3.1-8B): SelfAsk's P(True) is even slightly
anti-correlated with the greedy answer's correctness (its CI covers 0.5), and -SE is the one signal
whose CI clears 0.5, against the generated answer's own correctness (0.579), which it is closest to
by construction (the samples are drawn from the same prompt).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sqlite3
from contextlib import closing
from pathlib import Path

import numpy as np

from routerlab.data.io import read_parquet
from routerlab.metrics import auroc_score


def wilson(k: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion k/n (Wilson 1927; Agresti & Coull 1998)."""
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return float(centre - half), float(centre + half)


def auroc_ci(score: np.ndarray, label: np.ndarray, *, n_resamples: int = 1000, seed: int = 0) -> tuple[float, ...]:
    """AUROC and a percentile-bootstrap 95 % interval over queries (resamples with one class are skipped)."""
    point = auroc_score(score=score, label=label)
    rng = np.random.default_rng(seed)
    draws = []
    for _ in range(n_resamples):
        idx = rng.integers(0, len(label), len(label))
        if 0 < label[idx].sum() < len(idx):
            draws.append(auroc_score(score=score[idx], label=label[idx]))
    lo, hi = np.percentile(draws, [2.5, 97.5])
    return point, float(lo), float(hi)


def _ro(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{path}?mode=ro", uri=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="collect-lm-gen folder (generations.sqlite, answers.parquet)")
    parser.add_argument("--lm", type=Path, action="append", default=[], help="collect-lm folder(s) to join")
    args = parser.parse_args()
    with closing(_ro(args.run / "generations.sqlite")) as con:
        con.row_factory = sqlite3.Row
        rows = [dict(r) for r in con.execute("SELECT * FROM generations ORDER BY query_id")]
        runs = [dict(r) for r in con.execute("SELECT * FROM runs WHERE status = 'finished' AND n_done > 0")]
    if len({(r["identity"], r["classes"]) for r in rows}) != 1:
        raise SystemExit("the folder holds several settings or classifiers; this script reads one")
    print(f"## {args.run}: {len(rows)} questions\n\n`{rows[0]['identity']}`, classes `{rows[0]['classes']}`\n")
    for r in runs:
        wall = (
            dt.datetime.fromisoformat(r["finished_at"]) - dt.datetime.fromisoformat(r["started_at"])
        ).total_seconds()
        print(f"- run {r['run_id']}: {r['n_done']} questions in {wall:.0f} s = {r['n_done'] / wall:.3f} questions/s")
    cpu = np.array([r["cpu_s"] for r in rows])
    print(f"- CPU s/question: mean {cpu.mean():.2f}, median {np.median(cpu):.2f}\n")

    scored = read_parquet(args.run / "answers.parquet")
    assert scored.parsed is not None and scored.truncated is not None
    pos = {q: i for i, q in enumerate(scored.query_ids)}
    idx = np.array([pos[r["query_id"]] for r in rows])
    y_gen = scored.Y[idx, 0]
    parsed, truncated = scored.parsed[idx, 0], scored.truncated[idx, 0]
    samples = [json.loads(r["record"])["samples"] for r in rows]
    s_letters = [x for r in rows for x in json.loads(r["sample_letters"])]
    s_trunc = [s["finish_reason"] == "length" for ss in samples for s in ss]
    n, k = len(rows), int(y_gen.sum())
    lo, hi = wilson(k, n)
    print("| answers | n | parse rate | truncation rate | parse failure among truncated | accuracy (95% Wilson) |")
    print("|---|---|---|---|---|---|")
    pf_tr = (~parsed & truncated).sum() / max(truncated.sum(), 1)
    print(f"| greedy | {n} | {parsed.mean():.1%} | {truncated.mean():.1%} | {pf_tr:.1%} | "
          f"{k / n:.3f} [{lo:.3f}, {hi:.3f}] |")  # fmt: skip
    print(f"| sampled (T=1) | {len(s_letters)} | {np.mean([x is not None for x in s_letters]):.1%} | "
          f"{np.mean(s_trunc):.1%} | - | - |\n")  # fmt: skip
    greedy_letters = [r["greedy_letter"] for r in rows]
    share = {c: np.mean([g == c for g in greedy_letters]) for c in "ABCD"}
    print(f"greedy letter shares: {', '.join(f'{c} {v:.1%}' for c, v in share.items())}, "
          f"unparsed {np.mean([g is None for g in greedy_letters]):.1%}\n")  # fmt: skip

    p_true = np.array([r["selfask_p_true"] for r in rows])
    entropy = np.array([r["semantic_entropy"] for r in rows])
    print(f"P(True): mean {p_true.mean():.3f}, sd {p_true.std():.3f}; semantic entropy: mean {entropy.mean():.3f} "
          f"nats, share 0 {np.mean(entropy == 0):.1%}\n")  # fmt: skip
    targets: list[tuple[str, np.ndarray, np.ndarray]] = [
        ("generated greedy answer (letter scorer)", y_gen, np.ones(n, bool))
    ]
    for lm in args.lm:
        with closing(_ro(lm / "outcomes.sqlite")) as con:
            for (model,) in con.execute("SELECT DISTINCT model FROM outcomes").fetchall():
                found = dict(con.execute("SELECT query_id, correct FROM outcomes WHERE model = ?", (model,)).fetchall())
                y = np.array([found.get(r["query_id"], np.nan) for r in rows], dtype=float)
                method = "cloze" if "answer=cloze" in model else "letter"
                targets.append((f"collect-lm {method} outcome ({lm.name})", y, ~np.isnan(y)))
    print("| correctness | n | accuracy | AUROC SelfAsk P(True) [95% CI] | AUROC −semantic entropy [95% CI] |")
    print("|---|---|---|---|---|")
    for what, y, keep in targets:
        yy = y[keep]
        a = auroc_ci(p_true[keep], yy)
        b = auroc_ci(-entropy[keep], yy)
        print(f"| {what} | {int(keep.sum())} | {yy.mean():.3f} | {a[0]:.3f} [{a[1]:.3f}, {a[2]:.3f}] | "
              f"{b[0]:.3f} [{b[1]:.3f}, {b[2]:.3f}] |")  # fmt: skip


if __name__ == "__main__":
    main()
