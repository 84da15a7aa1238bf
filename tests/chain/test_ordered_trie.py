"""The one-pass index-keyed trie agrees with py-evm's general trie."""

from __future__ import annotations

import rlp
from eth.constants import BLANK_ROOT_HASH
from eth.db.trie import _make_trie_root_and_nodes
from hypothesis import given, settings
from hypothesis import strategies as st
from trie import HexaryTrie

from chain.ordered_trie import ordered_trie_root_and_nodes

# An empty value means "absent" in a trie; no encoded item is empty.
items = st.lists(st.binary(min_size=1, max_size=120), max_size=300)


@settings(max_examples=60, deadline=None)
@given(items)
def test_matches_py_evm_root_and_nodes(encoded_items: list[bytes]) -> None:
    expected = _make_trie_root_and_nodes(tuple(encoded_items))

    assert ordered_trie_root_and_nodes(encoded_items) == expected


def test_empty_sequence_gives_the_empty_trie_root() -> None:
    assert ordered_trie_root_and_nodes([]) == (BLANK_ROOT_HASH, {})


def test_items_read_back_from_the_stored_nodes() -> None:
    encoded_items = [bytes([i % 256]) * (i % 70 + 1) for i in range(1000)]

    root, nodes = ordered_trie_root_and_nodes(encoded_items)

    stored = HexaryTrie(dict(nodes), root)
    for index, item in enumerate(encoded_items):
        assert stored[rlp.encode(index)] == item
