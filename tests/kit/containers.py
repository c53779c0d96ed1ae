"""Real container parts for tests: a private podman/buildah store, offline images, a registry.

Nothing is pulled: the base image is `FROM scratch` with the host's `busybox-static` (its applets
installed as links), built with buildah in a store private to the test session, so tests never
touch the machine's own images nor each other's. The registry is Debian's `docker-registry` on
127.0.0.1 with a free port, its data in a temporary folder.

CI sets `CONTAINER_TESTS_REQUIRED` (`.ci/run` installs the packages): a missing tool then fails
the test instead of skipping it.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import hashlib
import os
import secrets
import shutil
import socket
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

BUSYBOX = "/bin/busybox"
TOOLS = ("podman", "buildah", "runc")


def require_tools(*tools: str) -> None:
    """Skip (saying why) when a tool is missing, or fail in CI where it must be there."""
    missing = [tool for tool in tools if shutil.which(tool) is None]
    if not Path(BUSYBOX).exists():
        missing.append(BUSYBOX + " (busybox-static)")
    if not missing:
        return
    why = f"container tests need {', '.join(missing)} (Debian packages, see .ci/run)"
    if os.environ.get("CONTAINER_TESTS_REQUIRED"):
        pytest.fail(why)
    pytest.skip(why)


@dataclass(frozen=True)
class Store:
    """A private containers/storage: the global flags podman and buildah both take."""

    root: Path
    runroot: Path
    driver: str = "vfs"
    oci_runtime: str = "runc"
    run_args: tuple[str, ...] = field(
        default=(
            "--network=host",
            "--ulimit=nofile=4096:4096",
            "--ulimit=nproc=4096:4096",
        )
    )

    @property
    def global_args(self) -> list[str]:
        return [
            "--root",
            str(self.root),
            "--runroot",
            str(self.runroot),
            "--storage-driver",
            self.driver,
        ]

    def podman(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        argv = ["podman", *self.global_args, "--runtime", self.oci_runtime, *args]
        return subprocess.run(argv, capture_output=True, text=True, check=check, timeout=120)

    def buildah(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "BUILDAH_ISOLATION": "chroot"}
        argv = ["buildah", *self.global_args, *args]
        return subprocess.run(
            argv, capture_output=True, text=True, check=check, timeout=300, env=env
        )


def make_store(base: Path) -> Store:
    """A store under `base`. Its runroot is a short directory in the system's temp folder named
    for the store (podman refuses one longer than 50 characters, and pytest-xdist's paths are
    longer), so that the processes sharing a store share its runroot too."""
    root = base / "storage"
    digest = hashlib.sha256(str(root.resolve()).encode()).hexdigest()[:16]
    store = Store(root=root, runroot=Path(tempfile.gettempdir()) / f"fd-run-{digest}")
    store.root.mkdir(parents=True, exist_ok=True)
    store.runroot.mkdir(exist_ok=True)
    return store


BUSYBOX_BASE = "FROM scratch\nCOPY busybox-root/ /\nENV PATH=/usr/local/bin:/usr/bin:/bin\n"
"""The Containerfile of `build_busybox_image` before its `extra` lines."""


def build_busybox_image(store: Store, tag: str, context: Path, extra: str = "") -> str:
    """Build `tag` from scratch with busybox's applets in /bin; `extra` is appended to the
    Containerfile (more COPY/ENV/ENTRYPOINT lines, files already in `context`). The image id.

    The root (busybox, a link per applet, /tmp for everyone, /workspace, /root) is laid out
    in the context and copied, not made by RUN steps: no container runs, the build is quick."""
    busybox_root(context / "busybox-root")
    return build_image(store, tag, context, BUSYBOX_BASE + extra)


def busybox_root(root: Path) -> None:
    """Lay out the busybox image's root file system in `root`: every applet in /bin and at
    its usual path too (`/usr/bin/env`, which `#!/usr/bin/env bash` scripts need)."""
    (root / "bin").mkdir(parents=True, exist_ok=True)
    shutil.copy2(BUSYBOX, root / "bin" / "busybox")
    listed = subprocess.run([BUSYBOX, "--list-full"], capture_output=True, text=True, check=True)
    for path in listed.stdout.split():
        for link in {root / "bin" / Path(path).name, root / path}:
            if not os.path.lexists(link):
                link.parent.mkdir(parents=True, exist_ok=True)
                link.symlink_to("/bin/busybox")
    # the folders an Alpine or Debian base has, which examples write into (`/mnt/out`)
    for folder in ("tmp", "workspace", "root", "mnt", "opt", "srv", "home", "var/tmp", "run"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    (root / "tmp").chmod(0o1777)


def build_image(store: Store, tag: str, context: Path, containerfile: str) -> str:
    """Build `tag` from `containerfile` (written into `context`) without layers. The image id."""
    (context / "Containerfile").write_text(containerfile)
    done = store.buildah(
        "bud", "--layers=false", "-q", "-t", tag, "-f", "Containerfile", str(context)
    )
    return done.stdout.strip().splitlines()[-1]


def import_image(store: Store, tag: str, root: Path, changes: Iterable[str] = ()) -> str:
    """Make `tag` of one layer holding the tree `root` (owned by root), configured by
    Containerfile lines `changes` (CMD, ENTRYPOINT, ENV, WORKDIR). The image id.

    `podman import` of a tar of the tree costs about half the CPU of a buildah build of it
    (no build container, one copy of the files less)."""
    archive = root.with_name(root.name + ".tar")
    with tarfile.open(archive, "w") as tar:
        tar.add(root, arcname=".", filter=_owned_by_root)
    try:
        flags = [f"--change={change}" for change in changes]
        done = store.podman("import", "--quiet", *flags, str(archive), tag)
    finally:
        archive.unlink()
    return done.stdout.strip().splitlines()[-1].removeprefix("sha256:")  # as buildah gives it


def _owned_by_root(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    return info


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Registry:
    """Debian's docker-registry on 127.0.0.1 (plain HTTP: clients pass `--tls-verify=false`)."""

    host: str
    process: subprocess.Popen[bytes]
    data: Path

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def bcrypt_hash(password: str) -> str:
    """A bcrypt hash for an htpasswd file, from the C library's `crypt` (libxcrypt)."""
    name = ctypes.util.find_library("crypt")
    if name is None:
        pytest.skip("an htpasswd registry needs libcrypt (bcrypt hashes)")
    crypt = ctypes.CDLL(name).crypt
    crypt.restype = ctypes.c_char_p
    crypt.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
    salt = b"$2y$05$" + secrets.token_urlsafe(16)[:22].replace("-", ".").replace("_", "/").encode()
    hashed = crypt(password.encode(), salt)
    if not hashed or not hashed.startswith(b"$2y$"):
        pytest.skip("this libcrypt has no bcrypt")
    return str(hashed.decode())


def start_registry(base: Path, users: dict[str, str] | None = None) -> Registry:
    """A registry; with `users` (name -> password) it asks for basic auth (htpasswd)."""
    if shutil.which("docker-registry") is None:
        why = "registry tests need docker-registry (Debian package, see .ci/run)"
        if os.environ.get("CONTAINER_TESTS_REQUIRED"):
            pytest.fail(why)
        pytest.skip(why)
    base.mkdir(parents=True, exist_ok=True)
    port = _free_port()
    config = base / "config.yml"
    config.write_text(
        "version: 0.1\n"
        "log:\n  level: warn\n"
        f"storage:\n  filesystem:\n    rootdirectory: {base / 'data'}\n"
        f"http:\n  addr: 127.0.0.1:{port}\n"
    )
    if users:
        htpasswd = base / "htpasswd"
        htpasswd.write_text("".join(f"{u}:{bcrypt_hash(p)}\n" for u, p in users.items()))
        with config.open("a") as out:
            out.write(f"auth:\n  htpasswd:\n    realm: foredeck-tests\n    path: {htpasswd}\n")
    log = (base / "registry.log").open("wb")
    process = subprocess.Popen(["docker-registry", "serve", str(config)], stdout=log, stderr=log)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return Registry(host=f"127.0.0.1:{port}", process=process, data=base / "data")
        except OSError:
            if process.poll() is not None:
                break
            time.sleep(0.05)
    process.kill()
    raise RuntimeError(f"docker-registry did not start: {(base / 'registry.log').read_text()}")
