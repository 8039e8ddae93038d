"""Loaders for public routing benchmarks, one module each, registered by dataset folder name.

Each loader is a function ``load(root: Path | None, **options) -> RoutingData`` that parses the
benchmark's *original* public files found under ``root`` (see :mod:`routerlab.data.registry` for
where ``root`` comes from). Modules are imported only when their dataset is loaded.
"""

from __future__ import annotations

from routerlab.data.registry import DatasetSpec, register_dataset

_GH = "https://raw.githubusercontent.com"
# the 57 MMLU subjects of RouteLLM's evals/mmlu/responses/ (needed to download them by name)
_MMLU_SUBJECTS = (
    "abstract_algebra",
    "anatomy",
    "astronomy",
    "business_ethics",
    "clinical_knowledge",
    "college_biology",
    "college_chemistry",
    "college_computer_science",
    "college_mathematics",
    "college_medicine",
    "college_physics",
    "computer_security",
    "conceptual_physics",
    "econometrics",
    "electrical_engineering",
    "elementary_mathematics",
    "formal_logic",
    "global_facts",
    "high_school_biology",
    "high_school_chemistry",
    "high_school_computer_science",
    "high_school_european_history",
    "high_school_geography",
    "high_school_government_and_politics",
    "high_school_macroeconomics",
    "high_school_mathematics",
    "high_school_microeconomics",
    "high_school_physics",
    "high_school_psychology",
    "high_school_statistics",
    "high_school_us_history",
    "high_school_world_history",
    "human_aging",
    "human_sexuality",
    "international_law",
    "jurisprudence",
    "logical_fallacies",
    "machine_learning",
    "management",
    "marketing",
    "medical_genetics",
    "miscellaneous",
    "moral_disputes",
    "moral_scenarios",
    "nutrition",
    "philosophy",
    "prehistory",
    "professional_accounting",
    "professional_law",
    "professional_medicine",
    "professional_psychology",
    "public_relations",
    "security_studies",
    "sociology",
    "us_foreign_policy",
    "virology",
    "world_religions",
)

register_dataset(
    DatasetSpec(
        name="llmrouter-dcrouter",
        loader="routerlab.data.loaders.llmrouter:load_dcrouter",
        description="LLMRouter's DCRouter data: 6,108 queries from 14 tasks x 9 models, 0/1 and F1 scores, "
        "prices per model; joined with source task, gold answer and metric.",
        license="MIT",
        homepage="https://github.com/ulab-uiuc/LLMRouter",
        files=("train.json", "test.json", "query_train.jsonl", "query_test.jsonl", "llm_candidates.json"),
        base_url=f"{_GH}/ulab-uiuc/LLMRouter/4e7a796942ce26e9d5f2b93191c7c2585c99c2e3/data",
        extra={
            "remote": {
                "train.json": "dcrouter_preprocessed/train.json",
                "test.json": "dcrouter_preprocessed/test.json",
                "query_train.jsonl": "example_data/query_data/default_query_train.jsonl",
                "query_test.jsonl": "example_data/query_data/default_query_test.jsonl",
                "llm_candidates.json": "example_data/llm_candidates/default_llm.json",
            }
        },
    )
)
register_dataset(
    DatasetSpec(
        name="routerdc-7models",
        loader="routerlab.data.loaders.routerdc:load_routerdc",
        description="RouterDC's split2_model7 data: 7 open 7-8B models on MMLU, GSM8K, ARC, CMMLU, HumanEval "
        "(train/test) plus MATH-prealgebra, C-Eval, JavaScript and MBPP as out-of-distribution tests.",
        license="none stated (research and test use only; not shipped)",
        homepage="https://github.com/shuhao02/RouterDC",
        base_url=f"{_GH}/shuhao02/RouterDC/0e63989c5bf4363330b8a4616386e3f7f116d9f8/datasets/split2_model7",
        files=(
            "mmlu_train.json",
            "mmlu_test.json",
            "gsm8k-train.json",
            "gsm8k-test.json",
            "arc_challenge_train.json",
            "arc_challenge_test.json",
            "arc_easy_train.json",
            "arc_easy_test.json",
            "cmmlu_train.json",
            "cmmlu_test.json",
            "humaneval_train.json",
            "humaneval_test.json",
            "MATH_prealgebra.json",
            "ceval.json",
            "javascript.json",
            "mbpp.json",
        ),
    )
)
register_dataset(
    DatasetSpec(
        name="routerbench-0shot-subset",
        loader="routerlab.data.loaders.routerbench:load_routerbench_subset",
        responses="routerlab.data.loaders.routerbench:load_routerbench_responses",
        description="RouterBench 0-shot rows (11 models, real per-call USD costs and responses) for ARC-Challenge, "
        "MBPP and Winogrande, in RouterDC's train/test split.",
        license="MIT (RouterBench dataset card)",
        homepage="https://github.com/shuhao02/RouterDC",
        base_url=f"{_GH}/shuhao02/RouterDC/0e63989c5bf4363330b8a4616386e3f7f116d9f8/datasets/routerbench_zs",
        files=(
            "arc_challenge_train.csv",
            "arc_challenge_test.csv",
            "mbpp_train.csv",
            "mbpp_test.csv",
            "winograde_train.csv",
            "winograde_test.csv",
        ),
    )
)
register_dataset(
    DatasetSpec(
        name="openllm-leaderboard-v2",
        loader="routerlab.data.loaders.openllm:load_openllm_v2",
        description="Per-question correctness of the Open LLM Leaderboard v2 models on 39 tasks (BBH, GPQA, IFEval, "
        "MATH-hard, MMLU-Pro, MuSR) as packaged by CARROT; no question text.",
        license="none stated (research and test use only; not shipped)",
        homepage="https://github.com/somerstep/CARROT",
        base_url=f"{_GH}/somerstep/CARROT/2d47d1fd4e7870d095fcd3b4f8aa87185b5d8e3d/data/open-llm-lb-v2",
        files=("new_leaderboard_processed_20241205.pickle",),
    )
)
register_dataset(
    DatasetSpec(
        name="routellm-evals",
        loader="routerlab.data.loaders.routellm:load_routellm",
        responses="routerlab.data.loaders.routellm:load_routellm_responses",
        description="RouteLLM's evaluation data for the GPT-4 / Mixtral-8x7B pair: MMLU (57 subjects), GSM8K and "
        "MT-Bench (GPT-4 judge scores 1-10).",
        license="Apache-2.0",
        homepage="https://github.com/lm-sys/RouteLLM",
        base_url=f"{_GH}/lm-sys/RouteLLM/0b64fdafe049e596a3f5657c219329f24af24198/routellm/evals",
        files=(
            "gsm8k/gsm8k_responses.csv",
            "gsm8k/test.jsonl",
            "gsm8k/contaminated_prompts.jsonl",
            "mmlu/contaminated_prompts.jsonl",
            "mt_bench/judgements.jsonl",
            "mt_bench/question.jsonl",
            "mt_bench/contaminated_prompts.jsonl",
            *(f"mmlu/responses/mmlu_{subject}.csv" for subject in _MMLU_SUBJECTS),
        ),
    )
)
register_dataset(
    DatasetSpec(
        name="routerlab-mini",
        loader="routerlab.data.loaders.shipped:load_mini",
        description="A stratified 1,200-query subset of llmrouter-dcrouter (MIT) shipped inside the package, so "
        "`routerlab evaluate` works offline on a fresh install.",
        license="MIT (LLMRouter, ulab-uiuc)",
        homepage="https://github.com/ulab-uiuc/LLMRouter",
        shipped=True,
    )
)
register_dataset(
    DatasetSpec(
        name="routerlab-dcrouter",
        loader="routerlab.data.loaders.shipped:load_dcrouter",
        description="All 5,989 llmrouter-dcrouter queries (MIT) shipped inside the package, re-split 60/10/30 within "
        "each task so that the test split (1,796 queries) can show a router's gain; the default of `routerlab "
        "evaluate`. Not the public split: use llmrouter-dcrouter for that.",
        license="MIT (LLMRouter, ulab-uiuc)",
        homepage="https://github.com/ulab-uiuc/LLMRouter",
        shipped=True,
    )
)
