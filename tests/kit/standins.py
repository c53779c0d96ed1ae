"""Stand-ins for the images the upstream examples run, built offline and tagged with their names.

Nothing can be pulled here, so each image an upstream example names (`argoproj/argosay:v2`,
`python:alpine3.23`, `mirror.gcr.io/bash`, ...) is replaced by a small one built from this
host's own parts that does what the examples ask of the real one: the same entrypoint and
default command, the same programs at the same paths. Every stand-in is the busybox root of
`containers` (the real alpine, busybox and argosay images are busybox too), the files of
`tests/data/images/<name>/` laid over it, and for bash, ubuntu and python the host's bash or
Python with the shared libraries `ldd` names. `tests/data/images/README.md` gives the sources
and where a stand-in differs.

`tag_standins` makes each image once per store, as one layer imported with `podman import`
(half the CPU of a buildah build of the same tree), content-addressed: its tag carries a
digest of its files and configuration, so an unchanged one is never made again. It then tags
it with the upstream names as Docker spells them in full (`busybox` ->
`docker.io/library/busybox:latest`), which is what podman resolves a short name to, so that
`podman run busybox ...` finds it locally.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from foredeck.pipeline.collector import COLLECT_IMAGE
from tests.kit.containers import (
    TOOLS,
    Store,
    busybox_root,
    import_image,
    make_store,
    require_tools,
)
from tests.kit.hostfiles import copy_python, copy_with_libraries

IMAGES = Path(__file__).resolve().parents[1] / "data" / "images"
DOCKER_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
REPOSITORY = "localhost/foredeck-standin"


@dataclass(frozen=True)
class Standin:
    """One image: `tags` are the upstream names it answers to, `config` its Containerfile
    lines (ENTRYPOINT, CMD, ENV), `fill` puts host files in its root (a folder) after the
    busybox root and `tests/data/images/<name>/`. `lacks` names what the real image does that
    this one cannot: a pattern of shell text that needs it, and what it is."""

    name: str
    tags: tuple[str, ...]
    config: tuple[str, ...]
    fill: Callable[[Path], None] | None = None
    lacks: tuple[tuple[re.Pattern[str], str], ...] = ()


def _bash_at(*paths: str) -> Callable[[Path], None]:
    def fill(root: Path) -> None:
        copy_with_libraries(root, {path: _which("bash") for path in paths})

    return fill


def _which(program: str) -> Path:
    found = shutil.which(program)
    if found is None:
        raise RuntimeError(f"stand-in images need {program} on this host")
    return Path(found).resolve()


_PATH = f"ENV PATH={DOCKER_PATH}"
STANDINS: tuple[Standin, ...] = (
    Standin(
        "busybox",
        (
            *("busybox", "mirror.gcr.io/busybox", "alpine", "alpine:3.23", "mirror.gcr.io/alpine"),
            COLLECT_IMAGE,  # foredeck's own steps (copying outputs and artifacts)
        ),
        (_PATH, 'CMD ["sh"]'),
        lacks=(
            # alpine's busybox has NC_110_COMPAT (`-lk` keeps listening); Debian's has not
            (re.compile(r"(?:^|[\s;&|])nc\s(?:[^\n;&|]*\s)?-[a-z]*k"), "nc -k of alpine's busybox"),
        ),
    ),
    Standin("argosay", ("argoproj/argosay:v2",), (_PATH, 'ENTRYPOINT ["/argosay"]')),
    Standin(
        "bash",
        ("mirror.gcr.io/bash", "bash"),
        (_PATH, 'ENTRYPOINT ["docker-entrypoint.sh"]', 'CMD ["bash"]'),
        fill=_bash_at("/usr/local/bin/bash"),
    ),
    Standin(
        "ubuntu",
        ("ubuntu", "mirror.gcr.io/ubuntu", "debian", "debian:latest"),
        (_PATH, 'CMD ["/bin/bash"]'),
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
        (_PATH, "ENV LANG=C.UTF-8", 'CMD ["python3"]'),
        fill=lambda root: copy_python(root),
    ),
)

NOT_STOOD_IN: dict[str, str] = {
    "nginx:1.13": "a web server the example reaches over the pod network (a sidecar)",
    "influxdb:1.2": "a database server the example reaches over the pod network (a sidecar)",
    "curlimages/curl:latest": "curl only reaches the network (sidecar and daemon examples)",
    "mirror.gcr.io/node:lts-alpine3.20": "its one example runs `node` scripts, which this host's"
    " Node.js (installed for the login's tests) runs: it matches on the host",
}
"""Images in-scope examples name that get no stand-in, and why."""


def standin_gaps(image: str, text: str) -> list[str]:
    """What `text`, run in `image`'s stand-in, asks of the real image that the stand-in lacks."""
    standin = standin_for(image)
    lacks = standin.lacks if standin is not None else ()
    return [what for pattern, what in lacks if pattern.search(text)]


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
    """Make the stand-ins of `images` (default: all) in `store`, each once, and tag each with
    its upstream names. Upstream name (in full) -> image id. An image without a stand-in is
    a ValueError saying why, before anything is made."""
    chosen = _choose(images)
    with _store_lock(store), ThreadPoolExecutor(max_workers=2) as pool:
        ids = list(pool.map(lambda standin: _made(store, standin), chosen))
        tagged: dict[str, str] = {}
        for standin, image in zip(chosen, ids, strict=True):
            names = [docker_reference(tag) for tag in standin.tags]
            store.podman("tag", image, *names)
            tagged.update(dict.fromkeys(names, image))
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
        chosen.add(standin.name)
    return [standin for standin in STANDINS if standin.name in chosen]


_MADE: dict[tuple[str, str], str] = {}
"""(store root, stand-in name) -> image id, for what this process has made or found."""


def _made(store: Store, standin: Standin) -> str:
    key = (str(store.root), standin.name)
    if key not in _MADE:
        _MADE[key] = _make(store, standin)
    return _MADE[key]


def _make(store: Store, standin: Standin) -> str:
    """The image id: found in `store` by its content tag, or imported."""
    with tempfile.TemporaryDirectory(dir=store.root.parent, prefix="standin-") as tmp:
        root = Path(tmp) / "root"
        busybox_root(root)
        own = IMAGES / standin.name
        if own.is_dir():
            shutil.copytree(own, root, symlinks=True, dirs_exist_ok=True)
        if standin.fill is not None:
            standin.fill(root)
        tag = f"{REPOSITORY}/{standin.name}:{_digest(root, standin.config)}"
        found = store.podman("image", "inspect", "--format", "{{.Id}}", tag, check=False)
        if found.returncode == 0:
            return found.stdout.strip()
        return import_image(store, tag, root, standin.config)


def _digest(root: Path, config: tuple[str, ...]) -> str:
    """What an image is made of: its configuration and every file (path, mode, content or
    link target)."""
    sha = hashlib.sha256("\n".join(config).encode())
    for path in sorted(root.rglob("*")):
        info = path.lstat()
        sha.update(f"\0{path.relative_to(root)}\0{info.st_mode:o}\0".encode())
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


def main() -> None:
    """`python -m tests.kit.standins`: make every stand-in in a new store and say how long."""
    import resource
    import time

    def cpu() -> float:
        return sum(
            usage.ru_utime + usage.ru_stime
            for usage in map(resource.getrusage, (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
        )

    with tempfile.TemporaryDirectory(prefix="foredeck-standins-") as tmp:
        store = make_store(Path(tmp))
        started, used = time.monotonic(), cpu()
        tagged = tag_standins(store)
        wall, used = time.monotonic() - started, cpu() - used
        print(f"{len(STANDINS)} stand-ins, {len(tagged)} names: {wall:.1f} s ({used:.1f} s CPU)")


if __name__ == "__main__":
    main()
