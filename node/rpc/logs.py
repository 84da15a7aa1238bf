"""Log queries (eth_getLogs and log filters) over the ledger's log index."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from chain.ledger import Ledger
from chain.log_index import candidate_blocks
from node.rpc.errors import InvalidParams, LimitExceeded
from node.rpc.formatting import format_log
from node.rpc.params import parse_address, parse_block_id, parse_hash

MAX_LOGS_PER_QUERY = 10_000


@dataclass(frozen=True)
class LogCriteria:
    """What a log query matches: a block range, addresses and topics."""

    from_block: int | str | bytes
    to_block: int | str | bytes
    addresses: tuple[bytes, ...]
    topics: tuple[tuple[bytes, ...] | None, ...]
    block_hash: bytes | None = None


def parse_log_criteria(value: Any, name: str) -> LogCriteria:
    """Parse the filter object of eth_getLogs / eth_newFilter."""
    if value is None:
        value = {}
    if not isinstance(value, dict):
        raise InvalidParams(f"invalid argument {name}: expected a filter object")
    block_hash = None
    if value.get("blockHash") is not None:
        if value.get("fromBlock") is not None or value.get("toBlock") is not None:
            raise InvalidParams(
                f"invalid argument {name}: blockHash excludes fromBlock and toBlock"
            )
        block_hash = parse_hash(value["blockHash"], f"{name}.blockHash")
    raw_addresses = value.get("address")
    if raw_addresses is None:
        addresses: tuple[bytes, ...] = ()
    elif isinstance(raw_addresses, list):
        addresses = tuple(
            parse_address(a, f"{name}.address[{i}]")
            for i, a in enumerate(raw_addresses)
        )
    else:
        addresses = (parse_address(raw_addresses, f"{name}.address"),)
    raw_topics = value.get("topics") or []
    if not isinstance(raw_topics, list) or len(raw_topics) > 4:
        raise InvalidParams(f"invalid argument {name}.topics: at most four positions")
    topics: list[tuple[bytes, ...] | None] = []
    for position, entry in enumerate(raw_topics):
        where = f"{name}.topics[{position}]"
        if entry is None:
            topics.append(None)
        elif isinstance(entry, list):
            topics.append(
                tuple(parse_hash(t, where) for t in entry if t is not None) or None
            )
        else:
            topics.append((parse_hash(entry, where),))
    return LogCriteria(
        from_block=parse_block_id(value.get("fromBlock"), f"{name}.fromBlock"),
        to_block=parse_block_id(value.get("toBlock"), f"{name}.toBlock"),
        addresses=addresses,
        topics=tuple(topics),
        block_hash=block_hash,
    )


def resolve_number(ledger: Ledger, block_id: int | str | bytes) -> int:
    """Turn a tag or number into a block number, capped at the head."""
    head = int(ledger.head.block_number)
    if block_id == "earliest":
        return 0
    if isinstance(block_id, str):
        return head
    if isinstance(block_id, bytes):
        header = ledger.header_by_hash(block_id)
        if header is None:
            raise InvalidParams("unknown block hash in filter")
        return int(header.block_number)
    return int(min(block_id, head))


def query_logs(
    ledger: Ledger, criteria: LogCriteria, from_block: int, to_block: int
) -> list[dict[str, Any]]:
    """Return the formatted logs that match ``criteria`` between two blocks."""
    if from_block > to_block:
        return []
    blocks = candidate_blocks(
        ledger.database, from_block, to_block, criteria.addresses, criteria.topics
    )
    results: list[dict[str, Any]] = []
    for block_number in blocks:
        header = ledger.header_by_number(block_number)
        if header is None:
            continue
        results.extend(logs_of_block(ledger, header, criteria))
        if len(results) > MAX_LOGS_PER_QUERY:
            raise LimitExceeded(
                f"query returned more than {MAX_LOGS_PER_QUERY} results; "
                "narrow the block range or add address and topic filters"
            )
    return results


def logs_of_block(
    ledger: Ledger, header: Any, criteria: LogCriteria
) -> list[dict[str, Any]]:
    """Return the logs of one block that match ``criteria``."""
    matches = []
    for mined in ledger.mined_receipts(header):
        for offset, log in enumerate(mined.receipt.logs):
            if matches_log(criteria, log.address, log.topics):
                matches.append(
                    format_log(
                        log,
                        header,
                        mined.transaction,
                        mined.index,
                        mined.first_log_index + offset,
                    )
                )
    return matches


def matches_log(criteria: LogCriteria, address: bytes, topics: Any) -> bool:
    if criteria.addresses and bytes(address) not in criteria.addresses:
        return False
    if len(criteria.topics) > len(topics):
        return False
    for wanted, topic in zip(criteria.topics, topics, strict=False):
        if wanted is not None and topic.to_bytes(32, "big") not in wanted:
            return False
    return True
