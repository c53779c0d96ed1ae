"""Wake-ups in a storm: the event worker wakes the controller after every batch, but rounds
closer together than `ROUND_GAP` would only repeat queries that find nothing new."""

from __future__ import annotations

import itertools
import time
from pathlib import Path

import pytest

from foredeck.controller import Controller
from foredeck.controller import controller as controller_module
from tests.controller.helpers import make_settings
from tests.db.fixtures import Database
from tests.kit.wait import wait_for


def test_a_storm_of_wake_ups_runs_rounds_at_most_every_round_gap(
    db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    controller = Controller(db.engine, make_settings(tmp_path, db))
    rounds: list[float] = []
    real_round = controller.run_once

    async def counted() -> None:
        rounds.append(time.monotonic())
        await real_round()

    monkeypatch.setattr(controller, "run_once", counted)
    controller.start()
    try:
        wait_for("the first round", lambda: len(rounds) >= 1)
        storm = 0.5
        first = len(rounds)
        end = time.monotonic() + storm
        while time.monotonic() < end:
            controller.notify()
            time.sleep(0.001)
        during = len(rounds) - first
        # A busy machine may run fewer rounds, never more than one per gap (plus the one in
        # progress when the storm began).
        assert 1 <= during <= storm / controller_module.ROUND_GAP + 2, rounds
        gaps = [b - a for a, b in itertools.pairwise(rounds)]
        assert min(gaps) >= controller_module.ROUND_GAP * 0.9, gaps
    finally:
        controller.stop(timeout=10)
