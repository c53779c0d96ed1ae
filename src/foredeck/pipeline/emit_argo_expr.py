"""IR expressions `$(= ...)` written back as Argo `{{=...}}` tags.

Each reference inside is first rewritten as the emitter rewrites any reference (to a `{{...}}`
tag or to a literal it knows); a tag becomes the Argo variable it names (`tasks['my-task']...`
when a name is not an identifier), a literal a quoted string.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from foredeck.pipeline.expressions import Reference, iter_references
from foredeck.pipeline.exprlang.embed import literal, rewrite_refs, split

_TAG = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class ArgoExprError(ValueError):
    pass


def argo_variable(path: str) -> str:
    """`tasks.my-task.outputs.result` as expr-lang: `tasks['my-task'].outputs.result`."""
    parts = path.split(".")
    out = parts[0]
    for part in parts[1:]:
        out += f".{part}" if _IDENT.fullmatch(part) else f"[{literal(part)}]"
    return out


def argo_text(text: str, plain: Callable[[str], str], resolve: Callable[[Reference], str]) -> str:
    """`text` with its plain parts through `plain` and its expressions as `{{=...}}`."""

    def variable(path: str) -> str:
        ref = next(iter_references(f"$({path})"))
        emitted = resolve(ref)
        m = _TAG.fullmatch(emitted)
        if m is not None:
            return argo_variable(m.group(1))
        if "{{" in emitted:
            raise ArgoExprError(f"$({path}) becomes {emitted!r}, not one Argo variable")
        return literal(emitted)

    out: list[str] = []
    for part in split(text):
        if isinstance(part, str):
            out.append(plain(part))
            continue
        expr = rewrite_refs(part.expr, variable).strip()
        if "}}" in expr:
            raise ArgoExprError(f"expression {expr!r} holds `}}}}`, which ends an Argo tag")
        out.append("{{=" + expr + "}}")
    return "".join(out)
