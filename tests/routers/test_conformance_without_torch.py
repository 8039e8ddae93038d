"""The conformance suite in a process where ``import torch`` fails: the torch routers skip, the rest pass.

The normal test run has torch (the ``dev`` extra installs it), so this file is what makes one run of
the suite (``.ci/run``) cover a routerlab installed without the ``embed`` extra as well. The child
process installs a meta-path finder that refuses ``torch`` and its submodules, as a missing install
does, then runs tests/routers/test_conformance.py and writes a JUnit report, read here.
"""

from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET
from collections import defaultdict
from pathlib import Path

from routerlab.routers import ROUTERS, router_tags

REPO = Path(__file__).resolve().parents[2]

#: the child: refuse torch, run the conformance file, exit with pytest's status
CHILD = """
import sys

class _NoTorch:
    def find_spec(self, name, path=None, target=None):
        if name == "torch" or name.startswith("torch."):
            raise ModuleNotFoundError(f"No module named {name!r} (blocked: testing routerlab without torch)", name=name)
        return None

sys.meta_path.insert(0, _NoTorch())
for name in [m for m in sys.modules if m == "torch" or m.startswith("torch.")]:
    del sys.modules[name]

import pytest

code = pytest.main(sys.argv[1:])
if "torch" in sys.modules:
    print("torch was imported after all", file=sys.stderr)
    code = 99
sys.exit(code)
"""


def test_conformance_suite_without_torch(tmp_path: Path) -> None:
    report = tmp_path / "junit.xml"
    run = subprocess.run(
        [
            sys.executable,
            "-c",
            CHILD,
            "tests/routers/test_conformance.py",
            "-q",
            "-p",
            "no:cacheprovider",
            "-p",
            "no:xdist",
            "-p",
            "no:randomly",
            f"--junitxml={report}",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert run.returncode == 0, f"exit {run.returncode}\n{run.stdout[-6000:]}\n{run.stderr[-3000:]}"

    outcomes: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for case in ET.parse(report).getroot().iter("testcase"):
        name = case.get("name", "")
        if not name.startswith("test_router_conforms["):
            continue
        router = name.removeprefix("test_router_conforms[").split("-", 1)[0]
        skipped = case.find("skipped")
        failed = case.find("failure") is not None or case.find("error") is not None
        kind = "failed" if failed else "skipped" if skipped is not None else "passed"
        outcomes[router][kind].append(skipped.get("message", "") if skipped is not None else name)

    torch_routers = {n for n in ROUTERS.names() if "torch" in router_tags(n).requires}
    assert torch_routers == {"mlp", "mf", "contrastive", "irt", "probe_dirichlet", "finetuned"}
    assert set(outcomes) == set(ROUTERS.names()), "every registered router must be in the child run"
    for router, kinds in outcomes.items():
        assert not kinds["failed"], f"{router} failed without torch: {kinds['failed']}"
        if router in torch_routers:
            assert not kinds["passed"], f"{router} needs torch but some checks ran: {kinds['passed']}"
            for message in kinds["skipped"]:
                assert "needs torch" in message and "pip install 'routerlab[embed]'" in message, message
        else:
            assert kinds["passed"], f"{router}: no check passed without torch"
            # skips other than the torch ones must say why (e.g. skops for saving rf/gbdt)
            for message in kinds["skipped"]:
                assert "pip install" in message, f"{router} skipped a check without a reason: {message}"
