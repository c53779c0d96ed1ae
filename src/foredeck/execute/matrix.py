"""Matrix fan-out: which parameter combinations a matrix task runs, resolved at run time.

The cross product of the matrix params comes first (in Tekton's order: the first param
varies fastest), then each `include` entry as one more combination. Instance `i` is named
`task[i]` in that order. A param's values may be an expression resolving to an array
(`$(tasks.gen.results.list[*])`) or a JSON array text (Argo's `withParam`).
"""

from __future__ import annotations

import itertools
import json

from foredeck.execute import lookups
from foredeck.pipeline.expressions import (
    Lookup,
    SubstitutionError,
    substitute,
    substitute_list,
    substitute_value,
)
from foredeck.pipeline.model import Matrix

# Tekton's default `default-max-matrix-combinations-count`.
MAX_COMBINATIONS = 256


def instance_name(task: str, index: int) -> str:
    return f"{task}[{index}]"


def _axis(name: str, values: list[str] | str, lookup: Lookup) -> list[str]:
    if isinstance(values, list):
        if any(lookups.START in value for value in values):  # an Argo `{{=...}}` per item
            return lookups.args(values, lookup)
        return substitute_list(values, lookup)
    resolved = substitute_value(values, lookup)
    if isinstance(resolved, list):
        return resolved
    if isinstance(resolved, str):
        try:
            parsed = json.loads(resolved)
        except ValueError:
            parsed = None
        if isinstance(parsed, list):
            return [item if isinstance(item, str) else json.dumps(item) for item in parsed]
    raise SubstitutionError(f"matrix param {name!r}: {values!r} is not an array")


def _text(value: str, lookup: Lookup) -> str:
    return lookups.text(value, lookup) if lookups.START in value else substitute(value, lookup)


def combinations(matrix: Matrix, lookup: Lookup) -> list[dict[str, str]]:
    """Every combination, in instance order. Raises SubstitutionError on unresolvable input."""
    names = list(matrix.params)
    axes = [_axis(name, matrix.params[name], lookup) for name in names]
    combos: list[dict[str, str]] = []
    if names:
        count = 1
        for axis in axes:
            count *= len(axis)
        if count + len(matrix.include) > MAX_COMBINATIONS:
            raise SubstitutionError(
                f"matrix has {count + len(matrix.include)} combinations,"
                f" over the limit of {MAX_COMBINATIONS}"
            )
        # Tekton's order: the first param varies fastest (linux-chrome, mac-chrome, ...).
        combos = [
            dict(zip(names, reversed(values), strict=True))
            for values in itertools.product(*reversed(axes))
        ]
    for extra in matrix.include:
        combos.append({key: _text(value, lookup) for key, value in extra.items()})
    return combos
