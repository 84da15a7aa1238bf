"""The chain thread imports blocks that a quorum committed, and nothing else."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import rlp
from eth.abc import BlockHeaderAPI

from chain.genesis import Genesis
from chain.ledger import Ledger
from node.consensus.block_interface import encode_block, without_seals
from node.consensus.host import ChainThread
from node.consensus.local_network import LocalNetwork
from node.sync import decode_blocks, read_blocks


@pytest.fixture
def observer(genesis: Genesis, tmp_path: Path) -> Iterator[Ledger]:
    ledger = Ledger(tmp_path / "observer", genesis, sync_writes=False)
    yield ledger
    ledger.close()


def run_thread(
    ledger: Ledger,
) -> tuple[ChainThread, list[BlockHeaderAPI], list[tuple[str, str]]]:
    heads: list[BlockHeaderAPI] = []
    problems: list[tuple[str, str]] = []
    thread = ChainThread(
        ledger,
        None,
        on_new_head=heads.append,
        on_bad_block=lambda peer, problem: problems.append((peer, problem)),
    )
    thread.start()
    return thread, heads, problems


def test_observer_imports_served_blocks_from_genesis(
    network: LocalNetwork, observer: Ledger
) -> None:
    network.start()
    assert network.run_until(network.all_reached(3), timeout_seconds=60)
    served = decode_blocks(read_blocks(network.validators[0].ledger, 1, 64))
    thread, heads, problems = run_thread(observer)

    try:
        imported = thread.submit_blocks("town", served).result(timeout=30)
    finally:
        thread.stop()
        thread.join(timeout=10)

    assert imported == len(served) >= 3
    assert problems == []
    source = network.validators[0].ledger
    assert [h.hash for h in heads] == [
        source.header_by_number(n).hash  # type: ignore[union-attr]
        for n in range(1, len(served) + 1)
    ]


def test_observer_rejects_a_block_without_committed_seals(
    network: LocalNetwork, observer: Ledger
) -> None:
    network.start()
    assert network.run_until(network.all_reached(1), timeout_seconds=60)
    source = network.validators[0].ledger
    header = source.header_by_number(1)
    assert header is not None
    unsealed = encode_block(without_seals(source.block_of(header)))
    thread, heads, problems = run_thread(observer)

    try:
        imported = thread.submit_blocks("liar", [(1, unsealed)]).result(timeout=30)
        garbage = thread.submit_blocks("liar", [(1, rlp.encode(b"x"))]).result(10)
    finally:
        thread.stop()
        thread.join(timeout=10)

    assert imported == garbage == 0
    assert heads == []
    assert observer.head.block_number == 0
    assert [peer for peer, _ in problems] == ["liar", "liar"]
    assert "seals" in problems[0][1]
