"""The openllm-leaderboard-v2 (CARROT pickle) and routellm-evals loaders, on the real files and on tiny fakes.

Expected numbers are those of the files described in each dataset's SOURCE.md, as measured.
"""

from __future__ import annotations

import io
import json
import os
import pickle
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from routerlab.data import RoutingData, load, read_parquet, write_parquet
from routerlab.data.loaders import openllm, routellm
from routerlab.data.splits import DEFAULT_FRACTIONS, hash_split
from routerlab.errors import DataNotFoundError, SchemaError
from tests.conftest import SHARED_DATA, assert_identical

OPENLLM, ROUTELLM = "openllm-leaderboard-v2", "routellm-evals"
SOLAR = "upstage/SOLAR-10.7B-Instruct-v1.0"


def _folder(name: str) -> Path:
    folder = SHARED_DATA / name
    if not folder.is_dir():
        pytest.skip(f"{folder} is absent; set ROUTERLAB_SHARED_DATA to the shared data folder to run real-data tests")
    return folder


# ============================================================================= openllm-leaderboard-v2
@pytest.fixture(scope="module")
def carrot() -> RoutingData:
    return load(OPENLLM, path=_folder(OPENLLM))


@pytest.fixture(scope="module")
def carrot_inst() -> RoutingData:
    return openllm.load_openllm_v2(_folder(OPENLLM), ifeval_level="inst")


EXPECTED_PARAMS = {
    "NousResearch/Nous-Hermes-2-Mixtral-8x7B-DPO": 56.0,
    "01-ai/Yi-34B-Chat": 34.0,
    "Qwen/QwQ-32B-Preview": 32.0,
    "Qwen/Qwen2-72B-Instruct": 72.0,
    "Qwen/Qwen2.5-7B-Instruct": 7.0,
    "Qwen/Qwen2.5-72B-Instruct": 72.0,
    "alpindale/WizardLM-2-8x22B": 176.0,
    "deepseek-ai/deepseek-llm-67b-chat": 67.0,
    "google/gemma-2-27b-it": 27.0,
    "google/gemma-2-9b-it": 9.0,
    "google/gemma-2b-it": 2.0,
    "meta-llama/Llama-2-13b-chat-hf": 13.0,
    "meta-llama/Meta-Llama-3.1-70B-Instruct": 70.0,
    "mistralai/Mistral-7B-Instruct-v0.1": 7.0,
    "mistralai/Mistral-7B-Instruct-v0.2": 7.0,
    "mistralai/Mistral-7B-Instruct-v0.3": 7.0,
    "mistralai/Mixtral-8x7B-Instruct-v0.1": 56.0,
    "nvidia/Llama-3.1-Nemotron-70B-Instruct-HF": 70.0,
    SOLAR: 10.7,
}


def test_openllm_shape_and_groups(carrot: RoutingData) -> None:
    assert carrot.n_queries == 21_606  # SOURCE.md: 21,606 questions in all
    assert carrot.n_models == 19
    assert carrot.texts is None and carrot.gold is None
    assert set(carrot.sources) == {"bbh", "gpqa", "ifeval", "math_hard", "mmlu_pro", "musr"}
    assert len(set(carrot.categories)) == carrot.meta["n_tasks"] == 39
    counts = pd.Series(carrot.sources).value_counts().to_dict()
    assert counts["mmlu_pro"] == 12_032 and counts["ifeval"] == 541
    assert carrot.meta["tasks"]["bbh_boolean_expressions"] == {"n_questions": 250, "n_models": 19}
    assert carrot.query_ids[0] == "bbh_boolean_expressions-0"
    assert "mmlu_pro-12031" in set(carrot.query_ids)


def test_openllm_model_names_sizes_and_cost(carrot: RoutingData) -> None:
    assert {m.name: m.params_b for m in carrot.models} == EXPECTED_PARAMS
    assert carrot.models[carrot.model_index("Qwen/Qwen2-72B-Instruct")].family == "Qwen"
    assert carrot.cost_unit == "params_b"
    assert np.array_equal(carrot.cost, np.tile([EXPECTED_PARAMS[n] for n in carrot.model_names], (21_606, 1)))


def test_openllm_mmlu_pro_is_missing_exactly_for_solar(carrot: RoutingData) -> None:
    expected = np.zeros(carrot.Y.shape, dtype=bool)
    expected[carrot.sources == "mmlu_pro", carrot.model_index(SOLAR)] = True
    assert np.array_equal(np.isnan(carrot.Y), expected)
    assert carrot.meta["missing_cells"] == 12_032
    assert carrot.meta["missing_by_model"] == {SOLAR: 12_032}
    assert carrot.meta["tasks"]["mmlu_pro"]["missing_models"] == [SOLAR]


def test_openllm_values_and_binary_flag(carrot: RoutingData, carrot_inst: RoutingData) -> None:
    obs = carrot.observed
    assert set(np.unique(carrot.Y[obs])) == {0.0, 1.0} and carrot.meta["binary"] is True
    assert carrot_inst.meta["binary"] is False
    ifeval = carrot.sources == "ifeval"
    assert np.array_equal(carrot.Y[~ifeval], carrot_inst.Y[~ifeval], equal_nan=True)  # only IFEval differs
    inst = carrot_inst.Y[ifeval]
    assert np.allclose(np.unique(inst), [0, 1 / 3, 1 / 2, 2 / 3, 1])
    assert np.array_equal(carrot.Y[ifeval] == 1.0, inst == 1.0)  # a prompt passes iff all its instructions do
    notes = carrot.meta["ifeval"]
    assert notes["n_prompts"] == 541 and notes["n_instructions"] == 834
    assert notes["prompts_by_n_instructions"] == {"1": 305, "2": 179, "3": 57}


def test_openllm_split_is_the_seeded_hash_of_ids(carrot: RoutingData) -> None:
    fractions = {"train": 0.6, "val": 0.2, "test": 0.2}
    assert carrot.splits.tolist() == hash_split(carrot.query_ids, fractions, 0).tolist()
    reversed_ids = carrot.query_ids[::-1]
    assert hash_split(reversed_ids, fractions, 0).tolist() == carrot.splits[::-1].tolist()  # order-free
    assert carrot.meta["split"].startswith("seeded hash split, seed=0")
    sizes = carrot.split_sizes()
    assert abs(sizes["train"] / carrot.n_queries - 0.6) < 0.02


def test_openllm_alignment_check_is_recorded(carrot: RoutingData) -> None:
    check = carrot.meta["alignment_check"]
    members = [m for g in check["groups"] for m in g]
    assert sorted(members) == sorted(carrot.model_names)
    # Measured on the pinned file: four groups whose per-question results are uncorrelated with each other.
    assert check["n_groups"] == 4
    assert check["max_abs_corr_between_groups"] < 0.05


def test_openllm_parquet_round_trip(tmp_path: Path, carrot: RoutingData) -> None:
    assert_identical(read_parquet(write_parquet(carrot, tmp_path / "carrot.parquet")), carrot)


def test_alignment_groups_on_synthetic_data() -> None:
    rng = np.random.default_rng(0)
    difficulty = rng.random(2_000)
    y = (rng.random((2_000, 4)) < difficulty[:, None]).astype(float)
    tasks = np.array(["t"] * 2_000, dtype=object)
    assert openllm.alignment_groups(openllm.model_correlations(y, tasks)) == [[0, 1, 2, 3]]
    shuffled = y.copy()
    shuffled[:, 2:] = shuffled[rng.permutation(2_000)][:, 2:]  # models 2, 3 see another question order
    assert openllm.alignment_groups(openllm.model_correlations(shuffled, tasks)) == [[0, 1], [2, 3]]


@pytest.mark.parametrize(
    ("name", "size"),
    [
        ("mistralai/Mixtral-8x7B-Instruct-v0.1", 56.0),
        ("google/gemma-2b-it", 2.0),
        ("upstage/SOLAR-10.7B-Instruct-v1.0", 10.7),
        ("meta-llama/Meta-Llama-3.1-70B-Instruct", 70.0),
        ("Qwen/Qwen2.5-7B-Instruct", 7.0),
        ("deepseek-ai/deepseek-llm-67b-chat", 67.0),
        ("openai/gpt-4", None),
    ],
)
def test_parse_params_b(name: str, size: float | None) -> None:
    assert openllm.parse_params_b(name) == size


def test_unknown_model_size_is_a_clear_error() -> None:
    with pytest.raises(SchemaError, match=r"\['acme/mystery-model'\].*PARAMS_B_OVERRIDES"):
        openllm._params_table(["acme/mystery-model", "Qwen/Qwen2-72B-Instruct"])


def test_model_name_cleaning() -> None:
    assert openllm.model_name("open-llm-leaderboard/Qwen__Qwen2-72B-Instruct-details") == "Qwen/Qwen2-72B-Instruct"


# ----------------------------------------------------------------------------- restricted unpickler
class _Exploit:
    """Unpickling this would run a shell command that creates ``marker``."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return (os.system, (f"touch {self.marker}",))


def test_restricted_unpickler_refuses_os_system(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    path = tmp_path / openllm.PICKLE_FILE
    path.write_bytes(pickle.dumps({"leaderboard_x": _Exploit(marker)}))
    with pytest.raises(SchemaError, match=r"refusing to unpickle (posix|nt|os)\.system"):
        openllm.load_openllm_v2(tmp_path)
    assert not marker.exists()  # nothing ran


def test_restricted_unpickler_refuses_builtins() -> None:
    payload = pickle.dumps(eval)
    with pytest.raises(SchemaError, match=r"refusing to unpickle builtins\.eval"):
        openllm.RestrictedUnpickler(io.BytesIO(payload)).load()


def test_restricted_unpickler_reads_numpy_arrays() -> None:
    original = {"a": np.arange(6.0).reshape(2, 3), "b": np.array([True, False])}
    loaded = openllm.RestrictedUnpickler(io.BytesIO(pickle.dumps(original, protocol=5))).load()  # CARROT's protocol
    assert np.array_equal(loaded["a"], original["a"]) and np.array_equal(loaded["b"], original["b"])
    unpickler = openllm.RestrictedUnpickler(io.BytesIO(b""))
    old = unpickler.find_class("numpy.core.numeric", "_frombuffer")  # numpy<2 spelling
    assert old is unpickler.find_class("numpy._core.numeric", "_frombuffer")
    assert unpickler.find_class("numpy", "dtype") is np.dtype


def test_read_pickle_errors(tmp_path: Path) -> None:
    with pytest.raises(DataNotFoundError, match="No CARROT pickle"):
        openllm.read_pickle(tmp_path / "absent.pickle")
    truncated = tmp_path / "truncated.pickle"
    truncated.write_bytes(pickle.dumps({"x": np.arange(100.0)})[:50])
    with pytest.raises(SchemaError, match="not a readable pickle"):
        openllm.read_pickle(truncated)
    listed = tmp_path / "list.pickle"
    listed.write_bytes(pickle.dumps([1, 2]))
    with pytest.raises(SchemaError, match="expected a dict"):
        openllm.read_pickle(listed)


def test_openllm_options_are_checked(tmp_path: Path) -> None:
    with pytest.raises(SchemaError, match="ifeval_level must be one of prompt, inst"):
        openllm.load_openllm_v2(tmp_path, ifeval_level="instruction")
    with pytest.raises(DataNotFoundError):
        openllm.load_openllm_v2(None)


def test_openllm_aligns_models_by_id_on_a_tiny_pickle(tmp_path: Path) -> None:
    ids = [f"open-llm-leaderboard/org__m{k}-{k}B-details" for k in (1, 2, 3)]
    raw = {
        "leaderboard_bbh_a": {"correctness": np.array([[1.0, 0.0], [0.0, 0.0], [1.0, 1.0]]), "models": ids},
        "leaderboard_mmlu_pro": {"correctness": np.array([[1.0], [0.0]]), "models": [ids[2], ids[0]]},
    }
    (tmp_path / openllm.PICKLE_FILE).write_bytes(pickle.dumps(raw, protocol=5))
    data = openllm.load_openllm_v2(tmp_path)
    assert data.model_names == ["org/m1-1B", "org/m2-2B", "org/m3-3B"]
    assert np.array_equal(data.Y, [[1, 0, 1], [0, 0, 1], [0, np.nan, 1]], equal_nan=True)
    assert data.query_ids.tolist() == ["bbh_a-0", "bbh_a-1", "mmlu_pro-0"]


# ============================================================================= routellm-evals
@pytest.fixture(scope="module")
def rl() -> RoutingData:
    return load(ROUTELLM, path=_folder(ROUTELLM))


@pytest.fixture(scope="module")
def rl_all() -> RoutingData:
    return routellm.load_routellm(_folder(ROUTELLM), include_contaminated=True)


def _count(data: RoutingData) -> dict[str, int]:
    return {str(k): int(v) for k, v in pd.Series(data.sources).value_counts().items()}


def test_routellm_counts_per_benchmark(rl: RoutingData, rl_all: RoutingData) -> None:
    # RouteLLM prints 14037/14042 (MMLU), 1307/1319 (GSM8K) and 72 MT-Bench questions after decontamination.
    assert _count(rl) == {"mmlu": 14_037, "gsm8k": 1_307, "mt_bench": 72}
    assert _count(rl_all) == {"mmlu": 14_042, "gsm8k": 1_319, "mt_bench": 80}
    bench = rl.meta["benchmarks"]
    assert [bench[b]["contaminated_dropped"] for b in ("mmlu", "gsm8k", "mt_bench")] == [5, 12, 8]
    assert [rl_all.meta["benchmarks"][b]["contaminated_dropped"] for b in ("mmlu", "gsm8k", "mt_bench")] == [0, 0, 0]
    assert bench["mmlu"]["n_subjects"] == 57 and len(set(rl.categories[rl.sources == "mmlu"])) == 57
    assert rl.n_models == 2 and rl.model_names == [routellm.WEAK, routellm.STRONG]


def test_routellm_contaminated_prompts_are_dropped(rl: RoutingData, rl_all: RoutingData) -> None:
    root = _folder(ROUTELLM)
    for bench in ("mmlu", "gsm8k", "mt_bench"):
        bad = routellm.contaminated_prompts(root / bench)
        assert bad
        assert not bad & set(rl.texts[rl.sources == bench])  # type: ignore[index]
    gsm_bad = routellm.contaminated_prompts(root / "gsm8k")
    assert gsm_bad <= set(rl_all.texts[rl_all.sources == "gsm8k"])  # type: ignore[index]


def test_routellm_values(rl: RoutingData) -> None:
    assert np.nanmin(rl.Y) >= 0 and np.nanmax(rl.Y) <= 1
    assert rl.meta["missing_cells"] == 0
    binary = rl.sources != "mt_bench"
    assert set(np.unique(rl.Y[binary])) == {0.0, 1.0}
    assert rl.raw_score is not None and np.array_equal(rl.raw_score[binary], rl.Y[binary])
    assert rl.cost_unit == "usd_per_1m_tokens"
    assert np.array_equal(np.unique(rl.cost, axis=0), [[0.24, 20.0]])
    strong = rl.models[1]
    assert (strong.input_price, strong.output_price) == (10.0, 30.0)


def test_routellm_mt_bench_scores(rl: RoutingData) -> None:
    mt = rl.sources == "mt_bench"
    raw = rl.raw_score[mt]  # type: ignore[index]
    assert np.nanmin(raw) >= 1 and np.nanmax(raw) <= 10
    assert np.allclose(rl.Y[mt], (raw - 1) / 9)
    bench = rl.meta["benchmarks"]["mt_bench"]
    assert bench["judgements_failed_minus_1"] == 0 and bench["judgements_missing"] == 0
    assert bench["judgements_expected"] == 72 * 2 * 2
    assert bench["judgements_non_integer"] == 2  # two GPT-4 ratings of 8.5 and 9.5
    judgements = pd.read_json(_folder(ROUTELLM) / "mt_bench" / "judgements.jsonl", lines=True)
    qid = int(rl.query_ids[mt][0].split("-")[1])
    for k, model in enumerate(rl.model_names):
        turns = judgements[(judgements["question_id"] == qid) & (judgements["model"] == model)]["score"]
        assert len(turns) == 2 and raw[0, k] == turns.mean()
    questions = pd.read_json(_folder(ROUTELLM) / "mt_bench" / "question.jsonl", lines=True)
    first_turn = questions.set_index("question_id").loc[qid, "turns"][0]
    assert rl.texts[mt][0] == first_turn  # type: ignore[index]
    assert set(rl.categories[mt]) == {
        "writing", "roleplay", "reasoning", "math", "coding", "extraction", "stem", "humanities",
    }  # fmt: skip


def test_routellm_ids_and_gold(rl: RoutingData) -> None:
    ids = set(rl.query_ids)
    # gsm8k-0 (Janet's ducks) and MT-Bench question 81 are on RouteLLM's contaminated lists.
    assert {"mmlu-anatomy-0", "gsm8k-0", "gsm8k-5", "mt_bench-81", "mt_bench-82"} & ids == {
        "mmlu-anatomy-0", "gsm8k-5", "mt_bench-82",
    }  # fmt: skip
    gsm = rl.sources == "gsm8k"
    assert rl.meta["benchmarks"]["gsm8k"]["gold_joined"] == 1_307
    test = pd.read_json(_folder(ROUTELLM) / "gsm8k" / "test.jsonl", lines=True)
    expected = test["answer"][5].rsplit("####", 1)[1].strip()
    assert rl.gold is not None and rl.gold[rl.query_ids == "gsm8k-5"][0] == expected
    assert rl.texts is not None and rl.texts[rl.query_ids == "gsm8k-5"][0] == test["question"][5]
    assert all(g is not None and g.strip() for g in rl.gold[gsm])
    assert all(g is None for g in rl.gold[rl.sources == "mmlu"])
    assert rl.meta["benchmarks"]["mt_bench"]["gold_references"] > 0


def test_routellm_split_is_seeded_order_free_and_groups_duplicates(rl: RoutingData) -> None:
    keys = routellm._split_keys(rl.query_ids.tolist(), rl.sources.tolist(), rl.texts.tolist())  # type: ignore[union-attr]
    assert rl.splits.tolist() == hash_split(keys, DEFAULT_FRACTIONS, 0).tolist()
    rev = routellm._split_keys(rl.query_ids[::-1].tolist(), rl.sources[::-1].tolist(), rl.texts[::-1].tolist())  # type: ignore[index]
    assert rev == keys[::-1]  # keys do not depend on row order
    frame = pd.DataFrame({"source": rl.sources, "text": rl.texts, "split": rl.splits})
    assert (frame.groupby(["source", "text"])["split"].nunique() == 1).all()
    assert rl.meta["benchmarks"]["mmlu"]["duplicate_prompts"] == 105  # repeated MMLU questions
    assert "seeded hash split, seed=0" in rl.meta["split"]


def test_routellm_seed_changes_split() -> None:
    a = routellm.load_routellm(_folder(ROUTELLM), benchmarks=("mt_bench",), seed=0)
    b = routellm.load_routellm(_folder(ROUTELLM), benchmarks=("mt_bench",), seed=1)
    assert a.n_queries == b.n_queries == 72
    assert a.splits.tolist() != b.splits.tolist()
    assert set(a.sources) == {"mt_bench"}


def test_routellm_parquet_round_trip(tmp_path: Path, rl: RoutingData) -> None:
    assert_identical(read_parquet(write_parquet(rl, tmp_path / "routellm.parquet")), rl)


def test_routellm_failed_judgements_are_missing(tmp_path: Path) -> None:
    """A -1 score is left out of the question's mean; with both turns failed the cell is NaN."""
    src = _folder(ROUTELLM) / "mt_bench"
    dst = tmp_path / "mt_bench"
    shutil.copytree(src, dst)
    rows = [json.loads(line) for line in (src / "judgements.jsonl").read_text().splitlines()]
    for r in rows:
        if r["question_id"] == 82 and r["model"] == routellm.STRONG and r["turn"] == 1:
            r["score"] = -1
        if r["question_id"] == 83 and r["model"] == routellm.WEAK:
            r["score"] = -1
    (dst / "judgements.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    data = routellm.load_routellm(tmp_path, benchmarks=("mt_bench",))
    other_turn = next(r["score"] for r in rows if (r["question_id"], r["model"], r["turn"]) == (82, routellm.STRONG, 2))
    i82, i83 = (int(np.flatnonzero(data.query_ids == f"mt_bench-{q}")[0]) for q in (82, 83))
    assert data.raw_score is not None and data.raw_score[i82, 1] == other_turn
    assert np.isnan(data.Y[i83, 0]) and np.isnan(data.cost[i83, 0])
    assert data.meta["benchmarks"]["mt_bench"]["judgements_failed_minus_1"] == 3
    assert data.meta["missing_cells"] == 1


def test_routellm_option_errors(tmp_path: Path) -> None:
    with pytest.raises(SchemaError, match=r"subset of \['mmlu', 'gsm8k', 'mt_bench'\]"):
        routellm.load_routellm(tmp_path, benchmarks=("mmlu", "humaneval"))
    with pytest.raises(DataNotFoundError, match=r"gsm8k_responses\.csv"):
        routellm.load_routellm(tmp_path, benchmarks=("gsm8k",))
    with pytest.raises(DataNotFoundError, match="mmlu_"):
        routellm.load_routellm(tmp_path, benchmarks=("mmlu",))


def test_routellm_bad_correctness_value(tmp_path: Path) -> None:
    folder = tmp_path / "gsm8k"
    folder.mkdir()
    pd.DataFrame({"prompt": ["a", "b"], routellm.WEAK: ["True", "maybe"], routellm.STRONG: ["True", "False"]}).to_csv(
        folder / "gsm8k_responses.csv", index=False
    )
    with pytest.raises(SchemaError, match=r"must be True/False\. Got 'maybe' at row 2"):
        routellm.load_routellm(tmp_path, benchmarks=("gsm8k",))
