"""Optional extras: the libraries a plain `pip install foredeck` leaves out.

A plain install runs everything locally (SQLite, the local executor, a folder artifact store,
the local SCM). Kubernetes, S3, GCS and PostgreSQL need their extra, and each of those
libraries is imported only on the code path that uses it, through `require`, so that a missing
extra fails there with one line naming it instead of an import traceback at start-up.
"""

from __future__ import annotations

import importlib
from typing import Any


class MissingExtra(ImportError):
    """A feature whose extra is not installed; `str()` is one line saying what to install.

    An `ImportError`, so code that already treats an unimportable back end as unavailable
    (a store opened on demand, a component left out) keeps doing so, with this message.
    """

    def __init__(self, extra: str, what: str, detail: str = "") -> None:
        self.extra = extra
        self.what = what
        line = f"{what} needs the {extra!r} extra: pip install 'foredeck[{extra}]'"
        super().__init__(f"{line} ({detail})" if detail else line)


def require(extra: str, module: str, what: str) -> Any:
    """Import `module` (a library of `extra`) for `what` (e.g. "the s3:// artifact store");
    raises `MissingExtra` when it cannot be imported.

    The module is returned untyped: the extras' libraries are untyped or typed loosely, and
    callers that want types import them under `TYPE_CHECKING`.
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        missing = exc.name or ""
        # The library itself is absent: the usual case, said without detail. Anything else
        # (a dependency of it missing, a broken install) is named, so it is not misread.
        plain = bool(missing) and (missing == module or module.startswith(missing + "."))
        raise MissingExtra(extra, what, "" if plain else str(exc).splitlines()[0]) from exc
