"""Issue 10 §1: model-written code, written as an attacker would, cannot fake a pass, signal, read or fill.

Every attack below passed (scored 1.0) or escaped against the one-process sandbox. Each test asserts the
outcome: the wrong answer scores 0 with its reason, nothing outside was touched, no process was signalled,
no secret was stored.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from routerlab.score import CodeScorer, ScoreItem
from routerlab.score.code import SandboxLimits, run_sandboxed, sandbox_layers

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the sandbox's kernel layers are Linux")

SMALL = {"timeout_s": 5.0, "memory_mb": 256, "max_output_bytes": 64 * 1024}
LAYERS = sandbox_layers() if sys.platform.startswith("linux") else {}

# A HumanEval-style item whose expected answers the attacker does not compute correctly.
ITEM = ScoreItem(
    text='def add(a: int, b: int) -> int:\n    """Return a + b."""\n',
    tests=(
        "def check(candidate):\n"
        "    assert candidate(2, 3) == 5\n"
        "    assert candidate(-1, 1) == 0\n"
        "    assert abs(candidate(10, 5) - 15) < 1e-9\n"
        "    assert candidate(1, 1) is not None\n"
    ),
    entry_point="add",
    query_id="HumanEval/attack",
)
MBPP = ScoreItem(
    text="Return the smaller of two numbers.",
    tests=("assert min_of_two(1, 2) == 1", "assert min_of_two(5, -3) == -3"),
    query_id="mbpp/attack",
)


def score(code: str, item: ScoreItem = ITEM, **limits: object) -> tuple[float, str, dict[str, object]]:
    s = CodeScorer(**{**SMALL, **limits}).score(f"```python\n{code}\n```", item)
    return s.value, s.reason, dict(s.detail)


def require(layer: str, prefix: str = "on") -> None:
    if not str(LAYERS.get(layer, "")).startswith(prefix):
        pytest.skip(f"sandbox layer {layer!r} is not available here: {LAYERS.get(layer)}")


@pytest.fixture
def bystander() -> Iterator[subprocess.Popen[bytes]]:
    """A process of the same user that the candidate will try to kill."""
    proc = subprocess.Popen(["sleep", "60"])
    yield proc
    proc.kill()
    proc.wait()


# ---------------------------------------------------------------- faking a pass from inside the process
def test_an_object_whose_eq_always_answers_true_does_not_pass() -> None:
    code = (
        "class Anything:\n"
        "    def __eq__(self, other): return True\n"
        "    def __ne__(self, other): return False\n"
        "    def __sub__(self, other): return 0\n"
        "    def __abs__(self): return 0\n"
        "    def __lt__(self, other): return True\n"
        "def add(a, b):\n    return Anything()\n"
    )
    value, reason, detail = score(code)
    assert (value, reason) == (0.0, "test_failed"), detail


def test_an_int_subclass_with_a_lying_eq_is_compared_by_its_real_value() -> None:
    code = (
        "class Liar(int):\n    def __eq__(self, other): return True\n    __hash__ = int.__hash__\n"
        "def add(a, b):\n    return Liar(0)\n"
    )
    assert score(code)[:2] == (0.0, "test_failed")


def test_patching_builtins_json_and_the_harness_through_main_does_not_pass() -> None:
    code = (
        "import builtins, json, sys\n"
        "builtins.abs = lambda x: 0\n"
        "builtins.AssertionError = type('Nope', (Exception,), {})\n"
        'json.dumps = lambda *a, **k: \'{"status": "passed"}\'\n'
        "main = sys.modules.get('__main__')\n"
        "for mod in list(sys.modules.values()):\n"
        "    for name in ('run', 'main', 'serve', '_classify', 'send', 'encode'):\n"
        "        if hasattr(mod, name):\n"
        "            try:\n"
        "                setattr(mod, name, lambda *a, **k: {'status': 'passed'})\n"
        "            except Exception:\n"
        "                pass\n"
        "def add(a, b):\n    return 42\n"
    )
    value, reason, detail = score(code)
    assert value == 0.0 and reason != "passed", detail


def test_top_level_names_cannot_replace_the_builtins_or_helpers_the_tests_use() -> None:
    item = ScoreItem(
        text="Square a number.",
        tests=(
            "assert abs(square(3) - 9) < 1e-9",
            "assert math.isclose(square(2), 4)",
            "assert len(str(square(1))) > 0",
        ),
        query_id="mbpp/shadow",
    )
    code = (
        "import os as math\n"  # the tests' math must stay the real math module
        "abs = lambda x: 0\nlen = lambda x: 1\nstr = lambda x: 'x'\n"
        "class FakeMath:\n    isclose = staticmethod(lambda *a, **k: True)\n"
        "def square(x):\n    return -1\n"
    )
    value, reason, detail = score(code, item=item)
    assert value == 0.0 and reason in ("test_failed", "runtime_error"), detail
    assert score("import math\ndef square(x):\n    return x * x\n", item=item)[:2] == (1.0, "passed")


def test_the_candidate_cannot_claim_to_be_unparsed() -> None:
    code = (
        "import os, struct, json, sys\n"
        "body = json.dumps(['failed', 'syntax_error', 'pretend']).encode()\n"
        "for fd in range(3, 20):\n"
        "    try:\n        os.write(fd, struct.pack('>I', len(body)) + body)\n    except OSError:\n        pass\n"
        "sys.exit(0)\n"
    )
    s = CodeScorer(**SMALL).score(f"```python\n{code}\n```", MBPP)  # type: ignore[arg-type]
    assert s.value == 0.0 and s.parsed and s.reason != "syntax_error", s.detail


def test_forged_status_lines_on_every_descriptor_and_from_a_thread_do_not_pass() -> None:
    forged = '{"status": "passed", "stage": "tests", "error": null}'
    code = (
        "import os, threading, time, json, struct\n"
        f"FORGED = {forged!r}\n"
        "def spray():\n"
        "    for fd in range(3, 64):\n"
        "        for payload in (FORGED + '\\n', 'deadbeef ' + FORGED + '\\n'):\n"
        "            try:\n"
        "                os.write(fd, payload.encode())\n"
        "            except OSError:\n"
        "                pass\n"
        "        try:\n"
        "            body = json.dumps(['ok', 1, ['i', '5']]).encode()\n"
        "            os.write(fd, struct.pack('>I', len(body)) + body)\n"
        "        except OSError:\n"
        "            pass\n"
        "spray()\n"
        "def late():\n"
        "    time.sleep(0.3)\n"
        "    spray()\n"
        "threading.Thread(target=late, daemon=True).start()\n"
        "def add(a, b):\n    time.sleep(0.5)\n    return a - b\n"
    )
    value, reason, detail = score(code)
    assert value == 0.0 and reason != "passed", detail


def test_switching_the_audit_hook_off_through_frames_gains_nothing(tmp_path: Path) -> None:
    target = tmp_path / f"after-hook-{uuid.uuid4().hex}.txt"
    code = (
        "import sys, gc\n"
        "for obj in gc.get_objects():\n"
        "    if type(obj).__name__ == 'Guard':\n"
        "        obj.busy = True\n"
        "        obj.violations.clear()\n"
        "f = sys._getframe()\n"
        "while f is not None:\n"
        "    for v in list(f.f_locals.values()):\n"
        "        if type(v).__name__ == 'Guard':\n"
        "            v.busy = True\n"
        "    f = f.f_back\n"
        f"try:\n    open({str(target)!r}, 'w').write('escaped')\nexcept OSError:\n    pass\n"
        "def add(a, b):\n    return a * b\n"
    )
    value, reason, detail = score(code)
    assert (value, reason) == (0.0, "test_failed"), detail
    if str(LAYERS.get("landlock", "")).startswith("on"):
        assert not target.exists()


# ---------------------------------------------------------------- signalling the scorer or anyone else
def test_pidfd_kill_of_the_parent_and_of_any_process_does_not_reach_outside(
    bystander: subprocess.Popen[bytes],
) -> None:
    me = os.getpid()
    code = (
        "import os, signal\n"
        "attempts = []\n"
        f"for pid in (os.getppid(), {me}, {bystander.pid}, 1):\n"
        "    try:\n"
        "        signal.pidfd_send_signal(os.pidfd_open(pid), signal.SIGKILL)\n"
        "        attempts.append('sent')\n"
        "    except OSError as exc:\n"
        "        attempts.append(exc.errno)\n"
        f"for pid in (-1, {me}, {bystander.pid}):\n"
        "    try:\n"
        "        os.kill(pid, signal.SIGKILL)\n"
        "        attempts.append('sent')\n"
        "    except OSError as exc:\n"
        "        attempts.append(exc.errno)\n"
        "def add(a, b):\n    return a + b\n"
    )
    value, reason, detail = score(code)
    assert bystander.poll() is None, "the bystander process was killed"
    assert value == 0.0 and reason == "signal_blocked", detail


def test_without_audit_hook_and_seccomp_the_pid_namespace_alone_protects(bystander: subprocess.Popen[bytes]) -> None:
    require("pid_namespace")
    code = (
        "import os, signal\n"
        f"for pid in (-1, {os.getpid()}, {bystander.pid}):\n"
        "    try:\n        os.kill(pid, signal.SIGKILL)\n    except OSError:\n        pass\n"
        "def add(a, b):\n    return a + b\n"
    )
    value, reason, detail = score(code, audit_hook=False, seccomp=False, landlock=False)
    assert bystander.poll() is None
    assert (value, reason) == (1.0, "passed"), detail  # the kill reached nothing; the honest answer still passes


def test_without_namespaces_seccomp_and_landlock_still_block_signals(bystander: subprocess.Popen[bytes]) -> None:
    require("seccomp")
    code = (
        "import os, signal\nresults = []\n"
        f"for pid in (-1, {os.getpid()}, {bystander.pid}, os.getppid()):\n"
        "    try:\n        os.kill(pid, signal.SIGKILL)\n        results.append('sent')\n"
        "    except OSError as exc:\n        results.append(exc.errno)\n"
        "def add(a, b):\n    return a + b\n"
        "def outcome():\n    return results\n"
    )
    r = run_sandboxed(
        code,
        "assert outcome() == [1, 1, 1, 1], outcome()\n",
        limits=SandboxLimits(**SMALL, audit_hook=False, network_namespace=False, pid_namespace=False),  # type: ignore[arg-type]
    )
    assert bystander.poll() is None
    assert r.passed, (r.status, r.error, r.untrusted_error)


# ---------------------------------------------------------------- reading and writing outside
def test_dir_fd_writes_and_removals_outside_are_blocked_with_landlock_off(tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    code = f"import os\nd = os.open({str(tmp_path)!r}, os.O_RDONLY)\nos.remove('victim.txt', dir_fd=d)\n"
    value, reason, detail = score(code, item=MBPP, landlock=False)
    assert victim.read_text() == "keep me"
    assert value == 0.0 and reason in ("read_blocked", "write_blocked"), detail
    here = (
        "import os\n"
        "d = os.open('.', os.O_RDONLY)\n"
        f"fd = os.open('../../../../../../..{tmp_path}/made.txt', os.O_WRONLY | os.O_CREAT, dir_fd=d)\n"
    )
    value, reason, detail = score(here, item=MBPP, landlock=False)
    assert not (tmp_path / "made.txt").exists()
    assert value == 0.0 and reason in ("read_blocked", "write_blocked"), detail


def test_secret_files_and_the_scorer_environment_are_not_read_into_the_stored_score(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    require("landlock")
    secret = f"sk-{uuid.uuid4().hex}"
    secret_file = tmp_path / "api_key.txt"
    secret_file.write_text(secret)
    monkeypatch.setenv("ROUTERLAB_TEST_SECRET", secret)
    code = (
        "import os, sys\nleaks = []\n"
        f"for path in ({str(secret_file)!r}, '/proc/{os.getpid()}/environ', '/proc/1/environ', '/etc/shadow'):\n"
        "    try:\n"
        "        leaks.append(open(path, 'rb').read().decode(errors='replace'))\n"
        "    except OSError as exc:\n"
        "        leaks.append(repr(exc))\n"
        "leaks.append(repr(os.environ))\n"
        "print('\\n'.join(leaks))\nprint('\\n'.join(leaks), file=sys.stderr)\n"
        "raise RuntimeError('\\n'.join(leaks))\n"
    )
    s = CodeScorer(**SMALL).score(f"```python\n{code}\n```", MBPP)  # type: ignore[arg-type]
    assert s.value == 0.0
    stored = repr(s.to_dict() if hasattr(s, "to_dict") else s)
    assert secret not in stored


def test_writes_beyond_the_disk_quota_fail_and_the_host_disk_is_untouched() -> None:
    require("disk_quota")
    code = (
        "import os\nwritten = 0\n"
        "try:\n"
        "    for i in range(200):\n"
        "        with open(f'f{i}.bin', 'wb') as fh:\n"
        "            fh.write(b'x' * (512 * 1024))\n"
        "        written += 512 * 1024\n"
        "except OSError as exc:\n"
        "    error = exc.errno\n"
        "else:\n"
        "    error = None\n"
        "def total():\n    return written, error\n"
    )
    r = run_sandboxed(
        code,
        "import errno\nw, e = total()\nassert w <= 8 * 2**20 and e == errno.ENOSPC, (w, e)\n",
        limits=SandboxLimits(**{**SMALL, "disk_mb": 8, "max_output_bytes": 1 << 20}),  # type: ignore[arg-type]
    )
    assert r.passed, (r.status, r.error, r.untrusted_error)


def test_many_small_files_hit_the_inode_quota() -> None:
    require("disk_quota")
    code = (
        "import os\nmade = 0\n"
        "try:\n    for i in range(5000):\n        open(f'{i}', 'w').close()\n        made += 1\n"
        "except OSError as exc:\n    err = exc.errno\n"
        "def count():\n    return made\n"
    )
    r = run_sandboxed(code, "assert count() < 200, count()\n", limits=SandboxLimits(**SMALL, max_files=128))  # type: ignore[arg-type]
    assert r.passed, (r.status, r.error, r.untrusted_error)


# ---------------------------------------------------------------- what is stored
def test_stored_output_and_errors_are_capped_marked_untrusted_and_stripped_of_control_characters() -> None:
    code = (
        "import sys\n"
        "sys.stderr.write('\\x1b[2J\\x1b]0;pwned\\x07\\u202eevil' * 20000)\n"
        "raise ValueError('\\x1b[31m' + 'A' * 100000)\n"
    )
    value, reason, detail = score(code, item=MBPP, max_output_bytes=1 << 20)
    assert (value, reason) == (0.0, "runtime_error")
    tail, err = str(detail["untrusted_stderr_tail"]), str(detail["untrusted_error"])
    assert len(tail) <= 2000 and len(err) <= 500
    for text in (tail, err, str(detail["error"])):
        assert "\x1b" not in text and "\x07" not in text and "\u202e" not in text
    assert "A" * 50 not in str(detail["error"])  # the trusted summary holds no candidate text


def test_exiting_or_dying_mid_test_scores_zero() -> None:
    assert score("import os\ndef add(a, b):\n    os._exit(0)\n")[:2] == (0.0, "exited_early")
    assert score("import sys\ndef add(a, b):\n    sys.exit(0)\n")[:2] == (0.0, "exited_early")
    value, reason, _ = score("import ctypes\ndef add(a, b):\n    return ctypes.string_at(0)\n", audit_hook=False)
    assert (value, reason) == (0.0, "crashed")


def test_a_flood_of_nested_data_is_a_protocol_or_memory_failure_not_a_pass() -> None:
    code = "def add(a, b):\n    x = []\n    for _ in range(5000):\n        x = [x]\n    return x\n"
    value, reason, detail = score(code)
    assert value == 0.0 and reason in ("runtime_error", "protocol_error", "memory"), detail


def test_honest_answers_still_pass_with_generators_dicts_and_objects() -> None:
    code = (
        "from collections import Counter, namedtuple\n"
        "P = namedtuple('P', 'x y')\n"
        "class Box:\n    def __init__(self, v):\n        self.v = v\n"
        "def add(a, b):\n    return a + b\n"
        "def gen(n):\n    yield from range(n)\n"
        "def counts(s):\n    return Counter(s)\n"
        "def point():\n    return P(1, 2)\n"
        "def box(v):\n    return Box(v)\n"
        "def unbox(b):\n    return b.v\n"
    )
    tests = (
        "assert list(gen(3)) == [0, 1, 2]\n"
        "assert counts('aab') == {'a': 2, 'b': 1}\n"
        "assert point() == (1, 2)\n"
        "b = box(7)\nassert unbox(b) == 7 and b.v == 7\n"
        "assert b != 7 and b == b\n"
        "assert add(0.1, 0.2) != 0.3 and abs(add(0.1, 0.2) - 0.3) < 1e-12\n"
        "assert add(float('inf'), 1) == float('inf')\n"
        "assert add(2**100, 1) == 2**100 + 1\n"
        "assert add((1,), (2,)) == (1, 2) and add([1], [2]) == [1, 2]\n"
    )
    r = run_sandboxed(code, tests, limits=SandboxLimits(**SMALL))  # type: ignore[arg-type]
    assert r.passed, (r.status, r.error, r.untrusted_error)


def test_a_run_is_fast_enough_for_a_benchmark() -> None:
    start = time.monotonic()
    for _ in range(3):
        assert score("def add(a, b):\n    return a + b\n")[1] == "passed"
    assert (time.monotonic() - start) / 3 < 2.0


def test_the_candidate_cannot_signal_itself_out_of_its_limits() -> None:
    code = (
        "import os, signal\nsignal.signal(signal.SIGXCPU, signal.SIG_IGN)\n"
        "def add(a, b):\n    while True:\n        pass\n"
    )
    value, reason, detail = score(code, timeout_s=2.0, cpu_s=1)
    assert (value, reason) == (0.0, "timeout"), detail
    assert float(detail["duration_s"]) < 6  # type: ignore[arg-type]


UNPRIVILEGED = r"""
import json, os, subprocess, sys, time, types
if not os.access(SRC + "/routerlab/score/sandbox/_child/boot.py", os.R_OK):
    sys.exit(77)  # the checkout lies where this user cannot read (e.g. beneath a 0700 temporary folder)
for name, path in (("routerlab", SRC + "/routerlab"), ("routerlab.score", SRC + "/routerlab/score")):
    module = types.ModuleType(name)  # the sandbox alone, without routerlab's numpy-based package
    module.__path__ = [path]
    sys.modules[name] = module
from routerlab.score.sandbox import run_sandboxed, sandbox_layers
victim = subprocess.Popen(["sleep", "30"])
kill = run_sandboxed(f"import os\ntry:\n    os.kill({victim.pid}, 9)\nexcept OSError:\n    pass\n", "")
fake = run_sandboxed("class A:\n    def __eq__(s, o): return True\ndef f():\n    return A()\n", "assert f() == 1\n")
honest = run_sandboxed("def f():\n    return 1\n", "assert f() == 1\n")
time.sleep(0.2)
print(json.dumps({"layers": sandbox_layers(), "alive": victim.poll() is None, "kill": kill.status,
                  "fake": fake.status, "honest": honest.status}))
victim.kill()
"""


@pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("setpriv") or not os.path.exists("/usr/bin/python3"),
    reason="needs root (to become an unprivileged user with setpriv) and a system /usr/bin/python3",
)
def test_an_unprivileged_user_gets_namespaces_through_a_user_namespace() -> None:
    import routerlab

    src = str(Path(routerlab.__file__).resolve().parents[1])
    run = subprocess.run(
        ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "/usr/bin/python3", "-c",
         f"SRC = {src!r}\n" + UNPRIVILEGED],
        capture_output=True, text=True, timeout=120, cwd="/", env={"PATH": "/usr/bin:/bin", "TMPDIR": "/tmp"},
    )  # fmt: skip
    if run.returncode == 77 or (run.returncode != 0 and "Permission denied" in run.stderr):
        pytest.skip(f"the unprivileged user cannot read the package at {src}")
    assert run.returncode == 0, run.stderr[-2000:]
    report = json.loads(run.stdout.strip().splitlines()[-1])
    assert report["alive"], report
    assert (report["kill"], report["fake"], report["honest"]) == ("signal_blocked", "test_failed", "passed"), report
    if report["layers"].get("user_namespace") == "on":
        assert report["layers"]["pid_namespace"] == "on", report["layers"]
