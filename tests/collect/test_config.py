"""Config errors name the field, the line and the fix; secrets are read from the environment only."""

from __future__ import annotations

from pathlib import Path

import pytest

from routerlab.collect import collect, load_config
from routerlab.collect.run import resolve_api_keys
from routerlab.errors import SchemaError
from tests.collect.conftest import ServeFn, make_config, write_queries

GOOD = """\
endpoints:
  - name: small
    base_url: http://127.0.0.1:9/v1
    model: tiny-1b
    input_price_per_1m: 0.1
    output_price_per_1m: 0.4
queries:
  jsonl: {queries}
store: {store}
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "collect.yaml"
    path.write_text(text.format(queries=tmp_path / "q.jsonl", store=tmp_path / "s.duckdb"))
    return path


def test_good_config_loads_with_defaults(tmp_path: Path) -> None:
    cfg = load_config(_write(tmp_path, GOOD))
    assert cfg.generation.temperature == 0.0  # greedy decoding by default (§3.2)
    assert cfg.endpoints[0].model_id == "tiny-1b"
    assert cfg.endpoints[0].cost_usd(1_000_000, 1_000_000) == pytest.approx(0.5)


def test_missing_price_is_an_error_naming_the_model(tmp_path: Path) -> None:
    text = GOOD.replace("    output_price_per_1m: 0.4\n", "")
    with pytest.raises(SchemaError) as err:
        load_config(_write(tmp_path, text))
    msg = str(err.value)
    assert "'small'" in msg and "'tiny-1b'" in msg and "output_price_per_1m" in msg
    assert "USD per 1M tokens" in msg and "line 2" in msg


def test_unknown_key_names_the_field_and_suggests(tmp_path: Path) -> None:
    text = GOOD.replace("    model: tiny-1b\n", "    model: tiny-1b\n    max_concurency: 4\n")
    with pytest.raises(SchemaError) as err:
        load_config(_write(tmp_path, text))
    msg = str(err.value)
    assert "unknown key 'max_concurency' (endpoints.0.max_concurency)" in msg
    assert "Did you mean 'max_concurrency'?" in msg and "line 5" in msg


def test_unknown_top_level_key(tmp_path: Path) -> None:
    with pytest.raises(SchemaError, match=r"unknown key 'max_costs'.*Did you mean 'max_cost'"):
        load_config(_write(tmp_path, GOOD + "max_costs: 3\n"))


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (("http://127.0.0.1:9/v1", "127.0.0.1:9/v1"), "must start with http"),
        (("http://127.0.0.1:9/v1", "http://127.0.0.1:9/v1/chat/completions"), "end before /chat/completions"),
        (("  jsonl: ", "  dataset: x\n  jsonl: "), "exactly one of 'dataset'"),
        (("store: ", "generation:\n  budgets:\n    mmlu: 0\nstore: "), "positive number of tokens"),
    ],
)
def test_bad_values(tmp_path: Path, edit: tuple[str, str], expected: str) -> None:
    with pytest.raises(SchemaError, match=expected):
        load_config(_write(tmp_path, GOOD.replace(*edit)))


def test_duplicate_endpoint_names(tmp_path: Path) -> None:
    text = GOOD.replace("queries:", GOOD.split("queries:")[0].split("endpoints:\n")[1] + "queries:")
    with pytest.raises(SchemaError, match="unique"):
        load_config(_write(tmp_path, text))


def test_cli_style_overrides(tmp_path: Path) -> None:
    cfg = load_config(_write(tmp_path, GOOD), max_cost=2.5, store=tmp_path / "other.duckdb")
    assert cfg.max_cost == 2.5 and cfg.store.name == "other.duckdb"


def test_not_yaml_and_not_a_mapping(tmp_path: Path) -> None:
    with pytest.raises(SchemaError, match="not valid YAML"):
        load_config(_write(tmp_path, "endpoints: [\n"))
    with pytest.raises(SchemaError, match="must be a mapping"):
        load_config(_write(tmp_path, "- 1\n"))
    with pytest.raises(SchemaError, match="Cannot read"):
        load_config(tmp_path / "absent.yaml")


def test_unset_key_variable_fails_at_start(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ROUTERLAB_TEST_KEY", raising=False)
    write_queries(tmp_path / "q.jsonl", 3)
    cfg = load_config(
        _write(
            tmp_path, GOOD.replace("    model: tiny-1b\n", "    model: tiny-1b\n    api_key_env: ROUTERLAB_TEST_KEY\n")
        )
    )
    with pytest.raises(SchemaError, match=r"'ROUTERLAB_TEST_KEY'.*not set"):
        collect(cfg)
    assert not cfg.store.exists()  # nothing written before the check


def test_api_key_is_sent_but_never_stored(tmp_path: Path, serve: ServeFn, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "sk-test-" + "7" * 40
    monkeypatch.setenv("ROUTERLAB_TEST_KEY", secret)
    server = serve(["mock"])
    seen: list[str] = []

    @server.app.middleware("http")
    async def grab(request, call_next):  # type: ignore[no-untyped-def]
        seen.append(request.headers.get("authorization", ""))
        return await call_next(request)

    base = make_config(tmp_path, [server], n_queries=3)
    endpoints = [{**base.endpoints[0].model_dump(), "api_key_env": "ROUTERLAB_TEST_KEY"}]
    cfg = base.model_copy(update={"endpoints": [type(base.endpoints[0]).model_validate(e) for e in endpoints]})
    assert resolve_api_keys(cfg) == [secret]
    summary = collect(cfg)
    assert summary.complete
    assert seen and all(h == f"Bearer {secret}" for h in seen)
    store_bytes = b"".join(p.read_bytes() for p in tmp_path.glob("store.duckdb*"))
    assert secret.encode() not in store_bytes
    assert b"ROUTERLAB_TEST_KEY" in store_bytes  # the variable's name is recorded, not its value


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (
            ("input_price_per_1m: 0.1", "input_price_per_1m: .nan"),
            "input_price_per_1m: Input should be a finite number",
        ),
        (("output_price_per_1m: 0.4", "output_price_per_1m: .inf"), "output_price_per_1m: Input should be a finite"),
        (("input_price_per_1m: 0.1", "input_price_per_1m: 2000000.0"), "less than or equal to 1000000"),
        (("store: ", "max_answer_chars: 0\nstore: "), "max_answer_chars: Input should be greater than or equal to 1"),
        (("store: ", "request_timeout_s: .inf\nstore: "), "request_timeout_s: Input should be a finite number"),
        (("store: ", "retries:\n  backoff_max_s: .nan\nstore: "), "retries.backoff_max_s: Input should be a finite"),
    ],
)
def test_costs_limits_and_waits_must_be_finite(tmp_path: Path, edit: tuple[str, str], expected: str) -> None:
    # a NaN or infinite price would make every cost NaN and the max_cost budget meaningless
    with pytest.raises(SchemaError, match=expected):
        load_config(_write(tmp_path, GOOD.replace(*edit)))


def test_answer_cap_and_body_cap(tmp_path: Path) -> None:
    cfg = load_config(_write(tmp_path, GOOD))
    assert cfg.max_answer_chars == 1_000_000 and cfg.max_response_bytes == 12 * 1_000_000 + 2**20
    small = load_config(_write(tmp_path, GOOD + "max_answer_chars: 1000\n"))
    assert small.max_response_bytes == 12_000 + 2**20
