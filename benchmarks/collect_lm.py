"""Speed of the small model's forward pass on this CPU, and its MMLU accuracy with a binomial CI.

    python benchmarks/collect_lm.py [--n 200] [--batch-size 8] [--threads 1] [--model smollm2-135m]
                                    [--data-dir ../shared/data] [--seed 0] [--answer letter|cloze]

Runs :func:`routerlab.collect.local_lm.collect_lm` (one forward pass per question: letter answer,
logit signals, 31 × 576 mean-pooled hidden states, SQLite + float16 shard writes) over ``--n`` MMLU
questions drawn by seeded hash over all 57 subjects, into a fresh temporary folder and cache (so
nothing is reused), and prints

* questions/s end to end and of the forward passes alone (the outcome table's per-question wall
  time), prompt tokens/s, process CPU seconds per question;
* the small model's accuracy with a Wilson 95 % interval, the share of each answer letter, and
  Mixtral-8x7B's and GPT-4-1106's accuracy on the same questions (RouteLLM's outcomes).

Expect SmolLM2-135M near chance (0.25) on MMLU: a 135M-parameter model knows little of MMLU's
content, and it puts most of its letter mass on " A" (the letter-position bias of small models).
That is what makes the routing problem one-sided here: the large models are right on ~70-80 % and
the small model on ~25-30 %.

Figures on the 2-core development machine (2026-11-30, ``--threads 1``, the other core busy with
other jobs, so expect +-30 %; load = the cached float32 copy, the first run also converts the GGUF)::

    | model        | n   | questions/s | CPU s/question | tokens/question | accuracy (95% Wilson) | answer share    |
    | smollm2-135m | 200 | 1.87        | 0.52           | 115             | 0.255 (0.200-0.320)   | A 0.99, D 0.01  |
    | gemma3-270m  | 100 | 0.52        | 1.56           | 107             | 0.320 (0.237-0.417)   | D 0.94, B 0.05  |

    Mixtral-8x7B / GPT-4-1106 on the same 200: 0.660 / 0.765 (RouteLLM's outcomes).

The two answer methods (``--answer``) on the same 200 questions, same machine, 2026-11-30, ``--threads 1``::

    | --answer | questions/s | CPU s/question | accuracy (95% Wilson) | answer share                 |
    | letter   | 1.66        | 0.59           | 0.255 (0.200-0.320)   | A 0.99, D 0.01               |
    | cloze    | 0.63        | 1.42           | 0.285 (0.227-0.351)   | A 0.22, B 0.27, C 0.20, D 0.32 |

    gold share on these 200: A 0.25, B 0.23, C 0.22, D 0.29.
    other normalisations of the same option log-likelihoods (one-off check, LocalLM.option_logliks):
    per token 0.270, none (summed) 0.275, per character (the method's) 0.285.

Cloze is still near chance (its CI covers 0.25), but its answers spread over the letters as the
gold does, so its correctness depends on the question rather than on "the gold is A". It costs one
more batched pass (four prompt+option sequences, no KV-cache reuse) per question: ~2.4x the CPU.

(The Gemma row predates computing logits only at the last position, which cut SmolLM2's CPU per
question by ~20 %.) Storage (SQLite commit + float16 shard per batch) costs < 1 % of the time.
Both models are at or near chance and put nearly all their letter mass on one letter, so their
correctness is close to "the gold letter is A" (SmolLM2) or "is D" (Gemma): see issue 14's notes.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def wilson(k: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion k/n (Wilson 1927; Agresti & Coull 1998)."""
    if n == 0:
        return float("nan"), float("nan")
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return centre - half, centre + half


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--data-dir", type=Path, default=Path(__file__).resolve().parents[1] / ".." / "shared" / "data")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--answer", default="letter", help="answer method: letter or cloze (see routerlab.data.features.lm)"
    )
    args = ap.parse_args()

    import torch

    if args.threads is not None:
        torch.set_num_threads(args.threads)
    from routerlab.collect.local_lm import collect_lm, read_outcomes, routing_data
    from routerlab.data.features.lm import load_lm
    from routerlab.data.loaders.mcq import load_mmlu_questions

    questions = load_mmlu_questions(args.data_dir / "routellm-evals", args.data_dir / "raw-evals")
    questions = questions.sample(args.n, seed=args.seed)
    t0 = time.perf_counter()
    load_lm(args.model)  # the converted model is cached in the real cache dir; only outputs go to the temp one
    load_s = time.perf_counter() - t0
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["ROUTERLAB_CACHE_DIR"] = str(Path(tmp) / "cache")
        out = Path(tmp) / "out"
        summary = collect_lm(questions, out, model=args.model, answer=args.answer, batch_size=args.batch_size)
        rows = read_outcomes(out, model=args.model, answer=args.answer)
        data = routing_data(out, model=args.model, answer=args.answer)
    n = len(rows)
    forward_s = sum(r["wall_s"] for r in rows)
    tokens = sum(r["n_tokens"] for r in rows)
    correct = sum(r["correct"] for r in rows)
    lo, hi = wilson(correct, n)
    letters = np.bincount([r["answer"] for r in rows], minlength=4) / n
    gold = np.bincount([r["gold"] for r in rows], minlength=4) / n
    print(f"model {args.model}, answer {args.answer}, {n} MMLU questions (seed {args.seed}), batch {args.batch_size}, "
          f"torch threads {torch.get_num_threads()}, load {load_s:.1f} s")  # fmt: skip
    print(f"end to end   {summary.queries_per_s:6.2f} questions/s ({summary.seconds:.1f} s, storage included)")
    print(f"forward only {n / forward_s:6.2f} questions/s, {tokens / forward_s:,.0f} prompt tokens/s "
          f"(mean {tokens / n:.0f} tokens/question), {summary.cpu_s / n:.3f} CPU s/question")  # fmt: skip
    print(f"accuracy     {correct / n:.3f} (95% Wilson CI {lo:.3f}-{hi:.3f}); chance is 0.25")
    print("answer share " + ", ".join(f"{c} {s:.2f}" for c, s in zip("ABCD", letters, strict=True)))
    print("gold share   " + ", ".join(f"{c} {s:.2f}" for c, s in zip("ABCD", gold, strict=True)))
    for j, m in enumerate(data.models[1:], start=1):
        y = data.Y[:, j]
        print(f"{m.name:12s} {np.nanmean(y):.3f} on the same questions (RouteLLM's outcomes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
