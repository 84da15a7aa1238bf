"""An in-process py-evm chain for contract tests.

``Harness`` runs a ``MiningChain`` with Prague rules, a fixed gas limit of
100,000,000 and a base fee held at zero (as the consortium VM does), funded
test accounts and a clock the tests move. Each ``transact`` is applied and
mined into its own block at the harness's current time; ``call`` runs a
read-only message against the pending state at that same time.

``Contract`` wraps an address and an ABI: ``contract.fn.call(*args)`` and
``contract.fn.transact(*args, sender=key)``. Struct arguments are tuples in
ABI order. A reverted transaction raises ``Reverted`` with the reason string.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest
from eth import constants
from eth.abc import (
    BlockHeaderAPI,
    ComputationAPI,
    ReceiptAPI,
    SignedTransactionAPI,
)
from eth.chains.base import MiningChain
from eth.db.atomic import AtomicDB
from eth.vm.forks.prague import PragueVM
from eth.vm.forks.prague.headers import create_prague_header_from_parent
from eth_abi import decode, encode
from eth_keys.datatypes import PrivateKey
from eth_typing import Address
from eth_utils import (
    event_abi_to_log_topic,
    function_abi_to_4byte_selector,
    get_abi_input_types,
    get_abi_output_types,
    keccak,
    to_checksum_address,
)

from contracts.build import load_artifact

CHAIN_ID = 1337
GAS_LIMIT = 100_000_000
# 2025-01-06 00:00 China time: a Monday, so day and period arithmetic in
# tests starts on a boundary.
GENESIS_TIME = 1_736_092_800


def _fixed_header_from_parent(
    parent: BlockHeaderAPI | None, **params: Any
) -> BlockHeaderAPI:
    # Zero base fee and fixed gas limit, as on the consortium chain; stock
    # London rules would move both.
    params["gas_limit"] = GAS_LIMIT
    header: BlockHeaderAPI = create_prague_header_from_parent(parent, **params)
    return header.copy(base_fee_per_gas=0, gas_limit=GAS_LIMIT)


class ConsortiumTestVM(PragueVM):
    """Prague with the consortium's fee rules."""

    create_header_from_parent: Any = staticmethod(_fixed_header_from_parent)

    @classmethod
    def validate_gas(
        cls, header: BlockHeaderAPI, parent_header: BlockHeaderAPI
    ) -> None:
        assert header.gas_limit == GAS_LIMIT
        assert header.base_fee_per_gas == 0


class Reverted(Exception):
    """A transaction or call reverted; ``reason`` is the decoded message."""

    def __init__(self, reason: str, gas_used: int = 0) -> None:
        self.reason = reason
        self.gas_used = gas_used
        super().__init__(reason)


@dataclass
class Receipt:
    """The outcome of a mined transaction."""

    gas_used: int
    output: bytes
    logs: Sequence[tuple[bytes, list[bytes], bytes]]
    contract_address: str | None = None


@dataclass
class Account:
    """A funded test account."""

    key: PrivateKey
    address: str = field(init=False)

    def __post_init__(self) -> None:
        self.address = self.key.public_key.to_checksum_address()

    @property
    def canonical(self) -> Address:
        return Address(self.key.public_key.to_canonical_address())


def decode_revert(output: bytes) -> str:
    """Decode an ``Error(string)`` revert payload; hex otherwise."""
    if output[:4] == bytes.fromhex("08c379a0"):
        (reason,) = decode(["string"], output[4:])
        return str(reason)
    return "0x" + output.hex()


class Harness:
    """A fresh chain with ``account_count`` funded accounts."""

    def __init__(self, account_count: int = 20) -> None:
        self.accounts = [
            Account(PrivateKey(keccak(f"gongfen test {i}".encode())))
            for i in range(account_count)
        ]
        self.now = GENESIS_TIME
        self._nonces: dict[bytes, int] = {}
        chain_class = MiningChain.configure(
            __name__="ConsortiumTestChain",
            vm_configuration=((constants.GENESIS_BLOCK_NUMBER, ConsortiumTestVM),),
            chain_id=CHAIN_ID,
        )
        genesis_params: dict[str, Any] = {
            "difficulty": 0,
            "gas_limit": GAS_LIMIT,
            "timestamp": GENESIS_TIME,
            "base_fee_per_gas": 0,
            "coinbase": constants.ZERO_ADDRESS,
        }
        genesis_state: dict[Address, Any] = {
            account.canonical: {
                "balance": 10**24,
                "nonce": 0,
                "code": b"",
                "storage": {},
            }
            for account in self.accounts
        }
        chain = chain_class.from_genesis(AtomicDB(), genesis_params, genesis_state)
        assert isinstance(chain, MiningChain)
        self.chain: MiningChain = chain

    # -- time ------------------------------------------------------------

    def advance(self, seconds: int) -> None:
        """Move the clock forward; the next block carries the new time."""
        self.now += seconds

    def _stamp_pending_header(self) -> None:
        parent_time = self.chain.get_canonical_head().timestamp
        self.now = max(self.now, parent_time + 1)
        self.chain.set_header_timestamp(self.now)

    # -- transactions ----------------------------------------------------

    def send(self, sender: Account, to: bytes, data: bytes) -> Receipt:
        """Apply one transaction in its own block; raise ``Reverted`` on failure."""
        self._stamp_pending_header()
        vm = self.chain.get_vm()
        nonce = vm.state.get_nonce(sender.canonical)
        unsigned = vm.create_unsigned_transaction(
            nonce=nonce, gas_price=0, gas=GAS_LIMIT, to=Address(to), value=0, data=data
        )
        signed = unsigned.as_signed_transaction(sender.key, chain_id=CHAIN_ID)
        receipt, computation = self.apply(signed)
        return self._receipt(receipt, computation)

    def apply(
        self, transaction: SignedTransactionAPI
    ) -> tuple[ReceiptAPI, ComputationAPI]:
        """Apply a signed transaction and mine it into its own block."""
        self._stamp_pending_header()
        _, receipt, computation = self.chain.apply_transaction(transaction)
        self.chain.mine_block()
        self.now += 1
        return receipt, computation

    def deploy(self, name: str, *args: Any, sender: Account) -> Contract:
        """Deploy the artifact ``name`` with constructor ``args``."""
        artifact = load_artifact(name)
        abi: list[dict[str, Any]] = artifact["abi"]
        constructor = next((e for e in abi if e["type"] == "constructor"), None)
        init_code = bytes.fromhex(artifact["bytecode"][2:])
        if constructor is not None:
            types: Any = get_abi_input_types(constructor)
            init_code += encode(types, list(args))
        receipt = self.send(sender, b"", init_code)
        assert receipt.contract_address is not None
        return Contract(self, receipt.contract_address, abi, name)

    def call_raw(self, to: bytes, data: bytes, sender: bytes | None = None) -> bytes:
        """Run a read-only message at the current time; raise ``Reverted``."""
        self._stamp_pending_header()
        vm = self.chain.get_vm()
        origin = Address(sender or constants.ZERO_ADDRESS)
        target = Address(to)
        snapshot = vm.state.snapshot()
        try:
            computation = vm.execute_bytecode(
                origin=origin,
                gas_price=0,
                gas=GAS_LIMIT,
                to=target,
                sender=origin,
                value=0,
                data=data,
                code=vm.state.get_code(target),
                code_address=target,
            )
        finally:
            vm.state.revert(snapshot)
        if computation.is_error:
            raise Reverted(decode_revert(computation.output))
        return computation.output

    def _receipt(self, receipt: ReceiptAPI, computation: ComputationAPI) -> Receipt:
        if computation.is_error:
            raise Reverted(decode_revert(computation.output), receipt.gas_used)
        logs = [
            (log.address, [t.to_bytes(32, "big") for t in log.topics], log.data)
            for log in receipt.logs
        ]
        created = None
        if computation.msg.is_create:
            created = to_checksum_address(computation.msg.storage_address)
        return Receipt(receipt.gas_used, computation.output, logs, created)


class BoundFunction:
    """One ABI function of a deployed contract."""

    def __init__(self, contract: Contract, abi: dict[str, Any]) -> None:
        self.contract = contract
        self.abi = abi
        self.selector = function_abi_to_4byte_selector(abi)  # type: ignore[arg-type]
        self.input_types = get_abi_input_types(abi)  # type: ignore[arg-type]
        self.output_types = get_abi_output_types(abi)  # type: ignore[arg-type]

    def encode(self, *args: Any) -> bytes:
        return self.selector + encode(self.input_types, list(args))

    def call(self, *args: Any, sender: Account | None = None) -> Any:
        """Return the decoded result (a single value unwrapped)."""
        output = self.contract.harness.call_raw(
            self.contract.canonical,
            self.encode(*args),
            sender.canonical if sender else None,
        )
        values = decode(self.output_types, output)
        return values[0] if len(values) == 1 else values

    def transact(self, *args: Any, sender: Account) -> Receipt:
        return self.contract.harness.send(
            sender, self.contract.canonical, self.encode(*args)
        )


class Contract:
    """A deployed contract: attribute access gives its ABI functions."""

    def __init__(
        self, harness: Harness, address: str, abi: list[dict[str, Any]], name: str
    ) -> None:
        self.harness = harness
        self.address = address
        self.canonical = Address(bytes.fromhex(address[2:]))
        self.abi = abi
        self.contract_name = name
        self._functions = {e["name"]: e for e in abi if e["type"] == "function"}
        self._events = {e["name"]: e for e in abi if e["type"] == "event"}

    def __getattr__(self, name: str) -> BoundFunction:
        try:
            return BoundFunction(self, self._functions[name])
        except KeyError:
            raise AttributeError(
                f"{self.contract_name} has no function {name}"
            ) from None

    def events(self, receipt: Receipt, name: str) -> list[dict[str, Any]]:
        """Decode this contract's ``name`` events from ``receipt``."""
        abi = self._events[name]
        topic0 = event_abi_to_log_topic(abi)  # type: ignore[arg-type]
        indexed = [i for i in abi["inputs"] if i["indexed"]]
        plain = [i for i in abi["inputs"] if not i["indexed"]]
        found = []
        for address, topics, data in receipt.logs:
            if address != self.canonical or not topics or topics[0] != topic0:
                continue
            values: dict[str, Any] = {}
            for item, topic in zip(indexed, topics[1:], strict=True):
                (values[item["name"]],) = decode([item["type"]], topic)
            decoded = decode([i["type"] for i in plain], data)
            values.update({i["name"]: v for i, v in zip(plain, decoded, strict=True)})
            found.append(values)
        return found


def addresses(accounts: Sequence[Account]) -> list[str]:
    """The checksum addresses of ``accounts``."""
    return [account.address for account in accounts]


def reverts(reason: str) -> pytest.RaisesExc[Reverted]:
    """Expect a ``Reverted`` whose reason contains ``reason`` literally."""
    return pytest.raises(Reverted, match=re.escape(reason))
