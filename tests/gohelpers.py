"""Helpers for the end-to-end tests: Go modules on disk, and reading an inner pytest run's output."""

from __future__ import annotations

import os
import re
import textwrap
from collections.abc import Mapping
from pathlib import Path

import pytest

# pytest's verbose line for one item: "<nodeid> PASSED   [ 50%]" (the percentage is optional).
_VERBOSE_LINE = re.compile(r"^(\S+::\S+) (PASSED|FAILED|SKIPPED|ERROR|XFAIL|XPASS|INFRA ERROR)\b")


def write_module(root: Path, name: str, files: Mapping[str, str], *, module: str | None = None) -> Path:
    """Write a Go module ``root/name`` (go.mod plus ``files``, dedented); its directory."""
    mod_dir = root / name
    mod_dir.mkdir(parents=True, exist_ok=True)
    (mod_dir / "go.mod").write_text(f"module {module or 'example.com/' + name}\n\ngo 1.21\n")
    for rel, text in files.items():
        path = mod_dir / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip())
    return mod_dir


def outcomes_by_id(result: pytest.RunResult) -> dict[str, str]:
    """{node id: "passed"/"failed"/...} from an inner run made with ``-v``."""
    found: dict[str, str] = {}
    for line in result.outlines:
        m = _VERBOSE_LINE.match(line)
        if m:
            found[m.group(1)] = m.group(2).lower()
    return found


def sections(result: pytest.RunResult, title: str) -> list[str]:
    """The text of every failure/error section titled ``title`` (``____ title ____``) of an inner
    run's output: several when tests of one name ran in several packages."""
    lines, found = result.outlines, []
    header = re.compile(r"^_{3,} " + re.escape(title) + r" _{3,}$")
    for i, line in enumerate(lines):
        if header.match(line):
            body = []
            for rest in lines[i + 1 :]:
                if re.match(r"^(_{3,} .* _{3,}|={3,} .* ={3,})$", rest):
                    break
                body.append(rest)
            found.append("\n".join(body))
    return found


def section(result: pytest.RunResult, title: str) -> str:
    """The text of the first failure/error section titled ``title``."""
    found = sections(result, title)
    if not found:
        raise AssertionError(f"no section {title!r} in the output:\n{result.stdout.str()}")
    return found[0]


def processes_matching(needle: str) -> list[str]:
    """Command lines of running processes that contain ``needle`` (read from /proc, as `pgrep -af`
    would show them, without needing procps), this test process excluded."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            line = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            continue  # gone meanwhile, or not ours to read
        if needle in line:
            found.append(f"{entry.name} {line}")
    return found


def processes_with_env(assignment: str) -> list[str]:
    """Processes (``pid cmdline``) whose environment holds ``NAME=value``: everything a run
    started, whatever process group or session it moved to (this test process excluded)."""
    want = assignment.encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes().split(b"\0")
            line = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            continue
        if want in environ:
            found.append(f"{entry.name} {line}")
    return found


READS_TESTDATA = {
    "reads_test.go": """
        package reads

        import (
        \t"os"
        \t"testing"
        )

        func TestReadsTestdata(t *testing.T) {
        \tif b, err := os.ReadFile("testdata/x.txt"); err != nil || string(b) != "ok" {
        \t\tt.Fatalf("testdata/x.txt: %q %v", b, err)
        \t}
        \tif err := os.WriteFile(t.TempDir()+"/scratch", []byte("x"), 0o600); err != nil {
        \t\tt.Fatal(err)
        \t}
        }
    """,
}


def check_test_cache(pytester: pytest.Pytester, *args: str) -> None:
    """Go's test-result cache under some executor (``args``, in processes of their own): a re-run
    replays the passed result, a changed testdata file runs the test again."""
    root = write_module(pytester.path, "reads", READS_TESTDATA)
    data = root / "testdata" / "x.txt"
    data.parent.mkdir()
    for text in ("ok", "no"):  # the second: same size, new contents, mtime set back
        data.write_text(text)
        os.utime(data, (1_000_000_000, 1_000_000_000))
        first = pytester.runpytest_subprocess("-v", *args, timeout=600)
        verdict = "PASSED" if text == "ok" else "FAILED"
        first.stdout.fnmatch_lines([f"reads/go.mod::*TestReadsTestdata* {verdict} *"])
        if text == "ok":
            again = pytester.runpytest_subprocess("-v", *args, timeout=600)
            again.stdout.fnmatch_lines(["reads/go.mod::*TestReadsTestdata* PASSED (cached)*"])
