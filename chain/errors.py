"""Errors raised by the ledger.

Every error the chain raises derives from ``ChainError``::

    ChainError
    ├── GenesisError             a genesis field is missing or wrong
    ├── ExtraDataError           a header's QBFT extraData is malformed
    ├── QbftMessageError         a consensus message is malformed or breaks a rule
    ├── StorageError             the data folder cannot be opened or is bad
    ├── TransactionRejected      a transaction may not enter the pool or a block
    │   ├── MalformedTransaction     undecodable bytes or a bad signature
    │   ├── InvalidChainId           signed for another chain, or for none
    │   ├── SenderNotPermitted       sender is not allowed to transact
    │   ├── NonceTooLow              nonce already used by the sender
    │   ├── InsufficientFunds        value plus fees exceed the sender's balance
    │   ├── IntrinsicGasTooLow       gas limit below the intrinsic gas
    │   ├── ExceedsBlockGasLimit     gas limit above the block gas limit
    │   ├── TransactionTooLarge      encoded size over the pool's limit
    │   ├── AlreadyKnown             the same transaction is already pooled
    │   ├── ReplacementUnderpriced   a same-nonce replacement pays no more
    │   └── PoolFull                 the pool or the sender's slot is full
    └── BlockRejected            a block fails import validation

The first words of each transaction message are the ones Ethereum clients key on
("nonce too low", "insufficient funds", "already known", ...), so web3.py and
ethers.js classify them as they would against geth.
"""

from __future__ import annotations


class ChainError(Exception):
    """Base of every error raised by the ``chain`` package."""


class GenesisError(ChainError):
    """The genesis document is invalid; the message names the first wrong field."""


class ExtraDataError(ChainError):
    """A header's QBFT ``extraData`` cannot be decoded or encoded."""


class QbftMessageError(ChainError):
    """A QBFT consensus message cannot be decoded, is badly signed or breaks a rule.

    ``message_type`` is the message's name (``"PROPOSAL"``, ``"PREPARE"``, ...) and
    ``problem`` names the field or the consensus rule that failed.
    """

    def __init__(self, message_type: str, problem: str) -> None:
        self.message_type = message_type
        self.problem = problem
        super().__init__(f"invalid QBFT {message_type}: {problem}")


class StorageError(ChainError):
    """The node's data folder cannot be opened or holds inconsistent data."""


class TransactionRejected(ChainError):
    """A transaction was refused; ``str(error)`` is the client-facing reason."""


class MalformedTransaction(TransactionRejected):
    """Raw bytes that are not a well-formed, validly signed transaction."""


class InvalidChainId(TransactionRejected):
    """The transaction is signed for another chain, or without a chain id."""

    def __init__(self, expected: int, actual: int | None) -> None:
        self.expected = expected
        self.actual = actual
        shown = "none" if actual is None else str(actual)
        super().__init__(f"invalid chain id: expected {expected}, got {shown}")


class SenderNotPermitted(TransactionRejected):
    """The sender is not on the consortium's list of accounts that may transact."""

    def __init__(self, sender_hex: str) -> None:
        self.sender = sender_hex
        super().__init__(
            f"sender not permitted: {sender_hex} may not send transactions"
        )


class NonceTooLow(TransactionRejected):
    """The nonce has already been used by the sender."""

    def __init__(self, nonce: int, next_nonce: int) -> None:
        self.nonce = nonce
        self.next_nonce = next_nonce
        super().__init__(f"nonce too low: next nonce {next_nonce}, tx nonce {nonce}")


class InsufficientFunds(TransactionRejected):
    """The sender cannot pay the value plus the maximum fee."""

    def __init__(self, balance: int, cost: int) -> None:
        self.balance = balance
        self.cost = cost
        super().__init__(
            f"insufficient funds for gas * price + value: balance {balance}, "
            f"tx cost {cost}"
        )


class IntrinsicGasTooLow(TransactionRejected):
    """The gas limit does not even cover the transaction's intrinsic gas."""

    def __init__(self, gas: int, intrinsic_gas: int) -> None:
        self.gas = gas
        self.intrinsic_gas = intrinsic_gas
        super().__init__(f"intrinsic gas too low: have {gas}, want {intrinsic_gas}")


class ExceedsBlockGasLimit(TransactionRejected):
    """The gas limit is above what one block may use."""

    def __init__(self, gas: int, block_gas_limit: int) -> None:
        self.gas = gas
        self.block_gas_limit = block_gas_limit
        super().__init__(
            f"exceeds block gas limit: tx gas {gas}, block gas limit {block_gas_limit}"
        )


class TransactionTooLarge(TransactionRejected):
    """The encoded transaction is larger than the pool accepts."""

    def __init__(self, size: int, limit: int) -> None:
        self.size = size
        self.limit = limit
        super().__init__(f"oversized data: transaction size {size}, limit {limit}")


class AlreadyKnown(TransactionRejected):
    """The identical transaction is already in the pool or the chain."""

    def __init__(self, transaction_hash_hex: str) -> None:
        self.transaction_hash = transaction_hash_hex
        super().__init__("already known")


class ReplacementUnderpriced(TransactionRejected):
    """A transaction with the same sender and nonce does not outbid the pooled one."""

    def __init__(self, nonce: int) -> None:
        self.nonce = nonce
        super().__init__(
            f"replacement transaction underpriced: nonce {nonce} is pooled; "
            "raise the fee by at least 10% to replace it"
        )


class PoolFull(TransactionRejected):
    """The pool, or this sender's share of it, has no room."""


class BlockRejected(ChainError):
    """A block failed validation on import; the message names the rule."""

    def __init__(self, block_number: int, rule: str) -> None:
        self.block_number = block_number
        self.rule = rule
        super().__init__(f"block {block_number} rejected: {rule}")
