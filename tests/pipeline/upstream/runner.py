"""Load and run each upstream example with foredeck, and say how it ended against its engine.

Every example lands in one category (`Outcome.category`):

- `matched`: it ran and ended as its engine decides (Succeeded, or a failure when annotated,
  and then not one a missing command may explain);
- `refused at load`: `load_run` raised PipelineError (the reason is its gist, see `reasons`);
- `refused at run start`: it loaded, but `run_pipeline` raised PipelineError before running;
- `needs an image command the host lacks`: it ran and failed, and its steps start an
  executable that is not on this host's PATH (`argosay`, `cowsay`, an image's entrypoint):
  the host cannot judge it, so it counts apart; also when, run in the stand-ins, it failed
  and its steps ask of a real image what its stand-in lacks (`Standin.lacks`);
- `ran, wrong outcome`: it ran and ended otherwise (`harness timeout` when it did not end
  within the per-example bound, which keeps long `sleep`s from stalling the set);
- `matched in containers`: on the host it needed an image's command or ended otherwise, and
  run again with its steps in their images (podman, with the stand-ins of
  `tests/kit/standins.py` tagged with the upstream names), it ended as its engine decides;
  `ran in containers, wrong outcome` when it did not. Only examples whose every image has a
  stand-in get the second run; the others keep their host category;
- `foredeck crashed`: anything but PipelineError escaped foredeck (a bug to report);
- `out of scope`: its engine's own test does not run it (see `catalog`).

Steps run in a private temporary directory each, inside the host sandbox (bubblewrap: a
read-only host, a private `/tmp`, no network) when it works here, so nothing is left behind,
with `STEP_PATH` as their only environment variable (a private HOME is made per run).

`python -m tests.pipeline.upstream.runner` prints the table; `--write-ledger` rewrites
`tests/data/upstream/expected.yaml` from this run (sorted, no paths: deterministic).
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import tempfile
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from foredeck.execute.containers import ContainerRun
from foredeck.execute.local import run_pipeline
from foredeck.execute.podman import PodmanConfig
from foredeck.execute.sandbox import Sandbox, make_sandbox
from foredeck.pipeline.load import load_run, run_from_documents
from foredeck.pipeline.model import PipelineRunSpec
from foredeck.types import PipelineError, Source
from foredeck.yamlsrc import load_file
from tests.kit.containers import Store, make_store
from tests.kit.standins import standin_for, tag_standins
from tests.pipeline.upstream.catalog import DATA, Example, examples
from tests.pipeline.upstream.reasons import (
    error_reason,
    images,
    missing_commands,
    standin_gaps,
)

LEDGER = DATA / "expected.yaml"
TIMEOUT = 60.0  # seconds per example; Argo marks the examples that take longer `no-test`
JOBS = 4  # examples at once (each runs two tasks at a time)
STEP_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
"""The steps' whole environment is this PATH (Debian's default), not this process's: what the
host offers the examples must not depend on who runs the harness (a pyenv `python`, a venv)."""

MATCHED = "matched"
REFUSED = "refused at load"
REFUSED_AT_START = "refused at run start"
WRONG = "ran, wrong outcome"
NEEDS_COMMAND = "needs an image command the host lacks"
CRASHED = "foredeck crashed"
MATCHED_IN_CONTAINERS = "matched in containers"
WRONG_IN_CONTAINERS = "ran in containers, wrong outcome"
OUT_OF_SCOPE = "out of scope"


@dataclass(frozen=True)
class Outcome:
    category: str
    reason: str = ""

    @property
    def loaded(self) -> bool:
        crashed_loading = self.category == CRASHED and self.reason.startswith("load")
        return self.category not in (REFUSED, OUT_OF_SCOPE) and not crashed_loading

    @property
    def ran(self) -> bool:
        return self.category in (
            MATCHED,
            WRONG,
            NEEDS_COMMAND,
            MATCHED_IN_CONTAINERS,
            WRONG_IN_CONTAINERS,
        )

    @property
    def wants_containers(self) -> bool:
        """Whether its images may explain how it ended on the host."""
        return self.category in (NEEDS_COMMAND, WRONG)

    def __str__(self) -> str:
        return f"{self.category}: {self.reason}" if self.reason else self.category


def host_sandbox() -> tuple[Sandbox, str | None]:
    """bubblewrap without network when it works here; else unconfined, with the warning."""
    return make_sandbox("auto", network=False)


RUNS = ("Workflow", "CronWorkflow", "PipelineRun")


def load(example: Example) -> PipelineRunSpec:
    """`load_run` on the example's files; from a file of several Workflows (PipelineRuns),
    Argo's e2e (Tekton's) submits one at a time, so only this one (and no CronWorkflow) is
    given with the other objects."""
    if example.document is None:
        return load_run(list(example.files))
    docs = []
    for path in example.files:
        for doc in load_file(path):
            data: Any = doc.data
            runnable = isinstance(data, dict) and data.get("kind") in RUNS
            meta = (data.get("metadata") or {}) if runnable else {}
            name = meta.get("name") or meta.get("generateName")
            chosen = data.get("kind") != "CronWorkflow" and name == example.document
            if not runnable or chosen:
                docs.append(doc)
    return run_from_documents(docs, None, Source(str(example.files[0]), 1))


DAEMON_NETWORK = "podman"
"""podman's default bridge: each daemon at an address of its own, as Argo's daemon pods (two
daemons of variables-showcase serve one port)."""


def container_run(store: Store) -> ContainerRun:
    """Steps in their images from `store`, never pulled (the stand-ins are all there is); each
    daemon on a network of its own."""
    global_args = (*store.global_args, "--runtime", store.oci_runtime)
    config = PodmanConfig(
        "podman",
        global_args=global_args,
        run_args=store.run_args,
        pull="never",
        daemon_network=DAEMON_NETWORK,
    )
    return ContainerRun(config)


def stood_in(example: Example) -> bool:
    """Whether every image the example names has a stand-in (and it names one at all)."""
    named = images(example.files)
    return bool(named) and all(standin_for(image) is not None for image in named)


async def run_example(
    example: Example,
    sandbox: Sandbox,
    timeout: float = TIMEOUT,
    containers: ContainerRun | None = None,
) -> Outcome:
    """Load, run and judge one example (never raises but for cancellation); with `containers`,
    run it again in its images when the host's outcome may be its images' doing."""
    outcome = await _run_example(example, sandbox, timeout, None)
    if containers is None or not outcome.wants_containers or not stood_in(example):
        return outcome
    again = await _run_example(example, sandbox, timeout, containers)
    if again.category == MATCHED:
        return Outcome(MATCHED_IN_CONTAINERS)
    if again.category == NEEDS_COMMAND:
        return again
    if again.category == WRONG:
        return Outcome(WRONG_IN_CONTAINERS, again.reason)
    return again


async def _run_example(
    example: Example, sandbox: Sandbox, timeout: float, containers: ContainerRun | None
) -> Outcome:
    if example.out_of_scope is not None:
        return Outcome(OUT_OF_SCOPE, example.out_of_scope)
    try:
        spec = load(example)
    except PipelineError as exc:
        return Outcome(REFUSED, error_reason(exc))
    except Exception as exc:  # a crash is a finding, not the harness's end
        return Outcome(CRASHED, f"load: {type(exc).__name__}")
    cancel = asyncio.Event()
    timer = asyncio.get_running_loop().call_later(timeout, cancel.set)
    try:
        with tempfile.TemporaryDirectory(prefix="foredeck-upstream-") as tmp:
            result = await run_pipeline(
                spec,
                Path(tmp) / "out",
                parallel=2,
                cancel=cancel,
                env={"PATH": STEP_PATH},
                sandbox=sandbox,
                kill_grace=1,
                containers=containers,
            )
    except PipelineError as exc:
        return Outcome(REFUSED_AT_START, error_reason(exc))
    except Exception as exc:
        return Outcome(CRASHED, f"run: {type(exc).__name__}")
    finally:
        timer.cancel()
    succeeded = result.status == "Succeeded" and not cancel.is_set()
    if succeeded and example.expect_success:
        return Outcome(MATCHED)
    if containers is None:
        missing = missing_commands(example.files, STEP_PATH)
    else:
        missing = [f"{gap} (stand-in)" for gap in standin_gaps(example.files)]
    if missing:  # a failure then says nothing, even an expected one
        return Outcome(NEEDS_COMMAND, ", ".join(missing))
    if not succeeded and not example.expect_success and not cancel.is_set():
        return Outcome(MATCHED)
    if cancel.is_set():
        return Outcome(WRONG, f"harness timeout ({timeout:g} s)")
    expected = "Succeeded" if example.expect_success else "a failure"
    return Outcome(WRONG, f"{result.status}, expected {expected}")


async def run_all(
    chosen: Sequence[Example],
    jobs: int = JOBS,
    timeout: float = TIMEOUT,
    containers: ContainerRun | None = None,
) -> dict[str, Outcome]:
    """Every example's outcome by id, `jobs` examples at a time."""
    sandbox, _ = host_sandbox()
    slots = asyncio.Semaphore(jobs)

    async def one(example: Example) -> Outcome:
        async with slots:
            return await run_example(example, sandbox, timeout, containers)

    outcomes = await asyncio.gather(*(one(e) for e in chosen))
    return {e.id: o for e, o in zip(chosen, outcomes, strict=True)}


# ---- the ledger: non-matching in-scope examples, as of the last regeneration


def read_ledger(path: Path = LEDGER) -> dict[str, Outcome]:
    data = yaml.safe_load(path.read_text()) if path.exists() else None
    entries: dict[str, Any] = data or {}
    return {k: Outcome(v["category"], v.get("reason", "")) for k, v in entries.items()}


def ledger_text(outcomes: dict[str, Outcome]) -> str:
    entries = {
        ident: {"category": o.category, "reason": o.reason}
        for ident, o in sorted(outcomes.items())
        if o.category not in (MATCHED, OUT_OF_SCOPE)
    }
    header = (
        "# In-scope upstream examples that do not end as their engine decides, by category.\n"
        "# tests/pipeline/test_upstream_examples.py fails when an example's category differs.\n"
        "# Regenerate: PYTHONPATH=src python -m tests.pipeline.upstream.runner --write-ledger\n"
    )
    return header + yaml.safe_dump(entries, sort_keys=True, allow_unicode=True, width=200)


# ---- the table


def table(chosen: Iterable[Example], outcomes: dict[str, Outcome]) -> str:
    """loaded / ran / matched per engine over the in-scope examples, then counts by reason
    (in scope first, by category; out of scope last)."""
    lines = [
        "engine  in scope  loaded  ran  matched  in containers  needs image command  out of scope"
    ]
    by_reason: Counter[tuple[str, str, str]] = Counter()
    for engine in ("argo", "tekton"):
        mine = [outcomes[e.id] for e in chosen if e.engine == engine and e.id in outcomes]
        scoped = [o for o in mine if o.category != OUT_OF_SCOPE]
        counts = [
            len(scoped),
            sum(o.loaded for o in scoped),
            sum(o.ran for o in scoped),
            sum(o.category == MATCHED for o in scoped),
            sum(o.category == MATCHED_IN_CONTAINERS for o in scoped),
            sum(o.category == NEEDS_COMMAND for o in scoped),
            len(mine) - len(scoped),
        ]
        cells = "".join(f"{c:>{w}}" for c, w in zip(counts, _WIDTHS, strict=True))
        lines.append(f"{engine:<7}{cells}")
        by_reason.update((o.category, engine, o.reason) for o in mine if o.category != MATCHED)
    lines += ["", "count  engine  category: reason"]
    order = {c: i for i, c in enumerate(_CATEGORY_ORDER)}
    for (category, engine, why), count in sorted(
        by_reason.items(), key=lambda kv: (order.get(kv[0][0], 0), kv[0][1], -kv[1], kv[0][2])
    ):
        lines.append(f"{count:>5}  {engine:<6}  {Outcome(category, why)}")
    return "\n".join(lines)


_CATEGORY_ORDER = (
    CRASHED,
    REFUSED,
    REFUSED_AT_START,
    WRONG,
    WRONG_IN_CONTAINERS,
    NEEDS_COMMAND,
    MATCHED_IN_CONTAINERS,
    OUT_OF_SCOPE,
)
_WIDTHS = (10, 8, 5, 9, 15, 21, 14)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--write-ledger", action="store_true", help=f"rewrite {LEDGER.name}")
    parser.add_argument("--jobs", type=int, default=JOBS)
    parser.add_argument("--timeout", type=float, default=TIMEOUT)
    parser.add_argument("--list", action="store_true", help="print each example's outcome")
    parser.add_argument("ids", nargs="*", help="example ids (default: all)")
    args = parser.parse_args(argv)
    chosen = [e for e in examples() if not args.ids or e.id in args.ids]
    _, warning = host_sandbox()
    if warning:
        print(f"warning: {warning}", file=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="foredeck-upstream-store-") as tmp:
        store = make_store(Path(tmp))
        tag_standins(store)
        try:
            outcomes = asyncio.run(run_all(chosen, args.jobs, args.timeout, container_run(store)))
        finally:
            store.podman("rm", "--all", "--force", "--time=0", check=False)
            shutil.rmtree(store.runroot, ignore_errors=True)
    if args.list:
        for ident, outcome in sorted(outcomes.items()):
            print(f"{ident}: {outcome}")
    print(table(chosen, outcomes))
    if args.write_ledger:
        if args.ids:
            parser.error("--write-ledger needs the whole set (no ids)")
        LEDGER.write_text(ledger_text(outcomes))
        print(f"wrote {LEDGER}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
