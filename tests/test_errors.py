"""errors.py: one base for every error of the package, and the one mapping of an error to a skip,
a failure, a usage error or an infra error (fast: no toolchain, no emulator)."""

from __future__ import annotations

import ast
import builtins
import importlib
import inspect
import pkgutil
from pathlib import Path

import pytest
from _pytest.outcomes import Failed, Skipped

import pytest_multiarch
from pytest_multiarch import arch as archmod
from pytest_multiarch import errors, proc
from pytest_multiarch.collect.base import BuildFailed
from pytest_multiarch.elf import ElfMismatch
from pytest_multiarch.errors import MultiarchError, Verdict
from pytest_multiarch.executors import ExecutorUnavailable
from pytest_multiarch.executors.binfmt_misc import BinfmtError
from pytest_multiarch.interrupt import Terminated
from pytest_multiarch.markers import ArchMarkerError
from pytest_multiarch.outcome import MultiarchFailure
from pytest_multiarch.report.matrix import ReportError
from pytest_multiarch.run.limits import ScaleError
from pytest_multiarch.settings import Settings
from pytest_multiarch.state import State
from pytest_multiarch.toolchains.go.find import GoError
from pytest_multiarch.toolchains.rust import RustBuildError, RustError, RustToolchainError

ARM64 = archmod.get("arm64")


def _package_exceptions() -> dict[str, type[BaseException]]:
    found: dict[str, type[BaseException]] = {}
    for info in pkgutil.walk_packages(pytest_multiarch.__path__, "pytest_multiarch."):
        if info.name.endswith("__main__"):
            continue  # runs the command line when imported
        module = importlib.import_module(info.name)
        for name, obj in vars(module).items():
            if not (inspect.isclass(obj) and issubclass(obj, BaseException)):
                continue
            # (Terminated says it is of "builtins", so that pytest prints it as it prints Ctrl-C.)
            if obj.__module__ == info.name or (obj.__module__ == "builtins" and not hasattr(builtins, name)):
                found[f"{info.name}.{name}"] = obj
    return found


def test_every_exception_of_the_package_derives_from_the_one_base() -> None:
    found = _package_exceptions()
    assert len(found) >= 15
    # Terminated is a KeyboardInterrupt on purpose (SIGTERM stops the session as Ctrl-C does):
    # an `except Exception` must not catch it.
    outside = {name for name, cls in found.items() if not issubclass(cls, MultiarchError)}
    assert outside == {"pytest_multiarch.interrupt.Terminated"}
    assert not issubclass(Terminated, Exception)


def test_the_classes_keep_what_callers_catch_them_as() -> None:
    assert issubclass(archmod.ArchError, ValueError)
    assert issubclass(ScaleError, ValueError)
    assert issubclass(ArchMarkerError, pytest.Collector.CollectError)
    assert issubclass(RustToolchainError, RustError) and issubclass(RustBuildError, RustError)


def test_errors_is_the_bottom_layer() -> None:
    tree = ast.parse(Path(errors.__file__).read_text())
    imported = [
        node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
    ] + [alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names]
    assert not [m for m in imported if m.startswith("pytest_multiarch")]


def test_executor_unavailable_carries_what_why_fix_and_says_the_same() -> None:
    exc = ExecutorUnavailable(ARM64, "qemu-aarch64-static is not on PATH", "apt-get install qemu-user-static")
    assert str(exc) == (
        "cannot run arm64 binaries: qemu-aarch64-static is not on PATH. Fix: apt-get install qemu-user-static"
    )
    assert (exc.what, exc.why, exc.fix) == (
        "cannot run arm64 binaries", "qemu-aarch64-static is not on PATH", "apt-get install qemu-user-static"
    )
    assert exc.reason == exc.why and exc.arch is ARM64 and not exc.named
    assert ExecutorUnavailable(ARM64, "r", "f", named=True).named


def test_a_message_alone_gives_what_and_fix() -> None:
    exc = GoError("go not found on PATH. Fix: python -m pytest_multiarch setup")
    assert str(exc) == "go not found on PATH. Fix: python -m pytest_multiarch setup"
    assert (exc.what, exc.why, exc.fix) == ("go not found on PATH", "", "python -m pytest_multiarch setup")
    plain = ElfMismatch("/x is a directory, not a program")
    assert (plain.what, plain.fix) == ("/x is a directory, not a program", "")
    assert (MultiarchError().what, MultiarchError().fix) == ("", "")


def test_constructor_signatures_are_unchanged() -> None:
    build = RustBuildError("cargo failed", ["error[E0308]"], ["cargo", "test"])
    assert (str(build), build.diagnostics) == ("cargo failed", ["error[E0308]"])
    assert build.argv == ["cargo", "test"]
    marker = ArchMarkerError("t.py::test: @pytest.mark.arch: unknown 'vax'")
    assert marker.args == ("t.py::test: @pytest.mark.arch: unknown 'vax'",)


@pytest.mark.parametrize(
    ("error", "becomes"),
    [
        (ExecutorUnavailable(ARM64, "r", "f"), "skip"),
        (RustToolchainError("no cargo"), "skip"),
        (GoError("go build failed"), "fail"),
        (RustError("no Rust target for vax"), "fail"),
        (ElfMismatch("built for arm64"), "fail"),
        (BuildFailed("/bin/x"), "fail"),
        (MultiarchFailure("TestX on arm64: failed"), "fail"),
        (archmod.ArchError("unknown architecture 'vax'"), "usage"),
        (ScaleError("'qemu=0': write KEY=FACTOR"), "usage"),
        (BinfmtError("no binfmt_misc"), "usage"),
        (ReportError("r.json: not JSON"), "usage"),
        (proc.Stopped("the test session is stopping"), "infra"),
        (RuntimeError("not ours"), "fail"),
    ],
)
def test_each_error_becomes_one_thing(error: BaseException, becomes: str) -> None:
    assert errors.verdict(error) == Verdict(becomes, str(error))  # type: ignore[arg-type]


def test_a_missing_emulator_is_a_skip_an_error_under_strict_and_always_one_when_named() -> None:
    exc = ExecutorUnavailable(ARM64, "r", "f")
    assert errors.verdict(exc) == Verdict("skip", str(exc))
    assert errors.verdict(exc, strict=True) == Verdict("fail", f"{exc} (an error because of --arch-strict)")
    named = ExecutorUnavailable(ARM64, "MULTIARCH_QEMU_ARM64=/x does not run", "f", named=True)
    assert errors.verdict(named) == Verdict("fail", str(named))
    assert errors.verdict(named, strict=True) == Verdict("fail", str(named))  # no strict suffix
    assert errors.unavailable("no go", strict=False) == Verdict("skip", "no go")
    assert errors.unavailable("no go", strict=True, named=True) == Verdict("fail", "no go")


def test_a_usage_error_is_led_by_where() -> None:
    exc = archmod.ArchError("unknown architecture 'vax'")
    assert errors.verdict(exc, where="--arch") == Verdict("usage", "--arch: unknown architecture 'vax'")
    # where only leads a usage error
    assert errors.verdict(GoError("boom"), where="--arch").message == "boom"
    usage = errors.usage_error(ValueError("'x' is not a size"), "multiarch_cache_max_size")
    assert isinstance(usage, pytest.UsageError)
    assert str(usage) == "multiarch_cache_max_size: 'x' is not a size"


def test_a_verdict_becomes_the_pytest_exception_that_reports_it_so() -> None:
    skip = Verdict("skip", "no qemu").exception()
    assert isinstance(skip, Skipped) and skip.msg == "no qemu" and skip._use_item_location
    for becomes in ("fail", "infra"):
        fail = Verdict(becomes, "it broke").exception()
        assert isinstance(fail, Failed) and fail.msg == "it broke" and not fail.pytrace
    usage = Verdict("usage", "--arch: bad").exception()
    assert isinstance(usage, pytest.UsageError) and str(usage) == "--arch: bad"


def test_raised_from_none_the_report_shows_the_reason_alone(pytester: pytest.Pytester) -> None:
    """How the items raise a verdict inside an except block: no "During handling..." chain."""
    pytester.makepyfile(
        """
        from pytest_multiarch import errors
        from pytest_multiarch.arch import get
        from pytest_multiarch.executors import ExecutorUnavailable

        def _raise(strict):
            try:
                raise ExecutorUnavailable(get("s390x"), "no emulator", "install it")
            except ExecutorUnavailable as exc:
                raise errors.verdict(exc, strict=strict).exception() from None

        def test_skipped():
            _raise(False)

        def test_strict():
            _raise(True)
        """
    )
    result = pytester.runpytest("-rs", "-p", "no:randomly")
    result.assert_outcomes(skipped=1, failed=1)
    out = result.stdout.str()
    assert "During handling" not in out and "Traceback" not in out
    result.stdout.fnmatch_lines([
        "cannot run s390x binaries: no emulator. Fix: install it (an error because of --arch-strict)",
        "SKIPPED ?1? *: cannot run s390x binaries: no emulator. Fix: install it",
    ])


def test_the_session_chooses_an_executor_or_keeps_why_not_once(tmp_path: Path) -> None:
    settings = Settings(arches=[ARM64], executor="native", timeout=1.0, strict=False, collect=frozenset(),
                        go_tags=(), go_cgo=False, cargo=None)  # fmt: skip
    state = State(settings=settings, bin_dir=tmp_path)
    s390x = archmod.get("s390x")  # never the host's: native cannot run it
    why = state.choose_executor(s390x)
    assert isinstance(why, ExecutorUnavailable) and why.arch is s390x
    assert state.choose_executor(s390x) is why  # chosen once per session
    with pytest.raises(ExecutorUnavailable) as raised:
        state.executor(s390x)
    assert raised.value is why
    host = archmod.host()
    assert state.choose_executor(host) is state.executor(host)
    assert state.executor(host).name == "native"
