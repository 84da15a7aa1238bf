"""An index of event logs by address and topic, for range queries.

For every block with logs, the index records one empty-valued key per
(address, block) and per (topic, block), and one per block that has any log::

    b"logidx:a" + address(20) + block_number(8)
    b"logidx:t" + topic(32) + block_number(8)
    b"logidx:b" + block_number(8)

Block numbers are big-endian, so a LevelDB range scan over one prefix returns the
blocks that may hold a match in order, and a query touches only those blocks'
receipts instead of every block in the range. The keys are written in the same
write batch as the block.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from eth.abc import DatabaseAPI, ReceiptAPI

from chain.storage import LevelDB

_ADDRESS = b"logidx:a"
_TOPIC = b"logidx:t"
_BLOCK = b"logidx:b"


def _number(block_number: int) -> bytes:
    return block_number.to_bytes(8, "big")


def index_block_logs(
    db: DatabaseAPI, block_number: int, receipts: Iterable[ReceiptAPI]
) -> None:
    """Write the index keys for the logs of one block into ``db``."""
    number = _number(block_number)
    has_logs = False
    for receipt in receipts:
        for log in receipt.logs:
            has_logs = True
            db[_ADDRESS + bytes(log.address) + number] = b""
            for topic in log.topics:
                db[_TOPIC + topic.to_bytes(32, "big") + number] = b""
    if has_logs:
        db[_BLOCK + number] = b""


def candidate_blocks(
    db: LevelDB,
    from_block: int,
    to_block: int,
    addresses: Sequence[bytes],
    topics: Sequence[Sequence[bytes] | None],
) -> list[int]:
    """Return the blocks in ``[from_block, to_block]`` that may hold matching logs.

    ``addresses`` is a list of alternatives (empty means any); ``topics`` holds, per
    position, a list of alternatives or ``None`` for any. The result is a
    superset of the blocks with matches: the caller filters each log exactly.
    """
    start, stop = _number(from_block), _number(to_block + 1)
    constraint_sets: list[set[int]] = []
    if addresses:
        constraint_sets.append(_union(db, _ADDRESS, addresses, start, stop))
    for alternatives in topics:
        if alternatives:
            constraint_sets.append(_union(db, _TOPIC, alternatives, start, stop))
    if not constraint_sets:
        return _scan(db, _BLOCK, start, stop)
    matching = set.intersection(*constraint_sets)
    return sorted(matching)


def _union(
    db: LevelDB, kind: bytes, keys: Sequence[bytes], start: bytes, stop: bytes
) -> set[int]:
    blocks: set[int] = set()
    for key in keys:
        blocks.update(_scan(db, kind + key, start, stop))
    return blocks


def _scan(db: LevelDB, prefix: bytes, start: bytes, stop: bytes) -> list[int]:
    return [
        int.from_bytes(key[-8:], "big")
        for key in db.iterate_prefix(prefix, start=start, stop=stop)
    ]
