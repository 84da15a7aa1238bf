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

import struct
from collections.abc import Iterable, Sequence

from eth.abc import DatabaseAPI, ReceiptAPI

from chain.storage import LevelDB

_RECEIPT_OFFSETS = b"gongfen:receipt-offsets:"
_OFFSET = struct.Struct(">QI")  # gas used by the transaction, its first log index
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


def write_receipt_offsets(
    db: DatabaseAPI, block_hash: bytes, receipts: Sequence[ReceiptAPI]
) -> None:
    """Record each receipt's own gas and first log index for one block.

    Receipts store cumulative gas, and a log's index counts every log before it
    in the block; without this record, answering for one transaction would mean
    decoding the whole block.
    """
    previous_gas = 0
    first_log = 0
    packed = bytearray()
    for receipt in receipts:
        packed += _OFFSET.pack(receipt.gas_used - previous_gas, first_log)
        previous_gas = receipt.gas_used
        first_log += len(receipt.logs)
    db[_RECEIPT_OFFSETS + block_hash] = bytes(packed)


def read_receipt_offset(
    db: DatabaseAPI, block_hash: bytes, index: int
) -> tuple[int, int] | None:
    """Return (gas used, first log index) of transaction ``index``, if recorded."""
    try:
        packed = db[_RECEIPT_OFFSETS + block_hash]
    except KeyError:
        return None
    start = index * _OFFSET.size
    if start + _OFFSET.size > len(packed):
        return None
    gas_used, first_log = _OFFSET.unpack_from(packed, start)
    return int(gas_used), int(first_log)


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
