"""Size limits of the source: no module over 600 lines, no function over 80.

A long module hides seams and a long function hides steps; both make the next capability a
cross-cutting edit. An exception is listed here with the reason it is kept whole, so that a new
one is a decision, not an accident.
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src" / "foredeck"
MAX_MODULE_LINES = 600
MAX_FUNCTION_LINES = 80

# "path relative to src/foredeck" or "path::function" -> why it stays long.
EXCEPTIONS: dict[str, str] = {}


def long_modules(root: Path = SRC) -> list[str]:
    found = []
    for path in sorted(root.rglob("*.py")):
        lines = len(path.read_text(encoding="utf-8").splitlines())
        name = path.relative_to(root).as_posix()
        if lines > MAX_MODULE_LINES and name not in EXCEPTIONS:
            found.append(f"{name}: {lines} lines")
    return found


def long_functions(root: Path = SRC) -> list[str]:
    found = []
    for path in sorted(root.rglob("*.py")):
        name = path.relative_to(root).as_posix()
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            assert node.end_lineno is not None
            first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            length = node.end_lineno - first + 1
            key = f"{name}::{node.name}"
            if length > MAX_FUNCTION_LINES and key not in EXCEPTIONS:
                found.append(f"{key} (line {node.lineno}): {length} lines")
    return found


def test_no_module_over_the_limit() -> None:
    assert long_modules() == [], f"split these modules (limit {MAX_MODULE_LINES} lines)"


def test_no_function_over_the_limit() -> None:
    assert long_functions() == [], f"split these functions (limit {MAX_FUNCTION_LINES} lines)"


def test_exceptions_still_apply() -> None:
    """An exception for code that has since shrunk or gone is stale: remove it."""
    stale = []
    for key in EXCEPTIONS:
        path = SRC / key.split("::")[0]
        if not path.exists():
            stale.append(key)
    assert stale == []


def test_the_checks_see_long_code(tmp_path: Path) -> None:
    long_body = "\n".join(f"    x{i} = {i}" for i in range(MAX_FUNCTION_LINES))
    (tmp_path / "big.py").write_text(
        "def f():\n" + long_body + "\n" + "y = 1\n" * MAX_MODULE_LINES, encoding="utf-8"
    )
    (tmp_path / "small.py").write_text("def g():\n    return 1\n", encoding="utf-8")
    assert long_functions(tmp_path) == [f"big.py::f (line 1): {MAX_FUNCTION_LINES + 1} lines"]
    assert long_modules(tmp_path) == [f"big.py: {MAX_FUNCTION_LINES + 1 + MAX_MODULE_LINES} lines"]
