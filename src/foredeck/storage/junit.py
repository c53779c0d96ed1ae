"""JUnit results from `artifacts/**/junit*.xml`: read by the run page's lens (failed tests
first) and by the controller, which stores each run's outcomes for the test grids.

The XML is written by the job, i.e. by whoever opened the pull request. `xml.etree` expands
internal entities, so a document declaring a DOCTYPE or ENTITY is refused before parsing (no
"billion laughs"), and files and outputs are size-capped.
"""

from __future__ import annotations

import fnmatch
import logging
import posixpath
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Literal

log = logging.getLogger(__name__)

MAX_FILE_BYTES = 16 * 1024 * 1024
MAX_FILES = 50
MAX_OUTPUT_CHARS = 64 * 1024
MAX_CASES = 20_000

CaseStatus = Literal["failed", "skipped", "passed"]
_ORDER: dict[str, int] = {"failed": 0, "skipped": 1, "passed": 2}


class JunitError(ValueError):
    """A JUnit file that cannot be shown (too large, DTD, not XML)."""


def is_junit(path: str) -> bool:
    """Spyglass's pattern: a file named `junit*.xml` anywhere below `artifacts/`."""
    return path.startswith("artifacts/") and fnmatch.fnmatch(posixpath.basename(path), "junit*.xml")


@dataclass(frozen=True)
class TestCase:
    __test__ = False  # not a pytest class

    name: str
    classname: str
    suite: str
    file: str
    duration: float | None
    status: CaseStatus
    message: str = ""
    output: str = ""


@dataclass
class JunitReport:
    cases: list[TestCase] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    """Per-file problems (`path: reason`), shown instead of the file's results."""
    truncated: bool = False

    @property
    def failed(self) -> int:
        return sum(1 for c in self.cases if c.status == "failed")

    @property
    def skipped(self) -> int:
        return sum(1 for c in self.cases if c.status == "skipped")

    @property
    def passed(self) -> int:
        return sum(1 for c in self.cases if c.status == "passed")

    @property
    def duration(self) -> float:
        return sum(c.duration or 0.0 for c in self.cases)

    def ordered(self) -> list[TestCase]:
        """Failed first, then skipped, then passed; slowest first within each group."""
        return sorted(self.cases, key=lambda c: (_ORDER[c.status], -(c.duration or 0.0), c.name))


def check_safe(data: bytes) -> None:
    head = data.upper()
    if b"<!DOCTYPE" in head or b"<!ENTITY" in head:
        raise JunitError("DOCTYPE/ENTITY declarations are not accepted")


def _float(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        result = float(value.replace(",", ""))
    except ValueError:
        return None
    return result if result >= 0 else None


def _clip(text: str) -> str:
    if len(text) > MAX_OUTPUT_CHARS:
        return text[:MAX_OUTPUT_CHARS] + f"\n... ({len(text) - MAX_OUTPUT_CHARS} more characters)"
    return text


def parse(data: bytes, file: str) -> list[TestCase]:
    """Test cases of one file (`<testsuites>`, `<testsuite>` or bare `<testcase>` root)."""
    if len(data) > MAX_FILE_BYTES:
        raise JunitError(f"larger than {MAX_FILE_BYTES} bytes")
    check_safe(data)
    try:
        root = ET.fromstring(data)  # noqa: S314 - DTDs refused by check_safe, size capped
    except ET.ParseError as exc:
        raise JunitError(f"not valid XML: {exc}") from None
    cases: list[TestCase] = []
    suites: Iterable[ET.Element]
    if root.tag == "testcase":
        cases.append(_case(root, "", file))
        return cases
    suites = [root] if root.tag == "testsuite" else root.iter("testsuite")
    for suite in suites:
        suite_name = suite.get("name", "")
        for case in suite.findall("testcase"):
            cases.append(_case(case, suite_name, file))
    return cases


def _case(element: ET.Element, suite: str, file: str) -> TestCase:
    status: CaseStatus = "passed"
    message = ""
    parts: list[str] = []
    for child in element:
        if child.tag in ("failure", "error"):
            status = "failed"
            message = message or child.get("message", "") or child.get("type", "")
            if child.text and child.text.strip():
                parts.append(child.text.strip())
        elif child.tag == "skipped" and status != "failed":
            status = "skipped"
            message = message or child.get("message", "")
        elif child.tag in ("system-out", "system-err") and child.text and child.text.strip():
            parts.append(f"[{child.tag}]\n{child.text.strip()}")
    return TestCase(
        name=element.get("name", "(unnamed)"),
        classname=element.get("classname", ""),
        suite=suite,
        file=file,
        duration=_float(element.get("time")),
        status=status,
        message=_clip(message),
        output=_clip("\n".join(parts)),
    )


def read_report(
    paths: Iterable[str], read: Callable[[str], bytes], size: Callable[[str], int]
) -> JunitReport:
    """Every JUnit file of a build, each read whole only when it is under the size cap."""
    report = JunitReport()
    for index, path in enumerate(sorted(paths)):
        if index >= MAX_FILES:
            report.truncated = True
            break
        try:
            if size(path) > MAX_FILE_BYTES:
                raise JunitError(f"larger than {MAX_FILE_BYTES} bytes")
            cases = parse(read(path), path)
        except (JunitError, OSError, ValueError) as exc:
            report.errors.append(f"{path}: {exc}")
            continue
        room = MAX_CASES - len(report.cases)
        if len(cases) > room:
            cases = cases[:room]
            report.truncated = True
        report.cases.extend(cases)
    return report
