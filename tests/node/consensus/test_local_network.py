"""Four validators on real ledgers agree, survive a lost proposer and a liar.

Every run uses fake time: the bus delivers at once and time jumps to the next
timer, so a round change costs no waiting, only the blocks' execution.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from eth.abc import BlockHeaderAPI
from eth_typing import Address

from chain.block_production import import_block
from chain.genesis import Genesis
from chain.ledger import Ledger
from chain.qbft.messages import (
    MessageCode,
    Proposal,
    ProposalPayload,
    decode_message,
    sign,
)
from chain.qbft.validators import select_proposer, sort_validators
from node.consensus.block_interface import decode_block, encode_block
from node.consensus.local_network import LocalNetwork
from tests.chain.factories import address_of, make_key, signed_transfer
from tests.node.consensus.support import (
    CONFIG,
    SENDER_KEYS,
    VALIDATOR_KEYS,
    assert_identical_chains,
    assert_quorum_of_seals,
    round_of,
)

ALL = [0, 1, 2, 3]


def proposer_index(network: LocalNetwork, round_number: int) -> int:
    """Return the index of the validator proposing block 1 in ``round_number``."""
    genesis_header = network.validators[0].ledger.head
    proposer = select_proposer(
        sort_validators(network.genesis.validators),
        Address(genesis_header.coinbase),
        round_number,
    )
    addresses = [v.driver.address for v in network.validators]
    return addresses.index(proposer)


def test_four_validators_commit_five_blocks_with_transfers(
    network: LocalNetwork, genesis: Genesis, tmp_path: Path
) -> None:
    recipient = address_of(make_key(200))
    submitted = []
    # Each sender's transfers go to one validator's pool only; without gossip
    # they are included when that validator proposes.
    for index, sender_key in enumerate(SENDER_KEYS):
        ledger = network.validators[index].ledger
        for nonce in range(2):
            raw = signed_transfer(sender_key, nonce, recipient, value=10 + nonce)
            submitted.append(ledger.submit_transaction(raw))

    network.start()
    assert network.run_until(network.all_reached(5), timeout_seconds=60)

    assert_identical_chains(network, ALL)
    headers = network.canonical_headers(0)
    assert [round_of(h) for h in headers] == [0] * len(headers)
    assert {h.coinbase for h in headers[:4]} == set(genesis.validators)
    for validator in network.validators:
        for transaction_hash in submitted:
            assert validator.ledger.transaction_location(transaction_hash)
        for header in network.canonical_headers(validator.index):
            assert_quorum_of_seals(header, genesis.validators)

    observer = Ledger(tmp_path / "observer", genesis, sync_writes=False)
    try:
        for header in headers:
            block = network.validators[0].ledger.block_of(header)
            imported = import_block(observer, block)
            assert (imported.hash, imported.state_root) == (
                header.hash,
                header.state_root,
            )
    finally:
        observer.close()


def test_offline_proposer_is_replaced_by_round_change(network: LocalNetwork) -> None:
    offline = proposer_index(network, 0)
    next_proposer = proposer_index(network, 1)
    live = [index for index in ALL if index != offline]
    network.stop(offline)

    network.start()
    assert network.run_until(network.all_reached(1), timeout_seconds=30)

    assert_identical_chains(network, live)
    first = network.canonical_headers(live[0])[0]
    assert round_of(first) == 1
    assert first.coinbase == network.validators[next_proposer].driver.address
    # Three of four are a quorum: the chain goes on without the offline one.
    assert network.run_until(network.all_reached(2), timeout_seconds=30)

    network.rejoin(offline, source=live[0])
    assert network.run_until(network.all_reached(4), timeout_seconds=30)
    assert_identical_chains(network, ALL)
    # Rotation comes back to the returned validator, which proposes in round 0.
    fourth = network.canonical_headers(offline)[3]
    assert fourth.coinbase == network.validators[offline].driver.address
    assert round_of(fourth) == 0


def test_two_of_four_down_stops_commits_and_recovery_is_bounded(
    network: LocalNetwork,
) -> None:
    network.start()
    assert network.run_until(network.all_reached(1), timeout_seconds=30)
    network.stop(2)
    network.stop(3)

    # Two of four are below the quorum of three: rounds change, nothing commits.
    assert not network.run_until(network.all_reached(2), timeout_seconds=120)
    assert network.heads() == [1, 1, 1, 1]
    survivors_round = network.validators[0].driver.round
    assert survivors_round is not None and survivors_round >= 5

    network.rejoin(2, source=0)
    network.rejoin(3, source=0)
    returned_at = network.now
    assert network.run_until(network.all_reached(3), timeout_seconds=60)
    # The capped round timeout bounds the wait: the survivors' next round
    # change reaches the returned validators within one capped timeout, and
    # the round after it decides.
    assert network.now - returned_at <= 2 * CONFIG.maximum_round_timeout_seconds
    assert_identical_chains(network, ALL)


def test_prepared_block_is_reproposed_after_lost_commits(
    network: LocalNetwork,
) -> None:
    builder = proposer_index(network, 0)
    # A tip above the zero base fee goes to the coinbase, so the state root
    # depends on it: re-proposing must keep the builder as coinbase.
    tipping = signed_transfer(SENDER_KEYS[0], 0, address_of(make_key(200)), gas_price=7)
    tipping_hash = network.validators[builder].ledger.submit_transaction(tipping)
    round_zero_blocks: list[bytes] = []

    def drop_round_zero_commits(
        sender: int, recipient: int, message_code: int, data: bytes
    ) -> bytes | None:
        message = decode_message(message_code, data)
        if (message.height, message.round) != (1, 0):
            return data
        if isinstance(message, Proposal):
            round_zero_blocks.append(message.block)
        return None if message_code == MessageCode.COMMIT else data

    network.message_filter = drop_round_zero_commits
    network.start()
    assert network.run_until(network.all_reached(1), timeout_seconds=30)

    assert_identical_chains(network, ALL)
    first = network.canonical_headers(0)[0]
    prepared = decode_block(round_zero_blocks[0]).header
    # Every validator prepared the round-0 block, so round 1 must decide it:
    # the same block, re-rounded, still with its builder as coinbase.
    assert round_of(first) == 1
    assert (first.hash, first.state_root) == (prepared.hash, prepared.state_root)
    assert first.coinbase == network.validators[builder].driver.address
    for validator in network.validators:
        location = validator.ledger.transaction_location(tipping_hash)
        assert location is not None and location.block_number == 1


def forge_state_root(header: BlockHeaderAPI) -> BlockHeaderAPI:
    return header.copy(state_root=b"\x11" * 32)


def forge_future_timestamp(header: BlockHeaderAPI) -> BlockHeaderAPI:
    return header.copy(timestamp=header.timestamp + 60)


def forge_parent(header: BlockHeaderAPI) -> BlockHeaderAPI:
    return header.copy(parent_hash=b"\x22" * 32)


@pytest.mark.parametrize(
    ("forge", "reason"),
    [
        (forge_state_root, "executing the block gives a different header"),
        (forge_future_timestamp, "ahead of this validator's clock"),
        (forge_parent, "parent is not the head"),
    ],
)
def test_byzantine_proposal_is_refused_and_replaced(
    network: LocalNetwork,
    forge: Callable[[BlockHeaderAPI], BlockHeaderAPI],
    reason: str,
) -> None:
    byzantine = proposer_index(network, 0)
    next_proposer = proposer_index(network, 1)
    forged: dict[str, bytes] = {}

    def forge_proposal(
        sender: int, recipient: int, message_code: int, data: bytes
    ) -> bytes | None:
        if sender != byzantine or message_code != MessageCode.PROPOSAL:
            return data
        proposal = decode_message(message_code, data)
        assert isinstance(proposal, Proposal)
        if (proposal.height, proposal.round) != (1, 0):
            return data
        if "message" not in forged:
            # The proposer signs its forgery: the PROPOSAL itself is authentic.
            block = decode_block(proposal.block)
            header = forge(block.header)
            payload = ProposalPayload(1, 0, encode_block(block.copy(header=header)))
            key = VALIDATOR_KEYS[byzantine]
            forged["message"] = Proposal(sign(payload, key)).encode()
            forged["hash"] = header.hash
        return forged["message"]

    network.message_filter = forge_proposal
    network.start()
    assert network.run_until(network.all_reached(1), timeout_seconds=30)

    for index in ALL:
        driver = network.validators[index].driver
        if index == byzantine:
            continue
        assert driver.invalid_proposals == 1
        assert driver.last_invalid_reason is not None
        assert reason in driver.last_invalid_reason
    assert_identical_chains(network, ALL)
    first = network.canonical_headers(0)[0]
    assert round_of(first) == 1
    assert first.coinbase == network.validators[next_proposer].driver.address
    for validator in network.validators:
        assert validator.ledger.header_by_hash(forged["hash"]) is None
