"""The studies a sweep over dataset variants and encoders answers, read from its ``summary.json``.

* **Training-set size** (`routing-plateau.txt` §6, Tab. 6 "data"): test accuracy of every
  (router, encoder) against the fraction of the training queries it was fitted on, from dataset
  entries that differ only in ``train_fraction`` (nested fractions, one test set).
* **Encoder** (§6, Tab. 6 "enc"): test accuracy of each router of one dataset under every encoder
  of the sweep.
* **Fine-tuning** (§6, Tab. 6 "FT"; issue 15 item 5): at every training fraction, each router on
  the frozen base encoder beside the fine-tuned router (``finetuned``) that trains that same
  encoder end to end, with the difference of their test accuracies.
* **De-duplication** (`rethinking-router-evaluation.txt` §4.2, Table 1): each router before and
  after the duplicate training queries are removed, as the paper reports it — "Avg. Acc." the
  mean over the cost budgets (here the sweep's λ values) of the test quality, "Peak Acc." its
  maximum — plus the accuracy at λ = 0 with its spread over seeds.

Functions take the parsed ``summary.json`` (a mapping) and return plain rows, so the report, a
benchmark script or a notebook read the same figures. Rows are sorted, so the output does not
depend on the order of the sweep's entries.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from routerlab.experiments.sweep.keys import lam_key


@dataclass(frozen=True, slots=True)
class Point:
    """One sweep row's headline: test accuracy at λ = 0, mean and std over its seeds."""

    acc: float
    std: float
    n_seeds: int


@dataclass(frozen=True, slots=True)
class ScalingRow:
    """A (dataset, router, encoder) at one training fraction."""

    dataset: str  # the base dataset's name
    router: str
    encoder: str
    fraction: float
    n_train: int
    point: Point


@dataclass(frozen=True, slots=True)
class EncoderRow:
    """A (dataset, router) under one encoder."""

    dataset: str
    router: str
    encoder: str
    point: Point


@dataclass(frozen=True, slots=True)
class FineTuneRow:
    """A router on the frozen base encoder and the fine-tuned router of that encoder, at one training fraction."""

    dataset: str  # the base dataset's name
    fraction: float
    n_train: int
    encoder: str  # the base encoder: frozen under ``frozen_router``, trained end to end under ``tuned_router``
    frozen_router: str
    tuned_router: str
    frozen: Point
    tuned: Point

    @property
    def delta(self) -> float:
        """Fine-tuned minus frozen test accuracy at λ = 0 (means over seeds)."""
        return self.tuned.acc - self.frozen.acc


#: routers that train their encoder end to end -> the parameter naming that encoder, and its default
FINE_TUNED_ROUTERS: dict[str, tuple[str, str]] = {"finetuned": ("base_model", "minilm")}


@dataclass(frozen=True, slots=True)
class DedupeRow:
    """A (dataset, router, encoder) fitted on the original and on the de-duplicated training split (Table 1)."""

    dataset: str
    router: str
    encoder: str
    n_removed: int
    avg_original: float  # mean test quality over the sweep's λ values
    avg_reduced: float
    peak_original: float  # max test quality over the sweep's λ values
    peak_reduced: float
    original: Point  # accuracy at λ = 0
    reduced: Point


def _rows(summary: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [r for r in summary.get("rows", []) if r.get("status") == "ok" and r.get("test_acc_mean") is not None]


def _point(row: Mapping[str, Any]) -> Point:
    return Point(float(row["test_acc_mean"]), float(row.get("test_acc_std") or 0.0), len(row.get("seeds") or [1]))


def _variants(summary: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """Every dataset key of the summary -> its variant (a plain entry: its own name, all of train)."""
    known: dict[str, Mapping[str, Any]] = dict(summary.get("variants") or {})
    for row in summary.get("rows", []):
        key = row["dataset"]
        if key not in known:
            known[key] = {"name": key, "train_fraction": 1.0, "n_train": row.get("n_train"), "dedupe": None}
    return known


def scaling_rows(summary: Mapping[str, Any]) -> list[ScalingRow]:
    """Test accuracy against training fraction, for every base dataset run at two or more fractions."""
    variants = _variants(summary)
    out = []
    for row in _rows(summary):
        v = variants[row["dataset"]]
        if v.get("dedupe"):
            continue
        n_train = row.get("n_train") if row.get("n_train") is not None else v.get("n_train")
        fraction = float(v.get("train_fraction") or 1.0)
        out.append(ScalingRow(v["name"], row["router"], row["encoder"], fraction, int(n_train or 0), _point(row)))
    fractions: dict[str, set[float]] = {}
    for r in out:
        fractions.setdefault(r.dataset, set()).add(r.fraction)
    kept = [r for r in out if len(fractions[r.dataset]) > 1]
    return sorted(kept, key=lambda r: (r.dataset, r.router, r.encoder, r.fraction))


def encoder_rows(summary: Mapping[str, Any]) -> list[EncoderRow]:
    """Test accuracy of each router of a dataset under each encoder, where the sweep tried two or more."""
    variants = _variants(summary)
    out = [
        EncoderRow(row["dataset"], row["router"], row["encoder"], _point(row))
        for row in _rows(summary)
        if row["encoder"] != "none"
        and not variants[row["dataset"]].get("dedupe")
        and float(variants[row["dataset"]].get("train_fraction") or 1.0) == 1.0
    ]
    encoders: dict[tuple[str, str], set[str]] = {}
    for r in out:
        encoders.setdefault((r.dataset, r.router), set()).add(r.encoder)
    kept = [r for r in out if len(encoders[(r.dataset, r.router)]) > 1]
    return sorted(kept, key=lambda r: (r.dataset, r.router, r.encoder))


def finetune_rows(summary: Mapping[str, Any]) -> list[FineTuneRow]:
    """Each frozen-encoder router beside the fine-tuned router of the same encoder, per training fraction.

    A fine-tuned router's row has no encoder (it reads texts); its base encoder is its parameter
    (``base_model`` of ``finetuned``), and the frozen rows paired with it are the rows of the same
    dataset entry whose encoder has that name. De-duplicated entries are left out.
    """
    variants = _variants(summary)
    rows = [r for r in _rows(summary) if not variants[r["dataset"]].get("dedupe")]
    out = []
    for tuned in rows:
        if tuned["router"] not in FINE_TUNED_ROUTERS:
            continue
        param, default = FINE_TUNED_ROUTERS[tuned["router"]]
        base = str((tuned.get("params") or {}).get(param, default))
        v = variants[tuned["dataset"]]
        fraction = float(v.get("train_fraction") or 1.0)
        for frozen in rows:
            if frozen["dataset"] != tuned["dataset"] or frozen["encoder"] != base:
                continue
            n_train = tuned.get("n_train") if tuned.get("n_train") is not None else v.get("n_train")
            out.append(
                FineTuneRow(
                    v["name"],
                    fraction,
                    int(n_train or 0),
                    base,
                    frozen["router"],
                    tuned["router"],
                    _point(frozen),
                    _point(tuned),
                )
            )
    return sorted(out, key=lambda r: (r.dataset, r.encoder, r.frozen_router, r.tuned_router, r.fraction))


def _avg_peak(row: Mapping[str, Any], lams: Sequence[float]) -> tuple[float, float]:
    values = [float(row["test_quality_mean"][lam_key(lam)]) for lam in lams]
    return sum(values) / len(values), max(values)


def dedupe_rows(summary: Mapping[str, Any]) -> list[DedupeRow]:
    """Each router before and after de-duplication (`rethinking-router-evaluation.txt` Table 1).

    The original of a de-duplicated entry is the entry of the same dataset name and training
    fraction without de-duplication (the one keyed by the bare name first).
    """
    variants = _variants(summary)
    lams = [float(x) for x in summary.get("protocol", {}).get("lams", [0.0])]
    by_key: dict[tuple[str, str, str], Mapping[str, Any]] = {
        (r["dataset"], r["router"], r["encoder"]): r for r in _rows(summary)
    }
    out = []
    for key, v in variants.items():
        if not v.get("dedupe"):
            continue
        fraction = v.get("train_fraction") or 1.0
        originals = sorted(
            (
                k
                for k, o in variants.items()
                if not o.get("dedupe") and o["name"] == v["name"] and (o.get("train_fraction") or 1.0) == fraction
            ),
            key=lambda k: (k != v["name"], k),
        )
        if not originals:
            continue
        for (dataset, router, encoder), reduced in by_key.items():
            original = by_key.get((originals[0], router, encoder))
            if dataset != key or original is None:
                continue
            avg_o, peak_o = _avg_peak(original, lams)
            avg_r, peak_r = _avg_peak(reduced, lams)
            removed = int(v["dedupe"].get("n_removed", 0))
            out.append(
                DedupeRow(
                    v["name"], router, encoder, removed, avg_o, avg_r, peak_o, peak_r, _point(original), _point(reduced)
                )
            )
    return sorted(out, key=lambda r: (r.dataset, r.router, r.encoder))


def _pm(p: Point) -> str:
    return f"{p.acc:.4f} ± {p.std:.4f}" if p.n_seeds > 1 else f"{p.acc:.4f}"


def studies_markdown(summary: Mapping[str, Any]) -> str:
    """The four studies as Markdown tables (empty when the sweep holds none of them)."""
    parts: list[str] = []
    scaling = scaling_rows(summary)
    if scaling:
        parts += [
            "### Test accuracy against training-set size (λ = 0; mean ± std over seeds)",
            "",
            "| dataset | router | encoder | fraction | n_train | test acc |",
            "|---|---|---|---:|---:|---:|",
        ]
        parts += [
            f"| {r.dataset} | {r.router} | {r.encoder} | {r.fraction:g} | {r.n_train} | {_pm(r.point)} |"
            for r in scaling
        ]
        parts.append("")
    encoders = encoder_rows(summary)
    if encoders:
        parts += [
            "### Test accuracy by encoder (λ = 0)",
            "",
            "| dataset | router | encoder | test acc |",
            "|---|---|---|---:|",
        ]
        parts += [f"| {r.dataset} | {r.router} | {r.encoder} | {_pm(r.point)} |" for r in encoders]
        parts.append("")
    tuned = finetune_rows(summary)
    if tuned:
        parts += [
            "### Frozen encoder vs the same encoder fine-tuned (λ = 0; mean ± std over seeds)",
            "",
            "| dataset | fraction | n_train | encoder | frozen router | frozen acc | fine-tuned router "
            "| fine-tuned acc | Δ (pp) |",
            "|---|---:|---:|---|---|---:|---|---:|---:|",
        ]
        parts += [
            f"| {r.dataset} | {r.fraction:g} | {r.n_train} | {r.encoder} | {r.frozen_router} | {_pm(r.frozen)} "
            f"| {r.tuned_router} | {_pm(r.tuned)} | {100 * r.delta:+.2f} |"
            for r in tuned
        ]
        parts.append("")
    dedupe = dedupe_rows(summary)
    if dedupe:
        parts += [
            "### Before and after de-duplicating the training split (rethinking Table 1; Avg./Peak over λ)",
            "",
            "| dataset | router | encoder | removed | Avg. original | Avg. reduced | Peak original | Peak reduced "
            "| acc λ=0 original | acc λ=0 reduced |",
            "|---|---|---|---:|---:|---:|---:|---:|---:|---:|",
        ]
        parts += [
            f"| {r.dataset} | {r.router} | {r.encoder} | {r.n_removed} | {r.avg_original:.4f} | {r.avg_reduced:.4f} "
            f"| {r.peak_original:.4f} | {r.peak_reduced:.4f} | {_pm(r.original)} | {_pm(r.reduced)} |"
            for r in dedupe
        ]
        parts.append("")
    return "\n".join(parts)


__all__ = [
    "FINE_TUNED_ROUTERS",
    "DedupeRow",
    "EncoderRow",
    "FineTuneRow",
    "Point",
    "ScalingRow",
    "dedupe_rows",
    "encoder_rows",
    "finetune_rows",
    "scaling_rows",
    "studies_markdown",
]
