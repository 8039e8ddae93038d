"""Open LLM Leaderboard v2 per-question correctness, as packaged by CARROT.

Origin: https://github.com/somerstep/CARROT at commit 2d47d1fd4e7870d095fcd3b4f8aa87185b5d8e3d, file
``data/open-llm-lb-v2/new_leaderboard_processed_20241205.pickle`` (no licence file in that repository:
research and test use only, never shipped with routerlab).

The file is a pickled ``dict``: task name (39 tasks: 24 BBH subtasks, GPQA diamond/extended/main, IFEval,
7 MATH-hard subsets, MMLU-Pro, 3 MuSR) → ``{"correctness": float array (n_models, n_questions),
"models": [ids like "open-llm-leaderboard/Qwen__Qwen2-72B-Instruct-details"]}``. It is read with a
restricted unpickler (:class:`RestrictedUnpickler`) that can build numpy arrays and nothing else.

Choices made here (all recorded in ``meta``):

* **Models are aligned by id, not position.** MMLU-Pro has 18 models (no SOLAR-10.7B): its cells for
  the missing model are NaN ("no outcome").
* **IFEval** stores ``correctness_prompt`` (0/1: every instruction of the prompt followed) and
  ``correctness_inst`` (the share of the prompt's instructions followed) with ``weights_inst``.
  ``weights_inst`` is proportional to the prompt's number of instructions, normalised to sum to the
  number of prompts (541 prompts, 834 instructions: weight = n_instructions * 541 / 834), so
  ``sum(weights_inst * correctness_inst) / 541`` is the leaderboard's instruction-level accuracy.
  ``ifeval_level="prompt"`` (default) uses the 0/1 prompt-level score; ``"inst"`` uses the per-prompt
  share of instructions followed (Y then is not binary).
* **No question text** and **no prices**: ``cost_unit="params_b"`` with cost = the model's parameter count
  in billions, a declared proxy. Sizes are read from the model name ("72B", "7b", "10.7B"); a
  mixture-of-experts name "8x7B" counts as 8 * 7 = 56 (a naming convention, not the true total: Mixtral
  8x7B has about 46.7B parameters, 12.9B active per token). Names without a size go in
  :data:`PARAMS_B_OVERRIDES`.
* Model names drop ``open-llm-leaderboard/`` and ``-details`` and turn ``__`` into ``/``
  (``Qwen/Qwen2-72B-Instruct``); ``family`` is the Hugging Face organisation (``Qwen``).
* ``sources`` is the task group (bbh, gpqa, ifeval, math_hard, mmlu_pro, musr), ``categories`` the task
  without its ``leaderboard_`` prefix (``bbh_boolean_expressions``); query ids are ``f"{task}-{i}"``.
* No public split: a seeded hash split of the query ids (:func:`routerlab.data.splits.hash_split`).

Caveat (measured, see :func:`model_correlations`): within a task, the question columns correlate across
models only inside four groups of models and not at all between groups, which suggests that the
per-model question order differs between those groups in CARROT's file. ``meta["alignment_check"]``
records the groups found at load time.
"""

from __future__ import annotations

import importlib
import logging
import pickle
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from routerlab.data.loaders._common import params_from_text
from routerlab.data.schema import ModelInfo, RoutingData
from routerlab.data.splits import hash_split
from routerlab.errors import DataNotFoundError, SchemaError

log = logging.getLogger(__name__)

NAME = "openllm-leaderboard-v2"
HOMEPAGE = "https://github.com/somerstep/CARROT"
COMMIT = "2d47d1fd4e7870d095fcd3b4f8aa87185b5d8e3d"
PICKLE_FILE = "new_leaderboard_processed_20241205.pickle"
DEFAULT_FRACTIONS: Mapping[str, float] = {"train": 0.6, "val": 0.2, "test": 0.2}
IFEVAL_LEVELS = ("prompt", "inst")

#: Parameter counts (billions) for model names that do not state their size; checked before parsing.
PARAMS_B_OVERRIDES: Mapping[str, float] = {}

#: Task-name prefix (after ``leaderboard_``) → task group, checked in order.
TASK_GROUPS: tuple[tuple[str, str], ...] = (
    ("bbh_", "bbh"),
    ("gpqa_", "gpqa"),
    ("ifeval", "ifeval"),
    ("math_", "math_hard"),
    ("mmlu_pro", "mmlu_pro"),
    ("musr_", "musr"),
)

_NUMPY_GLOBALS = {
    ("numpy._core.numeric", "_frombuffer"),
    ("numpy.core.numeric", "_frombuffer"),  # the spelling of pickles written by numpy < 2
}


# ----------------------------------------------------------------------------- safe unpickling
def _frombuffer() -> Callable[..., np.ndarray]:
    """Return numpy's private array-rebuild function, wherever this numpy version keeps it."""
    for module in ("numpy._core.numeric", "numpy.core.numeric"):
        try:
            fn: Callable[..., np.ndarray] = importlib.import_module(module)._frombuffer
        except (ImportError, AttributeError):
            continue
        return fn
    raise SchemaError("this numpy has no _frombuffer; install numpy>=1.26 to read CARROT's pickle.")  # pragma: no cover


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that can rebuild numpy arrays and dtypes, and refuses every other global.

    Allowed: ``numpy._core.numeric._frombuffer`` (or its numpy<2 spelling ``numpy.core.numeric``) and
    ``numpy.dtype``. Anything else (``os.system``, ``builtins.eval``, ...) raises :class:`SchemaError`
    before it is imported, so a tampered file cannot run code.
    """

    def find_class(self, module: str, name: str) -> Any:
        """Resolve a global named in the pickle, if it is on the allow-list."""
        if (module, name) in _NUMPY_GLOBALS:
            return _frombuffer()
        if (module, name) == ("numpy", "dtype"):
            return np.dtype
        raise SchemaError(
            f"refusing to unpickle {module}.{name}: this file may only contain numpy arrays "
            "(numpy._core.numeric._frombuffer, numpy.dtype). Re-download the original CARROT file "
            f"({HOMEPAGE}, commit {COMMIT})."
        )


def read_pickle(path: str | Path) -> dict[str, Any]:
    """Read the CARROT pickle at ``path`` with :class:`RestrictedUnpickler`; errors are SchemaError."""
    path = Path(path)
    if not path.is_file():
        raise DataNotFoundError(f"No CARROT pickle at {str(path)!r}; download {PICKLE_FILE} from {HOMEPAGE}.")
    try:
        with path.open("rb") as fh:
            obj = RestrictedUnpickler(fh).load()
    except SchemaError:
        raise
    except Exception as exc:  # truncated or corrupt: pickle raises many types
        raise SchemaError(f"{str(path)!r} is not a readable pickle ({type(exc).__name__}: {exc}).") from None
    if not isinstance(obj, dict):
        raise SchemaError(f"{str(path)!r} holds a {type(obj).__name__}; expected a dict task -> results.")
    return obj


# ----------------------------------------------------------------------------- names and sizes
def model_name(model_id: str) -> str:
    """``open-llm-leaderboard/Qwen__Qwen2-72B-Instruct-details`` → ``Qwen/Qwen2-72B-Instruct``."""
    name = model_id.removeprefix("open-llm-leaderboard/").removesuffix("-details")
    return name.replace("__", "/")


def parse_params_b(name: str) -> float | None:
    """Parameter count in billions stated in a model name, or None.

    ``"Qwen/Qwen2-72B-Instruct"`` → 72, ``"google/gemma-2b-it"`` → 2, ``"upstage/SOLAR-10.7B"`` → 10.7,
    ``"mistralai/Mixtral-8x7B-Instruct-v0.1"`` → 56 (experts x size, see the module doc).
    """
    return params_from_text(name.rsplit("/", 1)[-1], moe_total=True)


def _params_table(names: list[str]) -> dict[str, float]:
    sizes = {n: PARAMS_B_OVERRIDES.get(n, parse_params_b(n)) for n in names}
    unknown = [n for n, s in sizes.items() if s is None]
    if unknown:
        raise SchemaError(
            f"cannot read a parameter count from the model name(s) {unknown}; add them to "
            "routerlab.data.loaders.openllm.PARAMS_B_OVERRIDES (name -> billions)."
        )
    return {n: float(s) for n, s in sizes.items() if s is not None}


def task_group(task: str) -> str:
    """Return the group (``bbh``, ``gpqa``, ...) of a task name given without its ``leaderboard_`` prefix."""
    for prefix, group in TASK_GROUPS:
        if task.startswith(prefix):
            return group
    log.warning("unknown Open LLM Leaderboard task %r; using the task name as its group", task)
    return task


# ----------------------------------------------------------------------------- task tables
def _task_matrix(task: str, entry: Any, ifeval_level: str) -> tuple[np.ndarray, list[str], dict[str, Any]]:
    """Validate one task entry; return its correctness (n_models, n_questions), model ids and notes."""
    if not isinstance(entry, dict) or "correctness" not in entry or "models" not in entry:
        raise SchemaError(f"task {task!r} must be a dict with 'correctness' and 'models'; got {type(entry).__name__}.")
    models = [str(m) for m in entry["models"]]
    notes: dict[str, Any] = {}
    corr = entry["correctness"]
    if isinstance(corr, dict):
        corr, notes = _ifeval_matrix(task, corr, ifeval_level)
    arr = np.asarray(corr, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[0] != len(models):
        raise SchemaError(
            f"task {task!r}: correctness has shape {arr.shape} but there are {len(models)} models; "
            "expected (n_models, n_questions)."
        )
    if len(set(models)) != len(models):
        raise SchemaError(f"task {task!r} lists a model more than once: {models}.")
    return arr, models, notes


def _ifeval_matrix(task: str, parts: dict[str, Any], level: str) -> tuple[np.ndarray, dict[str, Any]]:
    """Return IFEval's prompt- or instruction-level score per prompt, and notes (see the module doc)."""
    needed = ("correctness_inst", "weights_inst", "correctness_prompt", "weights_prompt")
    missing = [k for k in needed if k not in parts]
    if missing:
        raise SchemaError(f"task {task!r}: the IFEval correctness dict lacks {missing}; found {sorted(parts)}.")
    weights = np.asarray(parts["weights_inst"], dtype=np.float64)
    n_prompts = len(weights)
    # weights_inst = n_instructions * n_prompts / total_instructions, so the smallest weight is one instruction.
    n_inst = np.rint(weights / weights.min()).astype(int)
    counts = {str(k): int(v) for k, v in zip(*np.unique(n_inst, return_counts=True), strict=True)}
    notes = {
        "level": level,
        "n_prompts": n_prompts,
        "n_instructions": int(n_inst.sum()),
        "prompts_by_n_instructions": counts,
        "weights_inst": "proportional to the prompt's number of instructions, summing to the number of prompts; "
        "sum(weights_inst * correctness_inst) / n_prompts is the instruction-level accuracy",
        "Y": "1 if every instruction of the prompt was followed, else 0"
        if level == "prompt"
        else "share of the prompt's instructions followed (0, 1/3, 1/2, 2/3, 1)",
    }
    key = "correctness_prompt" if level == "prompt" else "correctness_inst"
    return np.asarray(parts[key], dtype=np.float64), notes


def _strip_task(task: str) -> str:
    return task.removeprefix("leaderboard_")


def _model_order(raw: Mapping[str, Any]) -> list[str]:
    """Return the union of model ids over tasks, in order of first appearance."""
    seen: dict[str, None] = {}
    for entry in raw.values():
        if isinstance(entry, dict):
            for m in entry.get("models", []):
                seen.setdefault(str(m), None)
    return list(seen)


def _assemble(raw: Mapping[str, Any], ifeval_level: str) -> dict[str, Any]:
    """Stack every task into one (n_queries, n_models) matrix, aligning models by id."""
    model_ids = _model_order(raw)
    col = {m: j for j, m in enumerate(model_ids)}
    blocks: list[np.ndarray] = []
    ids: list[str] = []
    sources: list[str] = []
    categories: list[str] = []
    tasks: dict[str, dict[str, Any]] = {}
    ifeval_notes: dict[str, Any] = {}
    for task_full, entry in raw.items():
        task = _strip_task(str(task_full))
        arr, models, notes = _task_matrix(task, entry, ifeval_level)
        ifeval_notes.update(notes)
        block = np.full((arr.shape[1], len(model_ids)), np.nan)
        block[:, [col[m] for m in models]] = arr.T
        blocks.append(block)
        n = arr.shape[1]
        ids.extend(f"{task}-{i}" for i in range(n))
        sources.extend([task_group(task)] * n)
        categories.extend([task] * n)
        absent = [model_name(m) for m in model_ids if m not in set(models)]
        tasks[task] = {"n_questions": n, "n_models": len(models), **({"missing_models": absent} if absent else {})}
    if not blocks:
        raise SchemaError("the CARROT pickle holds no tasks.")
    return {
        "Y": np.vstack(blocks),
        "model_ids": model_ids,
        "query_ids": ids,
        "sources": sources,
        "categories": categories,
        "tasks": tasks,
        "ifeval": ifeval_notes,
    }


def _check_range(y: np.ndarray, ids: list[str], names: list[str]) -> bool:
    """Raise if a value is outside [0, 1]; return whether every observed value is 0 or 1."""
    obs = ~np.isnan(y)
    bad = obs & ((y < 0) | (y > 1))
    if bad.any():
        q, m = np.argwhere(bad)[0]
        raise SchemaError(
            f"correctness of {names[m]!r} on {ids[q]!r} is {float(y[q, m])!r}; the CARROT file should hold "
            "values in [0, 1]. The file may be damaged: re-download it."
        )
    return bool(np.isin(y[obs], (0.0, 1.0)).all())


# ----------------------------------------------------------------------------- alignment check
ALIGNMENT_THRESHOLD = 0.05


def model_correlations(y: np.ndarray, tasks: np.ndarray) -> np.ndarray:
    """Return the (n_models, n_models) correlations of the models' per-question results, centred per task.

    Each model's mean on a task is subtracted first, so that tasks of different difficulty do not make
    every pair look correlated; each pair uses the questions both models answered.
    """
    centred = y.copy()
    for t in np.unique(tasks):
        rows = tasks == t
        block = y[rows]
        obs = ~np.isnan(block)
        means = np.where(obs, block, 0.0).sum(axis=0) / np.maximum(obs.sum(axis=0), 1)
        centred[rows] = block - means
    k = y.shape[1]
    corr = np.eye(k)
    for a in range(k):
        for b in range(a + 1, k):
            corr[a, b] = corr[b, a] = _pair_corr(centred[:, a], centred[:, b])
    return corr


def _pair_corr(a: np.ndarray, b: np.ndarray) -> float:
    both = ~np.isnan(a) & ~np.isnan(b)
    x, z = a[both], b[both]
    sx, sz = x.std(), z.std()
    if len(x) < 3 or sx == 0 or sz == 0:
        return 0.0
    return float(((x - x.mean()) * (z - z.mean())).mean() / (sx * sz))


def alignment_groups(corr: np.ndarray, threshold: float = ALIGNMENT_THRESHOLD) -> list[list[int]]:
    """Split models (column indices) into groups connected by pairwise correlation above ``threshold``.

    On a well-aligned benchmark all models form one group, since questions differ in difficulty for
    everyone; several groups with ~0 correlation between them mean the question order differs between
    the groups.
    """
    k = corr.shape[0]
    label = list(range(k))
    changed = True
    while changed:  # propagate the smallest label along edges until stable (k <= a few dozen)
        changed = False
        for a in range(k):
            for b in range(k):
                if corr[a, b] > threshold and label[b] < label[a]:
                    label[a], changed = label[b], True
    groups: dict[int, list[int]] = {}
    for i in range(k):
        groups.setdefault(label[i], []).append(i)
    return sorted(groups.values())


def _alignment_meta(y: np.ndarray, categories: list[str], names: list[str]) -> dict[str, Any]:
    corr = model_correlations(y, np.asarray(categories, dtype=object))
    groups = alignment_groups(corr)
    label = np.empty(len(names), dtype=int)
    for g, members in enumerate(groups):
        label[members] = g
    cross = label[:, None] != label[None, :]
    if len(groups) > 1:
        log.warning(
            "%s: per-question results correlate only within %d groups of models; the question order probably "
            "differs between groups (see meta['alignment_check'])",
            NAME,
            len(groups),
        )
    return {
        "method": "within-task centred Pearson correlation of per-question results between models; groups "
        f"joined above {ALIGNMENT_THRESHOLD} (routerlab.data.loaders.openllm.alignment_groups)",
        "n_groups": len(groups),
        "groups": [[names[i] for i in g] for g in groups],
        "max_abs_corr_between_groups": round(float(np.abs(corr[cross]).max()), 4) if cross.any() else None,
        "note": "several groups with ~0 correlation between them suggest the per-model question order differs "
        "between groups in the source file, so cross-group per-question comparisons (oracle, routing "
        "gains) may be artefacts",
    }


# ----------------------------------------------------------------------------- entry point
def load_openllm_v2(
    root: str | Path | None,
    *,
    seed: int = 0,
    fractions: Mapping[str, float] | None = None,
    ifeval_level: str = "prompt",
) -> RoutingData:
    """Load ``openllm-leaderboard-v2`` from the folder ``root`` holding CARROT's pickle.

    ``ifeval_level`` is ``"prompt"`` (0/1 per prompt, default) or ``"inst"`` (share of the prompt's
    instructions followed). ``fractions`` and ``seed`` define the seeded hash split (default 60/20/20).
    """
    if ifeval_level not in IFEVAL_LEVELS:
        raise SchemaError(f"ifeval_level must be one of {', '.join(IFEVAL_LEVELS)}. Got {ifeval_level!r}.")
    if root is None:
        raise DataNotFoundError(f"{NAME} needs the folder holding {PICKLE_FILE} (from {HOMEPAGE}); pass path=.")
    raw = read_pickle(Path(root) / PICKLE_FILE)
    parts = _assemble(raw, ifeval_level)
    names = [model_name(m) for m in parts["model_ids"]]
    y = parts["Y"]
    binary = _check_range(y, parts["query_ids"], names)
    sizes = _params_table(names)
    models = tuple(ModelInfo(name=n, family=n.split("/", 1)[0], params_b=sizes[n]) for n in names)
    cost = np.tile(np.array([sizes[n] for n in names], dtype=np.float64), (y.shape[0], 1))
    fracs = dict(fractions or DEFAULT_FRACTIONS)
    splits = hash_split(parts["query_ids"], fracs, seed)
    missing = np.isnan(y)
    meta = {
        "source": {"homepage": HOMEPAGE, "commit": COMMIT, "file": f"data/open-llm-lb-v2/{PICKLE_FILE}"},
        "license": "none stated (research and test use only; not shipped)",
        "n_tasks": len(parts["tasks"]),
        "tasks": parts["tasks"],
        "binary": binary,
        "ifeval": parts["ifeval"],
        "missing_cells": int(missing.sum()),
        "missing_by_model": {n: int(c) for n, c in zip(names, missing.sum(axis=0), strict=True) if c},
        "cost": "declared proxy: cost = the model's parameter count in billions (from its name; 'AxB' = A*B), "
        "the same on every query; no prices or token counts in the source",
        "model_ids": dict(zip(names, parts["model_ids"], strict=True)),
        "split": f"seeded hash split, seed={seed}, fractions={fracs} (no public split)",
        "texts": "none: the source has no question text",
        "alignment_check": _alignment_meta(y, parts["categories"], names),
    }
    data = RoutingData(
        name=NAME,
        query_ids=np.array(parts["query_ids"], dtype=object),
        sources=np.array(parts["sources"], dtype=object),
        categories=np.array(parts["categories"], dtype=object),
        splits=splits,
        models=models,
        Y=y,
        cost=cost,
        cost_unit="params_b",
        meta=meta,
    )
    log.info("loaded %r", data)
    return data
