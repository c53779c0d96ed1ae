"""The OIDC provider fixture never skips silently: without node or npm it skips with the reason,
and under `BROWSER_TESTS_REQUIRED` (CI) it fails."""

from __future__ import annotations

import shutil

import pytest

from tests.kit import oidc_provider


def test_without_node_the_provider_fails_when_browser_tests_are_required(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)
    monkeypatch.setenv("BROWSER_TESTS_REQUIRED", "1")
    with pytest.raises(pytest.fail.Exception, match="node and npm are needed"):
        oidc_provider.install()


def test_without_node_the_provider_skips_with_the_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)
    monkeypatch.delenv("BROWSER_TESTS_REQUIRED", raising=False)
    with pytest.raises(pytest.skip.Exception, match="node and npm are needed"):
        oidc_provider.install()
