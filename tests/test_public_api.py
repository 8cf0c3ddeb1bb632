from __future__ import annotations

import re
from pathlib import Path

import greentic_runner


def test_all_is_sorted_and_importable() -> None:
    names = greentic_runner.__all__
    assert names == sorted(names)
    for name in names:
        assert getattr(greentic_runner, name) is not None


def test_every_exported_error_is_a_runner_error() -> None:
    for name in greentic_runner.__all__:
        value = getattr(greentic_runner, name)
        if isinstance(value, type) and name.endswith("Error"):
            assert issubclass(value, greentic_runner.RunnerError)


def test_the_documented_api_matches_all() -> None:
    doc = (Path(__file__).parents[1] / "docs" / "api.md").read_text()
    documented = set(re.findall(r"^\| `(\w+)` \|", doc, flags=re.MULTILINE))
    assert documented == set(greentic_runner.__all__)
