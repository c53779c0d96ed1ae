"""The censor: every form of a secret is masked, whole or streamed in any chunking."""

from __future__ import annotations

import base64
import importlib.util
import random
import tomllib
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import pytest
from packaging.requirements import Requirement

from foredeck.censor import MASK, NO_CENSOR, Censor, CensorError, finder, secret_forms
from foredeck.censor.forms import aligned

Encoder = Callable[[bytes], bytes]
SECRET = "hunter2-Zq9!xP/+w"  # base64 of it has `+` and `/`, so URL-safe forms differ


def streamed(censor: Censor, data: bytes, cuts: list[int]) -> bytes:
    stream = censor.stream()
    out = []
    previous = 0
    for cut in [*cuts, len(data)]:
        out.append(stream.feed(data[previous:cut]))
        previous = cut
    out.append(stream.flush())
    return b"".join(out)


def test_plain_value_is_masked_with_a_fixed_mask() -> None:
    censor = Censor([SECRET])
    short, long_ = Censor(["abcd"]), Censor(["abcd" * 20])
    assert censor.censor(f"token={SECRET} ok".encode()) == b"token=" + MASK + b" ok"
    assert short.censor(b"<abcd>") == long_.censor(b"<" + b"abcd" * 20 + b">") == b"<CENSORED>"


@pytest.mark.parametrize("encode", [base64.b64encode, base64.urlsafe_b64encode])
def test_base64_forms_are_masked(encode: Encoder) -> None:
    censor = Censor([SECRET])
    whole = encode(SECRET.encode())
    assert censor.censor(b"auth: " + whole + b"\n") == b"auth: " + MASK + b"\n"
    assert censor.censor(b"auth: " + whole.rstrip(b"=") + b"\n") == b"auth: " + MASK + b"\n"


@pytest.mark.parametrize("prefix", [b"", b"u", b"us", b"use", b"user:", b"a longer user name:"])
@pytest.mark.parametrize("encode", [base64.b64encode, base64.urlsafe_b64encode])
def test_secret_inside_a_longer_base64_stream_is_masked(prefix: bytes, encode: Encoder) -> None:
    """A docker config's `auth` is base64 of `user:password`: the password starts at any
    alignment; the characters that depend on it alone are gone, so it cannot be decoded back."""
    censor = Censor([SECRET])
    stream = encode(prefix + SECRET.encode() + b":suffix")
    out = censor.censor(stream)
    assert MASK in out
    offset = len(prefix) % 3
    assert aligned(SECRET.encode(), offset, encode) not in out
    assert out.startswith(stream[: len(prefix) * 4 // 3])  # the prefix's own characters stay


def test_aligned_forms_are_what_a_stream_holds() -> None:
    value = b"\x00\xffsecret bytes"
    for offset in range(3):
        for before in (b"", b"xyz", b"\x01\x02\x03\x04\x05\x06"):
            prefix = before + b"p" * offset
            assert aligned(value, offset, base64.b64encode) in base64.b64encode(
                prefix + value + b"tail"
            )


def test_trimmed_value_and_its_lines() -> None:
    key = "-----BEGIN KEY-----\nMIIEowIBAAKCAQEA7a9\r\nQ2hlc3RudXRzIGFyZ\n-----END KEY-----\n"
    censor = Censor([key, "  padded-token \n"])
    log = b"line MIIEowIBAAKCAQEA7a9 and Q2hlc3RudXRzIGFyZ and padded-token\n-----BEGIN KEY-----"
    assert censor.censor(log) == b"line CENSORED and CENSORED and CENSORED\n-----BEGIN KEY-----"
    assert censor.censor(base64.b64encode(key.encode())) == MASK
    assert all(b"\n" not in form for form in secret_forms([key]))


def test_short_and_boolean_values_are_ignored() -> None:
    censor = Censor(["a", "abc", " ab \n", "true", "FALSE", ""])
    assert not censor
    assert censor.censor(b"a abc true false") == b"a abc true false"
    assert Censor(["abcd"], min_length=5).count == 0
    assert NO_CENSOR.text("anything") == "anything"


def test_overlapping_secrets_leave_no_part_of_either() -> None:
    censor = Censor(["abcdef", "defghi", "ghijkl", "bcd0"])
    assert censor.censor(b"<abcdefghijkl>") == b"<CENSORED>"
    assert censor.censor(b"<abcdef ghijkl>") == b"<CENSORED CENSORED>"
    assert censor.censor(b"<abcdefabcdef>") == b"<CENSOREDCENSORED>"


def test_longest_secret_wins_over_its_prefix() -> None:
    censor = Censor(["prefix", "prefix-and-more"])
    assert censor.censor(b"[prefix-and-more]") == b"[CENSORED]"


@pytest.mark.parametrize("starts", ["hyperscan", "re2"])
def test_forms_sharing_their_first_bytes_are_told_apart(
    starts: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Hyperscan looks for a form's first bytes (`finder.LITERAL`), or for the shortest form a
    longer one starts with, then each form is checked whole: the longest form there wins, and
    bytes that only begin like a form stay."""
    if starts == "re2":
        monkeypatch.setattr(finder, "hyperscan", None)
    base = "0123456789abcdefghijklmnopqrstuvwxyzABCDEF"
    assert len(base) > finder.LITERAL
    censor = Censor([base + "-one", base + "-two-longer", base[:20]])
    data = f"a {base}-one b {base}-two-longer c {base}-three d {base[:35]}\n".encode()
    tail = base[20:].encode()
    whole = b"a CENSORED b CENSORED c CENSORED" + tail + b"-three d CENSORED" + tail[:15] + b"\n"
    assert censor.censor(data) == whole
    for cut in range(1, len(data)):
        assert streamed(censor, data, [cut]) == whole
    apart = Censor([base + "-one", base + "-two-longer"])
    assert apart.censor(data) == b"a CENSORED b CENSORED c " + data[data.index(b" c ") + 3 :]


def test_the_literals_padding_a_small_set_mask_nothing() -> None:
    censor = Censor([SECRET])
    data = b" ".join(finder.padding(finder.PADDED)) + b" " + SECRET.encode()
    assert censor.censor(data) == data[: -len(SECRET)] + MASK


def test_binary_data() -> None:
    secret = bytes(range(256))[::7] + b"\x00\xff\n\\|.*"
    censor = Censor([secret])
    lines = secret.split(b"\n")
    data = b"\x00\x01" + secret + b"\xfe" + base64.b64encode(secret) + b"\xff"
    out = censor.censor(data)
    assert lines[0] not in out and lines[1] not in out
    assert base64.b64encode(secret) not in out
    assert out.startswith(b"\x00\x01CENSORED") and out.endswith(b"\xfeCENSORED\xff")


def test_text() -> None:
    censor = Censor(["pässwörd-ü"])
    assert censor.text("x pässwörd-ü ÿ") == "x CENSORED ÿ"


def test_split_at_every_position_of_a_chunk_boundary() -> None:
    secrets = [SECRET, "abcdef", "defghi", "x" * 40]
    censor = Censor(secrets)
    encoded = base64.b64encode(b"ab" + SECRET.encode())
    data = b"start " + SECRET.encode() + b" abcdefghi\n" + encoded + b" " + b"x" * 45 + b" end"
    whole = censor.censor(data)
    assert SECRET.encode() not in whole and b"xxxxx" not in whole
    for cut in range(len(data) + 1):
        assert streamed(censor, data, [cut]) == whole, cut
    for first in range(0, len(data), 3):
        for second in range(first, len(data), 5):
            assert streamed(censor, data, [first, second]) == whole, (first, second)


def test_byte_at_a_time_and_random_chunks() -> None:
    rng = random.Random(7)
    secrets = [
        "".join(rng.choice("abcdef0123") for _ in range(rng.randint(4, 30))) for _ in range(20)
    ]
    censor = Censor(secrets)
    pieces = [rng.choice([*secrets, "ab", "\n", "0123 ", "zz"]) for _ in range(300)]
    data = "".join(pieces).encode()
    whole = censor.censor(data)
    assert streamed(censor, data, list(range(1, len(data)))) == whole
    for _ in range(50):
        cuts = sorted(rng.sample(range(1, len(data)), 12))
        assert streamed(censor, data, cuts) == whole


def test_secret_across_a_64_kib_write_boundary() -> None:
    censor = Censor([SECRET])
    plain, encoded = SECRET.encode(), base64.b64encode(SECRET.encode())
    for value in (plain, encoded):
        for shift in range(1, len(value)):
            data = b"y" * (65536 - shift) + value + b"z" * 100
            out = streamed(censor, data, [65536, 131072])
            assert out == b"y" * (65536 - shift) + MASK + b"z" * 100


def test_stream_holds_back_less_than_the_longest_form_and_no_complete_line() -> None:
    censor = Censor(["s" * 50])
    stream = censor.stream()
    assert stream.feed(b"a complete line\n") == b"a complete line\n"
    out = stream.feed(b"y" * 1000)
    assert len(out) == 1000 - (censor.longest - 1)
    assert stream.flush() == b"y" * (censor.longest - 1)


def test_stream_without_secrets_passes_chunks_through() -> None:
    stream = NO_CENSOR.stream()
    chunk = b"x" * 1000
    assert stream.feed(chunk) is chunk
    assert stream.flush() == b""


def test_many_and_long_secrets_compile() -> None:
    rng = random.Random(3)
    secrets = [rng.randbytes(rng.randint(8, 2000)).hex() for _ in range(200)]
    censor = Censor(secrets)
    assert censor.censor(b"before " + secrets[150].encode() + b" after") == b"before CENSORED after"


def test_an_impossible_set_fails_without_saying_a_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(finder, "hyperscan", None)
    monkeypatch.setattr("foredeck.censor.finder.MAX_MEM", 1024)
    with pytest.raises(CensorError) as caught:
        Censor(["topsecret-value" * 50])
    assert "topsecret" not in str(caught.value)


def test_a_set_hyperscan_refuses_fails_without_saying_a_secret(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    class Refused(Exception):
        pass

    class Database:
        def __init__(self, mode: int) -> None:
            pass

        def compile(self, expressions: list[bytes], **_: object) -> None:
            raise Refused(b"".join(expressions).decode())

    fake = SimpleNamespace(Database=Database, error=Refused, HS_MODE_VECTORED=4, Scratch=None)
    monkeypatch.setattr(finder, "hyperscan", fake)
    with pytest.raises(CensorError) as caught:
        Censor(["topsecret-value" * 50])
    assert "topsecret" not in str(caught.value) and "do not compile in hyperscan" in str(
        caught.value
    )


def test_data_censors_every_string() -> None:
    censor = Censor([SECRET])
    value = {"params": {SECRET: [SECRET, 1, None, f"x{SECRET}"]}, "n": 2}
    assert censor.data(value) == {
        "params": {"CENSORED": ["CENSORED", 1, None, "xCENSORED"]},
        "n": 2,
    }
    assert NO_CENSOR.data(value) is value


@pytest.mark.parametrize("starts", ["hyperscan", "re2"])
@pytest.mark.parametrize(("length", "stride"), [(10, 1), (14, 2), (21, 3), (40, 4)])
def test_sampled_search_finds_what_a_full_search_finds(
    length: int, stride: int, starts: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Long secrets are searched on every `stride`-th byte (without hyperscan), or from
    hyperscan's leftmost starts: at every phase, in a stream cut anywhere, the output is the
    one of a plain RE2 search."""
    if starts == "re2":
        monkeypatch.setattr(finder, "hyperscan", None)
    elif importlib.util.find_spec("hyperscan") is None:
        pytest.skip("hyperscan is not installed on this platform")  # pragma: no cover
    else:
        stride = 1
    rng = random.Random(length)
    secrets = [rng.randbytes(length // 2 + 1).hex()[:length] for _ in range(6)]
    sampled = Censor(secrets)
    monkeypatch.setattr(finder, "hyperscan", None)
    plain = Censor(secrets)
    plain._finder.stride = 1  # type: ignore[union-attr]
    assert sampled._finder is not None and sampled._finder.stride == stride
    noise = "0123456789abcdef \n"
    for trial in range(40):
        pieces = []
        for _ in range(30):
            pieces.append("".join(rng.choices(noise, k=rng.randint(0, 9))))
            secret = rng.choice(secrets)
            form = base64.b64encode(secret.encode()).decode() if trial % 3 == 0 else secret
            pieces.append(form[rng.randint(0, 3) :] if trial % 5 == 0 else form)
        data = "".join(pieces).encode()
        whole = plain.censor(data)
        assert sampled.censor(data) == whole
        cuts = sorted(rng.sample(range(1, len(data)), 8))
        assert streamed(sampled, data, cuts) == whole
        assert not any(s.encode() in whole for s in secrets)


def test_extended_censor_masks_the_new_secrets_too() -> None:
    censor = Censor(["first-secret"], min_length=6)
    more = censor.extended(["second-secret", "short"])
    assert more.censor(b"first-secret second-secret short") == b"CENSORED CENSORED short"
    assert censor.extended(["tiny"]) is censor
    assert censor.censor(b"second-secret") == b"second-secret"


@pytest.mark.parametrize("starts", ["hyperscan", "re2"])
def test_chained_overlaps_across_the_seam_of_held_bytes(
    starts: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A stream scans the bytes it held back with only the start of the next chunk (the seam),
    not joined to the whole chunk: a masked stretch that starts in them and runs on through
    overlapping secrets into the chunk, and chunks too short to settle them, give the output
    of the whole stream censored at once."""
    if starts == "re2":
        monkeypatch.setattr(finder, "hyperscan", None)
    elif importlib.util.find_spec("hyperscan") is None:
        pytest.skip("hyperscan is not installed on this platform")  # pragma: no cover
    censor = Censor(["abcdef", "defghi", "ghijkl", "jklmnopqrs", "x" * 12])
    data = b"..abcdefghijklmnopqrs..abcdef-abcdef\nxxxxxxxxxxxxxxxxxxxxxxxxx.ghijklmn"
    whole = censor.censor(data)
    assert whole == b"..CENSORED..CENSORED-CENSORED\nCENSORED.CENSOREDmn"
    for first in range(len(data) + 1):
        for second in range(first, len(data) + 1):
            assert streamed(censor, data, [first, second]) == whole, (first, second)
    rng = random.Random(17)
    for _ in range(200):
        cuts = sorted(rng.sample(range(1, len(data)), rng.randint(3, 20)))
        assert streamed(censor, data, cuts) == whole, cuts


@pytest.mark.parametrize(
    ("system", "machine", "installed"),
    [
        ("linux", "x86_64", True),
        ("linux", "aarch64", True),  # Graviton, Ampere: the wheel carries Vectorscan
        ("darwin", "arm64", True),
        ("darwin", "x86_64", True),
        ("linux", "ppc64le", False),  # no wheel: pip would try to build hyperscan itself
        ("linux", "s390x", False),
        ("win32", "AMD64", False),  # foredeck's executor is POSIX-only
    ],
)
def test_hyperscan_is_a_dependency_where_it_has_wheels(
    system: str, machine: str, installed: bool
) -> None:
    """The censor's fast path is installed wherever hyperscan publishes wheels, so that a
    controller on arm64 (EKS on Graviton) or a Mac does not fall back to RE2 (about a fifth of
    the speed), and nowhere pip would have to compile it."""
    project = tomllib.loads((Path(__file__).resolve().parents[2] / "pyproject.toml").read_text())
    found = [Requirement(r) for r in project["project"]["dependencies"]]
    hyperscan = next(r for r in found if r.name == "hyperscan")
    assert hyperscan.marker is not None
    environment = {"sys_platform": system, "platform_machine": machine}
    assert hyperscan.marker.evaluate(environment) is installed


def _reference(forms: set[bytes], data: bytes) -> bytes:
    """The longest form at every start (`bytes.find`), overlapping matches merged."""
    ends: dict[int, int] = {}
    for form in forms:
        at = data.find(form)
        while at >= 0:
            ends[at] = max(ends.get(at, 0), at + len(form))
            at = data.find(form, at + 1)
    out, cursor, stretch = [], 0, (-1, -1)
    for start in sorted(ends):
        if start < stretch[1]:
            stretch = (stretch[0], max(stretch[1], ends[start]))
            continue
        if stretch[0] >= 0:
            out += [data[cursor : stretch[0]], MASK]
            cursor = stretch[1]
        stretch = (start, ends[start])
    if stretch[0] >= 0:
        out += [data[cursor : stretch[0]], MASK]
        cursor = stretch[1]
    return b"".join([*out, data[cursor:]])


@pytest.mark.parametrize("engine", ["hyperscan", "re2"])
def test_whole_and_streamed_match_a_plain_reference(
    engine: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Secrets from two or three letters (overlaps, prefixes, forms past 32 bytes sharing
    their first 32) in data made of their pieces, cut at random and byte by byte."""
    if engine == "re2":
        monkeypatch.setattr(finder, "hyperscan", None)
    rng = random.Random(20260)
    for _ in range(60):
        alphabet = rng.choice([b"ab", b"abc", b"a\nb", b"ab\x00", b"a\x80b"])
        secrets = [
            bytes(rng.choice(alphabet) for _ in range(rng.choice([4, 5, 8, 33, 40])))
            for _ in range(rng.randint(1, 4))
        ]
        secrets.append(secrets[0][: rng.randint(4, len(secrets[0]))])
        secrets.append(secrets[-2][:32] + b"b" * rng.randint(1, 9))
        censor = Censor(secrets)
        forms = secret_forms(secrets)
        pieces = [*sorted(forms), bytes(rng.choice(alphabet) for _ in range(6))]
        data = b"".join(rng.choice(pieces)[rng.randint(0, 3) :] for _ in range(rng.randint(0, 10)))
        expected = _reference(forms, data)
        assert censor.censor(data) == expected
        assert streamed(censor, data, list(range(len(data)))) == expected
        cuts = sorted(rng.randint(0, len(data)) for _ in range(5))
        assert streamed(censor, data, cuts) == expected
