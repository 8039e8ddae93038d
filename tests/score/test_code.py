"""The code sandbox: every escape is stopped and scored 0 with its reason; HumanEval/MBPP programs pass."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

from routerlab.score import CodeScorer, ScoreItem
from routerlab.score.code import SandboxLimits, build_program, extract_code, run_sandboxed, sandbox_layers

pytestmark = pytest.mark.skipif(not os.name == "posix", reason="the sandbox needs POSIX process groups and rlimits")

SMALL = {"timeout_s": 2.0, "memory_mb": 256, "max_output_bytes": 64 * 1024}

HUMANEVAL = ScoreItem(
    text='def add(a: int, b: int) -> int:\n    """Return a + b.\n    >>> add(2, 3)\n    5\n    """\n',
    tests="def check(candidate):\n    assert candidate(2, 3) == 5\n    assert candidate(-1, 1) == 0\n",
    entry_point="add",
    source="humaneval",
    query_id="HumanEval/0",
)
MBPP = ScoreItem(
    text="Write a function to find the minimum of two numbers.",
    tests=("assert min_of_two(1, 2) == 1", "assert min_of_two(5, -3) == -3"),
    source="mbpp",
    query_id="mbpp/1",
)


def _score(response: str, item: ScoreItem = MBPP, **limits: float) -> tuple[float, str, dict]:
    s = CodeScorer(**{**SMALL, **limits}).score(response, item)
    return s.value, s.reason, dict(s.detail)


def test_humaneval_full_function_in_fence_passes() -> None:
    resp = "Here you go:\n```python\ndef add(a: int, b: int) -> int:\n    return a + b\n```\nDone."
    value, reason, detail = _score(resp, HUMANEVAL)
    assert (value, reason) == (1.0, "passed"), detail
    assert detail["rule"] == "fenced_entry_point"


def test_humaneval_completion_style_passes_and_wrong_fails() -> None:
    assert _score("    return a + b\n", HUMANEVAL)[:2] == (1.0, "passed")
    assert _score("    return a - b\n", HUMANEVAL)[:2] == (0.0, "test_failed")


def test_mbpp_asserts() -> None:
    assert _score("```python\ndef min_of_two(a, b):\n    return min(a, b)\n```")[:2] == (1.0, "passed")
    value, reason, detail = _score("```python\ndef min_of_two(a, b):\n    return a\n```")
    assert (value, reason) == (0.0, "test_failed")
    assert "AssertionError" in detail["error"]


# ---------------------------------------------------------------- the acceptance escapes
def test_infinite_loop_is_stopped() -> None:
    value, reason, detail = _score("def min_of_two(a, b):\n    while True:\n        pass\n", timeout_s=1.5)
    # the loop only runs when the tests call it
    assert (value, reason) == (0.0, "timeout"), detail
    assert detail["duration_s"] < 5


def test_unbounded_memory_is_stopped() -> None:
    code = "blocks = []\nwhile True:\n    blocks.append(bytearray(16 * 1024 * 1024))\n"
    value, reason, detail = _score(code)
    assert (value, reason) == (0.0, "memory"), detail


def test_fork_is_blocked() -> None:
    code = "import os\npid = os.fork()\nif pid == 0:\n    os._exit(0)\ndef min_of_two(a, b):\n    return min(a, b)\n"
    value, reason, detail = _score(code)
    assert (value, reason) == (0.0, "fork_blocked"), detail
    assert detail["violations"][0]["event"] == "os.fork"


def test_subprocess_is_blocked_even_when_the_error_is_caught() -> None:
    code = (
        "import subprocess\ntry:\n    subprocess.run(['echo', 'hi'])\nexcept Exception:\n    pass\n"
        "def min_of_two(a, b):\n    return min(a, b)\n"
    )
    value, reason, detail = _score(code)
    assert (value, reason) == (0.0, "fork_blocked"), detail
    assert detail["error"] is None  # the code swallowed the error; the violation is still recorded


def test_socket_is_blocked() -> None:
    code = "import socket\ns = socket.socket()\ns.settimeout(1)\ns.connect(('93.184.216.34', 80))\n"
    value, reason, detail = _score(code)
    assert (value, reason) == (0.0, "network_blocked"), detail


def test_dns_lookup_is_blocked() -> None:
    value, reason, _ = _score("import socket\nsocket.getaddrinfo('example.com', 80)\n")
    assert (value, reason) == (0.0, "network_blocked")


def test_write_outside_the_working_directory_is_blocked(tmp_path: Path) -> None:
    target = tmp_path / f"escape-{uuid.uuid4().hex}.txt"
    code = f"open({str(target)!r}, 'w').write('pwned')\ndef min_of_two(a, b):\n    return min(a, b)\n"
    value, reason, detail = _score(code)
    assert (value, reason) == (0.0, "write_blocked"), detail
    assert not target.exists()


def test_delete_and_rename_outside_are_blocked(tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    assert _score(f"import os\nos.remove({str(victim)!r})\n")[1] == "write_blocked"
    assert _score(f"import os\nos.rename({str(victim)!r}, 'here.txt')\n")[1] == "write_blocked"
    assert victim.read_text() == "keep me"


def test_writes_inside_the_working_directory_are_fine() -> None:
    code = (
        "import tempfile, pathlib\npathlib.Path('data.txt').write_text('ok')\ntempfile.mkstemp()\n"
        "def min_of_two(a, b):\n    return min(a, b)\n"
    )
    assert _score(code)[:2] == (1.0, "passed")


def test_output_flood_is_capped() -> None:
    value, reason, detail = _score("while True:\n    print('x' * 4096)\n")
    assert (value, reason) == (0.0, "output_truncated"), detail
    assert detail["output_truncated"] is True


def test_exit_before_tests_cannot_fake_a_pass() -> None:
    assert _score("import sys\nsys.exit(0)\n")[:2] == (0.0, "exited_early")
    assert _score("import os\nos._exit(0)\n")[:2] == (0.0, "exited_early")


def test_killing_other_processes_and_raising_limits_are_blocked() -> None:
    assert _score("import os\nos.kill(0, 0)\n")[1] == "signal_blocked"  # the process group
    assert _score("import resource\nresource.setrlimit(resource.RLIMIT_CPU, (-1, -1))\n")[1] == "limit_blocked"
    assert _score("import ctypes\nctypes.CDLL(None).fork()\n")[1] == "ffi_blocked"


def test_syntax_error_and_no_code_are_unparsed() -> None:
    s = CodeScorer(**SMALL).score("```python\ndef min_of_two(a, b:\n    return a\n```", MBPP)
    assert (s.value, s.reason, s.parsed) == (0.0, "syntax_error", False)
    s = CodeScorer(**SMALL).score("", MBPP)
    assert (s.value, s.reason, s.parsed) == (0.0, "no_code", False)


def test_broken_tests_are_no_outcome_not_a_zero() -> None:
    broken = ScoreItem(tests=("assert min_of_two(1, 2) == 1 )",), query_id="bad")
    s = CodeScorer(**SMALL).score("def min_of_two(a, b):\n    return min(a, b)\n", broken)
    assert s.reason == "harness_error" and s.missing


def test_threads_and_stdlib_still_work() -> None:
    code = (
        "import threading, json, re, collections\nout = []\nt = threading.Thread(target=lambda: out.append(1))\n"
        "t.start(); t.join()\ndef min_of_two(a, b):\n    return min(a, b) if out else None\n"
    )
    assert _score(code)[:2] == (1.0, "passed")


def test_kernel_layers_stop_escapes_without_the_audit_hook(tmp_path: Path) -> None:
    layers = sandbox_layers()
    limits = SandboxLimits(**SMALL, audit_hook=False)  # type: ignore[arg-type]
    target = tmp_path / "kernel-escape.txt"
    checked = 0
    if layers["seccomp"] == "on":
        assert not run_sandboxed("import os\nos.fork()", limits=limits).passed
        assert not run_sandboxed("import subprocess\nsubprocess.run(['true'])", limits=limits).passed
        checked += 1
    if layers["landlock"].startswith("on"):
        r = run_sandboxed(f"open({str(target)!r}, 'w').write('x')", limits=limits)
        assert not r.passed and "Permission denied" in (r.untrusted_error or "")
        assert not target.exists()
        checked += 1
    if layers["network_namespace"] == "on":
        r = run_sandboxed(
            "import socket\ns = socket.socket()\ns.settimeout(1)\ns.connect(('93.184.216.34', 80))",
            limits=SandboxLimits(**SMALL, audit_hook=False, seccomp=False),  # type: ignore[arg-type]
        )
        assert not r.passed
        checked += 1
    if not checked:
        pytest.skip(f"no kernel sandbox layer available here: {layers}")


def test_extract_code_rules() -> None:
    two = "```python\nimport math\n```\ntext\n```python\ndef f(x):\n    return math.sqrt(x)\n```"
    assert extract_code(two, "f") == ("def f(x):\n    return math.sqrt(x)\n", "fenced_entry_point")
    assert extract_code("```py\nprint(1)\n```")[1] == "fenced_longest"
    truncated = "```python\ndef f(x):\n    return x"  # cut at the token budget, fence never closed
    assert extract_code(truncated, "f")[0] == "def f(x):\n    return x"
    assert extract_code("```bash\nls\n```") == (None, "no_code")
    assert extract_code("def f(): pass") == ("def f(): pass", "unfenced")
    assert extract_code(None) == (None, "no_code")


def test_build_program_humaneval_calls_check_with_the_prompt_as_trusted_setup() -> None:
    program = build_program("def add(a, b):\n    return a + b\n", HUMANEVAL)
    assert program.solution.startswith(HUMANEVAL.text)
    assert program.tests.rstrip().endswith("check(add)")
    assert program.setup == HUMANEVAL.text and program.entry_point == "add"
    mbpp = build_program("def min_of_two(a, b):\n    return min(a, b)\n", MBPP)
    assert (mbpp.setup, mbpp.entry_point) == ("", None)
    assert mbpp.tests.splitlines() == list(MBPP.tests)


def test_limits_are_recorded_in_the_spec() -> None:
    spec = CodeScorer(**SMALL).spec
    assert spec.params["limits"]["timeout_s"] == 2.0
    assert spec.params["limits"]["memory_mb"] == 256


def test_bad_limits_and_missing_tests_raise() -> None:
    with pytest.raises(ValueError, match="timeout_s"):
        SandboxLimits(timeout_s=0)
    with pytest.raises(ValueError, match="no tests"):
        CodeScorer(**SMALL).score("pass", ScoreItem(query_id="q"))
