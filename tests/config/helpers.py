"""Helpers shared by the config tests: write YAML into a temp tree and load it."""

from __future__ import annotations

import textwrap
from pathlib import Path

from foredeck.config import ConfigResult, load_config

DATA = Path(__file__).resolve().parent.parent / "data" / "config"
REALISTIC = DATA / "prow-realistic"


def write(root: Path, rel: str, text: str) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def load_text(tmp_path: Path, text: str, name: str = "jobs.yaml") -> ConfigResult:
    return load_config([write(tmp_path, name, text)])


def messages(result: ConfigResult, *, warnings: bool = False) -> list[str]:
    return [str(d) for d in (result.warnings if warnings else result.errors)]


def one_error(result: ConfigResult) -> str:
    assert len(result.errors) == 1, messages(result)
    return str(result.errors[0])
