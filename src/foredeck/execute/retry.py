"""When a failed attempt is retried, and after how long (a task's `RetryStrategy`).

A host has none of Argo's controller errors: OnFailure and Always retry every failed attempt
(as a task without a strategy does), OnError and OnTransientError only an attempt whose step
could not start (the nearest a host comes to an error of the machinery, not of the step).
"""

from __future__ import annotations

from collections.abc import Mapping

from foredeck.pipeline.model import RetryStrategy

_ERROR_MARKER = " could not start "
"""In the reason of an attempt whose step could not start (`steps.py`)."""


def retry_delay(
    strategy: RetryStrategy | None,
    retry: int,
    reason: str,
    elapsed: float,
    last: Mapping[str, str] | None = None,
) -> float | None:
    """Seconds to wait before retry number `retry` (1-based) of a failed attempt, or None when
    the strategy does not retry it. `elapsed`: seconds since the first attempt started;
    `last`: the failed attempt as a retry expression reads it (`last_retry`)."""
    if strategy is None:
        return 0.0
    if strategy.policy in ("OnError", "OnTransientError") and _ERROR_MARKER not in reason:
        return None
    if strategy.expression is not None and not _holds(strategy.expression, last or {}):
        return None
    delay = 0.0
    if strategy.backoff is not None:
        delay = strategy.backoff * strategy.factor ** (retry - 1)
        if strategy.cap is not None:
            delay = min(delay, strategy.cap)
    if strategy.max_duration is not None and elapsed + delay > strategy.max_duration:
        return None
    return delay


def last_retry(status: str, exit_code: int | None, duration: float, message: str) -> dict[str, str]:
    """`lastRetry.*` of a failed attempt, as Argo gives them (all text): its exit code (-1 when
    no step ran to an exit), its phase (`Error` when no step exited non-zero, as Argo's Error is
    a failure of the machinery), its duration in seconds, its message."""
    exited = exit_code is not None and exit_code != 0
    phase = "Failed" if exited or status in ("TimedOut", "Cancelled") else "Error"
    return {
        "exitCode": str(exit_code if exit_code is not None else -1),
        "status": phase,
        "duration": f"{duration:g}",
        "message": message,
    }


def _holds(expression: str, last: Mapping[str, str]) -> bool:
    """Whether a retry expression is true of the last attempt; an error counts as false."""
    from foredeck.pipeline.exprlang.api import evaluate
    from foredeck.pipeline.exprlang.errors import ExprError

    try:
        return evaluate(expression, {"lastRetry": dict(last)}) is True
    except ExprError:
        return False
