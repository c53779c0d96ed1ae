"""The stand-in images do what the upstream examples ask of the real ones.

Each command line here is one the examples run (or the real image's documented behaviour), and
the expected output and exit code are the real image's: argosay's from its upstream script
(tests/data/images/README.md), the others from the programs they carry.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml

from foredeck.pipeline.collector import COLLECT_IMAGE
from tests.kit import standins
from tests.kit.containers import Store
from tests.kit.standins import (
    NOT_STOOD_IN,
    docker_reference,
    standin_for,
    tag_standins,
)
from tests.pipeline.upstream.catalog import examples
from tests.pipeline.upstream.reasons import _containers


def run(store: Store, *args: str) -> subprocess.CompletedProcess[str]:
    return store.podman("run", "--rm", *store.run_args, *args, check=False)


def test_every_image_an_example_runs_is_stood_in_or_explained() -> None:
    named = {
        str(container["image"])
        for example in examples()
        if example.out_of_scope is None
        for path in example.files
        for doc in yaml.safe_load_all(path.read_text())
        for container in _containers(doc)
    }
    explained = {docker_reference(name) for name in NOT_STOOD_IN}
    lacking = [
        image
        for image in sorted(named)
        if standin_for(image) is None and docker_reference(image) not in explained
    ]
    assert lacking == []
    assert standin_for(COLLECT_IMAGE) is not None  # the image of foredeck's own steps
    assert standin_for("docker.io/library/python:alpine3.23") is standin_for("python:alpine3.23")


def test_names_are_read_as_docker_reads_them_and_a_missing_standin_says_why(
    tmp_path: Path,
) -> None:
    assert docker_reference("busybox") == "docker.io/library/busybox:latest"
    assert docker_reference("argoproj/argosay:v2") == "docker.io/argoproj/argosay:v2"
    assert docker_reference("mirror.gcr.io/bash") == "mirror.gcr.io/bash:latest"
    assert docker_reference("localhost:5000/a/b") == "localhost:5000/a/b:latest"
    nowhere = Store(root=tmp_path / "none", runroot=tmp_path / "none")  # never reached
    with pytest.raises(ValueError, match=r"nginx:1\.13: a web server"):
        tag_standins(nowhere, ["busybox", "nginx:1.13"])
    with pytest.raises(ValueError, match="pinned by digest"):
        tag_standins(nowhere, ["mirror.gcr.io/bash:5.1@sha256:" + "0" * 64])
    assert not (tmp_path / "none").exists()


def test_entrypoints_and_default_commands_are_upstream_ones(standin_store: Store) -> None:
    expected = {  # (Entrypoint, Cmd) of each real image
        "argoproj/argosay:v2": (["/argosay"], None),
        "mirror.gcr.io/bash": (["docker-entrypoint.sh"], ["bash"]),
        "python:alpine3.23": (None, ["python3"]),
        "mirror.gcr.io/ubuntu": (None, ["/bin/bash"]),
        "alpine:3.23": (None, ["sh"]),  # alpine's is /bin/sh: the same program
    }
    shown = standin_store.podman("image", "inspect", *expected).stdout
    configs = [image["Config"] for image in json.loads(shown)]
    got = [(config.get("Entrypoint"), config.get("Cmd")) for config in configs]
    assert got == list(expected.values())


def test_an_unchanged_standin_is_found_by_its_content_not_made_again(
    standin_store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(standins, "_MADE", {})  # as another process (an xdist worker) sees it

    def images() -> list[str]:
        listed = standin_store.podman("images", "--quiet", "--no-trunc", "--all").stdout
        return [image.removeprefix("sha256:") for image in listed.split()]

    made = images()
    again = tag_standins(standin_store, ["argoproj/argosay:v2"])
    assert again["docker.io/argoproj/argosay:v2"] in made
    assert images() == made


def test_argosay_says_writes_checks_and_exits_as_upstream(
    standin_store: Store, tmp_path: Path
) -> None:
    default = run(standin_store, "argoproj/argosay:v2")
    assert (default.returncode, default.stdout) == (0, "hello argo\n")
    assert run(standin_store, "argoproj/argosay:v2", "exit", "3").returncode == 3
    calls = [  # each through /argosay in one container, its exit code after its output
        "echo hi",
        "echo hello /out/sub/file",  # the folder is made; the file gets the text and a newline
        "cat /out/sub/file",
        "assert_contains /out/sub/file ell",  # the matching lines
        "assert_contains /out/sub/file nope",  # grep's 1
        "assert_contains /out/missing x",  # grep's 2
        "sleep 1s",
        "exit",
        "no-such-command",
    ]
    script = "".join(f'/argosay {call} 2>/dev/null; echo "rc=$?"\n' for call in calls)
    (tmp_path / "out").mkdir()
    mount = f"--volume={tmp_path / 'out'}:/out"
    done = run(standin_store, mount, "--entrypoint=/bin/sh", "argoproj/argosay:v2", "-c", script)
    assert done.stdout.split() == [
        *("hi", "rc=0", "rc=0", "hello", "rc=0", "hello", "rc=0"),
        *("rc=1", "rc=2", "rc=0", "rc=0", "rc=1"),
    ]
    assert (tmp_path / "out/sub/file").read_text() == "hello\n"


def test_python_runs_the_examples_scripts(standin_store: Store) -> None:
    coin = "import random; import sys; print('exiting with code 3'); sys.exit(3)"
    done = run(standin_store, "python:alpine3.23", "python", "-c", coin)
    assert (done.returncode, done.stdout, done.stderr) == (3, "exiting with code 3\n", "")
    modules = (
        "json os sys time random re subprocess hashlib ssl sqlite3 decimal ctypes uuid lzma bz2"
        " zlib asyncio datetime http.server urllib.request argparse csv pathlib"
    )
    script = f"import {', '.join(modules.split())}; print(json.dumps(sys.version_info[:2]))"
    # a script as an Argo `script` template runs it: a file given to `python` from `sh`
    shell = f"printf '%s\\n' '{script}' > /tmp/s.py && python3 /tmp/s.py && command -v python"
    done = run(standin_store, "python:3.8", "sh", "-c", shell)
    assert (done.stderr, done.stdout.splitlines()[1]) == ("", "/usr/local/bin/python")
    assert json.loads(done.stdout.splitlines()[0])[0] == 3


def test_shell_images_run_their_shells(standin_store: Store) -> None:
    # mirror.gcr.io/bash: its entrypoint runs a command as given, and bash for an option
    assert run(standin_store, "mirror.gcr.io/bash", "echo", "--url=xyz.com").stdout == (
        "--url=xyz.com\n"
    )
    major = run(standin_store, "mirror.gcr.io/bash", "-c", "echo ${BASH_VERSINFO[0]}")
    assert major.stdout == "5\n"
    # ubuntu: bash at /bin/bash; a Tekton script with `#!/usr/bin/env bash`
    script = "#!/usr/bin/env bash\nfor i in 1 2; do echo -n $i; done; [[ -d /tmp ]] && echo ok\n"
    shell = f"printf '%s' '{script}' > /tmp/s && chmod +x /tmp/s && /tmp/s && ls /bin/bash"
    done = run(standin_store, "mirror.gcr.io/ubuntu", "sh", "-c", shell)
    assert (done.returncode, done.stdout) == (0, "12ok\n/bin/bash\n")
    # alpine and busybox: busybox's sh and applets, no bash
    shell = "echo hi | tr a-z A-Z; command -v bash || echo no bash"
    done = run(standin_store, "alpine:3.23", "sh", "-c", shell)
    assert (done.returncode, done.stdout) == (0, "HI\nno bash\n")
