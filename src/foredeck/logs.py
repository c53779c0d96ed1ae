"""The log format of foredeck's long-running commands (`foredeck serve`, `python -m ...`)."""

from __future__ import annotations

import logging

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
QUIET = ("alembic.runtime.plugins",)
"""Loggers held at WARNING: alembic announces each of its autogenerate plugins at INFO when
imported, seven lines at every start (and before the one line of a start that fails)."""


def configure_logging(level: str) -> None:
    """Log to stderr at `level` (`debug`, `info`, ...), without the noise of `QUIET`."""
    logging.basicConfig(level=level.upper(), format=FORMAT)
    for name in QUIET:
        logging.getLogger(name).setLevel(logging.WARNING)
