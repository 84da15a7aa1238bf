"""Admission of transactions: decoding raw bytes and the checks before the pool.

``decode_transaction`` turns raw bytes into a py-evm transaction with a verified
signature. ``check_transaction`` applies the consortium's rules against the
head state, in the order geth applies its own, so that the first failing rule
names the error a client expects:

1. size within the limit;
2. decodable, of a supported type (legacy with EIP-155, EIP-2930, EIP-1559);
3. signed for this chain (py-evm alone accepts another chain id, or none);
4. a valid signature with low ``s`` (EIP-2);
5. a sender the consortium permits;
6. a gas limit within the block gas limit and above the intrinsic gas;
7. a nonce not already used;
8. a balance that covers value plus maximum fee.

The same ``check_transaction`` runs at block import, so a faulty proposer
cannot include what a node would refuse at submission.
"""

from __future__ import annotations

from dataclasses import dataclass

import rlp
from eth.abc import SignedTransactionAPI, StateAPI
from eth.vm.forks.prague.transactions import PragueTransactionBuilder
from eth_typing import Address
from eth_utils import ValidationError, to_checksum_address

from chain.errors import (
    ExceedsBlockGasLimit,
    InsufficientFunds,
    IntrinsicGasTooLow,
    InvalidChainId,
    MalformedTransaction,
    NonceTooLow,
    SenderNotPermitted,
    TransactionTooLarge,
)
from chain.permissions import SenderPermission

SUPPORTED_TYPES = {0: "legacy", 1: "EIP-2930", 2: "EIP-1559"}
SECP256K1_HALF_ORDER = (
    0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141 // 2
)


@dataclass(frozen=True)
class AdmissionLimits:
    """Limits that a node applies to each transaction it admits."""

    chain_id: int
    block_gas_limit: int
    max_transaction_bytes: int = 128 * 1024


def decode_transaction(
    raw: bytes, limits: AdmissionLimits, recovered_sender: Address | None = None
) -> SignedTransactionAPI:
    """Decode ``raw`` into a signed transaction and recover its sender.

    ``recovered_sender``, when given, is the sender that this node's own
    JSON-RPC gateway already recovered from the same bytes (see
    ``node.rpc.gateway``); it is trusted instead of recovering it again, which
    is the most expensive step here. Never pass a sender from anywhere else.

    Rejects oversized bytes (``TransactionTooLarge``); bytes that are not a
    transaction, an unsupported type, or a bad or high-``s`` signature
    (``MalformedTransaction``); and a chain id other than this chain's or none
    (``InvalidChainId``).
    """
    if len(raw) > limits.max_transaction_bytes:
        raise TransactionTooLarge(len(raw), limits.max_transaction_bytes)
    if not raw:
        raise MalformedTransaction("invalid transaction: empty bytes")
    type_id = raw[0] if raw[0] < 0x80 else 0
    if type_id not in SUPPORTED_TYPES:
        raise MalformedTransaction(
            f"transaction type not supported: 0x{type_id:02x}; send legacy, "
            "EIP-2930 or EIP-1559 transactions"
        )
    try:
        transaction = PragueTransactionBuilder.decode(raw)
    except (
        rlp.exceptions.RLPException,
        ValidationError,
        ValueError,
        IndexError,
        TypeError,
    ) as error:
        raise MalformedTransaction(f"invalid transaction: rlp: {error}") from None
    if transaction.encode() != raw:
        # Non-canonical RLP would give one transaction two hashes.
        raise MalformedTransaction("invalid transaction: non-canonical encoding")

    chain_id = transaction.chain_id
    if chain_id != limits.chain_id:
        raise InvalidChainId(limits.chain_id, chain_id)
    if recovered_sender is None:
        _check_signature(transaction)
    else:
        _check_low_s(transaction)
        # py-evm caches the sender as an ordinary attribute once recovered.
        transaction.__dict__["sender"] = recovered_sender
    return transaction


def _check_low_s(transaction: SignedTransactionAPI) -> None:
    if transaction.s > SECP256K1_HALF_ORDER or transaction.s == 0:
        raise MalformedTransaction("invalid transaction v, r, s values: high s")


def _check_signature(transaction: SignedTransactionAPI) -> None:
    _check_low_s(transaction)
    try:
        # Recovering the sender is the signature check: a signature that does
        # not recover raises here, and the sender is cached on the object so
        # the VM does not recover it again.
        transaction.sender  # noqa: B018
    except (ValidationError, ValueError, TypeError) as error:
        raise MalformedTransaction(f"invalid sender: {error}") from None


def check_transaction(
    transaction: SignedTransactionAPI,
    state: StateAPI,
    limits: AdmissionLimits,
    permission: SenderPermission,
) -> None:
    """Check a decoded transaction against the state it would execute on.

    Rejects an unpermitted sender (``SenderNotPermitted``), a gas limit above
    the block's (``ExceedsBlockGasLimit``) or below the intrinsic gas
    (``IntrinsicGasTooLow``), a used nonce (``NonceTooLow``) and a balance
    short of value plus maximum fee (``InsufficientFunds``).
    """
    sender = transaction.sender
    if not permission.is_permitted(sender, state):
        raise SenderNotPermitted(to_checksum_address(sender))
    if transaction.gas > limits.block_gas_limit:
        raise ExceedsBlockGasLimit(transaction.gas, limits.block_gas_limit)
    intrinsic_gas = transaction.intrinsic_gas
    if transaction.gas < intrinsic_gas:
        raise IntrinsicGasTooLow(transaction.gas, intrinsic_gas)
    next_nonce = state.get_nonce(sender)
    if transaction.nonce < next_nonce:
        raise NonceTooLow(transaction.nonce, next_nonce)
    balance = state.get_balance(sender)
    cost = transaction.value + transaction.gas * transaction.max_fee_per_gas
    if balance < cost:
        raise InsufficientFunds(balance, cost)
