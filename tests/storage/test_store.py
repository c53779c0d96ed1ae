"""The `ArtifactStore` contract, run against every back end (see conftest)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from foredeck.storage import ArtifactStore, Entry, open_store
from foredeck.storage.backend import MAX_RANGE
from foredeck.storage.local import LocalStore

TRAVERSALS = [
    "../escape.txt",
    "a/../../escape.txt",
    "a/..",
    "/etc/passwd",
    "a\\..\\b",
    "a\x00b",
    "a//b",
    "./a",
    "a/./b",
    "",
    "line\nbreak",
    "x" * 1025,
]


def test_is_an_artifact_store(store: ArtifactStore) -> None:
    assert isinstance(store, ArtifactStore)


def test_write_and_read(store: ArtifactStore) -> None:
    store.write_bytes("logs/job/1/started.json", b'{"timestamp": 1}')
    store.write_text("logs/job/1/build-log.txt", "héllo\n")
    assert store.read_bytes("logs/job/1/started.json") == b'{"timestamp": 1}'
    assert store.read_bytes("logs/job/1/build-log.txt") == "héllo\n".encode()
    assert store.size("logs/job/1/build-log.txt") == len("héllo\n".encode())
    assert store.exists("logs/job/1/started.json")
    assert not store.exists("logs/job/1/missing.txt")
    assert not store.exists("logs/job/1")  # a directory is not an object
    store.write_text("logs/job/1/build-log.txt", "replaced")
    assert store.read_bytes("logs/job/1/build-log.txt") == b"replaced"


def test_missing_objects_raise(store: ArtifactStore) -> None:
    with pytest.raises(FileNotFoundError):
        store.read_bytes("nope.txt")
    with pytest.raises(FileNotFoundError):
        store.size("nope.txt")
    with pytest.raises(FileNotFoundError):
        store.read_range("nope.txt", 0, 1)


def test_open_write_streams(store: ArtifactStore) -> None:
    with store.open_write("logs/job/2/build-log.txt") as handle:
        for i in range(1000):
            handle.write(f"line {i}\n".encode())
    data = store.read_bytes("logs/job/2/build-log.txt")
    assert data.startswith(b"line 0\n") and data.endswith(b"line 999\n")
    assert data.count(b"\n") == 1000


def test_failed_open_write_keeps_previous_object(store: ArtifactStore) -> None:
    store.write_text("log.txt", "old")
    with pytest.raises(RuntimeError), store.open_write("log.txt") as handle:
        handle.write(b"partial")
        raise RuntimeError("writer crashed")
    assert store.read_bytes("log.txt") == b"old"
    assert [e.path for e in store.list()] == ["log.txt"]


def test_read_range(store: ArtifactStore) -> None:
    store.write_bytes("log", bytes(range(256)) * 4)
    assert store.read_range("log", 0, 4) == b"\x00\x01\x02\x03"
    assert store.read_range("log", 1020, 100) == bytes([252, 253, 254, 255])
    assert store.read_range("log", 1024, 10) == b""
    assert store.read_range("log", 5000, 10) == b""
    assert store.read_range("log", 10, 0) == b""
    for start, length in [(-1, 5), (0, -5)]:
        with pytest.raises(ValueError, match="must not be negative"):
            store.read_range("log", start, length)
    with pytest.raises(ValueError, match="limit"):
        store.read_range("log", 0, MAX_RANGE + 1)


def test_list(store: ArtifactStore) -> None:
    store.write_text("logs/job/1/started.json", "{}")
    store.write_text("logs/job/1/artifacts/junit.xml", "<x/>")
    store.write_text("logs/job/2/started.json", "{}")
    store.write_text("logs/job/latest-build.txt", "2")

    assert store.list("logs/job") == [
        Entry("logs/job/1", 0, True),
        Entry("logs/job/2", 0, True),
        Entry("logs/job/latest-build.txt", 1, False),
    ]
    assert store.list("logs/job/") == store.list("logs/job")
    assert store.list("") == [Entry("logs", 0, True)]
    assert store.list("logs/job/1", recursive=True) == [
        Entry("logs/job/1/artifacts/junit.xml", 4, False),
        Entry("logs/job/1/started.json", 2, False),
    ]
    assert store.list("logs/none") == []
    assert store.list("logs/job/latest-build.txt") == []


def test_upload_dir_and_file(store: ArtifactStore, tmp_path: Path) -> None:
    out = tmp_path / "out"
    (out / "artifacts" / "deep").mkdir(parents=True)
    (out / "build-log.txt").write_text("log")
    (out / "artifacts" / "deep" / "x.json").write_text("{}")
    (out / "artifacts" / "report #1.html").write_text("<p>")

    written = store.upload_dir(out, "logs/job/3")

    assert written == [
        "logs/job/3/artifacts/deep/x.json",
        "logs/job/3/artifacts/report #1.html",
        "logs/job/3/build-log.txt",
    ]
    assert store.read_bytes("logs/job/3/artifacts/report #1.html") == b"<p>"
    store.upload_file(out / "build-log.txt", "copy.txt")
    assert store.read_bytes("copy.txt") == b"log"


def test_upload_dir_skips_symlinks(store: ArtifactStore, tmp_path: Path) -> None:
    secret = tmp_path / "secret-token"
    secret.write_text("s3cr3t")
    out = tmp_path / "out"
    out.mkdir()
    (out / "ok.txt").write_text("ok")
    (out / "leak.txt").symlink_to(secret)
    (out / "leakdir").symlink_to(tmp_path)

    assert store.upload_dir(out, "p") == ["p/ok.txt"]
    assert [e.path for e in store.list("p", recursive=True)] == ["p/ok.txt"]


def test_upload_dir_with_unstorable_name_writes_nothing(
    store: ArtifactStore, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "a.txt").write_text("a")
    (out / "bad\\name.txt").write_text("b")
    with pytest.raises(ValueError, match=r"bad\\\\name.txt.*backslash"):
        store.upload_dir(out, "p")
    assert store.list("p") == []


def test_delete_prefix(store: ArtifactStore) -> None:
    for name in ["a/1/x", "a/1/y/z", "a/10/x", "b/x"]:
        store.write_text(name, name)
    assert store.delete_prefix("a/1") == 2
    assert not store.exists("a/1/x") and not store.exists("a/1/y/z")
    assert store.exists("a/10/x"), "a prefix is a directory, not a string prefix"
    assert store.delete_prefix("b/x") == 1
    assert store.delete_prefix("nothing/here") == 0
    with pytest.raises(ValueError, match="whole store"):
        store.delete_prefix("")
    with pytest.raises(ValueError, match="whole store"):
        store.delete_prefix("/")
    assert store.exists("a/10/x")


def test_url_for(store: ArtifactStore, tmp_path: Path) -> None:
    url = store.url_for("logs/job/1/build-log.txt")
    assert url == store.url.rstrip("/") + "/logs/job/1/build-log.txt"
    linked = open_store(f"file://{tmp_path / 'linked'}", link_base="https://ci.example/view/")
    assert linked.url_for("logs/a b.txt") == "https://ci.example/view/logs/a b.txt"


def test_url_for_file_store_is_a_file_uri(tmp_path: Path) -> None:
    store = open_store(str(tmp_path / "plain"))
    assert isinstance(store, LocalStore)
    assert store.url_for("a b/c.txt") == (tmp_path / "plain" / "a b" / "c.txt").resolve().as_uri()


@pytest.mark.parametrize("bad", TRAVERSALS)
def test_every_method_rejects_unsafe_paths(store: ArtifactStore, tmp_path: Path, bad: str) -> None:
    src = tmp_path / "f.txt"
    src.write_text("x")
    calls: list[Callable[[], object]] = [
        lambda: store.write_bytes(bad, b"x"),
        lambda: store.write_text(bad, "x"),
        lambda: store.open_write(bad).__enter__(),
        lambda: store.upload_file(src, bad),
        lambda: store.read_bytes(bad),
        lambda: store.read_range(bad, 0, 1),
        lambda: store.size(bad),
        lambda: store.exists(bad),
    ]
    if bad not in {"", "a//b"}:  # "" is the root prefix; "a//b" has an empty middle segment
        calls += [lambda: store.list(bad), lambda: store.upload_dir(tmp_path, bad)]
    calls.append(lambda: store.delete_prefix(bad))
    for call in calls:
        with pytest.raises(ValueError):
            call()
    assert not (tmp_path / "escape.txt").exists()
    assert store.list("", recursive=True) == []


def test_open_store_rejects_unknown_schemes_and_hosts(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown artifact store scheme"):
        open_store("nosuch://bucket")
    with pytest.raises(ValueError, match="names a host"):
        open_store("file://otherhost/srv/artifacts")


def test_relative_file_urls_open_under_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`file://./dir` (a relative path in URL form) is the working directory's `dir`, fixed when
    the store is opened; any other host in a file URL is refused."""
    monkeypatch.chdir(tmp_path)
    store = open_store("file://./.foredeck/artifacts")
    store.write_text("logs/a/1/build-log.txt", "hello")
    monkeypatch.chdir("/")
    assert (tmp_path / ".foredeck/artifacts/logs/a/1/build-log.txt").read_text() == "hello"
    assert store.read_bytes("logs/a/1/build-log.txt") == b"hello"
    with pytest.raises(ValueError, match="names a host"):
        open_store("file://example.org/srv")
