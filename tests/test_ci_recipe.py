"""The CI recipes of examples/ci, run here for real, and their copies in docs/how-to/ci.md.

examples/ci/github-actions.yml: the `run:` commands of its test job, for two matrix entries,
each in a fresh copy of examples/polyglot (a checkout), then the `run:` commands of its merge job
on the reports they wrote, with GITHUB_STEP_SUMMARY pointing to a file. What cannot run here is
played or left out: `pip install` does nothing (this venv is first on PATH); the `setup` step is
skipped (this machine has the toolchains); `uses:` steps do nothing, except upload-artifact and
download-artifact, which copy files through a directory standing for the run's artifact store, so
the names, patterns and paths of both ends must fit. `if:` may only be `always()`: a step without
it is skipped once a step has failed, as on GitHub.

examples/ci/gitlab-ci.yml must have the same matrix and, modulo variable syntax and sudo, the
same script lines; they run too (its before_script, which installs rustup, does not), in the same
workspaces, and its merge job in one that holds the test jobs' artifacts.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
GITHUB = REPO / "examples" / "ci" / "github-actions.yml"
GITLAB = REPO / "examples" / "ci" / "gitlab-ci.yml"
CI_DOC = REPO / "docs" / "how-to" / "ci.md"
POLYGLOT = REPO / "examples" / "polyglot"
MATRIX = ["arm64", "s390x", "386,arm", "riscv64"]
# Two entries this machine runs in full (its Rust has no riscv64 std), with the examples' two bugs.
RUN = ["s390x", "386,arm"]
GO, RUST = "gocodec/go.mod::example.com/gocodec::", "rustcodec/Cargo.toml::lib::tests::"
BIG_ENDIAN_BUG = {GO + "TestDecodeWire", RUST + "decode_wire"}
WORD_SIZE_BUG = {GO + "TestLargeHeader", RUST + "large_header"}
FAILS = {"s390x": BIG_ENDIAN_BUG, "386": WORD_SIZE_BUG, "arm": WORD_SIZE_BUG}
SUDO = 'sudo -E env "PATH=$PATH" '
EXPR = re.compile(r"\$\{\{\s*matrix\.(\w+)\s*\}\}")


@dataclass
class Ran:
    what: str  # the command, or the action
    status: int | None  # None: skipped (a step without `if: always()` after a failure)
    output: str = ""


@dataclass
class Job:
    workspace: Path
    steps: list[Ran] = field(default_factory=list)

    def status(self, needle: str) -> int | None:
        found = [r.status for r in self.steps if needle in r.what]
        assert len(found) == 1, (needle, self.steps)
        return found[0]

    def output(self, needle: str) -> str:
        return next(r.output for r in self.steps if needle in r.what)


def _load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(path.read_text())
    return data


def _left_out(command: str) -> bool:
    """`pip install` (this venv has the package) and `setup` (this machine has the toolchains)."""
    words = command.split()
    return words[:2] == ["pip", "install"] or "pytest_multiarch setup" in command


def _bash(command: str, cwd: Path, env: Mapping[str, str]) -> Ran:
    res = subprocess.run(["bash", "-e", "-c", command], cwd=cwd, env=dict(env), capture_output=True,
                         text=True, timeout=900, check=False)  # fmt: skip
    return Ran(command, res.returncode, res.stdout + res.stderr)


def _expand(text: str, matrix: Mapping[str, str]) -> str:
    out = EXPR.sub(lambda m: matrix[m.group(1)], text)
    assert "${{" not in out, f"an expression the test cannot evaluate: {text!r}"
    return out


def _upload(with_: Mapping[str, Any], workspace: Path, store: Path) -> int:
    """actions/upload-artifact@v4: a directory's contents, or files matched by globs."""
    name = str(with_["name"])
    assert not set(name) & set('":<>|*?\\/'), f"not a valid artifact name: {name}"
    files: dict[str, Path] = {}
    for pattern in str(with_["path"]).split():
        top = workspace / pattern
        if top.is_dir():
            files |= {str(p.relative_to(top)): p for p in top.rglob("*") if p.is_file()}
        else:
            files |= {str(p.relative_to(workspace)): p for p in workspace.glob(pattern) if p.is_file()}
    if not files:
        return 1 if with_.get("if-no-files-found") == "error" else 0
    target = store / name
    if target.exists():  # v4 artifacts are immutable, unless overwrite
        if not with_.get("overwrite"):
            return 1
        shutil.rmtree(target)
    for rel, src in files.items():
        (target / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, target / rel)
    return 0


def _download(with_: Mapping[str, Any], workspace: Path, store: Path) -> int:
    """actions/download-artifact@v4 with pattern, path and merge-multiple."""
    names = [p.name for p in sorted(store.iterdir()) if fnmatch.fnmatchcase(p.name, str(with_["pattern"]))]
    if not names:
        return 1
    dest = workspace / str(with_.get("path", "."))
    for name in names:
        into = dest if with_.get("merge-multiple") else dest / name
        shutil.copytree(store / name, into, dirs_exist_ok=True)
    return 0


def run_github_job(
    job: Mapping[str, Any], matrix: Mapping[str, str], workspace: Path, env: Mapping[str, str], store: Path
) -> Job:
    done = Job(workspace)
    failed = False
    for step in job["steps"]:
        condition = step.get("if")
        assert condition in (None, "always()"), f"an `if:` the test cannot evaluate: {condition}"
        what = step.get("uses") or _expand(step["run"], matrix)
        if failed and condition is None:
            done.steps.append(Ran(what, None))
            continue
        if "run" in step:
            if _left_out(what):
                continue
            ran = _bash(what, workspace, env)
        else:
            with_ = {k: _expand(str(v), matrix) for k, v in step.get("with", {}).items()}
            action = what.split("@")[0]
            if action == "actions/upload-artifact":
                ran = Ran(what, _upload(with_, workspace, store))
            elif action == "actions/download-artifact":
                ran = Ran(what, _download(with_, workspace, store))
            else:
                assert action in {"actions/checkout", "actions/setup-python", "actions/setup-go"}, action
                ran = Ran(what, 0)  # the checkout is the workspace; the tools are this machine's
        failed = failed or ran.status != 0
        done.steps.append(ran)
    return done


def run_gitlab_job(job: Mapping[str, Any], variables: Mapping[str, str], workspace: Path,
                   env: Mapping[str, str]) -> Job:  # fmt: skip
    """The script lines in order, with the job's variables in the environment, up to a failure."""
    done = Job(workspace)
    for line in job["script"]:
        if _left_out(line):
            continue
        ran = _bash(line, workspace, {**env, **variables})
        done.steps.append(ran)
        if ran.status:
            break
    return done


def _checkout(dest: Path) -> Path:
    ignore = shutil.ignore_patterns("target", ".pytest_cache", ".multiarch-bin", "__pycache__", "reports")
    return Path(shutil.copytree(POLYGLOT, dest, ignore=ignore))


@pytest.fixture(scope="module")
def env(go: str, go_env: Mapping[str, str], rust_env: Mapping[str, str]) -> dict[str, str]:
    """This venv first on PATH, then Go (as setup-go puts it there); conftest's Go settings and
    Rust (with the cross std it needs)."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    path = os.pathsep.join([str(Path(sys.executable).parent), str(Path(go).parent), os.environ["PATH"]])
    return {**base, **go_env, **rust_env, "PATH": path}


@dataclass
class Pipeline:
    tests: dict[str, Job]
    merge: Job
    store: Path
    summary: Path


@pytest.fixture(scope="module")
def github(tmp_path_factory: pytest.TempPathFactory, env: Mapping[str, str]) -> Pipeline:
    workflow = _load(GITHUB)
    root = tmp_path_factory.mktemp("github")
    store = root / "artifacts"
    store.mkdir()
    tests = {}
    for i, arch in enumerate(RUN):
        workspace = _checkout(root / f"job{i}")
        tests[arch] = run_github_job(workflow["jobs"]["test"], {"arch": arch}, workspace, env, store)
    summary = root / "step-summary.md"
    summary.write_text("")
    merge_env = {**env, "GITHUB_STEP_SUMMARY": str(summary)}
    (root / "merge").mkdir()
    merge = run_github_job(workflow["jobs"]["merge"], {}, root / "merge", merge_env, store)
    return Pipeline(tests, merge, store, summary)


def _commands(job: Mapping[str, Any]) -> Iterator[str]:
    for step in job["steps"]:
        if "run" in step:
            yield " ".join(step["run"].split())


def test_github_workflow_shape() -> None:
    workflow = _load(GITHUB)
    test, merge = workflow["jobs"]["test"], workflow["jobs"]["merge"]
    assert test["strategy"]["matrix"]["arch"] == MATRIX
    assert test["strategy"]["fail-fast"] is False  # one failing architecture does not cancel the others
    assert merge["needs"] == "test" and merge["if"] == "always()"
    pytest_run = next(c for c in _commands(test) if c.startswith("pytest "))
    for option in ("--arch=${{ matrix.arch }}", "--arch-strict", "--multiarch-report=reports/",
                   "--junitxml=reports/", "--multiarch-junit-per-arch"):  # fmt: skip
        assert option in pytest_run
    setup = next(c for c in _commands(test) if "pytest_multiarch setup" in c)
    assert setup == SUDO + "python -m pytest_multiarch setup --arch=${{ matrix.arch }}"


def test_github_test_jobs_run_and_keep_their_reports(github: Pipeline) -> None:
    for arch, job in github.tests.items():
        assert job.status("pytest_multiarch doctor") == 0, job.output("doctor")
        assert job.status("pytest --arch") == 1, job.output("pytest --arch")  # 1: tests failed, as meant
        assert job.status("upload-artifact") == 0  # if: always(): the report of a failed job is kept
        report = json.loads((job.workspace / "reports" / f"multiarch-{arch}.json").read_text())
        assert report["arches"] == arch.split(",")
        failed = {(r["base"], r["arch"]) for r in report["results"] if r["outcome"] == "failed"}
        assert failed == {(base, a) for a in arch.split(",") for base in FAILS[a]}
        junit = ET.parse(job.workspace / "reports" / f"junit-{arch}.xml")
        suites = {s.get("name"): s for s in junit.iter("testsuite")}
        assert {f"pytest[{a}]" for a in arch.split(",")} == set(suites) - {"pytest"}
        plain = [case.get("name", "") for case in suites.get("pytest", ET.Element("x")).iter("testcase")]
        assert all(name.endswith("[no-arch]") for name in plain), plain  # the `arch` marker left none
        assert (github.store / f"reports-{arch}" / f"multiarch-{arch}.json").is_file()


def test_github_merge_job_writes_the_matrix_and_the_step_summary(github: Pipeline) -> None:
    job = github.merge
    assert job.status("download-artifact") == 0
    downloaded = sorted(p.name for p in (job.workspace / "reports").glob("*.json"))
    assert downloaded == ["multiarch-386,arm.json", "multiarch-s390x.json"]
    out = job.output("pytest_multiarch merge")
    assert job.status("pytest_multiarch merge") == 1, out  # the examples fail on big-endian and 32-bit
    assert "TestDecodeWire: fails on s390x (passes on 386, arm) — exactly the big-endian ones" in out
    assert "TestLargeHeader: fails on 386, arm (passes on s390x) — exactly the 32-bit ones" in out
    assert "missing:" not in out and "conflict:" not in out
    assert job.status("GITHUB_STEP_SUMMARY") == 0  # if: always(): runs after the failed merge
    assert job.status("upload-artifact") == 0
    for name in ("merged.json", "merged.xml", "merged.md", "merged.html"):
        assert (job.workspace / name).stat().st_size > 0
        assert (github.store / "multiarch-merged" / name).is_file()
    merged = json.loads((job.workspace / "merged.json").read_text())
    assert sorted(merged["arches"]) == ["386", "arm", "s390x"]
    assert merged["missing"] == [] and merged["conflicts"] == []
    suites = ET.parse(job.workspace / "merged.xml").getroot().iter("testsuite")
    assert {s.get("name") for s in suites} == {"pytest[s390x]", "pytest[386]", "pytest[arm]"}
    summary = github.summary.read_text()
    assert summary == (job.workspace / "merged.md").read_text()
    assert "| arch | passed | failed |" in summary
    for arch in ("s390x", "386", "arm"):
        assert re.search(rf"^\| {arch} \| \d+ \| 2 \|", summary, re.M), summary
    assert "exactly the big-endian ones" in summary and "exactly the 32-bit ones" in summary


def _gitlab_form(github_command: str) -> str:
    """A GitHub command as the GitLab file writes it: $ARCH, and no sudo (its jobs are root)."""
    command = github_command.replace("${{ matrix.arch }}", "$ARCH")
    return command.removeprefix(SUDO)


def test_gitlab_recipe_has_the_same_matrix_and_commands() -> None:
    workflow, pipeline = _load(GITHUB), _load(GITLAB)
    test, merge = pipeline["multiarch"], pipeline["multiarch-merge"]
    assert test["parallel"]["matrix"] == [{"ARCH": MATRIX}]
    lines = [" ".join(line.split()) for line in test["script"]]
    assert lines == [_gitlab_form(c) for c in _commands(workflow["jobs"]["test"])]
    github_merge = [c for c in _commands(workflow["jobs"]["merge"]) if "GITHUB_STEP_SUMMARY" not in c]
    assert [" ".join(line.split()) for line in merge["script"]] == github_merge
    assert test["artifacts"]["when"] == "always" and test["artifacts"]["paths"] == ["reports/"]
    assert merge["needs"] == ["multiarch"] and merge["when"] == "always"
    assert merge["stage"] != test["stage"] and pipeline["stages"].index(merge["stage"]) > 0
    junit = re.search(r"--junit (\S+)", merge["script"][-1])
    assert junit and merge["artifacts"]["reports"]["junit"] == junit.group(1)
    assert merge["artifacts"]["when"] == "always"


def test_gitlab_jobs_run(github: Pipeline, env: Mapping[str, str], tmp_path: Path) -> None:
    """In the GitHub jobs' workspaces (as if a cache kept .pytest_cache), their reports removed."""
    pipeline = _load(GITLAB)
    merge_dir = tmp_path / "merge"
    for arch, github_job in github.tests.items():
        reports, kept = github_job.workspace / "reports", tmp_path / f"github-{github_job.workspace.name}"
        reports.rename(kept)
        try:
            job = run_gitlab_job(pipeline["multiarch"], {"ARCH": arch}, github_job.workspace, env)
            assert [r.status for r in job.steps] == [0, 1], job.steps  # doctor; pytest: tests failed
            shutil.copytree(reports, merge_dir / "reports", dirs_exist_ok=True)  # the job's artifacts
        finally:
            shutil.rmtree(reports, ignore_errors=True)
            kept.rename(reports)
    merge = run_gitlab_job(pipeline["multiarch-merge"], {}, merge_dir, env)
    assert [r.status for r in merge.steps] == [1], merge.steps
    assert "exactly the big-endian ones" in merge.steps[0].output
    for name in pipeline["multiarch-merge"]["artifacts"]["paths"]:
        assert (merge_dir / name).stat().st_size > 0


@pytest.mark.parametrize("recipe", [GITHUB, GITLAB], ids=lambda p: p.name)
def test_ci_how_to_holds_an_exact_copy(recipe: Path) -> None:
    marker = f"<!-- test: copy of examples/ci/{recipe.name} -->"
    doc = CI_DOC.read_text()
    assert marker in doc, f"{CI_DOC} has no {marker}"
    block = re.match(r"\n*```ya?ml\n(.*?)^```$", doc.split(marker, 1)[1], re.S | re.M)
    assert block, f"no ```yaml block right after {marker}"
    assert block.group(1) == recipe.read_text(), f"the copy in {CI_DOC.name} differs from {recipe}"
