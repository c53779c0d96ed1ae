"""The tests a run reported: its JUnit files (`artifacts/**/junit*.xml`, read with the run page's
parser and limits), as the outcomes the test grids and flake rates record with its final state.
"""

from __future__ import annotations

import logging
from pathlib import Path

from foredeck.db.testresults import CaseOutcome
from foredeck.storage.junit import is_junit, read_report

log = logging.getLogger(__name__)


def run_cases(out: Path) -> list[CaseOutcome]:
    """The test cases of the build directory `out`; a file that cannot be read is skipped."""
    root = out / "artifacts"
    if not root.is_dir():
        return []
    paths = [
        p.relative_to(out).as_posix()
        for p in root.rglob("junit*.xml")
        if p.is_file() and not p.is_symlink()
    ]
    paths = [p for p in paths if is_junit(p)]
    if not paths:
        return []
    report = read_report(
        paths, lambda p: (out / p).read_bytes(), lambda p: (out / p).stat().st_size
    )
    for error in report.errors:
        log.info("%s: JUnit file not recorded: %s", out, error)
    return [
        CaseOutcome(
            f"{case.classname}.{case.name}" if case.classname else case.name,
            case.status,
            case.duration,
        )
        for case in report.cases
    ]
