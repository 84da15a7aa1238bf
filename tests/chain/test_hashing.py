"""Every entry point hashes with the C Keccak-256 (see chain/hashing.py)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.support.devnet import PROJECT_ROOT

EMPTY_KECCAK = "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"

PROBE = """
import importlib, sys
importlib.import_module(sys.argv[1])
from eth_hash.auto import keccak
print(keccak(b"").hex(), type(keccak.hasher.__self__).__name__)
"""


def _backend_after_importing(module: str, **environment: str) -> tuple[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "ETH_HASH_BACKEND"}
    env.update(environment)
    result = subprocess.run(
        [sys.executable, "-c", PROBE, module],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    digest, backend = result.stdout.split()
    return digest, backend


@pytest.mark.parametrize(
    "module", ["node.cli", "node.rpc.gateway", "chain.ledger", "contracts.build"]
)
def test_entry_points_hash_with_safe_pysha3(module: str) -> None:
    assert _backend_after_importing(module) == (EMPTY_KECCAK, "PySha3Backend")


def test_a_backend_named_in_the_environment_is_kept() -> None:
    digest, backend = _backend_after_importing(
        "node.cli", ETH_HASH_BACKEND="pycryptodome"
    )
    assert (digest, backend) == (EMPTY_KECCAK, "CryptodomeBackend")
