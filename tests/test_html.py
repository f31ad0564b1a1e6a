"""The HTML page, in a real headless browser (Debian's chromium): the page of the examples across
six architectures renders, the cells the browser laid out add up to the JSON report's counts, each
failing cell leads to that failure's output, and a screenshot shows the colour-coded matrix."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping
from html.parser import HTMLParser
from pathlib import Path

import pytest
from PIL import Image

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "polyglot"
ARCHES = "amd64,386,arm,arm64,ppc64le,s390x"
GREEN, RED = (0xD7, 0xF5, 0xD7), (0xF7, 0xC6, 0xC6)  # passed and failed cells (matrix_html._CSS)


@pytest.fixture(scope="module")
def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    pytest.skip("no chromium here: apt-get install chromium (scripts/test.sh installs it)")


def _browser(chromium: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", *args],
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip


@pytest.fixture(scope="module")
def page(
    tmp_path_factory: pytest.TempPathFactory, go_env: Mapping[str, str], rust_env: Mapping[str, str]
) -> Path:
    """The examples run once across six architectures, with the JSON report and the HTML page."""
    root = tmp_path_factory.mktemp("html")
    shutil.copytree(EXAMPLES, root / "polyglot", ignore=shutil.ignore_patterns("target"))
    res = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:randomly", f"--arch={ARCHES}", "polyglot",
         "--multiarch-report=r.json", "--multiarch-html=r.html"],
        cwd=root, env={**os.environ, **go_env, **rust_env},
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert res.returncode == 1, res.stdout  # the examples' portability bugs
    return root


class _Dom(HTMLParser):
    """What the test reads of the DOM chromium dumped: elements by id, and the matrix's cells."""

    def __init__(self) -> None:
        super().__init__()
        self.ids: dict[str, str] = {}  # id → text inside
        self.cells: list[dict[str, str]] = []  # #matrix td.cell attributes (+ "href" of its link)
        self.totals: dict[tuple[str, str], int] = {}  # (arch, outcome) → number in #totals
        self._open: list[tuple[str, str]] = []  # (tag, id) of open elements with an id
        self._text: dict[str, list[str]] = {}
        self._row_arch = ""
        self._total: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if "id" in a:
            self._open.append((tag, a["id"]))
            self._text[a["id"]] = []
        if tag == "td" and "cell" in a.get("class", "").split():
            self.cells.append(a)
        if tag == "a" and a.get("class") == "cell-link":
            self.cells[-1]["href"] = a["href"]
        if tag == "tr" and "data-arch" in a:
            self._row_arch = a["data-arch"]
        self._total = a.get("data-outcome") if tag == "td" and a.get("class") == "n" else None

    def handle_endtag(self, tag: str) -> None:
        if self._open and self._open[-1][0] == tag:
            _, ident = self._open.pop()
            self.ids[ident] = "".join(self._text.pop(ident))

    def handle_data(self, data: str) -> None:
        for _, ident in self._open:
            self._text[ident].append(data)
        if self._total:
            self.totals[(self._row_arch, self._total)] = int(data)
            self._total = None


def test_the_page_renders_and_its_cells_add_up_to_the_json(page: Path, chromium: str) -> None:
    report = json.loads((page / "r.json").read_text())
    dom = _Dom()
    dom.feed(_browser(chromium, "--dump-dom", (page / "r.html").as_uri()).stdout)
    # The page's script ran in the browser and counted the cells it laid out.
    counted = json.loads(dom.ids["cell-counts"])
    expected = {a: {o: n for o, n in c.items() if n} for a, c in report["counts"].items()}
    assert counted == expected
    assert {(a, o): n for (a, o), n in dom.totals.items()} == {
        (a, o): n for a, c in report["counts"].items() for o, n in c.items()
    }
    assert sum(1 for c in dom.cells if c.get("data-outcome")) == len(report["results"])
    # Every failure is one click away: its cell links to a section holding the test's output.
    failed = [c for c in dom.cells if c.get("data-outcome") == "failed"]
    assert len(failed) == sum(c["failed"] for c in report["counts"].values()) == 6
    for cell in failed:
        section = dom.ids[cell["href"].removeprefix("#")]
        assert f"on {cell['data-arch']}: failed" in section
    assert "exactly the big-endian ones" in dom.ids["diagnosis"]


def test_screenshot_shows_the_colour_coded_matrix(page: Path, chromium: str, tmp_path: Path) -> None:
    shot = tmp_path / "page.png"
    _browser(chromium, "--window-size=1200,2400", f"--screenshot={shot}", (page / "r.html").as_uri())
    image = Image.open(shot).convert("RGB")
    assert image.size == (1200, 2400)
    colours = {colour for _, colour in image.getcolors(maxcolors=1 << 20) or []}
    assert GREEN in colours and RED in colours  # passed and failed cells were painted
    shutil.copy(shot, page / "page.png")  # kept beside the page for a look after the run
