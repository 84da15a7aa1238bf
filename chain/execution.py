"""Read-only execution against a past or current state: eth_call and gas estimates.

Calls run in a throwaway snapshot of the state after the chosen block, with that
block's number, timestamp and proposer as the block context, as geth does.
Nothing is written.
"""

from __future__ import annotations

from dataclasses import dataclass

from eth.abc import BlockHeaderAPI, ComputationAPI, StateAPI
from eth.constants import CREATE_CONTRACT_ADDRESS
from eth.exceptions import Revert
from eth.vm.spoof import SpoofTransaction
from eth_abi import decode as abi_decode
from eth_typing import Address
from eth_utils import ValidationError

from chain.errors import ChainError

ZERO_ADDRESS = Address(b"\x00" * 20)
ERROR_SELECTOR = bytes.fromhex("08c379a0")  # Error(string)
PANIC_SELECTOR = bytes.fromhex("4e487b71")  # Panic(uint256)


class CallFailed(ChainError):
    """A read-only call did not succeed; ``reverted`` tells a revert from a fault."""

    def __init__(self, message: str, *, reverted: bool, output: bytes) -> None:
        super().__init__(message)
        self.reverted = reverted
        self.output = output
        self.reason = decode_revert_reason(output) if reverted else None


@dataclass(frozen=True)
class CallRequestFields:
    """What a caller asks to run: the unsigned transaction of eth_call."""

    sender: Address | None
    to: Address | None
    gas: int | None
    gas_price: int
    value: int
    data: bytes


def decode_revert_reason(output: bytes) -> str | None:
    """Return the reason string of ``Error(string)`` or a panic description."""
    try:
        if output[:4] == ERROR_SELECTOR:
            return str(abi_decode(["string"], output[4:])[0])
        if output[:4] == PANIC_SELECTOR:
            return f"panic: code 0x{abi_decode(['uint256'], output[4:])[0]:x}"
    except Exception:
        return None
    return None


def _run(
    vm: object, state: StateAPI, request: CallRequestFields, gas: int
) -> ComputationAPI:
    sender = request.sender or ZERO_ADDRESS
    unsigned = vm.create_unsigned_transaction(  # type: ignore[attr-defined]
        nonce=state.get_nonce(sender),
        gas_price=request.gas_price,
        gas=gas,
        to=request.to or CREATE_CONTRACT_ADDRESS,
        value=request.value,
        data=request.data,
    )
    transaction = SpoofTransaction(unsigned, from_=sender)
    snapshot = state.snapshot()
    try:
        return state.costless_execute_transaction(transaction)  # type: ignore[arg-type]
    except ValidationError as error:
        raise CallFailed(str(error), reverted=False, output=b"") from None
    finally:
        state.revert(snapshot)


def call(vm: object, header: BlockHeaderAPI, request: CallRequestFields) -> bytes:
    """Run ``request`` on the state after ``header`` and return its output.

    Raises ``CallFailed`` when the call reverts (with the revert bytes) or fails
    for another reason (out of gas, invalid opcode, a balance too small).
    """
    state: StateAPI = vm.state  # type: ignore[attr-defined]
    computation = _run(vm, state, request, request.gas or header.gas_limit)
    _raise_if_failed(computation)
    return bytes(computation.output)


def estimate_gas(vm: object, header: BlockHeaderAPI, request: CallRequestFields) -> int:
    """Return the least gas with which ``request`` succeeds, by binary search.

    Raises ``CallFailed`` if it fails even with the whole block gas limit.
    """
    state: StateAPI = vm.state  # type: ignore[attr-defined]
    cap = request.gas or header.gas_limit
    computation = _run(vm, state, request, cap)
    _raise_if_failed(computation)

    # No transaction succeeds with less than its base cost plus the execution
    # gas it used, so the search starts there.
    low = min(21_000 + computation.get_gas_used(), cap) - 1
    high = cap
    while low + 1 < high:
        middle = (low + high) // 2
        try:
            attempt = _run(vm, state, request, middle)
        except CallFailed:
            low = middle
            continue
        if attempt.is_error:
            low = middle
        else:
            high = middle
    return high


def _raise_if_failed(computation: ComputationAPI) -> None:
    if not computation.is_error:
        return
    output = bytes(computation.output)
    if isinstance(computation.error, Revert):
        raise CallFailed("execution reverted", reverted=True, output=output)
    raise CallFailed(
        str(computation.error) or type(computation.error).__name__,
        reverted=False,
        output=output,
    )
