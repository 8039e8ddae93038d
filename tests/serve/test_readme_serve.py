"""README "Serve a router": the walk-through, command by command, as a new user runs it (real subprocesses).

From ``routerlab evaluate --save-routers`` on the shipped data, through the loopback mock upstream
and ``routerlab serve``, to the ``openai`` client, feedback, ``serve-log``, ``ope`` and
``data from-log``. The commands are read from README.md itself (only the ports are changed to free
ones), so the README cannot drift from what works.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("fastapi", reason="the gateway needs the serve extra: pip install 'routerlab[serve]'")
pytest.importorskip("openai", reason="the walk-through's client is the openai package (the dev extra)")
httpx = pytest.importorskip("httpx")

from routerlab.data import read_parquet  # noqa: E402
from routerlab.serve import read_log  # noqa: E402
from tests.serve.helpers import free_port  # noqa: E402

README = Path(__file__).resolve().parents[2] / "README.md"


def _section() -> str:
    return README.read_text(encoding="utf-8").split("## Serve a router\n", 1)[1].split("\n## ", 1)[0]


def _blocks(kind: str) -> list[str]:
    return re.findall(rf"```{kind}\n(.*?)```", _section(), flags=re.S)


def _commands(block: str) -> list[list[str]]:
    joined = block.replace("\\\n", " ")
    return [words for line in joined.splitlines() if (words := shlex.split(line, comments=True))]


def _argv(words: list[str]) -> list[str]:
    if words[0] == "routerlab":
        return [sys.executable, "-m", "routerlab.cli.main", *words[1:]]
    if words[0] == "python":
        return [sys.executable, *words[1:]]
    assert words[0] == "curl", words
    return words


def _wait(url: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        assert proc.poll() is None, f"{proc.args!r} exited {proc.returncode}"
        time.sleep(0.2)
    raise AssertionError(f"{url} did not answer")


def _ports(words: list[str], gateway: int, mock: int) -> list[str]:
    return [w.replace("8001", str(mock)).replace("8000", str(gateway)) for w in words]


def test_the_readme_walkthrough_from_evaluate_to_the_openai_client_and_back(tmp_path: Path) -> None:
    setup, after = _blocks("bash")
    (client_code,) = _blocks("python")
    gateway, mock = free_port(), free_port()
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
    background: list[subprocess.Popen[bytes]] = []

    def run(words: list[str]) -> str:
        done = subprocess.run(_argv(words), cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, f"{' '.join(words)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
        return done.stdout + done.stderr

    try:
        steps = [_ports(w, gateway, mock) for w in _commands(setup)]
        assert [s[:2] for s in steps] == [["routerlab", "evaluate"], ["python", "-m"], ["routerlab", "serve"]]
        for words in steps:
            if words[-1] != "&":
                run(words)
                # the README's step 2: the pool's base_url is the mock's (its 8001 is this test's free port)
                pool_file = tmp_path / "routers" / "pool.example.yaml"
                pool_file.write_text(
                    _ports([pool_file.read_text(encoding="utf-8")], gateway, mock)[0], encoding="utf-8"
                )
                continue
            err = tmp_path / f"background-{len(background)}.err"  # read it when a server does not start
            with err.open("w") as sink:
                proc = subprocess.Popen(
                    _argv(words[:-1]), cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=sink
                )
            background.append(proc)
            ready = (
                f"http://127.0.0.1:{gateway}/readyz"
                if words[0] == "routerlab"
                else f"http://127.0.0.1:{mock}/v1/models"
            )
            _wait(ready, proc)
        printed = run(["python", "-c", client_code.replace("8000", str(gateway))])
        model, request_id = printed.split()[:2]
        pool = (tmp_path / "routers" / "pool.example.yaml").read_text(encoding="utf-8")
        assert f'name: "{model}"' in pool and re.fullmatch(r"[0-9a-f]{32}", request_id)

        outputs = []
        for words in (_ports(w, gateway, mock) for w in _commands(after)):
            words = [w.replace("<x-request-id>", request_id) for w in words]
            if words[0] == "curl" and shutil.which("curl") is None:
                pytest.skip("curl is not installed (apt-get install curl)")
            outputs.append(run(words))
        assert json.loads(outputs[0]) == {"request_id": request_id, "score": 1.0, "updates": 0}
        (record,) = read_log(tmp_path / "routerlab-serve.sqlite")
        assert record["request_id"] == request_id and record["answered_by"] == model and record["feedback"] == 1.0
        assert record["query"] == "What is 17 * 24?" and record["epsilon"] == 0.1  # --log-queries --explore 0.1
        assert request_id[:8] in outputs[1]  # serve-log
        assert "IPS" in outputs[2] and "used 1 of 1 records" in outputs[2]  # ope
        retrain = read_parquet(tmp_path / "retrain.parquet")  # data from-log
        assert retrain.n_queries == 1 and retrain.Y[0, retrain.model_names.index(model)] == 1.0
    finally:
        for proc in reversed(background):
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
