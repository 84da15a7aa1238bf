"""Keys, timing and chain assertions shared by the consensus tests."""

from __future__ import annotations

from eth.abc import BlockHeaderAPI
from eth_typing import Address

from chain.blocks import seal_hash
from chain.qbft.events import QbftConfig
from chain.qbft.extra_data import decode_extra_data
from chain.qbft.signing import recover_signer
from chain.qbft.validators import quorum_size
from node.consensus.local_network import LocalNetwork
from tests.chain.factories import make_key

VALIDATOR_KEYS = [make_key(index) for index in range(4)]
SENDER_KEYS = [make_key(100 + index) for index in range(4)]
# Short timeouts keep the fake-time runs short; real time is spent executing.
CONFIG = QbftConfig(
    block_period_seconds=1.0,
    request_timeout_seconds=2.0,
    maximum_round_timeout_seconds=16.0,
)


def sealers_of(header: BlockHeaderAPI) -> list[Address | None]:
    """Return the signer of each committed seal in ``header``, in order."""
    digest = seal_hash(header)
    seals = decode_extra_data(header.extra_data).committed_seals
    return [recover_signer(seal, digest) for seal in seals]


def assert_quorum_of_seals(
    header: BlockHeaderAPI, validators: tuple[Address, ...]
) -> None:
    """Assert ``header`` carries seals from a quorum of distinct validators."""
    sealers = sealers_of(header)
    assert set(sealers) <= set(validators), "a seal from a non-validator"
    assert len(set(sealers)) == len(sealers), "two seals from one validator"
    assert len(sealers) >= quorum_size(len(validators))


def assert_identical_chains(network: LocalNetwork, indexes: list[int]) -> None:
    """Assert the validators at ``indexes`` hold the same blocks at every height."""
    chains = [
        [(h.hash, h.state_root) for h in network.canonical_headers(index)]
        for index in indexes
    ]
    assert chains[0], "no block was committed"
    for chain in chains[1:]:
        assert chain == chains[0]


def round_of(header: BlockHeaderAPI) -> int:
    """Return the QBFT round written in ``header``'s extraData."""
    return decode_extra_data(header.extra_data).round
