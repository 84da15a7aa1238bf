"""Ethereum JSON-RPC representations of blocks, transactions, receipts and logs."""

from __future__ import annotations

from typing import Any

from eth._utils.address import generate_contract_address
from eth.abc import BlockHeaderAPI, ReceiptAPI, SignedTransactionAPI
from eth.constants import CREATE_CONTRACT_ADDRESS
from eth_utils import to_checksum_address

from chain.ledger import MinedReceipt


def quantity(value: int | None) -> str:
    # py-evm types some always-present Prague header fields as optional.
    return hex(value or 0)


def data(value: bytes | None) -> str:
    return "0x" + bytes(value or b"").hex()


def address(value: bytes) -> str:
    return to_checksum_address(bytes(value))


def format_header(header: BlockHeaderAPI) -> dict[str, Any]:
    """The header fields of a block object, as geth returns them."""
    return {
        "number": quantity(header.block_number),
        "hash": data(header.hash),
        "parentHash": data(header.parent_hash),
        "nonce": data(header.nonce),
        "mixHash": data(header.mix_hash),
        "sha3Uncles": data(header.uncles_hash),
        "logsBloom": data(header.bloom.to_bytes(256, "big")),
        "transactionsRoot": data(header.transaction_root),
        "stateRoot": data(header.state_root),
        "receiptsRoot": data(header.receipt_root),
        "miner": address(header.coinbase),
        "difficulty": quantity(header.difficulty),
        "totalDifficulty": quantity(header.block_number + 1),
        "extraData": data(header.extra_data),
        "size": quantity(len(header.extra_data) + 600),
        "gasLimit": quantity(header.gas_limit),
        "gasUsed": quantity(header.gas_used),
        "timestamp": quantity(header.timestamp),
        "baseFeePerGas": quantity(header.base_fee_per_gas),
        "withdrawalsRoot": data(header.withdrawals_root),
        "withdrawals": [],
        "blobGasUsed": quantity(header.blob_gas_used),
        "excessBlobGas": quantity(header.excess_blob_gas),
        "parentBeaconBlockRoot": data(header.parent_beacon_block_root),
        "requestsHash": data(header.requests_hash),  # type: ignore[attr-defined]
        "uncles": [],
    }


def format_block(
    header: BlockHeaderAPI,
    encoded_size: int,
    *,
    transactions: tuple[SignedTransactionAPI, ...] | None = None,
    hashes: list[bytes] | None = None,
) -> dict[str, Any]:
    """A block object with full ``transactions`` or only their ``hashes``."""
    block = format_header(header)
    block["size"] = quantity(encoded_size)
    if transactions is not None:
        block["transactions"] = [
            format_transaction(t, header, index) for index, t in enumerate(transactions)
        ]
    else:
        block["transactions"] = [data(h) for h in hashes or []]
    return block


def format_transaction(
    transaction: SignedTransactionAPI,
    header: BlockHeaderAPI | None,
    index: int | None,
) -> dict[str, Any]:
    """A transaction object; block fields are null while it is pending."""
    type_id = transaction.type_id or 0
    result: dict[str, Any] = {
        "hash": data(transaction.hash),
        "type": quantity(type_id),
        "nonce": quantity(transaction.nonce),
        "blockHash": None if header is None else data(header.hash),
        "blockNumber": None if header is None else quantity(header.block_number),
        "transactionIndex": None if index is None else quantity(index),
        "from": address(transaction.sender),
        "to": None
        if transaction.to == CREATE_CONTRACT_ADDRESS
        else address(transaction.to),
        "value": quantity(transaction.value),
        "gas": quantity(transaction.gas),
        "input": data(transaction.data),
        "r": quantity(transaction.r),
        "s": quantity(transaction.s),
    }
    if type_id == 0:
        result["gasPrice"] = quantity(transaction.gas_price)
        result["v"] = quantity(transaction.v)  # type: ignore[attr-defined]
        if transaction.chain_id is not None:
            result["chainId"] = quantity(transaction.chain_id)
    else:
        result["chainId"] = quantity(transaction.chain_id)
        result["v"] = quantity(transaction.y_parity)
        result["yParity"] = quantity(transaction.y_parity)
        result["accessList"] = [
            {
                "address": address(entry[0]),
                "storageKeys": [data(k.to_bytes(32, "big")) for k in entry[1]],
            }
            for entry in transaction.access_list
        ]
        if type_id == 2:
            result["maxFeePerGas"] = quantity(transaction.max_fee_per_gas)
            result["maxPriorityFeePerGas"] = quantity(
                transaction.max_priority_fee_per_gas
            )
        # With a zero base fee the effective price is the tip, capped by the fee cap.
        result["gasPrice"] = quantity(
            min(transaction.max_fee_per_gas, transaction.max_priority_fee_per_gas)
            if type_id == 2
            else transaction.gas_price
        )
    return result


def effective_gas_price(transaction: SignedTransactionAPI) -> int:
    if (transaction.type_id or 0) == 2:
        return min(transaction.max_fee_per_gas, transaction.max_priority_fee_per_gas)
    return int(transaction.gas_price)


def format_log(
    log: Any,
    header: BlockHeaderAPI,
    transaction: SignedTransactionAPI,
    transaction_index: int,
    log_index: int,
    removed: bool = False,
) -> dict[str, Any]:
    return {
        "address": address(log.address),
        "topics": [data(topic.to_bytes(32, "big")) for topic in log.topics],
        "data": data(log.data),
        "blockNumber": quantity(header.block_number),
        "blockHash": data(header.hash),
        "blockTimestamp": quantity(header.timestamp),
        "transactionHash": data(transaction.hash),
        "transactionIndex": quantity(transaction_index),
        "logIndex": quantity(log_index),
        "removed": removed,
    }


def format_receipt(mined: MinedReceipt) -> dict[str, Any]:
    transaction = mined.transaction
    receipt: ReceiptAPI = mined.receipt
    header = mined.header
    contract_address = None
    if transaction.to == CREATE_CONTRACT_ADDRESS:
        contract_address = address(
            generate_contract_address(transaction.sender, transaction.nonce)
        )
    return {
        "transactionHash": data(transaction.hash),
        "transactionIndex": quantity(mined.index),
        "blockHash": data(header.hash),
        "blockNumber": quantity(header.block_number),
        "from": address(transaction.sender),
        "to": None
        if transaction.to == CREATE_CONTRACT_ADDRESS
        else address(transaction.to),
        "cumulativeGasUsed": quantity(receipt.gas_used),
        "gasUsed": quantity(mined.gas_used),
        "effectiveGasPrice": quantity(effective_gas_price(transaction)),
        "contractAddress": contract_address,
        "logs": [
            format_log(log, header, transaction, mined.index, mined.first_log_index + i)
            for i, log in enumerate(receipt.logs)
        ],
        "logsBloom": data(receipt.bloom.to_bytes(256, "big")),
        "type": quantity(transaction.type_id or 0),
        "status": quantity(1 if receipt.state_root == b"\x01" else 0),
    }
