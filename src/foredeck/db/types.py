"""Column types that behave the same on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Any

import zstandard
from sqlalchemy import JSON, BigInteger, DateTime, Dialect, Integer, LargeBinary
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.types import TypeDecorator

# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL gets a 64-bit identity.
BigIntPK = BigInteger().with_variant(Integer(), "sqlite")

# JSONB on PostgreSQL (indexable, compact), JSON text on SQLite.
JSONType = JSON().with_variant(JSONB(), "postgresql")


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in and out, on every backend.

    SQLite has no time zone type and would hand back naive values; comparing those with aware
    ones raises, so the zone is stripped on the way in and restored on the way out.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; use an aware UTC datetime")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


# A zstd frame starts with these bytes; a JSON document never does, so rows written before
# payloads were compressed still read back as they are.
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
_COMPRESSOR = threading.local()


def compress_payload(body: bytes) -> bytes:
    """A logged payload as stored: zstd level 1 shrinks GitHub's 25 KB JSON ~9x in ~25 us,
    less than the SQLite page and WAL writes it saves (measured in bench/hook_throughput)."""
    compressor = getattr(_COMPRESSOR, "zstd", None)
    if compressor is None:  # a ZstdCompressor must not be shared between threads
        compressor = _COMPRESSOR.zstd = zstandard.ZstdCompressor(level=1)
    return bytes(compressor.compress(body))


def decompress_payload(stored: bytes) -> bytes:
    if stored[:4] != _ZSTD_MAGIC:
        return stored
    return bytes(zstandard.ZstdDecompressor().decompress(stored))


class CompressedPayload(TypeDecorator[bytes]):
    """Bytes that are stored compressed (`compress_payload`) and read back as given."""

    impl = LargeBinary
    cache_ok = True

    def process_bind_param(self, value: bytes | None, dialect: Dialect) -> bytes | None:
        return None if value is None else compress_payload(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> bytes | None:
        return None if value is None else decompress_payload(bytes(value))
