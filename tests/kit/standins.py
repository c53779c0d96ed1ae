"""Stand-ins for the images the upstream examples run, built offline and tagged with their names.

Nothing can be pulled here, so each image an upstream example names (`argoproj/argosay:v2`,
`python:alpine3.23`, `mirror.gcr.io/bash`, ...) is replaced by a small one built from this
host's own parts that does what the examples ask of the real one: the same entrypoint and
default command, the same programs at the same paths. Every stand-in starts from the busybox
image of `containers` (the real alpine, busybox and argosay images are busybox too); the bash,
ubuntu and python ones add the host's bash or Python with the shared libraries `ldd` names.
`tests/data/images/README.md` gives the sources and where a stand-in differs.

`tag_standins` builds each image once per store (content-addressed: the tag carries a digest
of its Containerfile and context, so an unchanged one is never rebuilt) and tags it with the
upstream names as Docker spells them in full (`busybox` -> `docker.io/library/busybox:latest`),
which is what podman resolves a short name to, so `podman run busybox ...` finds it locally.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.kit.containers import (
    BUSYBOX_BASE,
    TOOLS,
    Store,
    build_image,
    busybox_root,
    make_store,
    require_tools,
)

IMAGES = Path(__file__).resolve().parents[1] / "data" / "images"
DOCKER_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
REPOSITORY = "localhost/foredeck-standin"
DEBIAN_PYTHON = Path("/usr/bin/python3")
# Parts of a standard library that scripts in CI do not use, some with large libraries (dbm:
# Berkeley DB, nis: Kerberos, curses, readline: a terminal), left out to keep the image small.
_PYTHON_SKIP = re.compile(
    r"(test|tests|idlelib|tkinter|turtledemo|ensurepip|lib2to3|pydoc_data|site-packages"
    r"|dist-packages|config-[\d.]+.*"
    r"|(_test|_xxtest|xxlimited|_ctypes_test|_dbm|_gdbm|nis|_curses|readline|ossaudiodev)\S*\.so)"
)


@dataclass(frozen=True)
class Standin:
    """One image: `tags` are the upstream names it answers to; `containerfile` follows the
    FROM line (its base: another stand-in, or busybox from scratch); `fill` adds host files
    under `rootfs/` of the build context, next to the files of `tests/data/images/<name>/`."""

    name: str
    tags: tuple[str, ...]
    containerfile: str
    base: str | None = "busybox"
    fill: Callable[[Path], None] | None = None


def _bash_at(*paths: str) -> Callable[[Path], None]:
    def fill(rootfs: Path) -> None:
        copy_with_libraries(rootfs, {path: _which("bash") for path in paths})

    return fill


def _which(program: str) -> Path:
    found = shutil.which(program)
    if found is None:
        raise RuntimeError(f"stand-in images need {program} on this host")
    return Path(found).resolve()


STANDINS: tuple[Standin, ...] = (
    Standin(
        "busybox",
        ("busybox", "mirror.gcr.io/busybox", "alpine", "alpine:3.23", "mirror.gcr.io/alpine"),
        f'ENV PATH={DOCKER_PATH}\nCMD ["sh"]\n',
        base=None,
    ),
    Standin(
        "argosay",
        ("argoproj/argosay:v2",),
        'COPY argosay /argosay\nENTRYPOINT ["/argosay"]\n',
    ),
    Standin(
        "bash",
        ("mirror.gcr.io/bash", "bash"),
        "COPY rootfs/ /\nCOPY docker-entrypoint.sh /usr/local/bin/\n"
        'ENTRYPOINT ["docker-entrypoint.sh"]\nCMD ["bash"]\n',
        fill=_bash_at("/usr/local/bin/bash"),
    ),
    Standin(
        "ubuntu",
        ("ubuntu", "mirror.gcr.io/ubuntu", "debian", "debian:latest"),
        'COPY rootfs/ /\nCMD ["/bin/bash"]\n',
        fill=_bash_at("/usr/bin/bash", "/bin/bash"),
    ),
    Standin(
        "python",
        (
            "python:alpine3.23",
            "python:alpine3.6",
            "python:3.8",
            "python",
            "mirror.gcr.io/library/python",
        ),
        'COPY rootfs/ /\nENV LANG=C.UTF-8\nCMD ["python3"]\n',
        fill=lambda rootfs: copy_python(rootfs),
    ),
)
BY_NAME = {standin.name: standin for standin in STANDINS}

NOT_STOOD_IN: dict[str, str] = {
    "nginx:1.13": "a web server the example reaches over the pod network (a sidecar)",
    "influxdb:1.2": "a database server the example reaches over the pod network (a sidecar)",
    "curlimages/curl:latest": "curl only reaches the network (sidecar and daemon examples)",
}
"""Images in-scope examples name that get no stand-in, and why."""


def docker_reference(name: str) -> str:
    """`name` in full as Docker reads it: registry (docker.io by default, `library/` for an
    official image) and tag (`latest` by default). A digest cannot be a local tag: refused."""
    if "@" in name:
        raise ValueError(f"{name}: an image pinned by digest cannot be stood in by a local tag")
    first, _, rest = name.partition("/")
    if not rest or not ("." in first or ":" in first or first == "localhost"):
        first, rest = "docker.io", name if "/" in name else f"library/{name}"
    if ":" not in rest.rsplit("/", 1)[-1]:
        rest += ":latest"
    return f"{first}/{rest}"


def standin_for(image: str) -> Standin | None:
    """The stand-in that answers to `image` (any spelling of its name), if any."""
    wanted = docker_reference(image)
    for standin in STANDINS:
        if wanted in {docker_reference(tag) for tag in standin.tags}:
            return standin
    return None


def tag_standins(store: Store, images: Iterable[str] | None = None) -> dict[str, str]:
    """Build the stand-ins of `images` (default: all) in `store`, each once, and tag each with
    its upstream names. Upstream name (in full) -> image id. An image without a stand-in is
    a ValueError saying why, before anything is built."""
    chosen = _choose(images)
    with _store_lock(store), ThreadPoolExecutor(max_workers=2) as pool:
        ids: dict[str, str] = {}
        while len(ids) < len(chosen):  # in waves: a stand-in after its base
            ready = [s for s in chosen if s.name not in ids and (not s.base or s.base in ids)]
            built = pool.map(lambda standin: _built(store, standin, ids), ready)
            ids.update(zip([s.name for s in ready], built, strict=True))
        tagged: dict[str, str] = {}
        for standin in chosen:
            names = [docker_reference(tag) for tag in standin.tags]
            store.podman("tag", ids[standin.name], *names)
            tagged.update(dict.fromkeys(names, ids[standin.name]))
    return tagged


def _choose(images: Iterable[str] | None) -> list[Standin]:
    if images is None:
        return list(STANDINS)
    chosen: set[str] = set()
    for image in images:
        standin = standin_for(image)
        if standin is None:
            known = {docker_reference(name): why for name, why in NOT_STOOD_IN.items()}
            why = known.get(docker_reference(image), "none is defined (tests/kit/standins.py)")
            raise ValueError(f"no stand-in image for {image}: {why}")
        while standin is not None:  # and its bases
            chosen.add(standin.name)
            standin = BY_NAME[standin.base] if standin.base else None
    return [standin for standin in STANDINS if standin.name in chosen]


_BUILT: dict[tuple[str, str], str] = {}
"""(store root, stand-in name) -> image id, for what this process has built or found."""


def _built(store: Store, standin: Standin, ids: dict[str, str]) -> str:
    key = (str(store.root), standin.name)
    if key not in _BUILT:
        _BUILT[key] = _build(store, standin, ids[standin.base] if standin.base else None)
    return _BUILT[key]


def _build(store: Store, standin: Standin, base: str | None) -> str:
    """The image id: found in `store` by its content tag, or built."""
    with tempfile.TemporaryDirectory(dir=store.root.parent, prefix="standin-") as tmp:
        context = Path(tmp) / standin.name
        own = IMAGES / standin.name
        if own.is_dir():
            shutil.copytree(own, context, symlinks=True)
        context.mkdir(exist_ok=True)
        if standin.fill is not None:
            standin.fill(context / "rootfs")
        if base is None:
            busybox_root(context / "busybox-root")
        containerfile = (f"FROM {base}\n" if base else BUSYBOX_BASE) + standin.containerfile
        tag = f"{REPOSITORY}/{standin.name}:{_digest(context, containerfile)}"
        found = store.podman("image", "inspect", "--format", "{{.Id}}", tag, check=False)
        if found.returncode == 0:
            return found.stdout.strip()
        return build_image(store, tag, context, containerfile)


def _digest(context: Path, containerfile: str) -> str:
    """What a build depends on: the Containerfile and every file of the context (path, mode,
    content or link target); a base is named by its image id in the Containerfile."""
    sha = hashlib.sha256(containerfile.encode())
    for path in sorted(context.rglob("*")):
        info = path.lstat()
        sha.update(f"\0{path.relative_to(context)}\0{info.st_mode:o}\0".encode())
        if path.is_symlink():
            sha.update(os.readlink(path).encode())
        elif path.is_file():
            sha.update(path.read_bytes())
    return sha.hexdigest()[:16]


@contextmanager
def _store_lock(store: Store) -> Iterator[None]:
    """One builder at a time per store (pytest-xdist workers share one)."""
    with (store.root.parent / "standins.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


# ---- host programs in an image


def copy_with_libraries(rootfs: Path, files: dict[str, Path]) -> None:
    """Copy host `files` (image path -> host path) under `rootfs`, and the shared libraries
    and loader the ELF ones need (per `ldd`) at the paths the host has them."""
    for target, source in files.items():
        _copy(source, rootfs / target.lstrip("/"))
    elves = [rootfs / target.lstrip("/") for target in files if _is_elf(files[target])]
    for library in _libraries(elves):
        _copy(Path(library).resolve(), rootfs / library.lstrip("/"))


def _copy(source: Path, target: Path) -> None:
    if not target.exists():  # a library two programs need
        target.parent.mkdir(parents=True, exist_ok=True)
        _link_or_copy(source, target)


def _link_or_copy(source: str | Path, target: str | Path) -> None:
    """A hard link (the build only reads its context: ten times quicker than copying), or a
    copy across file systems."""
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def _is_elf(path: Path) -> bool:
    with path.open("rb") as file:
        return file.read(4) == b"\x7fELF"


def _libraries(elves: list[Path]) -> set[str]:
    if not elves:
        return set()
    listed = subprocess.run(
        ["ldd", *map(str, elves)], capture_output=True, text=True, check=False
    ).stdout
    missing = [line.strip() for line in listed.splitlines() if "not found" in line]
    if missing:
        raise RuntimeError(f"ldd cannot find libraries of a stand-in: {missing}")
    return set(re.findall(r"(/\S+) \(0x[0-9a-f]+\)", listed))


def python_layout() -> tuple[Path, Path]:
    """The interpreter and standard library to copy: Debian's /usr/bin/python3 when present
    (a system build, its library in /usr/lib), else the one running the tests."""
    interpreter = DEBIAN_PYTHON if DEBIAN_PYTHON.exists() else Path(sys.executable)
    probe = "import json, sys, sysconfig; print(json.dumps(sysconfig.get_paths()['stdlib']))"
    stdlib = json.loads(
        subprocess.run(
            [str(interpreter), "-I", "-c", probe], capture_output=True, text=True, check=True
        ).stdout
    )
    return interpreter.resolve(), Path(stdlib)


def copy_python(rootfs: Path) -> None:
    """The host's Python at its own paths, `python` and `python3` in /usr/local/bin (as in
    the python images), its standard library less tests and GUI parts, and its libraries."""
    interpreter, stdlib = python_layout()
    shutil.copytree(
        stdlib,
        rootfs / str(stdlib).lstrip("/"),
        symlinks=True,
        ignore=lambda _, names: [n for n in names if _PYTHON_SKIP.fullmatch(n)],
        copy_function=_link_or_copy,
    )
    copy_with_libraries(rootfs, {str(interpreter): interpreter})
    dynload = sorted((rootfs / str(stdlib).lstrip("/") / "lib-dynload").glob("*.so"))
    for library in _libraries(dynload):
        _copy(Path(library).resolve(), rootfs / library.lstrip("/"))
    bin_dir = rootfs / "usr/local/bin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    for name in ("python", "python3"):
        (bin_dir / name).symlink_to(interpreter)


# ---- the fixture


@pytest.fixture(scope="session")
def standin_store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    """A private store with every stand-in tagged, shared by the session's xdist workers."""
    require_tools(*TOOLS)
    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent  # the session's folder, above each worker's own
    store = make_store(base / "standins")
    tag_standins(store)
    return store
