"""JUnit XML: pytest's own file regrouped into one ``<testsuite>`` per architecture, and the
merged matrix of several CI jobs written as the file one run would have given.

Testcases are named as pytest names them (``_pytest.junitxml.mangle_test_address``) and carry the
same ``<property name="arch">``, so a merged file lines up with a one-run file cell for cell.
"""

from __future__ import annotations

import platform
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from pathlib import Path

from _pytest.junitxml import mangle_test_address

from pytest_multiarch.outcome import ARCH
from pytest_multiarch.outfile import write_atomic
from pytest_multiarch.report.matrix import Matrix
from pytest_multiarch.report.model import Result

_TAG = {"failed": "failure", "infra_error": "failure", "error": "error", "skipped": "skipped",
        "xfailed": "skipped"}  # fmt: skip
_KINDS = (("failure", "failures"), ("error", "errors"), ("skipped", "skipped"))


def _arch_of(case: ET.Element) -> str:
    for prop in case.iterfind("properties/property"):
        if prop.get("name") == ARCH:
            return prop.get("value") or ""
    return ""


def _suite(template: ET.Element, name: str, cases: list[ET.Element]) -> ET.Element:
    """A ``<testsuite>`` like ``template`` holding ``cases``, its totals counted from them."""
    suite = ET.Element("testsuite", dict(template.attrib), name=name)
    suite.extend(template.findall("properties"))  # the suite's own (record_testsuite_property)
    suite.extend(cases)
    suite.set("tests", str(len(cases)))
    for tag, attr in _KINDS:
        suite.set(attr, str(sum(1 for c in cases if c.find(tag) is not None)))
    suite.set("time", f"{sum(float(c.get('time', 0)) for c in cases):.3f}")
    return suite


def regroup_per_arch(path: Path) -> None:
    """Rewrite pytest's ``--junitxml`` file with one ``<testsuite name="<name>[<arch>]">`` per
    architecture; testcases of no architecture stay in a suite of the original name."""
    root = ET.parse(path).getroot()
    for suite in list(root.iter("testsuite")):
        groups: dict[str, list[ET.Element]] = {}
        for case in suite.findall("testcase"):
            if case.get("name") is None:  # pytest's empty case for an item interrupted after its
                continue  # setup: no test, no outcome; it would count as one that passed
            groups.setdefault(_arch_of(case), []).append(case)
        if set(groups) <= {""}:
            continue
        name = suite.get("name", "pytest")
        at = list(root).index(suite)
        root.remove(suite)
        for i, (arch, cases) in enumerate(groups.items()):
            root.insert(at + i, _suite(suite, f"{name}[{arch}]" if arch else name, cases))
    write_atomic(path, '<?xml version="1.0" encoding="utf-8"?>' + ET.tostring(root, encoding="unicode"))


def _case(r: Result) -> ET.Element:
    names = mangle_test_address(r.nodeid)
    case = ET.Element("testcase", classname=".".join(names[:-1]), name=names[-1], time=f"{r.duration:.3f}")
    props = ET.SubElement(case, "properties")
    for name, value in [(ARCH, r.arch), *r.props().to_properties()]:  # as the run's items had them
        ET.SubElement(props, "property", name=name, value=str(value))
    tag = _TAG.get(r.outcome)
    if tag == "skipped":
        kind = "pytest.xfail" if r.outcome == "xfailed" else "pytest.skip"  # as pytest's junitxml says
        ET.SubElement(case, tag, type=kind, message=r.message).text = r.message
    elif tag is not None:
        ET.SubElement(case, tag, message=r.message).text = r.output
    return case


def from_matrix(m: Matrix, per_arch: bool = False, name: str = "pytest") -> str:
    """The JUnit document of a (merged) matrix: one suite, or one per architecture."""
    cases = [(r.arch, _case(r)) for r in m.results.values()]
    stamp = datetime.now(UTC).astimezone().isoformat()
    template = ET.Element("testsuite", name=name, timestamp=stamp, hostname=platform.node())
    root = ET.Element("testsuites", name="pytest tests")
    if per_arch:
        for arch in m.arches:
            mine = [c for a, c in cases if a == arch]
            if mine:
                root.append(_suite(template, f"{name}[{arch}]", mine))
    else:
        root.append(_suite(template, name, [c for _, c in cases]))
    return '<?xml version="1.0" encoding="utf-8"?>' + ET.tostring(root, encoding="unicode")
