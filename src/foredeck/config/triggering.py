"""Which presubmits run: without a command (Prow's test-all filter), and those a pull-request
comment asks for (Prow's `pjutil.PresubmitFilter`).

Comment filters are tried in Prow's order (an explicit `/test NAME` first, then `/retest`,
`/retest-required`, `/test all` and `/ok-to-test`); the first filter that selects a job decides
whether it is forced and what happens when its file conditions do not match.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence, Set

from foredeck.config.models import ChangedFiles, Presubmit, memoize_changes
from foredeck.config.regex import compile_go_regex

TEST_ALL_RE = compile_go_regex(r"(?m)^/test all,?($|\s.*)")
RETEST_RE = compile_go_regex(r"(?m)^/retest\s*$")
RETEST_REQUIRED_RE = compile_go_regex(r"(?m)^/retest-required\s*$")
OK_TO_TEST_RE = compile_go_regex(r"(?m)^/ok-to-test\s*$")

# (selected, forced, default when its file conditions do not decide)
_Decision = tuple[bool, bool, bool]
_Filter = Callable[[Presubmit], _Decision]


def _command_filter(body: str) -> _Filter:
    def decide(p: Presubmit) -> _Decision:
        hit = p.trigger_matches(body)
        return hit, hit, True

    return decide


def _test_all(p: Presubmit) -> _Decision:
    return not p.needs_explicit_trigger(), False, False


def _retest_filter(failed: Set[str], known: Set[str], required_only: bool) -> _Filter:
    def decide(p: Presubmit) -> _Decision:
        if required_only and p.optional:
            return False, False, False
        was_failed = p.context in failed
        return (
            was_failed or (not p.needs_explicit_trigger() and p.context not in known),
            False,
            (was_failed),
        )

    return decide


def requested_presubmits(
    presubmits: Iterable[Presubmit],
    body: str,
    branch: str,
    changes: ChangedFiles,
    *,
    failed_contexts: Set[str] = frozenset(),
    all_contexts: Set[str] = frozenset(),
    honor_ok_to_test: bool = False,
) -> list[Presubmit]:
    """The presubmits `body` triggers against `branch`.

    `failed_contexts` / `all_contexts` are the PR's current status contexts, used by `/retest`
    (rerun failed jobs, and start jobs that never reported). `changes` may be a callable, called
    at most when a conditional job needs the changed files.
    """
    filters: list[_Filter] = [_command_filter(body)]
    if RETEST_RE.search(body):
        filters.append(_retest_filter(failed_contexts, all_contexts, required_only=False))
    if RETEST_REQUIRED_RE.search(body):
        filters.append(_retest_filter(failed_contexts, all_contexts, required_only=True))
    if (honor_ok_to_test and OK_TO_TEST_RE.search(body)) or TEST_ALL_RE.search(body):
        filters.append(_test_all)
    lazy_changes = memoize_changes(changes)
    selected: list[Presubmit] = []
    for p in presubmits:
        for decide in filters:
            hit, forced, defaults = decide(p)
            if hit:
                if p.runs_for(branch, lazy_changes, forced=forced, defaults=defaults):
                    selected.append(p)
                break
    return selected


def wants_changes(presubmits: Iterable[Presubmit], branch: str) -> bool:
    """Whether any job that may run against `branch` depends on the changed files.

    The changes are fetched before matching (the matching helpers are synchronous) and only
    when this says so, which saves an API call per event for repositories without file filters.
    """
    return any(p.could_run(branch) and p.could_run_on_changes() for p in presubmits)


def automatic_presubmits(
    presubmits: Iterable[Presubmit], branch: str, changes: Sequence[str]
) -> list[Presubmit]:
    """What runs without a command (Prow's test-all filter): always_run jobs, and jobs whose
    `run_if_changed` / `skip_if_only_changed` match; never jobs that need `/test NAME`."""
    return [
        p
        for p in presubmits
        if not p.needs_explicit_trigger() and p.could_run(branch) and p.should_run(changes)
    ]
