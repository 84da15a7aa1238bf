"""A child process that builds blocks as fast as it can until it is killed.

Used by ``test_storage.py``: the parent kills it with SIGKILL at a random moment
and checks that the data folder reopens at a complete block.
"""

from __future__ import annotations

import sys
from pathlib import Path

from chain.block_production import produce_block
from chain.ledger import Ledger
from tests.chain.factories import address_of, make_genesis, make_key, signed_transfer

VALIDATOR = make_key(1)
SENDER = make_key(2)
RECIPIENT = address_of(make_key(3))


def main(data_dir: Path) -> None:
    ledger = Ledger(data_dir, make_genesis([VALIDATOR], [SENDER]))
    nonce = ledger.state_at(ledger.head).get_nonce(
        bytes.fromhex(address_of(SENDER)[2:])
    )
    timestamp = ledger.head.timestamp
    print("ready", flush=True)
    while True:
        for _ in range(20):
            ledger.submit_transaction(signed_transfer(SENDER, nonce, RECIPIENT, 1))
            nonce += 1
        timestamp += 1
        produce_block(ledger, VALIDATOR, timestamp)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
