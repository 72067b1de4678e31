"""JUnit XML, the format every CI system shows as a test report.

Written with ``xml.etree`` so that every text a target printed is escaped; a
control character that XML 1.0 cannot hold is replaced, never passed through.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _clean(text: str) -> str:
    return _NOT_XML.sub("\ufffd", text)


@dataclass(frozen=True)
class Case:
    """One test case: a failure message makes it fail, an error message makes it err, a skip message skips it.

    Why errors apart from failures: CI shows "could not be tested" (a program
    that did not build) apart from "tested and wrong".
    """

    classname: str
    name: str
    seconds: float = 0.0
    failure: str | None = None
    details: str = ""
    error: str | None = None
    skipped: str | None = None
    output: str = ""


def write(path: str | Path, suite: str, cases: list[Case]) -> None:
    """Write one ``<testsuite>`` holding ``cases`` to ``path``."""
    failures = sum(1 for c in cases if c.failure is not None)
    skipped = sum(1 for c in cases if c.skipped is not None)
    errors = sum(1 for c in cases if c.error is not None)
    root = ET.Element(
        "testsuite",
        name=_clean(suite),
        tests=str(len(cases)),
        failures=str(failures),
        errors=str(errors),
        skipped=str(skipped),
        time=f"{sum(c.seconds for c in cases):.3f}",
    )
    for case in cases:
        el = ET.SubElement(
            root, "testcase", classname=_clean(case.classname), name=_clean(case.name), time=f"{case.seconds:.3f}"
        )
        if case.failure is not None:
            fail = ET.SubElement(el, "failure", message=_clean(case.failure))
            fail.text = _clean(case.details)
        if case.error is not None:
            ET.SubElement(el, "error", message=_clean(case.error))
        if case.skipped is not None:
            ET.SubElement(el, "skipped", message=_clean(case.skipped))
        if case.output:
            out = ET.SubElement(el, "system-out")
            out.text = _clean(case.output)
    tree = ET.ElementTree(root)
    ET.indent(tree)
    tree.write(str(path), encoding="utf-8", xml_declaration=True)
