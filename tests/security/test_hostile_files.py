"""Hostile config and data files: each attack written as a hostile user would, each refused with a clear error.

Configs (YAML, read by :mod:`routerlab._yaml` for the collect and sweep configs): alias bombs, alias
floods, recursive aliases, code-running tags, size, nesting, duplicate keys, bad encodings. Data files
(JSON Lines through :mod:`routerlab._jsonl`, CSV, JSON, Parquet): bad UTF-8, broken lines, nesting bombs,
duplicate keys, over-long lines, broken gzip, unclosed quotes, forged Parquet metadata. Every error must
name the file, the line (or field) and the fix — never a traceback from inside a library.
"""

from __future__ import annotations

import gzip
import json
import time
from pathlib import Path

import pytest

from routerlab.collect import load_config
from routerlab.collect.queries import queries_from_jsonl
from routerlab.data import load, write_parquet
from routerlab.errors import SchemaError
from routerlab.experiments.sweep import SweepConfig
from tests.conftest import make_routing_problem

ENDPOINT = """\
endpoints:
  - name: small
    base_url: http://127.0.0.1:9/v1
    model: tiny-1b
    input_price_per_1m: 0.1
    output_price_per_1m: 0.4
"""


def _collect_yaml(tmp_path: Path, extra_body: str = "{}") -> Path:
    """A collect config whose endpoint carries ``extra_body`` (YAML text, indented under the endpoint)."""
    body = "\n".join("      " + line for line in extra_body.splitlines())
    rest = f"queries:\n  jsonl: {tmp_path / 'q.jsonl'}\nstore: {tmp_path / 's.duckdb'}\n"
    text = f"{ENDPOINT}    extra_body:\n{body}\n{rest}"
    path = tmp_path / "collect.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def _refused(path: Path, *fragments: str) -> str:
    """Load ``path`` as a collect config; assert a SchemaError naming the file and every fragment; return it."""
    with pytest.raises(SchemaError) as err:
        load_config(path)
    msg = str(err.value)
    assert str(path) in msg, msg
    for fragment in fragments:
        assert fragment in msg, msg
    return msg


# ----------------------------------------------------------------------------- YAML configs
def test_billion_laughs_in_extra_body_is_refused_fast(tmp_path: Path) -> None:
    levels = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for prev, name in zip("abcdefgh", "bcdefghi", strict=True):
        levels.append(f"{name}: &{name} [{', '.join([f'*{prev}'] * 9)}]")
    path = _collect_yaml(tmp_path, "\n".join(levels))
    start = time.perf_counter()
    msg = _refused(path, "MAX_NODES", "alias", "line ")
    assert time.perf_counter() - start < 5  # refused before anything is expanded (it used to grow to 5.4 GB)
    assert "100,000" in msg


def test_many_aliases_are_refused(tmp_path: Path) -> None:
    refs = "\n".join(f"k{i}: *x" for i in range(150))
    _refused(_collect_yaml(tmp_path, "base: &x 1\n" + refs), "MAX_ALIASES", "100 aliases")


def test_a_long_string_repeated_by_aliases_is_refused(tmp_path: Path) -> None:
    blob = "x" * 100_000  # 100 KB, shown 60 times: 6 MB of text from a 100 KB file
    refs = "\n".join(f"k{i}: *blob" for i in range(60))
    _refused(_collect_yaml(tmp_path, f"base: &blob {blob}\n" + refs), "MAX_EXPANDED_CHARS", "alias")


def test_recursive_alias_is_refused(tmp_path: Path) -> None:
    _refused(_collect_yaml(tmp_path, "loop: &me [1, *me]"), "recursive", "line ")


def test_python_tags_are_refused_and_never_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    attacks = [
        '!!python/object/apply:os.system ["touch PWNED"]',
        '!!python/object/new:subprocess.Popen [["touch", "PWNED"]]',
        "!!python/name:os.system",
    ]
    for attack in attacks:
        msg = _refused(_collect_yaml(tmp_path, f"x: {attack}"), "is not allowed", "plain data", "remove the tag")
        assert "python/" in msg
    assert not (tmp_path / "PWNED").exists()


def test_oversized_config_is_refused_without_reading_it_all(tmp_path: Path) -> None:
    path = _collect_yaml(tmp_path, "pad: " + "x" * 2_000_000)
    _refused(path, "MAX_BYTES", "1,048,576 bytes", "put large data")


def test_deep_flow_nesting_is_a_clear_error_not_a_recursion_error(tmp_path: Path) -> None:
    path = _collect_yaml(tmp_path, "deep: " + "[" * 20_000 + "]" * 20_000)
    _refused(path, "MAX_DEPTH", "64 levels", "flatten")


def test_deep_block_nesting_is_refused(tmp_path: Path) -> None:
    lines = "\n".join("  " * i + f"k{i}:" for i in range(100)) + " 1"
    _refused(_collect_yaml(tmp_path, lines), "MAX_DEPTH")


def test_nesting_built_from_aliases_is_refused(tmp_path: Path) -> None:
    # each alias is shallow where it is written, but the expanded structure is 60 + 6 + 6 ... levels deep
    text = "a: &a " + "[" * 50 + "1" + "]" * 50
    for prev, name in zip("abc", "bcd", strict=True):
        text += f"\n{name}: &{name} " + "[" * 10 + f"*{prev}" + "]" * 10
    _refused(_collect_yaml(tmp_path, text), "MAX_DEPTH", "once aliases are expanded")


def test_duplicate_key_names_the_key_and_both_lines(tmp_path: Path) -> None:
    path = tmp_path / "collect.yaml"
    path.write_text(ENDPOINT + "queries:\n  jsonl: q.jsonl\nstore: a.duckdb\nstore: b.duckdb\n")
    msg = _refused(path, "'store' appears twice", "lines 9 and 10", "remove one")
    assert "line 10:" in msg


def test_duplicate_key_in_a_sweep_config(tmp_path: Path) -> None:
    path = tmp_path / "sweep.yaml"
    path.write_text("datasets: [a]\nrouters: [knn]\nseeds: [1]\nrouters: [mlp]\n")
    with pytest.raises(
        SchemaError, match=r"sweep\.yaml, line 4: .*'routers' appears twice in one mapping \(lines 2 and 4\)"
    ):
        SweepConfig.from_yaml(path)


def test_merge_keys_still_work(tmp_path: Path) -> None:
    path = _collect_yaml(tmp_path, "defaults: &d {a: 1, b: 2}\nmine:\n  <<: *d\n  b: 3")
    cfg = load_config(path)
    assert cfg.endpoints[0].extra_body["mine"] == {"a": 1, "b": 3}


def test_config_that_is_not_utf8_names_line_and_column(tmp_path: Path) -> None:
    path = _collect_yaml(tmp_path)
    path.write_bytes(path.read_bytes().replace(b"tiny-1b", b"tiny-\xe91b"))
    _refused(path, "line 4: not valid UTF-8 (byte 0xe9 at column 17)", "save the config as UTF-8")


def test_control_character_in_config_names_the_line(tmp_path: Path) -> None:
    path = _collect_yaml(tmp_path, 'note: "a\x00b"')
    _refused(path, "line 8", "not allowed in YAML")


def test_long_scalar_within_the_size_limit_is_read(tmp_path: Path) -> None:
    path = _collect_yaml(tmp_path, "note: " + "y" * 300_000)
    assert len(load_config(path).endpoints[0].extra_body["note"]) == 300_000


# ----------------------------------------------------------------------------- JSON Lines
def _long_rows(n: int) -> list[bytes]:
    return [json.dumps({"query_id": f"q{i}", "model": "m", "score": 1.0}).encode() for i in range(n)]


def _load_long_refused(path: Path, *fragments: str) -> str:
    with pytest.raises(SchemaError) as err:
        load(str(path))
    msg = str(err.value)
    assert str(path) in msg, msg
    for fragment in fragments:
        assert fragment in msg, msg
    return msg


def test_jsonl_with_bad_utf8_names_the_line_not_a_byte_offset(tmp_path: Path) -> None:
    rows = _long_rows(4)
    rows[2] = rows[2].replace(b'"m"', b'"m\xff"')
    path = tmp_path / "scores.jsonl"
    path.write_bytes(b"\n".join(rows) + b"\n")
    msg = _load_long_refused(path, "line 3:", "not valid UTF-8", "0xff", "column 31")
    assert "position" not in msg


def test_jsonl_with_a_broken_middle_line_names_it(tmp_path: Path) -> None:
    rows = _long_rows(5)
    rows[3] = rows[3][:-5]
    path = tmp_path / "scores.jsonl"
    path.write_bytes(b"\n".join(rows) + b"\n")
    _load_long_refused(path, "line 4:", "not valid JSON", "column", "one JSON object per line")


def test_jsonl_nesting_bomb_is_a_clear_error(tmp_path: Path) -> None:
    bomb = b'{"query_id": "q", "model": "m", "score": 1, "x": ' + b"[" * 200_000 + b"]" * 200_000 + b"}"
    path = tmp_path / "scores.jsonl"
    path.write_bytes(b"\n".join([*_long_rows(2), bomb]) + b"\n")
    _load_long_refused(path, "line 3:", "nested too deeply")


def test_jsonl_duplicate_key_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "scores.jsonl"
    path.write_bytes(b'{"query_id": "q", "model": "m", "score": 1, "score": 0}\n')
    _load_long_refused(path, "line 1:", "'score' appears twice")


def test_jsonl_line_that_is_not_an_object(tmp_path: Path) -> None:
    path = tmp_path / "scores.jsonl"
    path.write_bytes(b"\n".join([*_long_rows(1), b'["q", "m", 1]']) + b"\n")
    _load_long_refused(path, "line 2:", "must be a JSON object", "got a list")


def test_one_huge_line_is_refused_before_it_is_read_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("routerlab._jsonl.MAX_LINE_BYTES", 1000)
    path = tmp_path / "scores.jsonl"
    path.write_text(json.dumps([{"query_id": f"q{i}", "model": "m", "score": 1} for i in range(100)]))
    _load_long_refused(path, "line 1:", "longer than 1,000 bytes", "MAX_LINE_BYTES", "JSON file")


def test_broken_gzip_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "scores.jsonl.gz"
    path.write_bytes(gzip.compress(b"\n".join(_long_rows(200)))[:-40])
    _load_long_refused(path, "gzip")


def test_collect_query_file_with_bad_utf8_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "q.jsonl"
    path.write_bytes(b'{"id": "a", "text": "hi"}\n{"id": "b", "text": "caf\xe9"}\n')
    with pytest.raises(SchemaError, match=r"q\.jsonl, line 2: not valid UTF-8 \(byte 0xe9 at column 25\)"):
        queries_from_jsonl(path)


def test_benchmark_json_nesting_bomb(tmp_path: Path) -> None:
    root = tmp_path / "dc"
    root.mkdir()
    for name in ("test.json", "query_train.jsonl", "query_test.jsonl", "llm_candidates.json"):
        (root / name).write_text("[]" if name.endswith(".json") else "")
    (root / "train.json").write_text("[" * 200_000 + "]" * 200_000)
    with pytest.raises(SchemaError, match=r"train\.json.*nested too deeply.*restore the original"):
        load("llmrouter-dcrouter", path=root)


# ----------------------------------------------------------------------------- CSV
def test_csv_unclosed_quote_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "scores.csv"
    path.write_text('query_id,model,score,text\nq1,m,1,a\nq2,m,0,"never closed\nq3,m,1,c\n')
    _load_long_refused(path, "line 3:", "never closed", "close the quote")


def test_csv_with_bad_utf8_names_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "scores.csv"
    path.write_bytes(b"query_id,model,score\nq1,m,1\nq2,caf\xe9,1\n")
    msg = _load_long_refused(path, "line 3:", "byte 0xe9 at column 7", "save the file as UTF-8")
    assert "position" not in msg


def test_csv_row_with_extra_fields_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "scores.csv"
    path.write_text("query_id,model,score\nq1,m,1\nq2,m,1,oops\n")
    _load_long_refused(path, "line 3:", "4 fields where the header has 3", "quote cells")


def test_csv_enormous_field_is_data_not_an_error(tmp_path: Path) -> None:
    path = tmp_path / "scores.csv"
    path.write_text("query_id,model,score,text\nq1,m,1," + "z" * 2_000_000 + "\nq2,m,0,b\n")
    data = load(str(path))
    assert data.texts is not None and len(data.texts[0]) == 2_000_000


# ----------------------------------------------------------------------------- Parquet
def _forged_parquet(path: Path, meta: bytes) -> Path:
    """A routerlab Parquet file whose 'routerlab' metadata is replaced by ``meta``."""
    import pyarrow.parquet as pq

    good = write_parquet(make_routing_problem(6, 2, seed=0), path.with_name("good.parquet"))
    table = pq.read_table(good)
    pq.write_table(table.replace_schema_metadata({b"routerlab": meta}), path)
    return path


@pytest.mark.parametrize(
    ("meta", "match"),
    [
        (b"[" * 100_000 + b"]" * 100_000, "unreadable 'routerlab' metadata"),
        (b'{"schema_version": 1, "name": "x", "cost_unit": "usd", "models": 7}', "'models' must be a non-empty list"),
        (b'{"schema_version": 1, "name": "x", "cost_unit": "usd", "models": ["a", "b"]}', r"models\[0\]"),
        (b'{"schema_version": 1, "name": "x", "cost_unit": "usd", "models": [{"name": "a", "evil": 1}]}', "models"),
        (
            b'{"schema_version": 1, "name": ["x"], "cost_unit": "usd", "models": [{"name": "a"}, {"name": "b"}]}',
            "'name'",
        ),
    ],
)
def test_forged_parquet_metadata_is_a_clear_error(tmp_path: Path, meta: bytes, match: str) -> None:
    path = _forged_parquet(tmp_path / "forged.parquet", meta)
    with pytest.raises(SchemaError, match=match) as err:
        load(str(path))
    assert "forged.parquet" in str(err.value)
