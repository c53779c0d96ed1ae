"""Install size: what `pip install foredeck` costs, plain and with extras.

Each variant is installed into a fresh virtualenv (with constraints.txt, as CI installs), then
its site-packages is measured: disk use in MB (as `du -sm` counts it, the venv's own pip and
setuptools included: about 24 MB) and the number of distributions installed (pip and
setuptools not counted). Needs a package index (PyPI or a mirror) and a minute or more per
variant, so `make bench` leaves it out.

Measured (Python 3.11, constraints.txt): plain 151 MB / 45 packages; `[all]` 384 MB / 90
(everything was a base dependency before the extras: the plain install was the `[all]` one).

Run: .venv/bin/python bench/install_size.py [--extras all] [--keep]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VENV_OWN = {"pip", "setuptools"}
COUNT = (
    "import importlib.metadata as m; "
    "print('\\n'.join(sorted({d.metadata['Name'].lower() for d in m.distributions()})))"
)


def disk_mb(path: Path) -> float:
    """Disk use under `path` in MB, hard links once, like `du -sm`."""
    seen: set[tuple[int, int]] = set()
    total = 0
    for dirpath, _dirs, files in os.walk(path):
        for name in [".", *files]:
            st = os.lstat(os.path.join(dirpath, name))
            if (st.st_dev, st.st_ino) not in seen:
                seen.add((st.st_dev, st.st_ino))
                total += st.st_blocks * 512
    return total / 2**20


def measure(extras: str, venv: Path) -> tuple[float, list[str]]:
    """Install foredeck (with `extras`) into a new venv; its size and distributions."""
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    target = f"{ROOT}[{extras}]" if extras else str(ROOT)
    subprocess.run(
        [python, "-m", "pip", "install", "-q", "-c", ROOT / "constraints.txt", target],
        check=True,
    )
    site = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    names = subprocess.run(
        [python, "-c", COUNT], check=True, capture_output=True, text=True
    ).stdout.split()
    return disk_mb(Path(site)), [n for n in names if n not in VENV_OWN]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--extras",
        action="append",
        help="an extra (or a comma-separated list) to measure besides the plain install",
    )
    parser.add_argument("--keep", action="store_true", help="keep the venvs and print where")
    args = parser.parse_args()
    variants = ["", *(args.extras or [])]
    base = Path(tempfile.mkdtemp(prefix="foredeck-install-size-"))
    print(f"{'install':<28} {'MB':>7} {'packages':>9}")
    for extras in variants:
        venv = base / (extras.replace(",", "-") or "plain")
        size, names = measure(extras, venv)
        label = f"foredeck[{extras}]" if extras else "foredeck"
        print(f"{label:<28} {size:7.0f} {len(names):9d}", flush=True)
    if args.keep:
        print(f"venvs kept under {base}")
    else:
        shutil.rmtree(base)
    return 0


if __name__ == "__main__":
    sys.exit(main())
