"""A web3.py provider that answers JSON-RPC from a ``Harness`` in process.

Just enough of the Ethereum JSON-RPC API for the bootstrap and for reading
contracts through web3.py: chain id, nonces, raw transactions (each mined in
its own block at once), receipts and ``eth_call``. It lets the bootstrap's
tests run the real web3.py code path without a node.
"""

from __future__ import annotations

from typing import Any

from eth_typing import Address
from eth_utils import to_checksum_address
from web3.providers.base import BaseProvider
from web3.types import RPCEndpoint, RPCResponse

from tests.contracts.harness import CHAIN_ID, Harness, Reverted, decode_revert


class HarnessProvider(BaseProvider):
    """Serve JSON-RPC requests from ``harness``."""

    def __init__(self, harness: Harness) -> None:
        super().__init__()
        self.harness = harness
        self.receipts: dict[bytes, dict[str, Any]] = {}
        self.requests: list[str] = []

    def is_connected(self, show_traceback: bool = False) -> bool:
        return True

    def make_request(self, method: RPCEndpoint, params: Any) -> RPCResponse:
        self.requests.append(method)
        handler = getattr(self, f"_{method}", None)
        if handler is None:
            return self._error(-32601, f"method {method} not supported")
        try:
            result = handler(*params)
        except Reverted as error:
            return self._error(3, f"execution reverted: {error.reason}")
        return {"jsonrpc": "2.0", "id": 1, "result": result}

    @staticmethod
    def _error(code: int, message: str) -> RPCResponse:
        return {"jsonrpc": "2.0", "id": 1, "error": {"code": code, "message": message}}

    def _eth_chainId(self) -> str:
        return hex(CHAIN_ID)

    def _eth_blockNumber(self) -> str:
        return hex(self.harness.chain.get_canonical_head().block_number)

    def _eth_getTransactionCount(self, address: str, block: str = "latest") -> str:
        state = self.harness.chain.get_vm().state
        return hex(state.get_nonce(Address(bytes.fromhex(address[2:]))))

    def _eth_call(self, transaction: dict[str, Any], block: str = "latest") -> str:
        to = bytes.fromhex(transaction["to"][2:])
        data = bytes.fromhex(
            transaction.get("data", transaction.get("input", "0x"))[2:]
        )
        sender = transaction.get("from")
        origin = bytes.fromhex(sender[2:]) if sender else None
        return "0x" + self.harness.call_raw(to, data, origin).hex()

    def _eth_sendRawTransaction(self, raw_hex: str) -> str:
        harness = self.harness
        builder = harness.chain.get_vm().get_transaction_builder()
        transaction = builder.decode(bytes.fromhex(raw_hex[2:]))
        receipt, computation = harness.apply(transaction)
        block = harness.chain.get_canonical_head()
        created = None
        if computation.msg.is_create and not computation.is_error:
            created = to_checksum_address(computation.msg.storage_address)
        self.receipts[transaction.hash] = {
            "transactionHash": "0x" + transaction.hash.hex(),
            "transactionIndex": "0x0",
            "blockHash": "0x" + block.hash.hex(),
            "blockNumber": hex(block.block_number),
            "from": to_checksum_address(transaction.sender),
            "to": to_checksum_address(transaction.to) if transaction.to else None,
            "cumulativeGasUsed": hex(receipt.gas_used),
            "gasUsed": hex(receipt.gas_used),
            "effectiveGasPrice": "0x0",
            "contractAddress": created,
            "logs": [],
            "logsBloom": "0x" + "00" * 256,
            "status": "0x0" if computation.is_error else "0x1",
            "type": hex(transaction.type_id or 0),
            "revertReason": decode_revert(computation.output)
            if computation.is_error
            else None,
        }
        return "0x" + transaction.hash.hex()

    def _eth_getTransactionReceipt(self, tx_hash: str) -> dict[str, Any] | None:
        return self.receipts.get(bytes.fromhex(tx_hash[2:]))
