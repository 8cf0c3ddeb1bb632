"""load_pack: which reader a path goes to, and clear errors for everything else."""

from __future__ import annotations

from pathlib import Path

import pytest

from greentic_runner.errors import PackError
from greentic_runner.packs.loader import load_pack

UPSTREAM = Path(__file__).parent.parent / "fixtures" / "upstream"
WEATHER = UPSTREAM / "greentic-pack/examples/weather-demo"


def test_a_directory_with_pack_yaml_is_a_source_pack() -> None:
    runtime = load_pack(WEATHER, digest="sha256:00")
    assert (runtime.pack_id, runtime.generation, runtime.digest) == (
        "greentic.weather.demo",
        "directory",
        "sha256:00",
    )


def test_the_pack_yaml_file_itself_loads_its_directory() -> None:
    assert load_pack(WEATHER / "pack.yaml").source == WEATHER


@pytest.mark.parametrize("name", ["demo.gtpack", "DEMO.GTPACK"])
def test_gtpack_files_go_to_the_archive_reader(tmp_path: Path, name: str) -> None:
    archive = tmp_path / name
    archive.write_bytes(b"not a zip")
    with pytest.raises(PackError, match=f"{archive} is not a valid gtpack"):
        load_pack(archive)


def test_a_directory_with_a_root_manifest_goes_to_the_archive_reader(tmp_path: Path) -> None:
    (tmp_path / "manifest.cbor").write_bytes(b"\xa0")  # an empty CBOR map: not a manifest
    with pytest.raises(PackError, match=f"manifest.cbor in {tmp_path}"):
        load_pack(tmp_path)


def test_pack_yaml_wins_over_a_root_manifest(tmp_path: Path) -> None:
    (tmp_path / "manifest.cbor").write_bytes(b"\xa0")
    (tmp_path / "pack.yaml").write_text("pack_id: demo\nversion: 1.0.0\n")
    assert load_pack(tmp_path).generation == "directory"


def test_a_directory_that_is_not_a_pack() -> None:
    path = UPSTREAM / "greentic-pack/crates/packc/tests/fixtures/packs/sbom-dangling"
    with pytest.raises(PackError, match="is not a pack: expected a directory with pack.yaml"):
        load_pack(path)


def test_a_file_that_is_not_a_pack(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("hi")
    with pytest.raises(PackError, match="notes.txt is not a pack"):
        load_pack(path)


def test_a_missing_path(tmp_path: Path) -> None:
    with pytest.raises(PackError, match=f"pack path {tmp_path / 'nope'} does not exist"):
        load_pack(tmp_path / "nope")
