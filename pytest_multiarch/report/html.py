"""The matrix as one self-contained HTML page (no network): colour-coded cells, per-arch totals,
the diagnosis, and each failure's report one click from its cell."""

from __future__ import annotations

from html import escape

from pytest_multiarch.report.diagnosis import diagnosis_lines, interesting, symbol
from pytest_multiarch.report.matrix import Matrix
from pytest_multiarch.report.model import OUTCOMES, Result

_CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em}
th,td{border:1px solid #ccc;padding:2px 6px}
th{background:#f3f3f3}
td.n{text-align:right}
#matrix td.cell{text-align:center;font-family:monospace;min-width:2.2em}
#matrix th.arch{writing-mode:vertical-rl;transform:rotate(180deg);vertical-align:bottom}
td.test{font-family:monospace;white-space:nowrap}
.passed{background:#d7f5d7}.failed,.error,.missing{background:#f7c6c6}
.skipped{background:#f2f2f2;color:#777}.infra_error{background:#ffe3a8}
.flaky{background:#fff6bf}.xfailed{background:#fde8d0}.not-run{color:#aaa}
a.cell-link{color:inherit;text-decoration:none;display:block}
pre{background:#f8f8f8;border:1px solid #ddd;padding:.6em;overflow:auto;max-height:30em}
section.failure:target{outline:3px solid #c33}
"""

# Counts the cells as the browser laid them out, per arch and outcome (what the page shows is
# what the JSON says: the test suite compares the two), and hides the rows that do not differ.
_JS = """
const counts = {};
for (const td of document.querySelectorAll('#matrix td.cell')) {
  const a = td.dataset.arch, o = td.dataset.outcome;
  if (!o) continue;
  counts[a] = counts[a] || {};
  counts[a][o] = (counts[a][o] || 0) + 1;
}
document.getElementById('cell-counts').textContent = JSON.stringify(counts);
const box = document.getElementById('only-differing');
const apply = () => {
  for (const tr of document.querySelectorAll('#matrix tbody tr'))
    tr.hidden = box.checked && tr.dataset.interesting !== '1';
};
box.addEventListener('change', apply);
apply();
"""

_CLASS = {".": "passed", "F": "failed", "E": "error", "s": "skipped", "!": "infra_error",
          "R": "flaky", "?": "missing", "-": "not-run", "x": "xfailed"}  # fmt: skip


def render(m: Matrix, title: str = "pytest-multiarch results") -> str:
    counts, wall = m.counts(), m.wall()
    out = [
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{escape(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{escape(title)}</h1>",
        *(['<p id="interrupted" class="failed"><strong>The run was cut short</strong> (interrupted): '
           f"{len(m.never_ran())} selected cells never ran; the results below are not complete.</p>"]
          if m.interrupted else []),
        f"<p>{len(m.bases())} tests on {len(m.arches)} architectures"
        + (f" (host {escape(m.host)})" if m.host else "") + "</p>",
        '<h2>Per architecture</h2><table id="totals"><thead><tr><th>arch</th>'
        + "".join(f"<th>{o.replace('_', ' ')}</th>" for o in OUTCOMES)
        + "<th>time</th><th>slowdown</th><th>runs on</th></tr></thead><tbody>",
    ]  # fmt: skip
    for a in m.arches:
        slow = m.slowdown(a)
        out.append(
            f'<tr data-arch="{escape(a)}"><th>{escape(a)}</th>'
            + "".join(f'<td class="n" data-outcome="{o}">{counts[a][o]}</td>' for o in OUTCOMES)
            + f'<td class="n">{wall.get(a, 0.0):.2f}s</td>'
            + f'<td class="n">{f"{slow:.1f}x" if slow is not None else "-"}</td>'
            + f"<td>{escape(m.runs_on.get(a, ''))}</td></tr>"
        )
    out.append("</tbody></table>")
    diagnosis = diagnosis_lines(m)
    diagnosis += [f"missing: {b} on {a} (no report has it)" for b, a in m.missing()]
    diagnosis += [f"conflict: {x.base} on {x.arch}: {x.outcome} and {y.outcome}" for x, y in m.conflicts]
    diagnosis += m.not_run_lines()
    if diagnosis:
        out.append('<h2>Diagnosis</h2><ul id="diagnosis">')
        out += [f"<li>{escape(line)}</li>" for line in diagnosis]
        out.append("</ul>")
    odd = set(interesting(m))
    out.append(
        '<h2>Matrix</h2><label><input type="checkbox" id="only-differing"'
        + (" checked" if odd else "") + "> only rows that differ, are flaky or have an infra error</label>"
        + '<table id="matrix"><thead><tr><th>test</th>'
        + "".join(f'<th class="arch">{escape(a)}</th>' for a in m.arches)
        + "</tr></thead><tbody>"
    )  # fmt: skip
    failures: list[tuple[str, Result]] = []
    for base in m.bases():
        row = [f'<tr data-interesting="{int(base in odd)}"><td class="test">{escape(base)}</td>']
        for a in m.arches:
            s = symbol(m, base, a)
            r = m.results.get((base, a))
            attrs = f'class="cell {_CLASS[s]}" data-arch="{escape(a)}"'
            if r is None:
                row.append(f'<td {attrs} title="{_CLASS[s]}">{s}</td>')
                continue
            attrs += f' data-outcome="{r.outcome}"'
            tip = escape(f"{r.outcome}{' (flaky)' if r.flaky else ''} {r.duration:.2f}s {r.message}".strip())
            if r.output or r.flaky:
                anchor = f"f{len(failures)}"
                failures.append((anchor, r))
                row.append(f'<td {attrs} title="{tip}"><a class="cell-link" href="#{anchor}">{s}</a></td>')
            else:
                row.append(f'<td {attrs} title="{tip}">{s}</td>')
        out.append("".join(row) + "</tr>")
    out.append("</tbody></table>")
    if failures:
        out.append("<h2>Failures</h2>")
        for anchor, r in failures:
            what = "flaky (passed on a re-run)" if r.outcome == "passed" else r.outcome.replace("_", " ")
            out.append(
                f'<section class="failure" id="{anchor}"><h3>{escape(r.base)} on {escape(r.arch)}: '
                f"{escape(what)}</h3><p>{escape(r.message)}</p>"
                + (f"<pre>{escape(r.output)}</pre>" if r.output else "")
                + "</section>"
            )
    out.append('<p>Cells counted by this page: <output id="cell-counts"></output></p>')
    out.append(f"<script>{_JS}</script></body></html>")
    return "\n".join(out) + "\n"
