"""`make demo`: foredeck as a CI service on this machine, without GitHub, in under a minute.

The driver plays a developer against a real `foredeck serve` process on embedded defaults
(SQLite, local executor, `file://` artifacts, the local SCM provider), everything under one work
directory: it imports a sample repository, opens a pull request whose test fails, pushes a fix,
merges it, and prints what foredeck did at each step, reading the jobs through the JSON API (the
way any client would) and the statuses and report comment through `LocalScm` (the API does not
serve them). The server runs in its own process group and is always stopped at the end, on
success, on failure and on Ctrl-C, so the demo never leaves a process behind.

    python -m foredeck.demo [--workdir .foredeck/demo] [--keep-running]

The package, by what each module does: `options` (names, the command line's options),
`workdir` (the work directory and settings), `gitops`, `server` (the child process),
`observe` (reading the API and the SCM), `printing`, `story` (the steps), `cli` (`main`).
"""

from foredeck.demo.cli import main, run_demo
from foredeck.demo.options import DemoError, Options
from foredeck.demo.printing import build_dir
from foredeck.demo.server import Server
from foredeck.demo.workdir import MARKER, demo_settings, prepare_workdir

__all__ = [
    "MARKER",
    "DemoError",
    "Options",
    "Server",
    "build_dir",
    "demo_settings",
    "main",
    "prepare_workdir",
    "run_demo",
]
