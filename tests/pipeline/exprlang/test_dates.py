"""expr-lang's date builtins: `now()`, `date()`, `duration()`, their arithmetic, comparisons and
how Go prints them; `now()` keeps an Argo expression for run time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from foredeck.pipeline.exprlang.api import check, evaluate, go_format
from foredeck.pipeline.exprlang.errors import ExprError
from foredeck.pipeline.load import load_pipeline_text


@pytest.mark.parametrize(
    ("expr", "printed"),
    [
        ('date("2026-04-29T00:00:00Z") - date("2026-04-28T22:29:30Z")', "1h30m30s"),
        ('date("2026-04-29") + duration("36h")', "2026-04-30 12:00:00 +0000 UTC"),
        ('date("29/04/2026 10:00", "02/01/2006 15:04")', "2026-04-29 10:00:00 +0000 UTC"),
        (
            'date("2026-04-29 10:00:00", "2006-01-02 15:04:05", "Europe/Paris")',
            "2026-04-29 10:00:00 +0200 CEST",
        ),
        ('duration("1h30m") == duration("90m")', "true"),
        ('duration("2s") > duration("1500ms")', "true"),
        ('duration("1.5s")', "1.5s"),
        ('duration("250ms")', "250ms"),
        ('duration("0s")', "0s"),
        ('date("2026-01-01") < date("2026-01-02T00:00:00+01:00")', "true"),
        ("type(now())", "time.Time"),
        ('type(duration("1m"))', "time.Duration"),
    ],
)
def test_dates_and_durations(expr: str, printed: str) -> None:
    assert go_format(evaluate(expr)) == printed


def test_now_is_the_current_time() -> None:
    value = evaluate("now()")
    assert isinstance(value, datetime)
    assert abs(value - datetime.now(UTC)) < timedelta(minutes=1)
    assert evaluate('now() - date("2020-01-01") > duration("24h")') is True


@pytest.mark.parametrize(
    "expr",
    ['date("yesterday")', 'duration("soon")', 'date("2026", "2006", "Mars/Base")', "date(1)"],
)
def test_bad_dates_are_errors(expr: str) -> None:
    with pytest.raises(ExprError):
        evaluate(expr)


def test_arity_is_checked_at_load() -> None:
    assert [e.message for e in check("date(1, 2, 3, 4)")] == [
        "date takes 1 to 3 argument(s), got 4"
    ]


def test_an_argo_expression_with_now_stays_for_run_time() -> None:
    text = """\
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: when}
spec:
  entrypoint: main
  templates:
    - name: main
      steps:
        - - name: a
            template: echo
            arguments:
              parameters:
                - {name: late, value: '{{=now() > date("2020-01-01")}}'}
                - {name: fixed, value: '{{=duration("90m") == duration("1h30m")}}'}
    - name: echo
      inputs: {parameters: [{name: late}, {name: fixed}]}
      container: {image: busybox, command: [echo, "{{inputs.parameters.late}}"]}
"""
    task = load_pipeline_text(text, "wf.yaml").pipeline.tasks[0]
    late = task.params["late"]
    assert isinstance(late, str) and late.startswith("$(=")  # evaluated when the task runs
    assert task.params["fixed"] == "true"  # nothing to wait for: known at load
