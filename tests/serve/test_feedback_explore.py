"""ε-exploration with exact propensities, and POST /v1/feedback into the decision log."""

from __future__ import annotations

import math
import os
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from routerlab.serve.explore import Explorer, propensity

pytest.importorskip("fastapi", reason="the gateway needs the serve extra: pip install 'routerlab[serve]'")
pytest.importorskip("prometheus_client", reason="the gateway needs the serve extra: pip install 'routerlab[serve]'")

from routerlab.serve import read_log
from tests.serve.helpers import CHAT, MATH, _ask, _pool


def _within(count: int, n: int, p: float, z: float = 4.5) -> bool:
    """``count`` is within z binomial standard deviations of n·p."""
    return abs(count - n * p) <= z * math.sqrt(n * p * (1 - p))


def test_the_explorer_draws_with_the_stated_propensities() -> None:
    ranking = ["big", "small", "mid", "tiny"]
    explorer = Explorer(0.4, seed=7)
    n = 20_000
    choices = [explorer.choose(ranking) for _ in range(n)]
    counts = Counter(c.chosen for c in choices)
    for model in ranking:
        p = propensity(chosen=model, greedy="big", epsilon=0.4, k=4)
        assert p == pytest.approx(0.6 + 0.1 if model == "big" else 0.1)
        assert _within(counts[model], n, p), (model, counts[model], n * p)
    assert all(c.propensity == propensity(chosen=c.chosen, greedy="big", epsilon=0.4, k=4) for c in choices)
    assert sum(c.explored for c in choices) == pytest.approx(0.4 * n, abs=4.5 * math.sqrt(n * 0.24))
    again = Explorer(0.4, seed=7)
    assert [again.choose(ranking).chosen for _ in range(50)] == [c.chosen for c in choices[:50]]  # seeded


def test_epsilon_zero_and_one_and_the_fallback_order() -> None:
    ranking = ["a", "b", "c"]
    greedy = Explorer(0.0, seed=1).choose(ranking)
    assert (greedy.chosen, greedy.propensity, greedy.explored) == ("a", 1.0, False)
    uniform = Explorer(1.0, seed=1)
    assert all(uniform.choose(ranking).propensity == pytest.approx(1 / 3) for _ in range(30))
    choice = next(c for c in (uniform.choose(ranking) for _ in range(100)) if c.chosen == "b")
    assert choice.order(ranking) == ["b", "a", "c"]  # after an explored choice: the router's ranking
    for bad in (-0.1, 1.5, math.nan, True):
        with pytest.raises(ValueError, match="explore"):
            Explorer(bad)


def test_the_gateway_logs_exact_propensities_and_explores_at_rate_epsilon(
    upstreams: Any, gateway: Any, tmp_path: Path
) -> None:
    log = tmp_path / "log.sqlite"
    client = gateway(_pool(upstreams), log=log, explore=0.5, seed=3)
    n = 240
    answers = [_ask(client, "router", MATH[0]) for _ in range(n)]  # ranking at λ=0: big, then small, mid
    records = {r["request_id"]: r for r in read_log(log)}
    assert len(records) == n
    counts: Counter[str] = Counter()
    for r in answers:
        rec = records[r.headers["x-request-id"]]
        assert rec["greedy"] == "big" and rec["epsilon"] == 0.5 and rec["worker"] == str(os.getpid())
        assert rec["propensity"] == pytest.approx(0.5 * (rec["chosen"] == "big") + 0.5 / 3)
        assert r.headers["x-routerlab-model"] == rec["chosen"] == rec["answered_by"]
        if rec["chosen"] != "big":
            assert r.headers["x-routerlab-explored"] == "true"
        counts[rec["chosen"]] += 1
    assert _within(counts["big"], n, 0.5 + 0.5 / 3) and counts["big"] < n
    assert _within(counts["small"], n, 0.5 / 3) and _within(counts["mid"], n, 0.5 / 3)
    explored = sum(r.headers["x-routerlab-explored"] == "true" for r in answers)
    assert _within(explored, n, 0.5)


def test_without_exploration_the_propensity_is_one(upstreams: Any, gateway: Any, tmp_path: Path) -> None:
    log = tmp_path / "log.sqlite"
    client = gateway(_pool(upstreams), log=log)
    routed = _ask(client, "router", CHAT[0])
    through = _ask(client, "mid", CHAT[0])
    assert routed.headers["x-routerlab-explored"] == "false" and "x-routerlab-explored" not in through.headers
    first, second = read_log(log)
    assert (first["epsilon"], first["propensity"], first["greedy"]) == (0.0, 1.0, first["chosen"])
    assert (second["epsilon"], second["propensity"], second["greedy"]) == (None, None, None)
    assert first["worker"] == second["worker"] == str(os.getpid())


def test_feedback_is_stored_and_replaced(upstreams: Any, gateway: Any, tmp_path: Path) -> None:
    log = tmp_path / "log.sqlite"
    client = gateway(_pool(upstreams), log=log)
    rid = _ask(client, "router", CHAT[1]).headers["x-request-id"]
    r = client.post("/feedback", json={"request_id": rid, "score": 0.25})
    assert r.status_code == 200 and r.json() == {"request_id": rid, "score": 0.25, "updates": 0}
    r = client.post("/feedback", json={"request_id": rid, "score": 1})
    assert r.json() == {"request_id": rid, "score": 1.0, "updates": 1}
    assert read_log(log)[0]["feedback"] == 1.0
    r = client.post("/feedback", json={"request_id": "f" * 32, "score": 0.5})
    assert r.status_code == 404 and r.json()["error"]["code"] == "request_not_found"


@pytest.mark.parametrize(
    ("content", "param"),
    [
        (b'{"request_id": "R", "score": 1.5}', "score"),
        (b'{"request_id": "R", "score": -0.1}', "score"),
        (b'{"request_id": "R", "score": "0.5"}', "score"),
        (b'{"request_id": "R", "score": true}', "score"),
        (b'{"request_id": "R"}', "score"),
        (b'{"score": 0.5}', "request_id"),
        (b'{"request_id": 7, "score": 0.5}', "request_id"),
        (b"{nope", None),
        (b"[1]", None),
    ],
)
def test_bad_feedback_is_a_400_naming_the_field(
    upstreams: Any, gateway: Any, tmp_path: Path, content: bytes, param: str | None
) -> None:
    client = gateway(_pool(upstreams), log=tmp_path / "log.sqlite")
    rid = _ask(client, "router", CHAT[2]).headers["x-request-id"]
    r = client.post("/feedback", content=content.replace(b'"R"', f'"{rid}"'.encode()))
    assert r.status_code == 400, r.text
    err = r.json()["error"]
    assert set(err) == {"message", "type", "param", "code"} and err["param"] == param
    if param is not None:
        assert param in err["message"]
    assert read_log(tmp_path / "log.sqlite")[0]["feedback"] is None


def test_feedback_without_a_log_is_a_409(upstreams: Any, gateway: Any) -> None:
    client = gateway(_pool(upstreams))
    r = client.post("/feedback", json={"request_id": "x", "score": 0.5})
    assert r.status_code == 409
    err = r.json()["error"]
    assert err["code"] == "no_decision_log" and "--log" in err["message"]
