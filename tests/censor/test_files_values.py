"""Censoring files in place, and finding the secrets in structured data."""

from __future__ import annotations

import base64
import bz2
import gzip
import io
import json
import lzma
import os
import subprocess
import tarfile
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
import zstandard

from foredeck.censor import NO_CENSOR, Censor, archives
from foredeck.censor.files import CHUNK, censor_file, censor_tree
from foredeck.censor.values import secrets_in

SECRET = "tok-3f9a7c21e0"


def test_text_file_is_censored_in_place_across_chunks(tmp_path: Path) -> None:
    path = tmp_path / "report.xml"
    data = b"x" * (CHUNK - 5) + SECRET.encode() + b"\n<ok/>\n"
    path.write_bytes(data)
    path.chmod(0o640)
    assert censor_file(path, Censor([SECRET]))
    assert path.read_bytes() == b"x" * (CHUNK - 5) + b"CENSORED\n<ok/>\n"
    assert path.stat().st_mode & 0o777 == 0o640
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".censor-")]


def test_clean_and_binary_files_are_left_alone(tmp_path: Path) -> None:
    clean = tmp_path / "clean.txt"
    clean.write_text("nothing secret\n")
    binary = tmp_path / "image.png"
    binary.write_bytes(b"\x89PNG\x00\x00" + SECRET.encode())
    before = {p: os.stat(p).st_ino for p in (clean, binary)}
    censor = Censor([SECRET])
    assert not censor_file(clean, censor) and not censor_file(binary, censor)
    assert {p: os.stat(p).st_ino for p in (clean, binary)} == before
    assert binary.read_bytes().endswith(SECRET.encode())
    assert not censor_file(clean, NO_CENSOR)


def test_tree_skips_named_files_and_symlinks(tmp_path: Path) -> None:
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "a" / "b" / "junit.xml").write_text(f"<failure>{SECRET}</failure>")
    (tmp_path / "build-log.txt").write_text(SECRET)
    outside = tmp_path.parent / f"{tmp_path.name}-outside.txt"
    outside.write_text(SECRET)
    (tmp_path / "link.txt").symlink_to(outside)
    changed = censor_tree(tmp_path, Censor([SECRET]), skip={"build-log.txt"})
    assert changed == ["a/b/junit.xml"]
    assert (tmp_path / "a" / "b" / "junit.xml").read_text() == "<failure>CENSORED</failure>"
    assert (tmp_path / "build-log.txt").read_text() == SECRET
    assert outside.read_text() == SECRET


def test_secrets_in_lease_data_spare_names_and_hosts() -> None:
    kubeconfig = yaml.safe_dump(
        {
            "clusters": [
                {"cluster": {"server": "https://10.0.0.1", "certificate-authority-data": "Q0E="}}
            ],
            "users": [
                {"name": "u", "user": {"token": "k8s-aws-v1.abcdef", "client-key-data": "S0VZ"}}
            ],
        }
    )
    data = {
        "database": "foredeck_lease1",
        "host": "127.0.0.1",
        "port": 5432,
        "url": "postgresql://foredeck_lease1:pw-1234abcd@127.0.0.1:5432/foredeck_lease1",
        "kubeconfig": kubeconfig,
        "api_token": "tkn-xyz-123",
        "nested": {"dbPassword": 987654321, "enabled": True, "list": [{"secret": "s-1"}]},
    }
    found = set(secrets_in(data))
    assert found == {"pw-1234abcd", "k8s-aws-v1.abcdef", "S0VZ", "tkn-xyz-123", "987654321", "s-1"}


def test_secrets_in_docker_config() -> None:
    auth = base64.b64encode(b"robot:reg-pass-42").decode()
    config = json.loads(json.dumps({"auths": {"reg.example": {"auth": auth}}, "credsStore": "x"}))
    assert set(secrets_in(config)) == {auth, "reg-pass-42"}
    assert secrets_in({"auth": "not base64!"}) == ["not base64!"]


def _tar(path: Path, members: dict[str, bytes], mode: str) -> None:
    with tarfile.open(path, mode) as tar:  # type: ignore[call-overload]
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def _members(path: Path) -> dict[str, bytes]:
    with tarfile.open(path) as tar:
        return {
            m.name: (tar.extractfile(m) or io.BytesIO()).read()
            for m in tar.getmembers()
            if m.isfile()
        }


def test_tarballs_and_gzip_files_are_censored_member_by_member(tmp_path: Path) -> None:
    """A job that packs its logs (`tar czf logs.tgz`) publishes them censored too, whatever the
    file's name; binary members stay as they were."""
    log_text = b"start\n" + b"x" * (CHUNK - 3) + SECRET.encode() + b"\nend\n"
    binary = b"\x89PNG\x00" + SECRET.encode()
    members = {"logs/test.log": log_text, "img.png": binary, "clean.txt": b"nothing\n"}
    packed = tmp_path / "logs.tgz"
    _tar(packed, members, "w:gz")
    plain = tmp_path / "bundle.data"  # a tar whose name does not say so
    _tar(plain, members, "w:")
    single = tmp_path / "build.log.gz"
    single.write_bytes(gzip.compress(log_text))
    censor = Censor([SECRET])
    for path in (packed, plain):
        assert censor_file(path, censor)
        got = _members(path)
        assert SECRET.encode() not in got["logs/test.log"]
        assert got["logs/test.log"].endswith(b"CENSORED\nend\n")
        assert got["img.png"] == binary and got["clean.txt"] == b"nothing\n"
    assert censor_file(single, censor)
    assert gzip.decompress(single.read_bytes()).endswith(b"CENSORED\nend\n")
    clean = tmp_path / "clean.tgz"
    _tar(clean, {"a.txt": b"fine\n"}, "w:gz")
    before = clean.stat().st_ino
    assert not censor_file(clean, censor) and clean.stat().st_ino == before


def test_an_archive_too_large_or_broken_is_left_and_said(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    big = tmp_path / "big.tgz"
    _tar(big, {"a.log": SECRET.encode() * 100}, "w:gz")
    monkeypatch.setattr(archives, "MAX_UNPACKED", 50)
    broken = tmp_path / "broken.gz"
    broken.write_bytes(gzip.compress(b"x" * 1000)[:-12] + b"garbage!")
    caplog.set_level("WARNING")
    censor = Censor([SECRET])
    assert not censor_file(big, censor)
    assert SECRET.encode() in _members(big)["a.log"]  # left as it was
    assert not censor_file(broken, censor)
    said = caplog.text
    assert "big.tgz left uncensored" in said and "broken.gz left uncensored" in said
    assert SECRET not in said


def _zip(path: Path, members: dict[str, tuple[bytes, int]], comment: bytes = b"") -> None:
    with zipfile.ZipFile(path, "w") as packed:
        packed.comment = comment
        packed.writestr(zipfile.ZipInfo("logs/", (2026, 1, 2, 3, 4, 6)), b"")
        for at, (name, (data, method)) in enumerate(members.items()):
            entry = zipfile.ZipInfo(name, (2026, 1, 2, 3, 4, 6 + 2 * at))
            entry.compress_type = method
            entry.external_attr = (0o100640 if at % 2 else 0o100755) << 16
            packed.writestr(entry, data)


def test_zip_files_are_censored_member_by_member_keeping_their_entries(tmp_path: Path) -> None:
    """`zip -r logs.zip logs/` is published censored too: every text member, stored or
    compressed, each entry keeping its name, time, permissions and compression."""
    log_text = b"start\n" + b"x" * (CHUNK - 3) + SECRET.encode() + b"\nend\n"
    binary = b"\x89PNG\x00" + SECRET.encode()
    members = {
        "logs/test.log": (log_text, zipfile.ZIP_DEFLATED),
        "logs/short.txt": (f"token={SECRET}\n".encode(), zipfile.ZIP_STORED),
        "img.png": (binary, zipfile.ZIP_DEFLATED),
        "clean.txt": (b"nothing\n", zipfile.ZIP_LZMA),
    }
    path = tmp_path / "results.bin"  # a zip whose name does not say so
    _zip(path, members, comment=b"packed by the job")
    with zipfile.ZipFile(path) as before:
        entries = [
            (i.filename, i.date_time, i.compress_type, i.external_attr) for i in before.infolist()
        ]
    assert censor_file(path, Censor([SECRET]))
    with zipfile.ZipFile(path) as after:
        assert after.testzip() is None
        assert after.comment == b"packed by the job"
        assert [
            (i.filename, i.date_time, i.compress_type, i.external_attr) for i in after.infolist()
        ] == entries
        got = {name: after.read(name) for name in members}
    assert got["logs/test.log"] == b"start\n" + b"x" * (CHUNK - 3) + b"CENSORED\nend\n"
    assert got["logs/short.txt"] == b"token=CENSORED\n"
    assert got["img.png"] == binary and got["clean.txt"] == b"nothing\n"
    clean = tmp_path / "clean.zip"
    _zip(clean, {"a.txt": (b"fine\n", zipfile.ZIP_DEFLATED)})
    inode = clean.stat().st_ino
    assert not censor_file(clean, Censor([SECRET])) and clean.stat().st_ino == inode


def test_a_zip_encrypted_bomb_or_in_an_unknown_method_is_left_and_said(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    def flagged(path: Path, offset: int, value: bytes) -> None:
        """Patch the general-purpose flags (offset 6) or method (8) of the one member, in its
        local header and in the central directory."""
        data = bytearray(path.read_bytes())
        for header, shift in ((b"PK\x03\x04", 0), (b"PK\x01\x02", 2)):
            at = data.index(header) + offset + shift
            data[at : at + 2] = value
        path.write_bytes(bytes(data))

    text = f"token={SECRET}\n".encode() * 20
    encrypted, odd, bomb = tmp_path / "enc.zip", tmp_path / "odd.zip", tmp_path / "bomb.zip"
    for path in (encrypted, odd, bomb):
        with zipfile.ZipFile(path, "w") as packed:
            packed.writestr("a.log", text)
    flagged(encrypted, 6, b"\x01\x00")
    flagged(odd, 8, b"\x09\x00")  # deflate64, which Python cannot read
    before = {path: path.read_bytes() for path in (encrypted, odd, bomb)}
    caplog.set_level("WARNING")
    censor = Censor([SECRET])
    assert not censor_file(encrypted, censor) and not censor_file(odd, censor)
    monkeypatch.setattr(archives, "MAX_UNPACKED", len(text) - 1)
    assert not censor_file(bomb, censor)
    assert {path: path.read_bytes() for path in before} == before
    for name in ("enc.zip", "odd.zip", "bomb.zip"):
        assert f"{name} left uncensored" in caplog.text
    assert SECRET not in caplog.text


Codec = tuple[Callable[[bytes], bytes], Callable[[bytes], bytes]]
COMPRESSIONS: dict[str, Codec] = {
    "xz": (lzma.compress, lzma.decompress),
    "bz2": (bz2.compress, bz2.decompress),
    "zst": (
        zstandard.compress,
        lambda data: zstandard.ZstdDecompressor().decompressobj().decompress(data),
    ),
}


@pytest.mark.parametrize("name", sorted(COMPRESSIONS))
def test_xz_bzip2_and_zstd_files_and_tarballs_are_censored_in_their_compression(
    tmp_path: Path, name: str
) -> None:
    """`tar cJf`, `tar cjf`, `tar --zstd`, `xz build.log`, `zstd build.log`: the secret is masked
    inside, and the file stays in its compression (known by its first bytes, not its name)."""
    compress, decompress = COMPRESSIONS[name]
    log_text = b"start\n" + b"x" * (CHUNK - 3) + SECRET.encode() + b"\nend\n"
    binary = b"\x89PNG\x00" + SECRET.encode()
    plain_tar = tmp_path / "plain.tar"
    _tar(plain_tar, {"logs/test.log": log_text, "img.png": binary}, "w:")
    packed = tmp_path / "logs.bin"
    packed.write_bytes(compress(plain_tar.read_bytes()))
    single = tmp_path / "build.out"
    single.write_bytes(compress(log_text))
    censor = Censor([SECRET])
    assert archives.kind(packed) == f"tar.{name}" and archives.kind(single) == name
    assert censor_file(packed, censor) and censor_file(single, censor)
    unpacked = tmp_path / "unpacked.tar"
    unpacked.write_bytes(decompress(packed.read_bytes()))
    got = _members(unpacked)
    assert got["logs/test.log"].endswith(b"CENSORED\nend\n") and got["img.png"] == binary
    assert SECRET.encode() not in got["logs/test.log"]
    assert decompress(single.read_bytes()) == log_text.replace(SECRET.encode(), b"CENSORED")
    assert archives.kind(packed) == f"tar.{name}" and archives.kind(single) == name
    clean = tmp_path / "clean.out"
    clean.write_bytes(compress(b"fine\n"))
    inode = clean.stat().st_ino
    assert not censor_file(clean, censor) and clean.stat().st_ino == inode


@pytest.mark.parametrize("name", sorted(COMPRESSIONS))
def test_a_broken_xz_bzip2_or_zstd_file_is_left_and_said(
    tmp_path: Path, name: str, caplog: pytest.LogCaptureFixture
) -> None:
    compress, _ = COMPRESSIONS[name]
    whole = compress(f"token={SECRET}\n".encode() * 2000)
    broken = tmp_path / f"broken.{name}"
    broken.write_bytes(whole[: len(whole) // 2] + b"garbage!" * 4)
    caplog.set_level("WARNING")
    assert not censor_file(broken, Censor([SECRET]))
    assert broken.read_bytes() == whole[: len(whole) // 2] + b"garbage!" * 4
    assert f"broken.{name} left uncensored" in caplog.text and SECRET not in caplog.text


@pytest.mark.parametrize(
    "head", [b"BZh: build started\n", b"x" * 257 + b"ustar is tar's magic\n"], ids=["bz2", "tar"]
)
def test_a_text_file_that_only_starts_like_an_archive_is_censored_as_text(
    tmp_path: Path, head: bytes
) -> None:
    """An archive's magic in a text file's first bytes must not leave the file uncensored as a
    broken archive: `BZh` alone is not taken for bzip2 (its magic goes on with a block size
    and a block marker), and text that does look like a tarball is censored as text."""
    path = tmp_path / "build.log"
    path.write_bytes(head + f"token={SECRET}\n".encode())
    assert archives.kind(path) == (None if head.startswith(b"BZh") else "tar")
    assert censor_file(path, Censor([SECRET]))
    assert path.read_bytes() == head + b"token=CENSORED\n"


def test_every_frame_of_a_zstd_file_is_read_and_censored(tmp_path: Path) -> None:
    """`pzstd` writes one frame per block: the second frame's secret is masked, and nothing
    after the first frame is lost."""
    first, second = b"first frame\n" * 100, f"then {SECRET}\n".encode()
    path = tmp_path / "build.log.zst"
    path.write_bytes(zstandard.compress(first) + zstandard.compress(second))
    assert censor_file(path, Censor([SECRET]))
    reader = zstandard.ZstdDecompressor().stream_reader(path.read_bytes(), read_across_frames=True)
    assert reader.read() == first + b"then CENSORED\n"


def test_members_past_an_end_of_archive_marker_are_censored_and_kept(tmp_path: Path) -> None:
    """`cat a.tar b.tar > logs.tar` (or `tar -A`): what follows the first archive's end is read
    as `tar -i` reads it, censored, and kept in the rewritten archive."""
    first, second = tmp_path / "a.tar", tmp_path / "b.tar"
    _tar(first, {"a.log": f"a {SECRET}\n".encode()}, "w:")
    _tar(second, {"b.log": f"b {SECRET}\n".encode(), "c.txt": b"clean\n"}, "w:")
    joined = tmp_path / "logs.tar"
    joined.write_bytes(first.read_bytes() + second.read_bytes())
    assert censor_file(joined, Censor([SECRET]))
    with tarfile.open(joined, ignore_zeros=True) as tar:
        got = {m.name: (tar.extractfile(m) or io.BytesIO()).read() for m in tar}
    assert got == {"a.log": b"a CENSORED\n", "b.log": b"b CENSORED\n", "c.txt": b"clean\n"}


def test_a_sparse_member_is_written_back_as_a_regular_file(tmp_path: Path) -> None:
    """GNU tar's sparse members (`tar -S`) are read expanded and written back whole: as
    regular files, so that every reader agrees on their content."""
    sparse = tmp_path / "disk.img"
    with open(sparse, "wb") as image:
        image.truncate(256 * 1024)
        image.seek(200_000)
        image.write(b"\x00data\n")
    (tmp_path / "a.log").write_text(f"token={SECRET}\n")
    packed = tmp_path / "logs.tar"
    subprocess.run(
        ["tar", "-cSf", str(packed), "-C", str(tmp_path), "disk.img", "a.log"], check=True
    )
    with tarfile.open(packed) as tar:
        assert tar.getmember("disk.img").issparse()  # what the test is about
    assert censor_file(packed, Censor([SECRET]))
    with tarfile.open(packed) as tar:
        member = tar.getmember("disk.img")
        assert not member.issparse() and member.size == sparse.stat().st_size
        assert (tar.extractfile(member) or io.BytesIO()).read() == sparse.read_bytes()
        assert (tar.extractfile("a.log") or io.BytesIO()).read() == b"token=CENSORED\n"
    out = tmp_path / "out"
    out.mkdir()
    subprocess.run(["tar", "-xf", str(packed), "-C", str(out)], check=True)
    assert (out / "disk.img").read_bytes() == sparse.read_bytes()
