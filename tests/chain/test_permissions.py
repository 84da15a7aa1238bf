"""Sender permission read from a contract in the parent state."""

from __future__ import annotations

from pathlib import Path

import pytest
from eth_abi import encode as abi_encode
from eth_utils import keccak, to_checksum_address

from chain.block_production import produce_block
from chain.errors import SenderNotPermitted
from chain.genesis import parse_genesis
from chain.ledger import Ledger
from chain.permissions import ContractPermission
from tests.chain.factories import (
    address_of,
    canonical_address,
    genesis_document,
    make_key,
    signed_transfer,
)
from tests.support.compile import compile_vyper

VALIDATOR, OWNER, NEWCOMER = make_key(1), make_key(2), make_key(3)
GATEKEEPER = Path(__file__).parent / "contracts" / "Gatekeeper.vy"


def gatekeeper_address() -> bytes:
    import rlp

    return keccak(rlp.encode([canonical_address(OWNER), 0]))[12:]


@pytest.fixture
def ledger(tmp_path: Path) -> Ledger:
    document = genesis_document(
        [VALIDATOR], [OWNER, NEWCOMER], permissioning="allowlist", allowlist=[OWNER]
    )
    document["gongfen"]["permissionContract"] = "0x" + gatekeeper_address().hex()
    return Ledger(tmp_path, parse_genesis(document))


def next_block(ledger: Ledger) -> None:
    produce_block(ledger, VALIDATOR, ledger.head.timestamp + 1)


def deploy_gatekeeper(ledger: Ledger) -> None:
    bytecode = bytes.fromhex(compile_vyper(GATEKEEPER)["bytecode"][2:])
    ledger.submit_transaction(
        signed_transfer(OWNER, 0, "", 0, gas=1_000_000, data=bytecode)
    )
    next_block(ledger)
    assert ledger.state_at(ledger.head).get_code(gatekeeper_address())


def admit(ledger: Ledger, nonce: int, allowed: bool) -> None:
    ledger.submit_transaction(revocation_or_admission(nonce, allowed))
    next_block(ledger)


def revocation_or_admission(nonce: int, allowed: bool) -> bytes:
    data = keccak(text="admit(address,bool)")[:4] + abi_encode(
        ["address", "bool"], [address_of(NEWCOMER), allowed]
    )
    to = to_checksum_address(gatekeeper_address())
    return signed_transfer(OWNER, nonce, to, 0, gas=100_000, data=data)


def test_only_the_allowlist_may_send_before_the_contract_exists(ledger: Ledger) -> None:
    assert isinstance(ledger.permission, ContractPermission)
    with pytest.raises(SenderNotPermitted):
        ledger.submit_transaction(signed_transfer(NEWCOMER, 0, address_of(OWNER)))


def test_the_contract_admits_and_later_refuses(ledger: Ledger) -> None:
    deploy_gatekeeper(ledger)
    with pytest.raises(SenderNotPermitted):
        ledger.submit_transaction(signed_transfer(NEWCOMER, 0, address_of(OWNER)))

    admit(ledger, 1, True)
    ledger.submit_transaction(signed_transfer(NEWCOMER, 0, address_of(OWNER)))
    next_block(ledger)
    assert ledger.state_at(ledger.head).get_nonce(canonical_address(NEWCOMER)) == 1

    admit(ledger, 2, False)
    with pytest.raises(SenderNotPermitted):
        ledger.submit_transaction(signed_transfer(NEWCOMER, 1, address_of(OWNER)))


def test_a_pooled_transaction_is_dropped_once_its_sender_loses_the_role(
    ledger: Ledger,
) -> None:
    deploy_gatekeeper(ledger)
    admit(ledger, 1, True)
    ledger.submit_transaction(revocation_or_admission(2, False))
    ledger.submit_transaction(signed_transfer(NEWCOMER, 0, address_of(OWNER)))

    # One transaction per block: the revocation (first in) commits alone, and
    # the next block judges the newcomer by a parent state without the role.
    produce_block(ledger, VALIDATOR, ledger.head.timestamp + 1, max_transactions=1)
    produce_block(ledger, VALIDATOR, ledger.head.timestamp + 1, max_transactions=1)

    assert ledger.state_at(ledger.head).get_nonce(canonical_address(NEWCOMER)) == 0
    assert len(ledger.pool) == 0
