"""Builders for genesis documents and signed transactions used across tests."""

from __future__ import annotations

from typing import Any

from eth_account import Account
from eth_keys import keys
from eth_typing import Address

from chain.genesis import Genesis, Member, build_genesis_document, parse_genesis

CHAIN_ID = 20261
GAS_LIMIT = 100_000_000
FUNDED = 10**24


def make_key(seed: int) -> bytes:
    """Return a deterministic private key for tests (never for real members)."""
    return (seed + 0x1000).to_bytes(32, "big")


def address_of(key: bytes) -> str:
    return str(Account.from_key(key).address)


def canonical_address(key: bytes) -> Address:
    return Address(keys.PrivateKey(key).public_key.to_canonical_address())


def member_for(key: bytes, index: int, role: str = "town") -> Member:
    public_key = keys.PrivateKey(key).public_key
    return Member(
        id=f"member-{index}",
        name=f"成员{index}",
        role=role,
        validator=Address(public_key.to_canonical_address()),
        node_id=public_key.to_bytes(),
    )


def genesis_document(
    validator_keys: list[bytes],
    funded_keys: list[bytes],
    *,
    permissioning: str = "open",
    allowlist: list[bytes] | None = None,
    chain_id: int = CHAIN_ID,
    block_period_seconds: int = 1,
) -> dict[str, Any]:
    """Return a genesis document with one member per validator key."""
    return build_genesis_document(
        chain_id=chain_id,
        members=[member_for(k, i) for i, k in enumerate(validator_keys)],
        validators=[canonical_address(k) for k in validator_keys],
        balances={canonical_address(k): FUNDED for k in funded_keys},
        permissioning=permissioning,
        allowlist=[canonical_address(k) for k in allowlist or []],
        block_period_seconds=block_period_seconds,
        gas_limit=GAS_LIMIT,
        timestamp=0x60000000,
    )


def make_genesis(
    validator_keys: list[bytes], funded_keys: list[bytes], **options: Any
) -> Genesis:
    return parse_genesis(genesis_document(validator_keys, funded_keys, **options))


def signed_transfer(
    key: bytes,
    nonce: int,
    to: str,
    value: int = 1,
    *,
    chain_id: int | None = CHAIN_ID,
    gas: int = 21_000,
    gas_price: int = 0,
    dynamic_fee: bool = False,
    data: bytes = b"",
) -> bytes:
    """Return the raw bytes of a signed transaction."""
    fields: dict[str, Any] = {
        "nonce": nonce,
        "to": to,
        "value": value,
        "gas": gas,
        "data": data,
    }
    if dynamic_fee:
        fields.update(maxFeePerGas=gas_price, maxPriorityFeePerGas=gas_price, type=2)
    else:
        fields["gasPrice"] = gas_price
    if chain_id is not None:
        fields["chainId"] = chain_id
    return bytes(Account.sign_transaction(fields, key).raw_transaction)
