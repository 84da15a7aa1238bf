"""Who may send transactions: the sender-permission rules of the consortium.

Three rules, chosen by the genesis ``gongfen`` block:

- ``open``: anyone;
- ``allowlist``: the accounts the genesis lists;
- ``allowlist`` plus ``permissionContract``: the genesis accounts (which must
  be able to deploy the contracts in the first place), and once the contract
  has code, every account for which ``canTransact(address)`` returns true.

Each rule reads only the state it is given, so every node decides the same way
at submission, at block building and at block import, from the parent state of
the block. Contract answers are cached per (state root, sender): a block of 500
transfers from ten villagers asks the contract ten times, not 500.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, Protocol

from eth.abc import StateAPI
from eth.vm.forks.prague.transactions import PragueTransactionBuilder
from eth.vm.spoof import SpoofTransaction
from eth_hash.auto import keccak
from eth_typing import Address

# The one function the node calls on the permission contract.
CAN_TRANSACT_SELECTOR = keccak(b"canTransact(address)")[:4]
PERMISSION_CALL_GAS = 1_000_000
_CACHE_SIZE = 100_000
_ZERO_ADDRESS = Address(b"\x00" * 20)


class SenderPermission(Protocol):
    """Decides whether an account may send transactions, given the parent state."""

    def is_permitted(self, sender: Address, state: StateAPI) -> bool: ...


class OpenPermission:
    """Every account may transact."""

    def is_permitted(self, sender: Address, state: StateAPI) -> bool:
        return True


class AllowlistPermission:
    """Only the accounts named in the genesis allowlist may transact."""

    def __init__(self, allowlist: frozenset[Address]) -> None:
        self.allowlist = allowlist

    def is_permitted(self, sender: Address, state: StateAPI) -> bool:
        return sender in self.allowlist


class ContractPermission:
    """The genesis allowlist, plus whoever the permission contract admits."""

    def __init__(self, allowlist: frozenset[Address], contract: Address) -> None:
        self.allowlist = allowlist
        self.contract = contract
        self._answers: OrderedDict[tuple[bytes, Address], bool] = OrderedDict()

    def is_permitted(self, sender: Address, state: StateAPI) -> bool:
        if sender in self.allowlist:
            return True
        key = (bytes(state.state_root), sender)
        cached = self._answers.get(key)
        if cached is not None:
            return cached
        answer = self._ask_contract(sender, state)
        self._answers[key] = answer
        if len(self._answers) > _CACHE_SIZE:
            self._answers.popitem(last=False)
        return answer

    def _ask_contract(self, sender: Address, state: StateAPI) -> bool:
        if not state.get_code(self.contract):
            return False  # not deployed yet: only the genesis accounts may send
        unsigned = PragueTransactionBuilder.create_unsigned_transaction(
            nonce=state.get_nonce(_ZERO_ADDRESS),
            gas_price=0,
            gas=PERMISSION_CALL_GAS,
            to=self.contract,
            value=0,
            data=CAN_TRANSACT_SELECTOR + bytes(12) + bytes(sender),
        )
        spoofed: Any = SpoofTransaction(unsigned, from_=_ZERO_ADDRESS)
        snapshot = state.snapshot()
        try:
            computation = state.costless_execute_transaction(spoofed)
        except Exception:
            # A contract that cannot answer admits no one: fail closed.
            return False
        finally:
            state.revert(snapshot)
        return not computation.is_error and computation.output == (1).to_bytes(
            32, "big"
        )
