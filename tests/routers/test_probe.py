"""The hidden-state probe routers (routerlab.routers.probe): ProbeFinal, ProbeMean, ProbeDirichlet.

Synthetic features with a known layer structure: ``L`` layers of ``d`` dimensions, stacked layer-major
like the ``hidden:`` encoders' rows, each layer on its own scale (1 to 100, as the residual stream
grows with depth); the small model is right with probability ``σ(3·u·h_k)`` for the signal layer(s)
``k`` and every other layer is noise. The probes must find the layer (RouterXBench, arXiv:2602.11877,
§4 and App. C), the final-layer probe must fail when the signal is early (§5.3, Tab. 3), and the
scores must route through the shared policy as Eq. 1 says.
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np
import pytest

from routerlab.data import ModelInfo, RoutingData
from routerlab.errors import InvalidParameterError, SchemaError
from routerlab.metrics import auroc_score, call_rate_curve, lpm_score
from routerlab.routers import load_router, make_router, save_router
from routerlab.routers.probe import ProbeDirichlet, encoder_n_layers, split_layers, with_encoder_layout

torch = pytest.importorskip("torch", reason="ProbeDirichlet needs torch: pip install 'routerlab[embed]'")

L, D = 6, 8
#: short, fast Dirichlet fits: the synthetic signal is strong, 20 epochs at lr 1e-2 reach it
FAST: dict[str, Any] = {"n_layers": L, "lr": 1e-2, "epochs": 20}


def layered_problem(
    signal: tuple[int, ...], *, n: int = 1000, seed: int = 0, large_accuracy: float = 0.8
) -> tuple[RoutingData, np.ndarray]:
    """(small, large) pair; the small model's correctness is carried by the layers in ``signal`` only."""
    g = np.random.default_rng(seed)
    scales = np.geomspace(1.0, 100.0, L)
    H = g.normal(size=(n, L, D)) * scales[None, :, None]
    u = g.normal(size=D)
    u /= np.linalg.norm(u)
    t = sum((H[:, k, :] / scales[k]) @ u for k in signal)
    y_small = (g.random(n) < 1.0 / (1.0 + np.exp(-3.0 * t))).astype(float)
    y_large = (g.random(n) < large_accuracy).astype(float)
    splits = np.where(np.arange(n) < int(0.7 * n), "train", "test").astype(object)
    data = RoutingData(
        name=f"layered-{signal}",
        query_ids=np.array([f"q{i:05d}" for i in range(n)], dtype=object),
        texts=np.array([f"query {i}" for i in range(n)], dtype=object),
        sources=np.array(["synthetic"] * n, dtype=object),
        splits=splits,
        models=(
            ModelInfo(name="large", input_price=1.0, output_price=1.0),  # column 0: the default must find "small"
            ModelInfo(name="small", input_price=0.0, output_price=0.0),
        ),
        Y=np.c_[y_large, y_small],
        cost=np.tile([1.0, 0.01], (n, 1)),
        cost_unit="usd",
    )
    return data, H.reshape(n, L * D).astype(np.float32)


def _split(data: RoutingData, X: np.ndarray) -> tuple[RoutingData, np.ndarray, RoutingData, np.ndarray]:
    tr, te = data.splits == "train", data.splits == "test"
    return data.subset(tr), X[tr], data.subset(te), X[te]


def _auroc(router: Any, test: RoutingData, X: np.ndarray) -> float:
    return auroc_score(score=router.predict_small_proba(X), label=test.Y[:, 1])


@pytest.fixture(scope="module")
def middle() -> dict[str, Any]:
    """Signal in layer 3 only: the three aggregations fitted once."""
    train, Xtr, test, Xte = _split(*layered_problem((3,)))
    fitted = {
        "final": make_router("probe_final", n_layers=L).fit(train, Xtr),
        "mean": make_router("probe_mean", n_layers=L).fit(train, Xtr),
        "dirichlet": make_router("probe_dirichlet", **FAST).fit(train, Xtr),
    }
    return {"train": train, "Xtr": Xtr, "test": test, "Xte": Xte, **fitted}


def test_dirichlet_puts_its_weight_on_the_signal_layer_and_beats_the_mean(middle: dict[str, Any]) -> None:
    w = middle["dirichlet"].layer_weights_
    assert w.shape == (L,) and np.isclose(w.sum(), 1.0)
    assert int(np.argmax(w)) == 3 and w[3] > 0.4, w  # started uniform (1/6): it moved towards layer 3
    # E[w] = α / Σα (Eq. 15): the stored weights are the normalised concentration
    np.testing.assert_allclose(middle["dirichlet"].concentration_ / middle["dirichlet"].concentration_.sum(), w)
    dirichlet = _auroc(middle["dirichlet"], middle["test"], middle["Xte"])
    mean = _auroc(middle["mean"], middle["test"], middle["Xte"])
    assert dirichlet > 0.8 and dirichlet > mean + 0.1, (dirichlet, mean)


def test_on_noise_the_stopping_rule_keeps_the_constant_start_and_patience_0_trains_every_epoch() -> None:
    """The collapse seen on real near-chance data (README, RouterXBench's tables): with labels that are
    noise, no epoch beats the base-rate start on the held-out split, so epoch 0 is kept and every query
    gets one score; ``patience=0`` is the paper's schedule (§5.1: 50 epochs, no split) and keeps the last."""
    train, Xtr, _, Xte = _split(*layered_problem((), n=400, seed=3))
    stopped = make_router("probe_dirichlet", **FAST).fit(train, Xtr)
    assert stopped.best_epoch_ == 0 and np.ptp(stopped.predict_small_proba(Xte)) == 0.0
    paper = make_router("probe_dirichlet", **FAST, patience=0).fit(train, Xtr)
    assert len(paper.loss_history_) == FAST["epochs"] and len(paper.val_loss_history_) == 0
    assert paper.best_epoch_ == FAST["epochs"] and np.ptp(paper.predict_small_proba(Xte)) > 0.0
    with pytest.raises(InvalidParameterError, match=r"patience must be an int >= 0\. Got -1"):
        make_router("probe_dirichlet", **FAST, patience=-1).fit(train, Xtr)


def test_dirichlet_stays_close_to_the_mean_when_every_layer_is_informative() -> None:
    """§5.2: "both variants perform competitively" — with the signal in every layer, Mean is the right
    aggregation and the learned weights must not wander far from it (nor lose much AUROC)."""
    train, Xtr, test, Xte = _split(*layered_problem(tuple(range(L))))
    mean = make_router("probe_mean", n_layers=L).fit(train, Xtr)
    dirichlet = make_router("probe_dirichlet", **FAST).fit(train, Xtr)
    assert dirichlet.layer_weights_.max() < 0.3 and dirichlet.layer_weights_.min() > 0.1  # uniform is 1/6
    assert _auroc(dirichlet, test, Xte) > _auroc(mean, test, Xte) - 0.06 > 0.85


def test_fixed_aggregations_have_the_papers_weights(middle: dict[str, Any]) -> None:
    np.testing.assert_array_equal(middle["mean"].layer_weights_, np.full(L, 1 / L))
    np.testing.assert_array_equal(middle["final"].layer_weights_, np.eye(L)[-1])


def test_final_layer_probe_fails_when_the_signal_is_early() -> None:
    train, Xtr, test, Xte = _split(*layered_problem((0,), seed=1))
    final = make_router("probe_final", n_layers=L).fit(train, Xtr)
    first = make_router("probe_final", n_layers=L, layer=0).fit(train, Xtr)
    assert abs(_auroc(final, test, Xte) - 0.5) < 0.08  # the last layer is noise: chance
    assert _auroc(first, test, Xte) > 0.85  # the same probe on layer 0 reads the signal


def test_scores_route_as_eq_1_through_the_shared_policy(middle: dict[str, Any]) -> None:
    """small: p̂; large: its training accuracy; U(λ) picks large iff (1 − λ)·(ȳ_L − p̂) > λ·(c̃_L − c̃_S)."""
    router, test, Xte = middle["dirichlet"], middle["test"], middle["Xte"]
    p = router.predict_small_proba(Xte)
    scores = router.predict_scores(test, Xte)
    assert router.model_names_[router.small_index_] == "small"  # the cheaper column, found by cost
    np.testing.assert_array_equal(scores[:, 1], p)
    np.testing.assert_array_equal(scores[:, 0], np.nanmean(middle["train"].Y[:, 0]))
    decisions = router.decide(test, Xte)
    gap = scores[0, 0] - p  # ȳ_L − p̂
    cost = decisions.scale.normalize(decisions.cost_estimate)  # c̃ on the training cost scale
    dc = cost[:, 0] - cost[:, 1]
    for lam in (0.0, 0.1, 0.3):
        expected = np.where((1 - lam) * gap > lam * dc, 0, 1)  # a tie goes to the cheaper (small) model
        assert 0 < expected.sum() < len(expected) or lam == 0.3  # both models get queries: a real threshold
        np.testing.assert_array_equal(decisions.choose(lam=lam), expected, err_msg=f"λ={lam}")
    # the report's strong-model score (scores[:, L] − scores[:, S]) has the probe's AUROC
    strong = scores[:, 0] - scores[:, 1]
    label = test.Y[:, 1]
    assert auroc_score(score=-strong, label=label) == auroc_score(score=p, label=label)
    # and so its call-rate curve Φ (Eqs. 2–5), hence LPM / MPM / HCR (Eqs. 6–11), is the probe's own
    from_scores = call_rate_curve(y_small=label, y_large=test.Y[:, 0], strong_score=strong)
    from_probe = call_rate_curve(y_small=label, y_large=test.Y[:, 0], p_small_suffices=p)
    np.testing.assert_array_equal(from_scores.x, from_probe.x)
    np.testing.assert_array_equal(from_scores.y, from_probe.y)
    assert lpm_score(curve=from_scores, d1=0.3) == lpm_score(curve=from_probe, d1=0.3)


def test_a_fixed_seed_reproduces_and_another_seed_differs() -> None:
    train, Xtr, test, Xte = _split(*layered_problem((3,), n=400, seed=2))
    a = make_router("probe_dirichlet", random_state=5, **FAST).fit(train, Xtr).predict_scores(test, Xte)
    b = make_router("probe_dirichlet", random_state=5, **FAST).fit(train, Xtr).predict_scores(test, Xte)
    c = make_router("probe_dirichlet", random_state=6, **FAST).fit(train, Xtr).predict_scores(test, Xte)
    assert a.tobytes() == b.tobytes()
    assert not np.array_equal(a, c)


def test_mlp_probe_adds_nothing_over_the_linear_head(middle: dict[str, Any]) -> None:
    """§6, Fig. 3: a hidden layer does not help when the signal is linear in the hidden states."""
    mlp = make_router("probe_dirichlet", hidden=32, **FAST).fit(middle["train"], middle["Xtr"])
    assert mlp.hidden_coef_.shape == (D, 32)
    linear = _auroc(middle["dirichlet"], middle["test"], middle["Xte"])
    assert _auroc(mlp, middle["test"], middle["Xte"]) <= linear + 0.02


@pytest.mark.parametrize("kind", ["final", "mean", "dirichlet"])
def test_save_load_gives_identical_scores_and_needs_no_torch_to_predict(
    middle: dict[str, Any], kind: str, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    router, test, Xte = middle[kind], middle["test"], middle["Xte"]
    save_router(router, tmp_path / kind, encoder="hidden:test")
    monkeypatch.setitem(sys.modules, "torch", None)  # the fitted state is numpy: loading and predicting need no torch
    loaded = load_router(tmp_path / kind, encoder="hidden:test")
    assert type(loaded) is type(router)
    assert loaded.predict_scores(test, Xte).tobytes() == router.predict_scores(test, Xte).tobytes()


def test_graded_outcomes_are_soft_labels_and_missing_ones_are_skipped() -> None:
    data, X = layered_problem((3,), n=600, seed=4)
    Y = data.Y.copy()
    missing = np.arange(600) % 3 == 0
    Y[missing, 1] = np.nan  # a third of the small model's outcomes unobserved
    Y[1::3, 1] = np.where(Y[1::3, 1] == 1, 0.9, 0.1)  # and a third graded
    train, Xtr, _, Xte = _split(_replace_y(data, Y), X)
    router = make_router("probe_mean", n_layers=L).fit(train, Xtr)
    # missing outcomes are no labels: the probe is the one fitted on the observed rows alone
    seen = train.observed[:, 1]
    alone = make_router("probe_mean", n_layers=L).fit(train.subset(seen), Xtr[seen])
    np.testing.assert_allclose(router.predict_small_proba(Xte), alone.predict_small_proba(Xte), rtol=1e-9)
    # soft labels: the unpenalised intercept's optimum makes the mean estimate the mean (graded) outcome
    y = train.Y[seen, 1]
    assert abs(router.predict_small_proba(Xtr[seen]).mean() - y.mean()) < 1e-4
    assert set(np.unique(y)) == {0.0, 0.1, 0.9, 1.0}


def _replace_y(data: RoutingData, Y: np.ndarray) -> RoutingData:
    import dataclasses

    return dataclasses.replace(data, Y=Y)


# ---------------------------------------------------------------------------------------------- bad input
def test_bad_layer_layouts_name_the_field_the_value_and_the_fix() -> None:
    train, Xtr, _, _ = _split(*layered_problem((3,), n=200, seed=3))
    with pytest.raises(SchemaError, match=r"ProbeMean: the feature width 48 is not divisible by n_layers=5") as err:
        make_router("probe_mean", n_layers=5).fit(train, Xtr)
    assert "divisors of 48: [1, 2, 3, 4, 6, 8, 12, 16, 24, 48]" in str(err.value)
    with pytest.raises(SchemaError, match=r"ProbeDirichlet: n_layers is None.*width 48.*n_layers=31"):
        ProbeDirichlet().fit(train, Xtr)
    with pytest.raises(SchemaError, match=r"ProbeFinal: layer=6 is out of range for features of n_layers=6.*\[-6, 5\]"):
        make_router("probe_final", n_layers=L, layer=6).fit(train, Xtr)
    with pytest.raises(SchemaError, match=r"small_model='tiny' is not in the pool \['large', 'small'\]"):
        make_router("probe_mean", n_layers=L, small_model="tiny").fit(train, Xtr)


def test_the_small_model_without_outcomes_is_a_clear_error() -> None:
    data, X = layered_problem((3,), n=200, seed=3)
    Y = data.Y.copy()
    Y[:, 1] = np.nan
    train, Xtr, _, _ = _split(_replace_y(data, Y), X)
    with pytest.raises(SchemaError, match=r"the small model 'small' has no observed outcome"):
        make_router("probe_mean", n_layers=L, small_model="small").fit(train, Xtr)


def test_split_layers_is_layer_major() -> None:
    X = np.arange(2 * 3 * 4).reshape(2, 12)
    H = split_layers(X, 3, "t")
    np.testing.assert_array_equal(H[1, 2], [20, 21, 22, 23])  # row 1, layer 2 = columns 8..11


def test_the_encoder_identity_fills_n_layers_and_nothing_else() -> None:
    """hidden: encoders end their identity in :layers=<SEL>:shape=<n_states>x<dim> (routerlab.data.features.hidden)."""
    identity = "hidden:smollm2-135m@abc:prompt=v1:layers=all:shape=31x576"
    assert encoder_n_layers(identity) == 31
    assert encoder_n_layers(identity.replace("layers=all", "layers=final")) == 1  # one state per row
    assert encoder_n_layers("minilm:all-MiniLM-L6-v2") is None

    class Layout:
        layers, n_states = "all", 6

    class HiddenEncoder:
        name, layout = "hidden:test", Layout()

    filled = with_encoder_layout(make_router("probe_dirichlet"), HiddenEncoder())
    assert filled.get_params()["n_layers"] == 6
    assert with_encoder_layout(make_router("probe_mean"), identity).get_params()["n_layers"] == 31
    kept = with_encoder_layout(make_router("probe_mean", n_layers=3), identity)
    assert kept.get_params()["n_layers"] == 3  # an explicit value is kept (and checked against the width at fit)
    assert with_encoder_layout(make_router("knn"), identity).get_params() == {"k": 10, "weights": "uniform"}
    assert with_encoder_layout(make_router("probe_final"), "minilm").get_params()["n_layers"] is None


def test_a_feature_router_over_a_hidden_encoder_gives_the_probe_its_layers() -> None:
    """FeatureRouter(encoder=hidden:..., router="probe_mean") needs no n_layers: the identity carries 6x8."""
    from routerlab.data.features.encoders import ENCODERS
    from routerlab.routers.pipeline import FeatureRouter

    data, X = layered_problem((3,), n=300, seed=5)
    rows = {text: X[i] for i, text in enumerate(data.texts)}

    class FakeHidden:
        name = f"hidden:fake:layers=all:shape={L}x{D}"
        dim = L * D

        def encode(self, texts, *, batch_size=64, progress=None):  # type: ignore[no-untyped-def]
            return np.stack([rows[t] for t in texts])

    ENCODERS.register("fake_hidden", lambda: FakeHidden())
    try:
        train, Xtr, test, Xte = _split(data, X)
        pipeline = FeatureRouter(encoder="fake_hidden", router="probe_mean").fit(train)
        assert pipeline.router_.n_layers == L and pipeline.get_params()["router"] == "probe_mean"
        direct = make_router("probe_mean", n_layers=L).fit(train, Xtr)
        np.testing.assert_allclose(pipeline.predict_scores(test), direct.predict_scores(test, Xte), rtol=1e-6)
    finally:
        ENCODERS.unregister("fake_hidden")


def test_the_seed_protocol_runs_a_probe_over_a_hidden_encoder_without_being_told_its_layers(tmp_path: Any) -> None:
    """`routerlab evaluate --encoder hidden:... --router probe_mean`: the sweep and the final fit fill n_layers."""
    from routerlab.data.features.encoders import ENCODERS
    from routerlab.experiments.protocol import evaluate_protocol

    data, X = layered_problem((3,), n=300, seed=6)
    data = data.with_splits(np.array(["train", "val", "test"], dtype=object)[np.arange(300) % 5 // 2])
    rows = {text: X[i] for i, text in enumerate(data.texts)}

    class FakeHidden:
        name = f"hidden:fake:layers=all:shape={L}x{D}"
        dim = L * D

        def encode(self, texts, *, batch_size=64, progress=None):  # type: ignore[no-untyped-def]
            return np.stack([rows[t] for t in texts])

    ENCODERS.register("fake_hidden", lambda: FakeHidden())
    try:
        result = evaluate_protocol(data, ["best_single", "probe_mean"], encoder="fake_hidden", sweep_dir=tmp_path)
    finally:
        ENCODERS.unregister("fake_hidden")
    assert [(s.router, s.status) for s in result.board.seed_protocol] == [("probe_mean", "ok")]  # type: ignore[union-attr]
    (chosen,) = result.selected
    assert chosen.get_params()["n_layers"] == L
    assert chosen.get_params()["C"] in (1e-3, 1e-2, 1e-1, 1.0, 10.0)  # selected on validation from the grid
