"""Pydantic validation errors as text that never shows a secret.

pydantic's own text quotes every error's input (`input_value=...`): for settings that is a
token or a webhook secret as soon as its type is wrong (`hook.secrets` given as a string), or
the whole mapping of a model whose validator failed (`github` with both `token` and
`token_file`). `problems()` gives `location: message` per error and quotes the input only when
it is a scalar of a declared field that the model does not type as a secret (`SecretStr`,
`SecretBytes`, `Secret[...]`, also inside lists, dicts and nested models). An input for a field
the model does not declare is never quoted: it may be a secret under a misspelt name.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import UnionType
from typing import Any, Union, get_args, get_origin

from pydantic import BaseModel, Secret, SecretBytes, SecretStr, ValidationError
from pydantic_core import ErrorDetails

_SECRET_TYPES = (SecretStr, SecretBytes, Secret)


def problems(
    exc: ValidationError,
    model: type[BaseModel] | None,
    names: Mapping[tuple[str | int, ...], str] | None = None,
) -> list[str]:
    """One `location: message` line per error of validating `model` (None: never quote inputs).

    `names` says where a value came from (a location prefix -> e.g. `$FOREDECK_HOOK__SECRETS`).
    """
    return [_problem(error, model, names or {}) for error in exc.errors(include_url=False)]


def location(loc: Sequence[str | int]) -> str:
    """`hook.secrets[0]`, `hook.org_secrets.acme`."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _problem(
    error: ErrorDetails, model: type[BaseModel] | None, names: Mapping[tuple[str | int, ...], str]
) -> str:
    loc = tuple(error["loc"])
    where = location(loc)
    source = next((name for prefix, name in names.items() if loc[: len(prefix)] == prefix), None)
    if source is not None:
        where = f"{where} ({source})" if where else source
    message = error["msg"]
    if error["type"] == "value_error":  # our validators' messages, without "Value error, "
        message = str(error.get("ctx", {}).get("error", message))
    value = error.get("input")
    scalar = isinstance(value, str | int | float | bool)
    if scalar and model is not None and not _may_be_secret(model, loc):
        message += f" (got {value!r})"
    if not where or message.startswith(f"{where}:"):
        return message
    return f"{where}: {message}"


def _may_be_secret(model: type[BaseModel], loc: Sequence[str | int]) -> bool:
    """Whether the value at `loc` could be (part of) a secret: a secret or undeclared field."""
    annotation: Any = model
    for part in loc:
        fields = _model_fields(annotation)
        if fields is None:  # inside a list, dict or union: any secret in there counts
            return _holds_secret(annotation)
        if part not in fields:
            return True
        annotation = fields[part].annotation
    return _holds_secret(annotation)


def _model_fields(annotation: Any) -> dict[str, Any] | None:
    """The fields of a model type (also `Model | None`); None for anything else."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return dict(annotation.model_fields)
    if get_origin(annotation) in (Union, UnionType):
        members = [a for a in get_args(annotation) if a is not type(None)]
        if len(members) == 1:
            return _model_fields(members[0])
    return None


def _holds_secret(annotation: Any, seen: frozenset[type] = frozenset()) -> bool:
    origin = get_origin(annotation)  # `Secret[int]`
    if isinstance(origin, type) and issubclass(origin, _SECRET_TYPES):
        return True
    if isinstance(annotation, type):
        if issubclass(annotation, _SECRET_TYPES):
            return True
        if issubclass(annotation, BaseModel):
            if annotation in seen:
                return False
            inner = seen | {annotation}
            return any(_holds_secret(f.annotation, inner) for f in annotation.model_fields.values())
    return any(_holds_secret(arg, seen) for arg in get_args(annotation))
