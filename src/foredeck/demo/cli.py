"""`python -m foredeck.demo`: the command line, and signal handling that always stops the server."""

from __future__ import annotations

import argparse
import signal
import time
import types
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import httpx
from rich.console import Console
from rich.markup import escape

from foredeck.demo.options import DEFAULT_WORKDIR, EXAMPLES, STEP_TIMEOUT, DemoError, Options
from foredeck.demo.story import Demo


class Interrupted(Exception):
    """SIGTERM (or SIGHUP) to the driver: unwind through every `finally`, like Ctrl-C."""


Handler = Callable[[int, types.FrameType | None], object] | int | signal.Handlers


@contextmanager
def _handling(handler: Handler, *signums: signal.Signals) -> Iterator[None]:
    """`handler` for `signums` inside the block; the previous handlers again after it."""
    old = {s: signal.signal(s, handler) for s in signums}
    try:
        yield
    finally:
        for s, previous in old.items():
            signal.signal(s, previous)


def _raise_interrupted(signum: int, _frame: types.FrameType | None) -> None:
    raise Interrupted(signal.Signals(signum).name)


def _signals_as_interrupts() -> AbstractContextManager[None]:
    """SIGTERM and SIGHUP unwind like Ctrl-C, so the server is stopped either way."""
    return _handling(_raise_interrupted, signal.SIGTERM, signal.SIGHUP)


def _uninterruptible() -> AbstractContextManager[None]:
    """Cleanup must finish: a second Ctrl-C would otherwise leave the server running."""
    return _handling(signal.SIG_IGN, signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def run_demo(options: Options, console: Console | None = None) -> int:
    """Run the demo; 0 when it went as described (or was interrupted), 1 otherwise."""
    console = console or Console()
    started = time.monotonic()
    demo: Demo | None = None
    status = 0
    with _signals_as_interrupts():
        try:
            demo = Demo(options, console)
            demo.run()
            console.print(f"\n[bold green]Demo done in {time.monotonic() - started:.0f} s.[/]")
            if options.keep_running:
                console.print(
                    f"foredeck keeps serving at {demo.server.url}; press Ctrl-C to stop it."
                )
                while demo.server.proc is not None and demo.server.proc.poll() is None:
                    time.sleep(0.5)
        except (KeyboardInterrupt, Interrupted):
            console.print("\ninterrupted: stopping foredeck")
        except (DemoError, httpx.HTTPError, OSError) as exc:
            console.print(f"[bold red]demo failed:[/] {escape(str(exc))}")
            status = 1
        finally:
            if demo is not None:
                with _uninterruptible():
                    code = demo.close()
                console.print(f"foredeck serve stopped (exit status {code}).")
    return status


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m foredeck.demo",
        description="foredeck as a CI service on this machine: a pull request, a fix, a merge.",
    )
    parser.add_argument(
        "--workdir",
        type=Path,
        default=DEFAULT_WORKDIR,
        help="where everything goes; wiped first if an earlier demo made it (default: %(default)s)",
    )
    parser.add_argument(
        "--keep-running", action="store_true", help="keep foredeck serving until Ctrl-C"
    )
    parser.add_argument("--port", type=int, default=0, help="listen port (default: a free one)")
    parser.add_argument(
        "--examples", type=Path, default=EXAMPLES, help="the demo's files (default: %(default)s)"
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=STEP_TIMEOUT,
        help="seconds per step (default: %(default)s)",
    )
    args = parser.parse_args(argv)
    options = Options(
        workdir=args.workdir,
        keep_running=args.keep_running,
        port=args.port,
        examples=args.examples,
        timeout=args.timeout,
    )
    return run_demo(options)
