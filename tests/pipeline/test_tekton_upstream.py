"""Upstream Tekton examples, unchanged, end as Tekton's e2e suite expects on the local executor.

They exercise what Tekton v1 accepts beyond foredeck's own samples: `taskRunTemplate`,
`taskRunSpecs`, step `displayName`, param `enum`, matrix context variables and aggregated
results in Tekton's order, whole array results, undocumented `$(context.…)` left as written.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from foredeck.execute.local import run_pipeline
from foredeck.pipeline.emit_tekton import emit_tekton
from foredeck.pipeline.load import load_run
from tests.pipeline.test_emit import schema_errors, tekton_validator

DATA = Path(__file__).resolve().parents[1] / "data" / "tekton-upstream"
EXAMPLES = sorted(DATA.glob("*.yaml"))

pytestmark = pytest.mark.timeout(120)


def test_the_examples_are_there() -> None:
    assert len(EXAMPLES) == 12


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_upstream_example_ends_as_tekton_expects(path: Path, tmp_path: Path) -> None:
    spec = load_run([path])
    result = asyncio.run(run_pipeline(spec, tmp_path / "out", parallel=2))
    expected = "Failed" if path.stem.endswith("-fail") else "Succeeded"
    failed = {n: t.reason for n, t in result.tasks.items() if t.status not in ("Succeeded",)}
    assert result.status == expected, failed
    assert schema_errors(tekton_validator(), emit_tekton(spec)) == []
