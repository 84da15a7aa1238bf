"""Shared fixtures for the QBFT tests: the cross-client vectors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

# tests/chain/qbft/conftest.py -> project root -> ../shared/vectors
VECTORS_DIRECTORY = Path(__file__).parents[3].parent / "shared" / "vectors" / "qbft"


def load_qbft_vectors(file_name: str) -> dict[str, Any]:
    """Return the named vector file, or skip the test if the vectors are absent."""
    path = VECTORS_DIRECTORY / file_name
    if not path.is_file():
        pytest.skip(
            f"shared QBFT vectors not found at {path}; check out ../shared/vectors "
            "next to the project to run this test"
        )
    vectors: dict[str, Any] = json.loads(path.read_text())
    return vectors


def hex_bytes(value: str) -> bytes:
    """Decode a 0x-prefixed hex string."""
    return bytes.fromhex(value.removeprefix("0x"))
