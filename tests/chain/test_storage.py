"""LevelDB storage: one atomic batch per block, and reopening after a crash."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from chain.block_production import produce_block
from chain.errors import StorageError
from chain.ledger import Ledger
from chain.storage import BlockWriteBuffer, LevelDB
from tests.chain.factories import address_of, make_genesis, make_key, signed_transfer

PROJECT_ROOT = Path(__file__).resolve().parents[2]
VALIDATOR, SENDER, RECIPIENT = make_key(1), make_key(2), make_key(3)


def test_buffer_reads_its_own_writes_and_commits_them_together(tmp_path: Path) -> None:
    database = LevelDB(tmp_path / "db")
    database[b"kept"] = b"1"
    buffer = BlockWriteBuffer(database)
    buffer[b"a"] = b"2"
    del buffer[b"kept"]

    assert buffer[b"a"] == b"2" and not buffer.exists(b"kept")
    assert not database.exists(b"a") and database.exists(b"kept")

    buffer.commit()
    assert database[b"a"] == b"2" and not database.exists(b"kept")


def test_a_batch_that_fails_midway_writes_nothing(tmp_path: Path) -> None:
    database = LevelDB(tmp_path / "db")

    class Exploding(dict[bytes, bytes | None]):
        def items(self):  # type: ignore[no-untyped-def]
            yield b"first", b"1"
            raise RuntimeError("crash in the middle of the batch")

    with pytest.raises(RuntimeError):
        database.write_all(Exploding())

    assert not database.exists(b"first")


def test_refuses_a_data_folder_of_another_chain(tmp_path: Path) -> None:
    Ledger(tmp_path, make_genesis([VALIDATOR], [SENDER])).close()
    with pytest.raises(StorageError, match="holds chain with genesis"):
        Ledger(tmp_path, make_genesis([VALIDATOR], [SENDER], chain_id=7))


def test_reopens_at_last_block_with_state_and_receipts(tmp_path: Path) -> None:
    genesis = make_genesis([VALIDATOR], [SENDER])
    ledger = Ledger(tmp_path, genesis)
    for nonce in range(3):
        ledger.submit_transaction(signed_transfer(SENDER, nonce, address_of(RECIPIENT)))
    header = produce_block(ledger, VALIDATOR, ledger.head.timestamp + 1)
    ledger.close()

    reopened = Ledger(tmp_path, genesis)

    assert reopened.head == header
    assert len(reopened.mined_receipts(header)) == 3
    assert (
        reopened.state_at(header).get_nonce(bytes.fromhex(address_of(SENDER)[2:])) == 3
    )


def _assert_complete_chain(ledger: Ledger) -> int:
    """Check every block up to the head is whole; return the transactions seen."""
    total = 0
    for header in ledger.iterate_headers(0, ledger.head.block_number):
        transactions = ledger.transactions_of(header)
        assert len(ledger.receipts_of(header)) == len(transactions)
        total += len(transactions)
    state = ledger.state_at(ledger.head)
    assert state.get_nonce(bytes.fromhex(address_of(SENDER)[2:])) == total
    return total


@pytest.mark.parametrize("round_number", range(4))
def test_sigkill_at_any_moment_reopens_at_a_complete_block(
    tmp_path: Path, round_number: int
) -> None:
    genesis = make_genesis([VALIDATOR], [SENDER])
    seen_blocks = 0
    for _kill in range(3):
        worker = subprocess.Popen(
            [sys.executable, "-m", "tests.chain.crash_worker", str(tmp_path)],
            cwd=PROJECT_ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        assert worker.stdout is not None
        assert worker.stdout.readline().strip() == b"ready"
        time.sleep(random.uniform(0.2, 1.0))
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait()

        ledger = Ledger(tmp_path, genesis)
        assert ledger.head.block_number >= seen_blocks
        seen_blocks = ledger.head.block_number
        _assert_complete_chain(ledger)
        ledger.submit_transaction(
            signed_transfer(
                SENDER,
                ledger.pending_nonce(bytes.fromhex(address_of(SENDER)[2:])),
                address_of(RECIPIENT),
            )
        )
        produce_block(ledger, VALIDATOR, ledger.head.timestamp + 1)
        seen_blocks += 1
        ledger.close()
    assert seen_blocks > 3
