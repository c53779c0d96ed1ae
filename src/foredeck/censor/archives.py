"""Censoring inside archives, as Prow's sidecar does: a tarball (plain, or compressed with gzip,
xz, bzip2 or zstd), a file compressed with one of those, or a zip file is unpacked member by
member, each text member censored, and the archive written again only when something was masked.

A job often packs its logs before uploading them (`tar czf logs.tgz`, `tar cJf logs.tar.xz`,
`zstd build.log`, `zip -r logs.zip`), and a secret in a packed log is as public as one in a
plain file. Archives are known by their first bytes, not their names. Members that are not text
(a NUL in their first 8 KiB) are left as they are, as binary files are; a zip member keeps its
name, time, permissions and compression, a tarball and a compressed file their compression.
Unpacking is bounded: an archive whose members grow past `MAX_UNPACKED` bytes is not censored
and is said in the log (a zip or gzip bomb must not fill the controller's disk), as is one that
cannot be read (broken, or with encrypted members).
"""

from __future__ import annotations

import bz2
import contextlib
import gzip
import lzma
import shutil
import tarfile
import tempfile
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Protocol

import zstandard

from foredeck.censor.matcher import Censor
from foredeck.censor.rewrite import rewrite

MAX_UNPACKED = 2 * 1024**3
"""Bytes of members an archive may unpack to before it is left uncensored."""
SNIFF = 8192
CHUNK = 1024 * 1024
ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")  # a member first, or an empty archive's end
_BZ2_BLOCKS = (b"1AY&SY", b"\x17rE8P\x90")  # the digits of pi, of sqrt(pi): bzip2's markers
_ZIP_METHODS = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA)


class _Reader(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


class _Writer(Protocol):
    def write(self, data: bytes, /) -> int: ...


class TooLarge(Exception):
    """An archive unpacks to more than `MAX_UNPACKED` bytes."""


@dataclass(frozen=True)
class _Codec:
    """A compression a file or tarball may come in: its magic, a reader and a writer over a
    file object (`path` names the original, for gzip's stored name)."""

    magic: tuple[bytes, ...]
    """What the file starts with (any of these)."""
    reader: Callable[[IO[bytes]], Any]
    writer: Callable[[IO[bytes], Path], Any]


CODECS = {
    "gz": _Codec(
        (b"\x1f\x8b",),
        lambda raw: gzip.GzipFile(fileobj=raw, mode="rb"),
        # the original member's name kept, as `gzip -N` would restore it
        lambda raw, path: gzip.GzipFile(filename=path.stem, mode="wb", fileobj=raw, mtime=0),
    ),
    "xz": _Codec(
        (b"\xfd7zXZ\x00",),
        lambda raw: lzma.LZMAFile(raw, "rb"),  # noqa: SIM115 - the caller's `with` closes it
        lambda raw, _path: lzma.LZMAFile(raw, "wb"),  # noqa: SIM115
    ),
    "bz2": _Codec(
        # `BZh`, a block size, then a block's or the stream end's magic: `BZh` alone is text
        tuple(b"BZh%d%s" % (level, block) for level in range(1, 10) for block in _BZ2_BLOCKS),
        lambda raw: bz2.BZ2File(raw, "rb"),
        lambda raw, _path: bz2.BZ2File(raw, "wb"),
    ),
    "zst": _Codec(
        (b"\x28\xb5\x2f\xfd",),
        # every frame read (`pzstd` writes several), as gzip, xz and bzip2 read every stream
        lambda raw: zstandard.ZstdDecompressor().stream_reader(
            raw, read_across_frames=True, closefd=False
        ),
        lambda raw, _path: zstandard.ZstdCompressor().stream_writer(raw, closefd=False),
    ),
}
"""Compressions by the suffix `kind` gives them."""
ERRORS: tuple[type[BaseException], ...] = (
    TooLarge,
    OSError,
    EOFError,
    tarfile.TarError,
    zipfile.BadZipFile,
    zlib.error,
    lzma.LZMAError,
    zstandard.ZstdError,
)
"""What censoring a broken, oversized or unreadable archive raises (`censor_archive`)."""


def kind(path: Path) -> str | None:
    """`tar`, `zip`, a compression of `CODECS` (`gz`, `xz`, ...), `tar.` and one of them, or
    None, from the file's first bytes (names lie)."""
    with open(path, "rb") as source:
        head = source.read(512)
        if head.startswith(ZIP_MAGIC):
            return "zip"
        for name, codec in CODECS.items():
            if head.startswith(codec.magic):
                source.seek(0)
                try:
                    with codec.reader(source) as inner:
                        block = inner.read(512)
                except ERRORS:
                    return name  # a broken one: `censor_archive` says so
                return f"tar.{name}" if _is_tar(block) else name
    return "tar" if _is_tar(head) else None


def _is_tar(block: bytes) -> bool:
    return len(block) >= 262 and block[257:262] == b"ustar"


def censor_archive(
    path: Path, censor: Censor, limit: int | None = None, *, found: str | None = None
) -> bool:
    """Censor the archive at `path` in place; whether anything was masked. Raises TooLarge
    (past `limit`, default `MAX_UNPACKED`) and the archive libraries' errors (`ERRORS`: a
    broken archive), leaving the file as it was. `found`: its `kind`, when already read."""
    limit = MAX_UNPACKED if limit is None else limit
    found = found or kind(path)
    if found is None:
        return False

    def write(target: IO[bytes]) -> bool:
        if found == "zip":
            return _censor_zip(path, target, censor, limit)
        if found == "tar" or found.startswith("tar."):
            return _censor_tar(path, CODECS.get(found[4:]), target, censor, limit)
        codec = CODECS[found]
        with (
            open(path, "rb") as raw,
            codec.reader(raw) as source,
            codec.writer(target, path) as packed,
        ):
            return _censor_stream(source, packed, censor, limit)

    return rewrite(path, write)


def _censor_tar(
    path: Path, codec: _Codec | None, target: IO[bytes], censor: Censor, limit: int
) -> bool:
    with contextlib.ExitStack() as stack:
        raw_in: Any = stack.enter_context(open(path, "rb"))
        raw_out: Any = target
        if codec is not None:  # the tar streams through the compression both ways
            raw_in = stack.enter_context(codec.reader(raw_in))
            raw_out = stack.enter_context(codec.writer(target, path))
        # past an end-of-archive marker too (`cat a.tar b.tar`, `tar -A`), as `tar -i` reads:
        # the rewritten archive holds every member, censored
        source = stack.enter_context(tarfile.open(fileobj=raw_in, mode="r|", ignore_zeros=True))
        packed = stack.enter_context(
            tarfile.open(fileobj=raw_out, mode="w|", format=tarfile.PAX_FORMAT)
        )
        return _repack(source, packed, censor, limit)


def _repack(source: tarfile.TarFile, packed: tarfile.TarFile, censor: Censor, limit: int) -> bool:
    changed = False
    unpacked = 0
    for member in source:
        data = source.extractfile(member) if member.isfile() else None
        if data is None:
            packed.addfile(member)
            continue
        unpacked += member.size
        if unpacked > limit:
            raise TooLarge(f"unpacks to more than {limit} bytes")
        with tempfile.TemporaryFile() as spool:
            changed = _censor_stream(data, spool, censor, limit) or changed
            member.size = spool.tell()
            if member.issparse():  # written out whole: a sparse header would misdescribe it
                member.type, member.sparse = tarfile.REGTYPE, None
            spool.seek(0)
            packed.addfile(member, spool)
    return changed


def _censor_zip(path: Path, target: IO[bytes], censor: Censor, limit: int) -> bool:
    changed = False
    unpacked = 0
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(target, "w") as packed:
        packed.comment = source.comment
        for member in source.infolist():
            if member.flag_bits & 0x1:
                raise zipfile.BadZipFile(f"{member.filename}: encrypted")
            if member.compress_type not in _ZIP_METHODS:
                raise zipfile.BadZipFile(f"{member.filename}: compression {member.compress_type}")
            if member.is_dir():
                packed.writestr(_same_entry(member), b"")
                continue
            unpacked += member.file_size  # what the reader stops at
            if unpacked > limit:
                raise TooLarge(f"unpacks to more than {limit} bytes")
            with source.open(member) as data, tempfile.TemporaryFile() as spool:
                changed = _censor_stream(data, spool, censor, limit) or changed
                size = spool.tell()
                spool.seek(0)
                copy = _same_entry(member)
                with packed.open(copy, "w", force_zip64=size >= zipfile.ZIP64_LIMIT) as out:
                    shutil.copyfileobj(spool, out, CHUNK)
    return changed


def _same_entry(member: zipfile.ZipInfo) -> zipfile.ZipInfo:
    """A new entry with `member`'s name, time, permissions, comment and compression (not its
    extra fields: a zip64 one would be written twice)."""
    entry = zipfile.ZipInfo(member.filename, member.date_time)
    entry.compress_type = member.compress_type
    entry.external_attr = member.external_attr
    entry.create_system = member.create_system
    entry.comment = member.comment
    return entry


def _censor_stream(source: _Reader, target: _Writer, censor: Censor, limit: int) -> bool:
    """Copy `source` to `target`, censored when it is text; whether anything was masked."""
    head = source.read(SNIFF)
    if b"\x00" in head:
        target.write(head)
        size = len(head)
        while chunk := source.read(CHUNK):
            size += len(chunk)
            if size > limit:
                raise TooLarge(f"unpacks to more than {limit} bytes")
            target.write(chunk)
        return False
    stream = censor.stream()
    size = len(head)
    chunk = head
    while chunk:
        target.write(stream.feed(chunk))
        chunk = source.read(CHUNK)
        size += len(chunk)
        if size > limit:
            raise TooLarge(f"unpacks to more than {limit} bytes")
    target.write(stream.flush())
    return stream.masked > 0
