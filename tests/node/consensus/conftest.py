"""Fixtures for the consensus tests: four validators on one genesis, fake time."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from chain.genesis import Genesis
from node.consensus.local_network import LocalNetwork
from tests.chain.factories import make_genesis
from tests.node.consensus.support import CONFIG, SENDER_KEYS, VALIDATOR_KEYS


@pytest.fixture
def genesis() -> Genesis:
    return make_genesis(VALIDATOR_KEYS, SENDER_KEYS)


@pytest.fixture
def network(genesis: Genesis, tmp_path: Path) -> Iterator[LocalNetwork]:
    local_network = LocalNetwork(
        genesis, VALIDATOR_KEYS, tmp_path / "network", config=CONFIG
    )
    yield local_network
    local_network.close()
