"""How far foredeck gets with Argo's and Tekton's own examples: loaded / ran / matched.

Runs every in-scope example of `tests/data/upstream/` with the local executor (see
`tests/pipeline/upstream/runner.py` for the scope, the categories and the per-example bound)
and prints, per engine, how many load, run, and end as their engine decides, then the count of
examples by category and reason. Run from the repository root:
`PYTHONPATH=src python bench/upstream_examples.py [--list] [--jobs N] [--timeout S]`.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the `tests` package

from tests.pipeline.upstream.runner import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
