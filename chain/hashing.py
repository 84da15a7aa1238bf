"""Which Keccak-256 the whole process uses.

py-evm, trie, eth-keys and eth-account all hash through ``eth_hash.auto``,
which picks its backend once, at the first hash, from ``ETH_HASH_BACKEND`` or
else the first one installed: pycryptodome. pycryptodome builds a new cffi
hash object per call, about 4.8 µs for a 64-byte input here, against 0.7 µs
for the C extension of safe-pysha3. A block of ERC-20 transfers computes
tens of hashes per transaction (storage keys, trie nodes, the sender's
address), so under load Keccak took 10 to 17 % of each consortium node's CPU.

Importing ``chain`` selects safe-pysha3 when it is installed (a dependency
in pyproject.toml), unless ``ETH_HASH_BACKEND`` already names a backend. The
choice must come before the first hash, so ``node`` and ``contracts`` import
``chain`` first; child processes inherit it through the environment.
"""

from __future__ import annotations

import importlib.util
import os

FAST_BACKEND = "pysha3"  # eth-hash's name for the ``sha3`` module of safe-pysha3


def select_fast_keccak() -> None:
    """Make ``eth_hash.auto`` use safe-pysha3 if it is installed and no
    backend is chosen already."""
    if importlib.util.find_spec("sha3") is not None:
        os.environ.setdefault("ETH_HASH_BACKEND", FAST_BACKEND)
