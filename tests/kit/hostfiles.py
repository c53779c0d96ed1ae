"""Host programs in an image: a program with the shared libraries it loads, and Python.

The stand-in images (`standins`) carry this host's bash and Python rather than ones pulled
from a registry: each file goes to the path it has here, with the libraries and loader `ldd`
names, so the program runs in the image as it runs on the host. Files are hard-linked into
the image's root where possible (the root is only read, to make an archive of it).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

DEBIAN_PYTHON = Path("/usr/bin/python3")
# Parts of a standard library that scripts in CI do not use, some with large libraries (dbm:
# Berkeley DB, nis: Kerberos, curses, readline: a terminal), left out to keep the image small.
PYTHON_SKIP = (
    r"(test|tests|idlelib|tkinter|turtledemo|ensurepip|lib2to3|pydoc_data|site-packages"
    r"|dist-packages|config-[\d.]+.*|__pycache__"
    r"|(_test|_xxtest|xxlimited|_ctypes_test|_dbm|_gdbm|nis|_curses|readline|ossaudiodev)\S*\.so)"
)
# Run by the image's interpreter (its bytecode): the standard library's modules as bytecode
# in one zip file, which Python reads first on its path (`lib/python3X.zip`). One file instead
# of a thousand makes the image quicker to make and each container quicker to create (podman's
# vfs storage copies the image per container). The host's cached bytecode is used as it is;
# a module without one is compiled in memory; nothing is written next to the host's library.
_ZIP_STDLIB = """
import importlib.util, marshal, os, re, sys, zipfile
stdlib, out, skip = sys.argv[1], sys.argv[2], re.compile(sys.argv[3])
with zipfile.ZipFile(out, "w") as archive:
    for folder, dirs, files in os.walk(stdlib):
        dirs[:] = sorted(
            d for d in dirs
            if not skip.fullmatch(d) and os.path.exists(os.path.join(folder, d, "__init__.py"))
        )
        for name in sorted(f for f in files if f.endswith(".py") and not skip.fullmatch(f)):
            path = os.path.join(folder, name)
            cached = importlib.util.cache_from_source(path)
            if os.path.exists(cached):
                with open(cached, "rb") as file:
                    data = file.read()
            else:
                with open(path, "rb") as file:
                    code = compile(file.read(), path, "exec", dont_inherit=True)
                data = importlib.util.MAGIC_NUMBER + bytes(12) + marshal.dumps(code)
            inside = os.path.relpath(path, stdlib)[:-3] + ".pyc"
            archive.writestr(inside, data)
"""


def copy_with_libraries(root: Path, files: dict[str, Path]) -> None:
    """Put host `files` (image path -> host path) under `root`, and the shared libraries and
    loader the ELF ones need (per `ldd`) at the paths the host has them."""
    for target, source in files.items():
        _copy(source, root / target.lstrip("/"))
    elves = [root / target.lstrip("/") for target in files if _is_elf(files[target])]
    copy_libraries(root, elves)


def copy_libraries(root: Path, elves: list[Path]) -> None:
    """The libraries and loader `elves` need, under `root` at the host's paths."""
    if not elves:
        return
    listed = subprocess.run(
        ["ldd", *map(str, elves)], capture_output=True, text=True, check=False
    ).stdout
    missing = [line.strip() for line in listed.splitlines() if "not found" in line]
    if missing:
        raise RuntimeError(f"ldd cannot find libraries of a stand-in: {missing}")
    for library in set(re.findall(r"(/\S+) \(0x[0-9a-f]+\)", listed)):
        _copy(Path(library).resolve(), root / library.lstrip("/"))


def _copy(source: Path, target: Path) -> None:
    if not target.exists():  # a library two programs need
        target.parent.mkdir(parents=True, exist_ok=True)
        _link_or_copy(source, target)


def _link_or_copy(source: str | Path, target: str | Path) -> None:
    """A hard link (ten times quicker than a copy), or a copy across file systems."""
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def _is_elf(path: Path) -> bool:
    with path.open("rb") as file:
        return file.read(4) == b"\x7fELF"


def python_layout() -> tuple[Path, Path, Path]:
    """The interpreter, its standard library and the zip file its path reads first: Debian's
    /usr/bin/python3 when present (a system build, its library in /usr/lib), else the one
    running the tests."""
    interpreter = DEBIAN_PYTHON if DEBIAN_PYTHON.exists() else Path(sys.executable)
    probe = (
        "import json, sys, sysconfig; print(json.dumps([sysconfig.get_paths()['stdlib'],"
        " [p for p in sys.path if p.endswith('.zip')][0]]))"
    )
    answer = subprocess.run(
        [str(interpreter), "-I", "-c", probe], capture_output=True, text=True, check=True
    )
    stdlib, zipped = json.loads(answer.stdout)
    return interpreter.resolve(), Path(stdlib), Path(zipped)


def copy_python(root: Path) -> None:
    """The host's Python at its own paths, `python` and `python3` in /usr/local/bin (as in
    the python images): its standard library as bytecode in a zip file (less tests and GUI
    parts; `os.py` stays, where Python looks for its library), its extension modules, and
    the libraries all of them load."""
    interpreter, stdlib, zipped = python_layout()
    inside = root / str(stdlib).lstrip("/")
    inside.mkdir(parents=True)
    zip_file = root / str(zipped).lstrip("/")
    args = [str(interpreter), "-I", "-c", _ZIP_STDLIB, str(stdlib), str(zip_file), PYTHON_SKIP]
    subprocess.run(args, check=True)
    _copy(stdlib / "os.py", inside / "os.py")
    skip = re.compile(PYTHON_SKIP)
    shutil.copytree(
        stdlib / "lib-dynload",
        inside / "lib-dynload",
        ignore=lambda _, names: [n for n in names if skip.fullmatch(n)],
        copy_function=_link_or_copy,
    )
    copy_with_libraries(root, {str(interpreter): interpreter})
    copy_libraries(root, sorted((inside / "lib-dynload").glob("*.so")))
    bin_dir = root / "usr/local/bin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    for name in ("python", "python3"):
        (bin_dir / name).symlink_to(interpreter)
