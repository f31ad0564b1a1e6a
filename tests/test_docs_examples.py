"""The runnable examples of the docs, run for real: they must do what the pages say.

The convention, in the Markdown: an HTML comment on the line right before a fenced code block
(mkdocs passes it into the page as an invisible HTML comment).

- ``<!-- test: file PATH -->``: the block is a file. It is written to PATH, relative to the
  page's scenario directory, when the page has been followed up to there.
- ``<!-- test: run -->``: the block is a console session. Each ``$ `` line (with the lines after
  it while they end in a backslash) is a bash command. A block's commands run in one bash
  process, in the scenario directory, one after the other: a ``cd`` or an ``export`` holds until
  the end of the block, not beyond. Each command must exit with 0, unless the next one is
  ``echo $?``, whose output line then states the status. The lines under a command are its
  expected output: each must match a line of the command's real output (stdout and stderr
  together), in order, with other lines allowed between them. Lines are compared with runs of
  whitespace collapsed; any decimal number (a duration, a version) matches any other, and a rule
  of ``=``, ``-`` or ``_`` one of any width. An expected line also matches a longer line that
  starts with it and a space (pytest's ``[ 20%]`` column left out). A line ``...`` only marks an
  elision; ``...`` inside a line matches anything.

Blocks without a marker are not run: ``pip install``, ``setup`` (it installs packages), root
prompts, fragments. ``<!-- test: copy of FILE -->`` (docs/how-to/ci.md) is checked by
tests/test_ci_recipe.py.

Each page is one scenario, followed from top to bottom in a fresh directory, into which PAGES
first copies what the page says it works on. The environment: this venv first on PATH (its
``python`` and ``pytest``), then the Debian Rust with cross standard libraries that setup
unpacked (a ``cargo`` that has the s390x std; conftest's rust_env, which skips without it), the
Go settings of conftest (no toolchain or module downloads), and PYTHONUNBUFFERED (output in the
order a terminal shows it).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest
from rusthelpers import RUST_HOME

REPO = Path(__file__).resolve().parent.parent
DOCS = REPO / "docs"
PAGES = {  # page: what of the repository its scenario directory starts with
    "getting-started.md": (),
    "how-to/shims.md": ("examples/polyglot",),
    "how-to/python-tests.md": ("examples/polyglot",),
    "how-to/known-failures.md": (),
    "how-to/test-cache.md": (),
}
MARKER = re.compile(r"^<!-- test: (.*?) -->$")
NUMBER = re.compile(r"\d+\.\d+(?:\.\d+)*")
# `ok PKG (cached)` is `ok PKG TIME` replayed by go test's result cache (GOCACHE is the machine's).
GO_CACHED = re.compile(r"^(ok \S+) \(cached\)$")
RULE = re.compile(r"([=_-])\1{2,}")  # pytest's section rules: their width depends on the title


@dataclass
class Block:
    directive: str  # "run" or "file PATH"
    line: int  # of the marker, 1-based
    text: str


def blocks(page: Path) -> Iterator[Block]:
    lines = page.read_text().splitlines()
    for i, line in enumerate(lines):
        if line.startswith("<!-- test:") and not line.startswith("<!-- test: copy of "):
            marker = MARKER.match(line)
            assert marker, f"{page}:{i + 1}: not a marker: {line}"
            fence = lines[i + 1] if i + 1 < len(lines) else ""
            assert fence.startswith("```"), f"{page}:{i + 1}: no code block right after {line}"
            end = lines.index("```", i + 2)
            yield Block(marker.group(1), i + 1, "".join(f"{t}\n" for t in lines[i + 2 : end]))


@dataclass
class Command:
    text: str
    expected: list[str]


def commands(session: str) -> list[Command]:
    out: list[Command] = []
    continued = False
    for line in session.splitlines():
        if continued:
            out[-1].text += "\n" + line
        elif line.startswith("$ "):
            out.append(Command(line[2:], []))
        else:
            assert out, f"output before the first command: {line}"
            out[-1].expected.append(line)
            continue
        continued = line.endswith("\\")
    return out


def _normal(line: str) -> str:
    line = GO_CACHED.sub(r"\1 0.0s", " ".join(line.split()))
    return RULE.sub(r"\1\1\1", NUMBER.sub("0.0", line))


def _matches(expected: str, actual: str) -> bool:
    pattern = ".*".join(re.escape(part) for part in expected.split("..."))
    return re.fullmatch(rf"{pattern}(?: .*)?", actual) is not None


def unmatched(expected: list[str], actual: str) -> str | None:
    """The first expected line not found, in order, among the actual lines."""
    lines = iter(_normal(a) for a in actual.splitlines())
    for line in expected:
        want = _normal(line)
        if want in ("", "..."):
            continue
        if not any(_matches(want, got) for got in lines):
            return line
    return None


def run_session(block: Block, cwd: Path, env: Mapping[str, str]) -> list[str]:
    """Run a console block; what differs from the page, one message each."""
    cmds = commands(block.text)
    sentinel = f"@@{uuid.uuid4().hex}"
    script = ["exec 2>&1"]
    for c in cmds:  # the status goes out with the sentinel, and stays in $? for an `echo $?`
        script += [c.text, f"__s=$?; printf '\\n{sentinel} %d\\n' $__s; (exit $__s)"]
    res = subprocess.run(["bash", "--noprofile", "--norc", "-c", "\n".join(script)], cwd=cwd, env=dict(env),
                         stdout=subprocess.PIPE, text=True, timeout=300, check=False)  # fmt: skip
    parts = re.split(rf"^{sentinel} (\d+)$", res.stdout, flags=re.M)
    outputs, statuses = parts[0:-1:2], [int(s) for s in parts[1::2]]
    assert len(statuses) == len(cmds), f"line {block.line}: the session stopped early:\n{res.stdout}"
    problems = []
    for i, (c, output, status) in enumerate(zip(cmds, outputs, statuses, strict=True)):
        where = f"line {block.line}: $ {c.text}"
        checked = i + 1 < len(cmds) and cmds[i + 1].text.strip() == "echo $?"
        if status != 0 and not checked:
            problems.append(f"{where}\nexit status {status}, and the page shows no `echo $?`:\n{output}")
        missing = unmatched(c.expected, output)
        if missing is not None:
            problems.append(f"{where}\nthis line of the page is not in the output: {missing!r}\n{output}")
    return problems


@pytest.fixture(scope="module")
def env(go: str, go_env: Mapping[str, str], rust_env: Mapping[str, str]) -> dict[str, str]:
    # `go` first after the venv: `setup` installs Debian's Go in /usr/lib/go-1.N/bin, not on PATH.
    path = os.pathsep.join(
        [str(Path(sys.executable).parent), str(Path(go).parent), str(RUST_HOME / "bin"), os.environ["PATH"]]
    )
    base = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "CARGO_TARGET_"))}
    return {**base, **go_env, **rust_env, "PATH": path, "PYTHONUNBUFFERED": "1", "COLUMNS": "80"}


@pytest.mark.parametrize("page", list(PAGES))
def test_page_examples(page: str, tmp_path: Path, env: Mapping[str, str]) -> None:
    for rel in PAGES[page]:
        ignore = shutil.ignore_patterns("target", ".pytest_cache", ".multiarch-bin", "__pycache__")
        shutil.copytree(REPO / rel, tmp_path / rel, ignore=ignore)
    found = list(blocks(DOCS / page))
    assert any(b.directive == "run" for b in found), f"{page} has no runnable block"
    problems = []
    for block in found:
        if block.directive == "run":
            problems += run_session(block, tmp_path, env)
        else:
            kind, _, rel = block.directive.partition(" ")
            assert kind == "file" and rel, f"{page}:{block.line}: unknown directive {block.directive!r}"
            (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / rel).write_text(block.text)
    assert not problems, f"{page}:\n\n" + "\n\n".join(problems)


def test_the_output_matching_rules() -> None:
    out = "ok  \texample.com/wire\t0.002s\nx::t[arm64] PASSED      [ 20%]\nqemu 10.0.2\n"
    assert unmatched(["ok example.com/wire 1.5s", "...", "x::t[arm64] PASSED", "qemu 8.2.2"], out) is None
    assert unmatched(["x::t[arm64] PASSED", "ok example.com/wire 0.1s"], out) == "ok example.com/wire 0.1s"
    assert unmatched(["x::t[arm64] PASS"], out) == "x::t[arm64] PASS"  # a longer line only at a space
    assert unmatched(["ok ... 0.0s"], out) is None and unmatched(["ok ... 1s"], out) == "ok ... 1s"
    # go test's result cache: a page's first run takes a time, a later run on the machine "(cached)".
    assert unmatched(["ok example.com/wire 0.002s"], "ok  \texample.com/wire\t(cached)\n") is None
    assert [c.text for c in commands("$ a \\\n  b\nout\n$ echo $?\n1\n")] == ["a \\\n  b", "echo $?"]
