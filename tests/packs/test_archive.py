"""Safe ZIP reading (packs/archive.py) and bounded CBOR (packs/cbor.py)."""

from __future__ import annotations

import contextlib
import json
import zipfile
from pathlib import Path

import cbor2
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.packs.packkit import (
    CD_COMPRESSED_SIZE,
    CD_EXTERNAL_ATTR,
    CD_FLAGS,
    CD_UNCOMPRESSED_SIZE,
    DECODED,
    SIGNED,
    UNSIGNED,
    raw_zip,
    set_central_field,
)

from greentic_runner.errors import PackError, RunnerError
from greentic_runner.packs import cbor
from greentic_runner.packs.archive import ArchiveLimits, open_archive
from greentic_runner.packs.gtpack import open_gtpack
from greentic_runner.packs.verify import VerifyPolicy

SMALL = ArchiveLimits(
    max_entry_bytes=1024, max_total_bytes=4096, max_archive_file_bytes=64 * 1024, max_entries=8
)


def _write(tmp_path: Path, data: bytes, name: str = "x.gtpack") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


# --------------------------------------------------------------------------- the fixtures


def test_signed_fixture_entries_match_the_decoded_dump() -> None:
    expected = json.loads(DECODED.read_text())["zip_entries"]
    files = open_archive(SIGNED)
    assert files.names() == expected
    assert files.read("flows/qa/flow.yaml") == b"id: qa\nentry: start\n"


def test_unsigned_fixture_has_no_signature_entries() -> None:
    names = open_archive(UNSIGNED).names()
    assert "manifest.cbor" in names
    assert not any(name.startswith("signatures/") for name in names)


def test_reads_normalise_and_refuse_unsafe_names() -> None:
    files = open_archive(SIGNED)
    assert files.read("./flows//qa/flow.json") == files.read("flows/qa/flow.json")
    assert files.read("../manifest.cbor") is None
    assert files.read("/manifest.cbor") is None
    assert files.read("missing.txt") is None


# --------------------------------------------------------------------------- hostile paths


@pytest.mark.parametrize(
    "name",
    [
        "../evil",
        "a/../../evil",
        "/etc/passwd",
        "C:/windows/evil",
        "c:evil",
        "a\\..\\evil",
        "a\x00b",
    ],
    ids=["dotdot", "nested-dotdot", "absolute", "drive", "drive-relative", "backslash", "nul"],
)
def test_zip_slip_names_are_rejected(tmp_path: Path, name: str) -> None:
    # zipfile cuts names at NUL when writing, so the NUL goes in by byte surgery
    data = raw_zip([("manifest.cbor", b"\xa0"), (name.replace("\x00", "?"), b"oops")])
    data = data.replace(b"a?b", b"a\x00b")
    path = _write(tmp_path, data)
    with pytest.raises(PackError) as err:
        open_archive(path)
    assert str(path) in str(err.value)
    assert "unsafe path" in str(err.value) or "absolute path" in str(err.value)


@pytest.mark.parametrize(
    ("mode", "kind"),
    [(0o120777, "symlink"), (0o010644, "fifo"), (0o020644, "char device"), (0o140644, "socket")],
)
def test_non_regular_entries_are_rejected(tmp_path: Path, mode: int, kind: str) -> None:
    path = _write(tmp_path, raw_zip([("link", b"/etc/passwd")], mode=mode))
    with pytest.raises(PackError, match="not a regular file") as err:
        open_archive(path)
    assert "link" in str(err.value), kind


def test_symlink_bits_patched_into_the_central_directory_are_seen(tmp_path: Path) -> None:
    data = raw_zip([("manifest.cbor", b"\xa0"), ("foo", b"bar")])
    data = set_central_field(data, "foo", CD_EXTERNAL_ATTR, 0o120777 << 16)
    with pytest.raises(PackError, match="entry foo is not a regular file"):
        open_archive(_write(tmp_path, data))


def test_directory_entries_are_skipped_but_checked(tmp_path: Path) -> None:
    ok = _write(tmp_path, raw_zip([("assets/", b""), ("assets/a.txt", b"a")]))
    assert open_archive(ok).names() == ["assets/a.txt"]
    bad = _write(tmp_path, raw_zip([("../up/", b"")], mode=0o040755), "bad.gtpack")
    with pytest.raises(PackError, match="unsafe path"):
        open_archive(bad)


@pytest.mark.parametrize(
    "names", [["a.txt", "a.txt"], ["flows/a", "flows//a"], ["x/y", "./x/y"]], ids=str
)
def test_duplicate_entries_are_rejected(tmp_path: Path, names: list[str]) -> None:
    path = _write(tmp_path, raw_zip([(n, b"1") for n in names]))
    with pytest.raises(PackError, match="duplicate entry"):
        open_archive(path)


# --------------------------------------------------------------------------- size limits


def test_entry_larger_than_the_cap_is_rejected(tmp_path: Path) -> None:
    path = _write(tmp_path, raw_zip([("big.bin", b"\0" * 1025)]))
    with pytest.raises(PackError, match="entry big.bin exceeds maximum allowed size of 1024"):
        open_archive(path, SMALL)


def test_archive_total_over_the_cap_is_rejected(tmp_path: Path) -> None:
    path = _write(tmp_path, raw_zip([(f"part{i}", b"\0" * 1000) for i in range(5)]))
    with pytest.raises(PackError, match="exceeds maximum allowed size"):
        open_archive(path, SMALL)


def test_too_many_entries_are_rejected(tmp_path: Path) -> None:
    path = _write(tmp_path, raw_zip([(f"e{i}", b"") for i in range(9)]))
    with pytest.raises(PackError, match="9 entries; limit 8"):
        open_archive(path, SMALL)


def test_archive_file_over_the_cap_is_rejected_before_parsing(tmp_path: Path) -> None:
    path = _write(tmp_path, b"\0" * (64 * 1024 + 1))
    with pytest.raises(PackError, match="exceeds maximum allowed size"):
        open_archive(path, SMALL)


def test_the_real_caps_are_the_reference_ones() -> None:
    limits = ArchiveLimits()
    assert limits.max_entry_bytes == 16 * 1024 * 1024
    assert limits.max_total_bytes == 64 * 1024 * 1024


def test_zip_bomb_ratio_is_rejected(tmp_path: Path) -> None:
    path = _write(tmp_path, raw_zip([("bomb", b"\0" * 200_000)], compression=zipfile.ZIP_DEFLATED))
    with pytest.raises(PackError, match="compression ratio"):
        open_archive(path)


def test_honest_deflate_is_accepted(tmp_path: Path) -> None:
    text = bytes(range(256)) * 8
    path = _write(tmp_path, raw_zip([("data", text)], compression=zipfile.ZIP_DEFLATED))
    assert open_archive(path).read("data") == text


def test_declared_size_smaller_than_the_data_stops_reading(tmp_path: Path) -> None:
    payload = bytes(range(256)) * 16
    data = raw_zip([("data", payload)], compression=zipfile.ZIP_DEFLATED)
    data = set_central_field(data, "data", CD_UNCOMPRESSED_SIZE, 10)
    with pytest.raises(PackError) as err:
        open_archive(_write(tmp_path, data))
    assert "x.gtpack" in str(err.value)


def test_declared_size_over_the_cap_is_rejected_without_reading(tmp_path: Path) -> None:
    data = raw_zip([("data", b"tiny")], compression=zipfile.ZIP_DEFLATED)
    data = set_central_field(data, "data", CD_UNCOMPRESSED_SIZE, 17 * 1024 * 1024)
    with pytest.raises(PackError, match="exceeds maximum allowed size"):
        open_archive(_write(tmp_path, data))


def test_stored_entry_with_inconsistent_sizes_is_rejected(tmp_path: Path) -> None:
    data = set_central_field(raw_zip([("a", b"hello")]), "a", CD_COMPRESSED_SIZE, 3)
    with pytest.raises(PackError, match="inconsistent stored sizes"):
        open_archive(_write(tmp_path, data))


def test_encrypted_and_exotic_compression_are_rejected(tmp_path: Path) -> None:
    encrypted = set_central_field(raw_zip([("a", b"hello")]), "a", CD_FLAGS, 1, width=2)
    with pytest.raises(PackError, match="entry a is encrypted"):
        open_archive(_write(tmp_path, encrypted))
    bzip = raw_zip([("b", b"hello" * 10)], compression=zipfile.ZIP_BZIP2)
    with pytest.raises(PackError, match="unsupported compression method 12"):
        open_archive(_write(tmp_path, bzip, "b.gtpack"))


# --------------------------------------------------------------------------- broken files


def test_truncated_archive_fails_cleanly(tmp_path: Path) -> None:
    data = SIGNED.read_bytes()
    path = _write(tmp_path, data[: len(data) // 2])
    with pytest.raises(PackError, match="is not a valid gtpack archive"):
        open_archive(path)


def test_non_zip_and_missing_files_fail_cleanly(tmp_path: Path) -> None:
    with pytest.raises(PackError, match="is not a valid gtpack archive"):
        open_archive(_write(tmp_path, b"definitely not a zip"))
    with pytest.raises(PackError, match="failed to open"):
        open_archive(tmp_path / "absent.gtpack")


def test_crc_mismatch_fails_cleanly(tmp_path: Path) -> None:
    data = bytearray(raw_zip([("a", b"hello world")]))
    data[data.index(b"hello world")] ^= 0xFF
    with pytest.raises(PackError, match="not a valid gtpack archive"):
        open_archive(_write(tmp_path, bytes(data)))


# --------------------------------------------------------------------------- fuzzing

_NAMES = st.one_of(
    st.sampled_from(
        ["manifest.cbor", "sbom.json", "../x", "/abs", "a\\b", "a/./b", "a//b", "C:x", "dir/"]
    ),
    st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), min_size=1, max_size=12),
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    entries=st.lists(st.tuples(_NAMES, st.binary(max_size=64)), max_size=6),
    mode=st.sampled_from([None, 0o100644, 0o120777, 0o040755, 0o010644]),
    deflate=st.booleans(),
)
def test_random_zips_give_safe_names_or_pack_errors(
    tmp_path: Path, entries: list[tuple[str, bytes]], mode: int | None, deflate: bool
) -> None:
    compression = zipfile.ZIP_DEFLATED if deflate else zipfile.ZIP_STORED
    path = _write(tmp_path, raw_zip(entries, compression=compression, mode=mode))
    try:
        files = open_archive(path)
    except PackError:
        return
    for name in files.names():
        assert not name.startswith("/") and "\\" not in name
        assert ".." not in name.split("/") and "" not in name.split("/")


_MUTATION = st.tuples(st.integers(min_value=0), st.integers(min_value=0, max_value=255))


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    source=st.sampled_from([SIGNED, UNSIGNED]),
    flips=st.lists(_MUTATION, min_size=1, max_size=4),
    cut=st.one_of(st.none(), st.integers(min_value=0)),
    strict=st.booleans(),
)
def test_mutated_fixtures_raise_only_runner_errors(
    tmp_path: Path, source: Path, flips: list[tuple[int, int]], cut: int | None, strict: bool
) -> None:
    data = bytearray(source.read_bytes())
    for position, value in flips:
        data[position % len(data)] = value
    if cut is not None:
        data = data[: cut % len(data)]
    path = _write(tmp_path, bytes(data))
    with contextlib.suppress(RunnerError):
        open_gtpack(path, VerifyPolicy(strict=strict))


# --------------------------------------------------------------------------- CBOR


def test_cbor_decodes_the_legacy_manifest_with_its_self_describe_tag() -> None:
    raw = open_archive(SIGNED).read("manifest.cbor")
    assert raw is not None and raw.startswith(b"\xd9\xd9\xf7")
    value = cbor.decode(raw, "manifest.cbor")
    assert value == json.loads(DECODED.read_text())["manifest.cbor (decoded)"]
    assert type(value) is dict and type(value["meta"]["authors"]) is list


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (cbor2.dumps(cbor2.CBORTag(28, [1])), "semantic tag 28"),
        (cbor2.dumps(cbor2.CBORTag(1, 0)), "semantic tag 1"),
        (b"\xc2\x01", "bignum tag 2 must wrap a byte string"),
        (b"\x81" * 100 + b"\x00", "nesting deeper than 64"),
        (b"\x9b\x00\x00\x00\x01\x00\x00\x00\x00", "exceeds the data left"),
        (b"\x5b\xff\xff\xff\xff\xff\xff\xff\xff", "exceeds the data left"),
        (b"\xa1\x01\x02", "text string"),
        (b"\xa2\x61a\x01\x61a\x02", "not valid CBOR"),
        (b"\x01\x02", "trailing bytes"),
        (b"\xf0", "simple value 16"),
        (b"\x1c", "reserved additional information"),
        (b"\x9f\x01", "unterminated"),
        (b"", "unexpected end"),
    ],
    ids=[
        "value-sharing",
        "datetime-tag",
        "bad-bignum",
        "deep",
        "huge-array",
        "huge-bytes",
        "int-key",
        "duplicate-key",
        "trailing",
        "simple",
        "reserved",
        "indefinite",
        "empty",
    ],
)
def test_cbor_rejects_hostile_documents(data: bytes, reason: str) -> None:
    with pytest.raises(PackError) as err:
        cbor.decode(data, "manifest.cbor in evil.gtpack")
    assert "manifest.cbor in evil.gtpack" in str(err.value)
    assert reason in str(err.value)


def test_cbor_size_cap() -> None:
    with pytest.raises(PackError, match="too large"):
        cbor.decode(b"\x00" * 11, "doc", max_bytes=10)


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text() | st.binary(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@given(value=_JSON)
def test_cbor_round_trips_json_like_values(value: object) -> None:
    assert cbor.decode(cbor.encode_canonical(value), "doc") == value
    assert cbor.decode(cbor.encode_ordered(value), "doc") == value


@settings(max_examples=300)
@given(data=st.binary(max_size=64))
def test_cbor_fuzz_raises_only_pack_errors(data: bytes) -> None:
    with contextlib.suppress(PackError):
        cbor.decode(data, "doc")
