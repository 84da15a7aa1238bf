"""The index-keyed tries of a block: transactions, receipts and withdrawals.

A header commits to its transactions and receipts as Merkle-Patricia tries
keyed by ``rlp(index)``. py-evm builds them by inserting one item at a time
into a general trie, which reads, decodes and re-hashes every node on the path
at each insertion: measured, a quarter of the time to build or import a
500-transaction block. Here all keys are known up front, so the trie is built
bottom-up in one pass and each node is encoded and hashed once. The result is
the same root and the same node set (``tests/chain/test_ordered_trie.py``
compares them with py-evm's).
"""

from __future__ import annotations

from collections.abc import Sequence

import rlp
from eth.constants import BLANK_ROOT_HASH
from eth_hash.auto import keccak
from eth_typing import Hash32

# A node: a list of byte strings and embedded nodes, as RLP encodes it.
Node = list["bytes | Node"]
Entry = tuple[bytes, bytes]  # (key as nibbles, one per byte, value)

_LEAF_FLAG = 2
_ODD_FLAG = 1


def ordered_trie_root_and_nodes(
    encoded_items: Sequence[bytes],
) -> tuple[Hash32, dict[Hash32, bytes]]:
    """Root of the trie mapping ``rlp(index)`` to each encoded item, and its nodes.

    The nodes are keyed by their hash, ready to persist so that the items can
    be read back from the root. An empty sequence gives the empty trie root.
    Rejects an empty item: in a trie an empty value means "no entry".
    """
    if not all(encoded_items):
        raise ValueError("an index-keyed trie cannot hold an empty item")
    if not encoded_items:
        return BLANK_ROOT_HASH, {}

    entries = sorted(
        (_nibbles(rlp.encode(index)), item) for index, item in enumerate(encoded_items)
    )
    nodes: dict[Hash32, bytes] = {}
    root = rlp.encode(_build(entries, 0, nodes))

    # The root is stored by hash whatever its size; only inner nodes shorter
    # than a hash are embedded in their parent.
    root_hash = Hash32(keccak(root))
    nodes[root_hash] = root
    return root_hash, nodes


def _build(entries: list[Entry], depth: int, nodes: dict[Hash32, bytes]) -> Node:
    """The node holding ``entries`` (sorted, sharing their first ``depth`` nibbles)."""
    if len(entries) == 1:
        key, value = entries[0]
        return [_hex_prefix(key[depth:], leaf=True), value]

    shared = _shared_prefix_length(entries[0][0], entries[-1][0], depth)
    if shared:
        child = _build(entries, depth + shared, nodes)
        prefix = entries[0][0][depth : depth + shared]
        return [_hex_prefix(prefix, leaf=False), _reference(child, nodes)]

    branch: Node = [b""] * 17
    start = 0
    ends_here = entries[0][0][depth:] == b""  # only possible for the first key
    if ends_here:
        branch[16] = entries[0][1]
        start = 1
    while start < len(entries):
        nibble = entries[start][0][depth]
        end = start + 1
        while end < len(entries) and entries[end][0][depth] == nibble:
            end += 1
        branch[nibble] = _reference(_build(entries[start:end], depth + 1, nodes), nodes)
        start = end
    return branch


def _reference(node: Node, nodes: dict[Hash32, bytes]) -> bytes | Node:
    """How a parent refers to ``node``: embedded when short, else by hash."""
    encoded = rlp.encode(node)
    if len(encoded) < 32:
        return node
    node_hash = Hash32(keccak(encoded))
    nodes[node_hash] = encoded
    return node_hash


def _shared_prefix_length(first: bytes, last: bytes, depth: int) -> int:
    # The keys are sorted, so what the first and last share, all share.
    length = 0
    limit = min(len(first), len(last)) - depth
    while length < limit and first[depth + length] == last[depth + length]:
        length += 1
    return length


def _nibbles(key: bytes) -> bytes:
    return bytes(n for byte in key for n in (byte >> 4, byte & 0x0F))


def _hex_prefix(nibbles: bytes, *, leaf: bool) -> bytes:
    """The compact key encoding of a leaf or extension node (Yellow Paper, HP)."""
    flag = _LEAF_FLAG if leaf else 0
    if len(nibbles) % 2:
        padded = bytes([flag | _ODD_FLAG]) + nibbles
    else:
        padded = bytes([flag, 0]) + nibbles
    return bytes((padded[i] << 4) | padded[i + 1] for i in range(0, len(padded), 2))
