"""The Ethereum JSON-RPC methods a Gongfen node serves.

Each handler takes the request's ``params`` and returns a JSON value or raises
``RpcError``. Handlers are synchronous: they run on worker threads so that a
long call never stalls the event loop.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import rlp
from eth.abc import BlockHeaderAPI
from eth_hash.auto import keccak
from eth_typing import Address, Hash32

from chain.errors import ChainError
from chain.execution import CallFailed, CallRequestFields, call, estimate_gas
from chain.ledger import Ledger
from node.consensus.votes import PendingVotes
from node.rpc.errors import (
    ExecutionReverted,
    InvalidParams,
    LimitExceeded,
    MethodNotFound,
    ServerError,
    to_rpc_error,
)
from node.rpc.filters import FilterRegistry
from node.rpc.formatting import (
    data,
    format_block,
    format_receipt,
    format_transaction,
    quantity,
)
from node.rpc.logs import parse_log_criteria, query_logs, resolve_number
from node.rpc.params import (
    parse_address,
    parse_block_id,
    parse_bool,
    parse_call_request,
    parse_data,
    parse_hash,
    parse_quantity,
    positional,
)
from node.rpc.validator_votes import ValidatorVoteApi

CLIENT_VERSION = "Gongfen/v0.1.0/python3.11/py-evm-0.12"
MAX_FEE_HISTORY_BLOCKS = 1024

Handler = Callable[[Any], Any]


class EthApi:
    """JSON-RPC handlers bound to one node's ledger."""

    def __init__(
        self,
        ledger: Ledger,
        *,
        peer_count: Callable[[], int] = lambda: 0,
    ) -> None:
        self.ledger = ledger
        self.filters = FilterRegistry(ledger)
        # Called with the raw bytes of every transaction admitted through
        # eth_sendRawTransaction (the node gossips them to its peers).
        self.admitted_listeners: list[Callable[[bytes], None]] = []
        self.peer_count = peer_count
        self.handlers: dict[str, Handler] = {
            "web3_clientVersion": lambda p: CLIENT_VERSION,
            "net_version": lambda p: str(ledger.chain_id),
            "net_listening": lambda p: True,
            "net_peerCount": lambda p: quantity(self.peer_count()),
            "eth_chainId": lambda p: quantity(ledger.chain_id),
            "eth_blockNumber": lambda p: quantity(ledger.head.block_number),
            "eth_syncing": lambda p: False,
            "eth_accounts": lambda p: [],
            "eth_gasPrice": lambda p: quantity(0),
            "eth_maxPriorityFeePerGas": lambda p: quantity(0),
            "eth_getBalance": self.get_balance,
            "eth_getTransactionCount": self.get_transaction_count,
            "eth_getCode": self.get_code,
            "eth_getStorageAt": self.get_storage_at,
            "eth_call": self.call,
            "eth_estimateGas": self.estimate_gas,
            "eth_feeHistory": self.fee_history,
            "eth_sendRawTransaction": self.send_raw_transaction,
            "eth_getTransactionByHash": self.get_transaction_by_hash,
            "eth_getTransactionReceipt": self.get_transaction_receipt,
            "eth_getBlockByNumber": self.get_block_by_number,
            "eth_getBlockByHash": self.get_block_by_hash,
            "eth_getBlockTransactionCountByNumber": self.count_by_number,
            "eth_getBlockTransactionCountByHash": self.count_by_hash,
            "eth_getTransactionByBlockNumberAndIndex": self.transaction_by_number_index,
            "eth_getTransactionByBlockHashAndIndex": self.transaction_by_hash_index,
            "eth_getBlockReceipts": self.get_block_receipts,
            "eth_getLogs": self.get_logs,
            "eth_newFilter": self.new_filter,
            "eth_newBlockFilter": self.new_block_filter,
            "eth_getFilterChanges": self.get_filter_changes,
            "eth_getFilterLogs": self.get_filter_logs,
            "eth_uninstallFilter": self.uninstall_filter,
        }
        # The qbft_ methods; the node replaces them with ones that see its
        # peers and casts its votes (node.rpc.validator_votes).
        self.handlers.update(
            ValidatorVoteApi(
                ledger,
                PendingVotes(),
                lambda: frozenset(),
                self.header_for,
                refusal="no node casts votes through this API",
            ).handlers()
        )

    def dispatch(self, method: str, params: Any) -> Any:
        """Run ``method``; chain errors become JSON-RPC errors here and only here."""
        handler = self.handlers.get(method)
        if handler is None:
            raise MethodNotFound(f"the method {method} does not exist/is not available")
        try:
            return handler(params)
        except ChainError as error:
            raise to_rpc_error(error) from None

    # -- blocks ----------------------------------------------------------------

    def header_for(self, block_id: int | str | bytes) -> BlockHeaderAPI | None:
        """Resolve a block id to a header; ``None`` if there is no such block."""
        if isinstance(block_id, bytes):
            return self.ledger.header_by_hash(block_id)
        if block_id == "earliest":
            return self.ledger.header_by_number(0)
        if isinstance(block_id, str):
            return self.ledger.head
        return self.ledger.header_by_number(block_id)

    def state_header(self, value: Any, name: str) -> BlockHeaderAPI:
        header = self.header_for(parse_block_id(value, name))
        if header is None:
            raise ServerError("header not found")
        return header

    def _block(self, header: BlockHeaderAPI | None, full: bool) -> Any:
        if header is None:
            return None
        encoded = self.ledger.encoded_transactions_of(header)
        size = encoded_block_size(header, encoded)
        if full:
            transactions = self.ledger.transactions_of(header)
            return format_block(header, size, transactions=transactions)
        return format_block(header, size, hashes=[keccak(t) for t in encoded])

    def get_block_by_number(self, params: Any) -> Any:
        block_id, full = positional(params, 1, 2, "eth_getBlockByNumber")
        header = self.header_for(parse_block_id(block_id, "block"))
        return self._block(header, bool(full) and parse_bool(full, "fullTransactions"))

    def get_block_by_hash(self, params: Any) -> Any:
        block_hash, full = positional(params, 1, 2, "eth_getBlockByHash")
        header = self.ledger.header_by_hash(parse_hash(block_hash, "blockHash"))
        return self._block(header, bool(full) and parse_bool(full, "fullTransactions"))

    def count_by_number(self, params: Any) -> Any:
        (block_id,) = positional(params, 1, 1, "eth_getBlockTransactionCountByNumber")
        header = self.header_for(parse_block_id(block_id, "block"))
        return (
            None
            if header is None
            else quantity(len(self.ledger.transactions_of(header)))
        )

    def count_by_hash(self, params: Any) -> Any:
        (block_hash,) = positional(params, 1, 1, "eth_getBlockTransactionCountByHash")
        header = self.ledger.header_by_hash(parse_hash(block_hash, "blockHash"))
        return (
            None
            if header is None
            else quantity(len(self.ledger.transactions_of(header)))
        )

    def _transaction_at(self, header: BlockHeaderAPI | None, index_value: Any) -> Any:
        index = parse_quantity(index_value, "index")
        if header is None:
            return None
        transactions = self.ledger.transactions_of(header)
        if index >= len(transactions):
            return None
        return format_transaction(transactions[index], header, index)

    def transaction_by_number_index(self, params: Any) -> Any:
        block_id, index = positional(
            params, 2, 2, "eth_getTransactionByBlockNumberAndIndex"
        )
        return self._transaction_at(
            self.header_for(parse_block_id(block_id, "block")), index
        )

    def transaction_by_hash_index(self, params: Any) -> Any:
        block_hash, index = positional(
            params, 2, 2, "eth_getTransactionByBlockHashAndIndex"
        )
        header = self.ledger.header_by_hash(parse_hash(block_hash, "blockHash"))
        return self._transaction_at(header, index)

    def get_block_receipts(self, params: Any) -> Any:
        (block_id,) = positional(params, 1, 1, "eth_getBlockReceipts")
        header = self.header_for(parse_block_id(block_id, "block"))
        if header is None:
            return None
        return [format_receipt(m) for m in self.ledger.mined_receipts(header)]

    # -- state -----------------------------------------------------------------

    def get_balance(self, params: Any) -> Any:
        account, block_id = positional(params, 1, 2, "eth_getBalance")
        address = parse_address(account, "address")
        state = self.ledger.state_at(self.state_header(block_id, "block"))
        return quantity(state.get_balance(address))

    def get_transaction_count(self, params: Any) -> Any:
        account, block_id = positional(params, 1, 2, "eth_getTransactionCount")
        address = parse_address(account, "address")
        if block_id == "pending":
            return quantity(self.ledger.pending_nonce(address))
        state = self.ledger.state_at(self.state_header(block_id, "block"))
        return quantity(state.get_nonce(address))

    def get_code(self, params: Any) -> Any:
        account, block_id = positional(params, 1, 2, "eth_getCode")
        address = parse_address(account, "address")
        state = self.ledger.state_at(self.state_header(block_id, "block"))
        return data(state.get_code(address))

    def get_storage_at(self, params: Any) -> Any:
        account, slot, block_id = positional(params, 2, 3, "eth_getStorageAt")
        address = parse_address(account, "address")
        slot_number = _parse_slot(slot)
        state = self.ledger.state_at(self.state_header(block_id, "block"))
        return data(state.get_storage(address, slot_number).to_bytes(32, "big"))

    # -- execution -------------------------------------------------------------

    def _call_inputs(self, params: Any, method: str) -> tuple[Any, CallRequestFields]:
        request_value, block_id, _overrides = positional(params, 1, 3, method)
        request = parse_call_request(request_value, "transaction")
        header = self.state_header(block_id, "block")
        fields = CallRequestFields(
            sender=request.sender,
            to=request.to,
            gas=request.gas,
            gas_price=request.gas_price,
            value=request.value,
            data=request.data,
        )
        return header, fields

    def call(self, params: Any) -> Any:
        header, fields = self._call_inputs(params, "eth_call")
        try:
            return data(call(self.ledger.vm_at(header), header, fields))
        except CallFailed as failure:
            raise _call_error(failure) from None

    def estimate_gas(self, params: Any) -> Any:
        header, fields = self._call_inputs(params, "eth_estimateGas")
        try:
            return quantity(estimate_gas(self.ledger.vm_at(header), header, fields))
        except CallFailed as failure:
            raise _call_error(failure) from None

    def fee_history(self, params: Any) -> Any:
        count_value, newest, percentiles = positional(params, 2, 3, "eth_feeHistory")
        count = (
            count_value
            if isinstance(count_value, int)
            else parse_quantity(count_value, "blockCount")
        )
        if count < 0 or count > MAX_FEE_HISTORY_BLOCKS:
            raise InvalidParams(
                f"invalid argument blockCount: must be 0 to {MAX_FEE_HISTORY_BLOCKS}"
            )
        newest_header = self.state_header(newest, "newestBlock")
        oldest = max(0, newest_header.block_number - count + 1)
        headers = list(self.ledger.iterate_headers(oldest, newest_header.block_number))
        if percentiles is not None and not isinstance(percentiles, list):
            raise InvalidParams("invalid argument rewardPercentiles: expected an array")
        history: dict[str, Any] = {
            "oldestBlock": quantity(oldest),
            # Base fee is always zero on this chain, including the next block's.
            "baseFeePerGas": [quantity(0)] * (len(headers) + 1),
            "gasUsedRatio": [h.gas_used / h.gas_limit for h in headers],
            "baseFeePerBlobGas": [quantity(0)] * (len(headers) + 1),
            "blobGasUsedRatio": [0.0] * len(headers),
        }
        if percentiles:
            history["reward"] = [[quantity(0)] * len(percentiles) for _ in headers]
        return history

    # -- transactions ----------------------------------------------------------

    def send_raw_transaction(self, params: Any) -> Any:
        (value,) = positional(params, 1, 1, "eth_sendRawTransaction")
        return self._admit(parse_data(value, "data"), None)

    def admit_recovered(self, raw: bytes, sender: Address) -> str:
        """Admit a transaction whose sender this node's gateway recovered."""
        try:
            return self._admit(raw, sender)
        except ChainError as error:
            raise to_rpc_error(error) from None

    def _admit(self, raw: bytes, sender: Address | None) -> str:
        transaction_hash = self.ledger.submit_transaction(raw, sender)
        for listener in self.admitted_listeners:
            listener(raw)
        return data(transaction_hash)

    def get_transaction_by_hash(self, params: Any) -> Any:
        (value,) = positional(params, 1, 1, "eth_getTransactionByHash")
        transaction_hash = Hash32(parse_hash(value, "hash"))
        location = self.ledger.transaction_location(transaction_hash)
        if location is not None:
            header = self.ledger.header_by_number(location.block_number)
            if header is not None:
                transaction = self.ledger.mined_transaction(location)
                return format_transaction(transaction, header, location.index)
        pooled = self.ledger.pooled_transaction(transaction_hash)
        return None if pooled is None else format_transaction(pooled, None, None)

    def get_transaction_receipt(self, params: Any) -> Any:
        (value,) = positional(params, 1, 1, "eth_getTransactionReceipt")
        mined = self.ledger.mined_receipt(Hash32(parse_hash(value, "hash")))
        return None if mined is None else format_receipt(mined)

    # -- logs and filters ------------------------------------------------------

    def get_logs(self, params: Any) -> Any:
        (value,) = positional(params, 1, 1, "eth_getLogs")
        criteria = parse_log_criteria(value, "filter")
        if criteria.block_hash is not None:
            header = self.ledger.header_by_hash(criteria.block_hash)
            if header is None:
                raise ServerError("unknown block")
            first = last = int(header.block_number)
        else:
            first = resolve_number(self.ledger, criteria.from_block)
            last = resolve_number(self.ledger, criteria.to_block)
        return query_logs(self.ledger, criteria, first, last)

    def new_filter(self, params: Any) -> Any:
        (value,) = positional(params, 1, 1, "eth_newFilter")
        return self.filters.install_log_filter(parse_log_criteria(value, "filter"))

    def new_block_filter(self, params: Any) -> Any:
        positional(params, 0, 0, "eth_newBlockFilter")
        return self.filters.install_block_filter()

    def get_filter_changes(self, params: Any) -> Any:
        (filter_id,) = positional(params, 1, 1, "eth_getFilterChanges")
        return self.filters.changes(_filter_id(filter_id))

    def get_filter_logs(self, params: Any) -> Any:
        (filter_id,) = positional(params, 1, 1, "eth_getFilterLogs")
        return self.filters.all_logs(_filter_id(filter_id))

    def uninstall_filter(self, params: Any) -> Any:
        (filter_id,) = positional(params, 1, 1, "eth_uninstallFilter")
        return self.filters.uninstall(_filter_id(filter_id))


def encoded_block_size(header: BlockHeaderAPI, encoded: tuple[bytes, ...]) -> int:
    """The length of the block's RLP, from the stored transaction bytes.

    Legacy transactions are embedded as RLP lists (their own encoding), typed
    ones as byte strings wrapping their envelope.
    """
    items = sum(len(t) if t[0] >= 0xC0 else len(rlp.encode(t)) for t in encoded)
    transactions = _list_header_length(items) + items
    payload = len(rlp.encode(header)) + transactions + 2  # empty uncles, withdrawals
    return _list_header_length(payload) + payload


def _list_header_length(payload_length: int) -> int:
    if payload_length < 56:
        return 1
    return 1 + (payload_length.bit_length() + 7) // 8


def _filter_id(value: Any) -> str:
    if not isinstance(value, str) or not value.startswith("0x"):
        raise InvalidParams("invalid argument filterId: expected a hex filter id")
    return value.lower()


def _parse_slot(value: Any) -> int:
    if isinstance(value, str) and value.startswith("0x") and len(value) <= 66:
        try:
            return int(value, 16)
        except ValueError:
            pass
    raise InvalidParams("invalid argument position: expected a hex storage slot")


def _call_error(failure: CallFailed) -> Exception:
    if failure.reverted:
        return ExecutionReverted(failure.reason, failure.output)
    message = str(failure)
    if "insufficient" in message.lower() or "balance" in message.lower():
        return ServerError(f"insufficient funds for gas * price + value: {message}")
    return ServerError(message)


__all__ = ["EthApi", "LimitExceeded", "Address"]
