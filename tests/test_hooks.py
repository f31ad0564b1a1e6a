"""The plugin's hooks, implemented by a `conftest.py` as a user would: an executor that wraps
the real QEMU one (and is used), build flags per (module, arch), an observer of each batch, and
an architecture added by name."""

from __future__ import annotations

import json

import pytest
from gohelpers import outcomes_by_id, write_module

MODULE = {
    "m_test.go": """
        package m

        import (
        \t"os"
        \t"testing"
        )

        func TestFlag(t *testing.T) {
        \tif os.Getenv("FROM_HOOK") != "" {
        \t\tt.Fatal("build env leaked into the test run")
        \t}
        }

        func TestTag(t *testing.T) {
        \tif !tagged {
        \t\tt.Fatal("built without the tag the hook added")
        \t}
        }
    """,
    "tag_on.go": "//go:build hooked\n\npackage m\n\nconst tagged = true\n",
    "tag_off.go": "//go:build !hooked\n\npackage m\n\nconst tagged = false\n",
}

CONFTEST = '''
import json
from pathlib import Path

from pytest_multiarch.executors.qemu import QemuExecutor

LOG = Path(__file__).parent / "hooks.log"


def note(**event):
    with LOG.open("a") as f:
        f.write(json.dumps(event) + "\\n")


class RecordingQemu(QemuExecutor):
    """The real QEMU executor, recording each command it is asked to build."""

    def describe(self, arch):
        return "recording " + super().describe(arch)

    def invocation(self, binary, args, arch):
        note(event="invocation", arch=arch.name, binary=Path(binary).name)
        return super().invocation(binary, args, arch)


def pytest_multiarch_executor(config, arch, preference):
    return RecordingQemu() if arch.name == "s390x" else None


def pytest_multiarch_build_env(config, kind, target, arch, env):
    if kind == "go" and arch.name == "s390x":
        env["GOFLAGS"] = "-tags=hooked"


def pytest_multiarch_batch_finished(config, arch, binary, outcomes):
    note(event="batch", arch=arch.name, outcomes={n: o.status for n, o in outcomes.items()})
'''


def _events(pytester: pytest.Pytester) -> list[dict[str, object]]:
    return [json.loads(line) for line in (pytester.path / "hooks.log").read_text().splitlines()]


def test_a_conftest_executor_build_env_and_observer_are_used(gopytester: pytest.Pytester) -> None:
    write_module(gopytester.path, "m", MODULE)
    gopytester.makeconftest(CONFTEST)
    res = gopytester.runpytest_subprocess("--arch=arm64,s390x", "-v")
    ids = "m/go.mod::example.com/m::{}[{}]"
    assert outcomes_by_id(res) == {
        ids.format("TestFlag", "arm64"): "passed", ids.format("TestTag", "arm64"): "failed",  # no hook env
        ids.format("TestFlag", "s390x"): "passed", ids.format("TestTag", "s390x"): "passed",  # -tags=hooked
    }  # fmt: skip
    res.stdout.re_match_lines(
        [r"^arm64 +1 +1 +0 +0 .* qemu 10\.", r"^s390x +2 +0 +0 +0 .* recording qemu \S+ 10\."]
    )
    events = _events(gopytester)
    assert {
        "event": "invocation",
        "arch": "s390x",
        "binary": "m.test",
    } in events  # the hook's executor ran it
    assert not any(e["event"] == "invocation" and e["arch"] == "arm64" for e in events)  # the plugin's did
    batches = [e for e in events if e["event"] == "batch"]
    assert sorted(json.dumps(b, sort_keys=True) for b in batches) == sorted(
        json.dumps(b, sort_keys=True)
        for b in (
            {"event": "batch", "arch": "arm64", "outcomes": {"TestFlag": "passed", "TestTag": "failed"}},
            {"event": "batch", "arch": "s390x", "outcomes": {"TestFlag": "passed", "TestTag": "passed"}},
        )
    )
    # The hook's environment is part of the build cache's key: changing it rebuilds.
    (gopytester.path / "conftest.py").write_text(CONFTEST.replace('"-tags=hooked"', '"-tags=other"'))
    again = gopytester.runpytest_subprocess("--arch=s390x", "-v")
    assert outcomes_by_id(again)[ids.format("TestTag", "s390x")] == "failed"


ADD_ARCH = """
import dataclasses
from pytest_multiarch import arch as archmod


def pytest_multiarch_arches(config):
    # arm64 again under another name, as a team might name a board: selectable by that name.
    return [dataclasses.replace(archmod.get("arm64"), name="myboard", aliases=("my-board",))]
"""


def test_an_architecture_added_by_a_hook_can_be_selected(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(ADD_ARCH)
    pytester.makepyfile(
        "def test_arch(arch):\n    assert arch.name == 'myboard' and arch.goarch == 'arm64'\n"
    )
    res = pytester.runpytest_subprocess("--arch=my-board", "-v")
    assert res.ret == 0
    res.stdout.fnmatch_lines(["multiarch: arches myboard *", "*test_arch?myboard? PASSED*"])


def test_an_added_architecture_may_not_take_a_known_name(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(ADD_ARCH.replace('aliases=("my-board",)', 'aliases=("s390x",)'))
    pytester.makepyfile("def test_arch(arch):\n    pass\n")
    res = pytester.runpytest_subprocess("--arch=arm64")
    assert res.ret == pytest.ExitCode.USAGE_ERROR
    assert "pytest_multiarch_arches: cannot add architecture 'myboard': the name 's390x' is s390x's" in (
        res.stderr.str()
    )


WRAPPED = '''
import json
from pathlib import Path

from pytest_multiarch.executors.native import NativeExecutor

LOG = Path(__file__).parent / "wrapped.log"


def note(**event):
    with LOG.open("a") as f:
        f.write(json.dumps(event) + "\\n")


class Wrapped:
    """The native executor under another name, recording what it is asked."""

    name = "wrapped"

    def __init__(self):
        self.inner = NativeExecutor()

    def check(self, arch):
        self.inner.check(arch)

    def describe(self, arch):
        return "wrapped native"

    def invocation(self, binary, args, arch):
        return self.inner.invocation(binary, args, arch)

    def bind(self, invocation, added, cwd):
        return self.inner.bind(invocation, added, cwd)

    def execute(self, invocation, request):
        note(event="execute", timeout=request.timeout, told=request.env.get("MULTIARCH_EXECUTOR"))
        return self.inner.execute(invocation, request)

    def close(self):
        note(event="close")


def pytest_multiarch_executors(config, registry):
    registry.add(Wrapped(), auto=AUTO)
'''

USES_IT = """
import shutil


def test_runs_wrapped(run_on_arch):
    res = run_on_arch(shutil.which("true"))
    assert res.executor == "wrapped"
    res.check()
"""


@pytest.mark.parametrize(
    ("auto", "choose"),
    [("None", "--arch-executor=wrapped"), ("-1", "--arch-executor=auto")],
    ids=["named", "first-in-auto"],
)
def test_an_executor_added_by_a_hook_is_choosable_scalable_and_closed(
    pytester: pytest.Pytester, auto: str, choose: str
) -> None:
    pytester.makeconftest(WRAPPED.replace("AUTO", auto))
    pytester.makepyfile(USES_IT)
    res = pytester.runpytest_subprocess(
        "--arch=native", choose, "--arch-timeout=2", "--arch-timeout-scale=wrapped=50", "-v"
    )
    assert res.ret == 0, res.stdout.str() + res.stderr.str()
    res.stdout.fnmatch_lines([f"multiarch: arches * executor {choose.partition('=')[2]}; *", "*PASSED*"])
    events = [json.loads(line) for line in (pytester.path / "wrapped.log").read_text().splitlines()]
    # The scaled --arch-timeout (2 s x 50), the name every process is told, one close() at the end.
    assert events == [{"event": "execute", "timeout": 100.0, "told": "wrapped"}, {"event": "close"}]


def test_an_unknown_executor_names_the_hook_added_ones(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(WRAPPED.replace("AUTO", "None"))
    pytester.makepyfile(USES_IT)
    res = pytester.runpytest_subprocess("--arch-executor=vm")
    assert res.ret == pytest.ExitCode.USAGE_ERROR
    res.stderr.fnmatch_lines(
        ["ERROR: --arch-executor: invalid choice: 'vm' (choose from 'auto', 'native', 'binfmt', 'qemu', "
         "'docker', 'ssh', 'wasmtime', 'wrapped')"]
    )  # fmt: skip
    res = pytester.runpytest_subprocess("--arch-timeout-scale=vm:arm64=2")
    assert res.ret == pytest.ExitCode.USAGE_ERROR
    res.stderr.fnmatch_lines(
        ["*: 'vm:arm64=2': unknown executor 'vm' (one of native, binfmt, qemu, docker, ssh, wasmtime, "
         "wrapped)"]
    )
    scaled = ("--arch-timeout-scale=wrapped:arm64=2", "--arch=native", "--arch-executor=wrapped")
    assert pytester.runpytest_subprocess(*scaled).ret == 0
