"""Property tests for the state path helpers every backend uses."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from greentic_runner.errors import StoreError
from greentic_runner.storage.state import read_path, split_path, write_path

segment = st.text(
    alphabet=st.characters(blacklist_characters=".", blacklist_categories=("Cs",)),
    min_size=1,
    max_size=8,
).filter(lambda s: not s.isdigit())
json_value = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=10,
)


@given(
    doc=st.dictionaries(segment, json_value, max_size=4),
    path=st.lists(segment, min_size=1, max_size=4),
    value=json_value,
)
def test_a_written_path_reads_back(doc: dict[str, Any], path: list[str], value: Any) -> None:
    dotted = ".".join(path)
    if _crosses_a_list(doc, path):
        # Lists are indexed by number only; a named segment into one is refused.
        with pytest.raises(StoreError, match="out of range"):
            write_path(doc, dotted, value)
        return
    updated = write_path(doc, dotted, value)
    assert read_path(updated, dotted) == value


def _crosses_a_list(doc: Any, path: list[str]) -> bool:
    node = doc
    for part in path[:-1]:
        node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, list):
            return True
    return False


@given(path=st.lists(segment, min_size=2, max_size=4), value=json_value)
def test_a_named_segment_into_a_list_is_refused(path: list[str], value: Any) -> None:
    doc = {path[0]: [1, 2]}
    with pytest.raises(StoreError, match="out of range"):
        write_path(doc, ".".join(path), value)


@given(doc=st.dictionaries(segment, json_value, min_size=2, max_size=4), value=json_value)
def test_writing_one_key_keeps_its_siblings(doc: dict[str, Any], value: Any) -> None:
    first, *rest = list(doc)
    original = {key: doc[key] for key in rest}
    updated = write_path(dict(doc), first, value)
    assert {key: updated[key] for key in rest} == original


@given(st.lists(segment, min_size=1, max_size=4))
def test_split_path_roundtrips(parts: list[str]) -> None:
    assert split_path(".".join(parts)) == parts


@pytest.mark.parametrize("path", [None, "", "."])
def test_empty_paths_address_the_whole_document(path: str | None) -> None:
    assert split_path(path) == []
    assert write_path({"a": 1}, path, 2) == 2


def test_empty_segment_is_refused() -> None:
    with pytest.raises(StoreError, match="empty segment"):
        split_path("a..b")
