"""When a failed attempt is retried, and after how long (a task's `RetryStrategy`).

A host has none of Argo's controller errors: OnFailure and Always retry every failed attempt
(as a task without a strategy does), OnError and OnTransientError only an attempt whose step
could not start (the nearest a host comes to an error of the machinery, not of the step).
"""

from __future__ import annotations

from foredeck.pipeline.model import RetryStrategy

_ERROR_MARKER = " could not start "
"""In the reason of an attempt whose step could not start (`steps.py`)."""


def retry_delay(
    strategy: RetryStrategy | None, retry: int, reason: str, elapsed: float
) -> float | None:
    """Seconds to wait before retry number `retry` (1-based) of a failed attempt, or None when
    the strategy does not retry it. `elapsed`: seconds since the first attempt started."""
    if strategy is None:
        return 0.0
    if strategy.policy in ("OnError", "OnTransientError") and _ERROR_MARKER not in reason:
        return None
    delay = 0.0
    if strategy.backoff is not None:
        delay = strategy.backoff * strategy.factor ** (retry - 1)
        if strategy.cap is not None:
            delay = min(delay, strategy.cap)
    if strategy.max_duration is not None and elapsed + delay > strategy.max_duration:
        return None
    return delay
