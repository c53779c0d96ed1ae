"""The table of callable functions: a name, its arity, and the Python that implements it.

`check.py` reads the table at load time (unknown name, wrong argument count), the interpreter
calls through it at run time. Implementations take evaluated arguments and raise `ExprError`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from foredeck.pipeline.exprlang.errors import ExprError
from foredeck.pipeline.exprlang.values import is_number, type_name


@dataclass(frozen=True)
class Function:
    fn: Callable[..., Any]
    min_args: int
    max_args: int | None  # None: variadic


FUNCTIONS: dict[str, Function] = {}


F = TypeVar("F", bound=Callable[..., Any])


def register(name: str, min_args: int, max_args: int | None = -1) -> Callable[[F], F]:
    """Register `fn` under `name`; `max_args` defaults to `min_args`."""

    def wrap(fn: F) -> F:
        FUNCTIONS[name] = Function(fn, min_args, min_args if max_args == -1 else max_args)
        return fn

    return wrap


def need_str(name: str, value: Any) -> str:
    if not isinstance(value, str):
        raise ExprError(f"{name}: expected a string, got {type_name(value)}")
    return value


def need_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ExprError(f"{name}: expected an integer, got {type_name(value)}")
    return value


def need_number(name: str, value: Any) -> int | float:
    if not is_number(value):
        raise ExprError(f"{name}: expected a number, got {type_name(value)}")
    return value  # type: ignore[no-any-return]


def need_list(name: str, value: Any) -> list[Any]:
    if not isinstance(value, list):
        raise ExprError(f"{name}: expected an array, got {type_name(value)}")
    return value


def need_map(name: str, value: Any) -> dict[Any, Any]:
    if not isinstance(value, dict):
        raise ExprError(f"{name}: expected a map, got {type_name(value)}")
    return value
