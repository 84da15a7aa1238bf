"""Parsing JSON-RPC parameters; every failure names the parameter.

Each parser takes the raw JSON value and a name for error messages, and returns
a typed value or raises ``InvalidParams`` (-32602).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eth_typing import Address
from eth_utils import is_hex_address, to_canonical_address

from node.rpc.errors import InvalidParams

BLOCK_TAGS = ("latest", "earliest", "pending", "safe", "finalized")


@dataclass(frozen=True)
class CallRequest:
    """The transaction object of eth_call and eth_estimateGas."""

    sender: Address | None
    to: Address | None
    gas: int | None
    gas_price: int
    value: int
    data: bytes


def positional(params: Any, count_min: int, count_max: int, method: str) -> list[Any]:
    """Return ``params`` as a list padded with ``None`` to ``count_max`` items."""
    if params is None:
        params = []
    if not isinstance(params, list):
        raise InvalidParams(f"invalid params for {method}: expected an array")
    if not count_min <= len(params) <= count_max:
        expected = (
            str(count_min) if count_min == count_max else f"{count_min} to {count_max}"
        )
        raise InvalidParams(
            f"invalid params for {method}: expected {expected} arguments, "
            f"got {len(params)}"
        )
    return params + [None] * (count_max - len(params))


def parse_quantity(value: Any, name: str) -> int:
    """Parse a hex quantity such as ``0x1a``."""
    if (
        not isinstance(value, str)
        or not value.startswith(("0x", "0X"))
        or len(value) < 3
    ):
        raise InvalidParams(
            f"invalid argument {name}: hex string without 0x prefix or empty"
        )
    try:
        number = int(value, 16)
    except ValueError:
        raise InvalidParams(
            f"invalid argument {name}: invalid hex quantity {value!r}"
        ) from None
    if number >= 2**256:
        raise InvalidParams(f"invalid argument {name}: quantity exceeds 256 bits")
    return number


def parse_address(value: Any, name: str) -> Address:
    """Parse a 20-byte hex address."""
    if not isinstance(value, str) or not is_hex_address(value):
        raise InvalidParams(
            f"invalid argument {name}: not a 20-byte hex address: {value!r}"
        )
    return Address(to_canonical_address(value))


def parse_data(value: Any, name: str) -> bytes:
    """Parse 0x-prefixed hex bytes."""
    if not isinstance(value, str) or not value.startswith("0x"):
        raise InvalidParams(f"invalid argument {name}: hex string without 0x prefix")
    try:
        return bytes.fromhex(value[2:])
    except ValueError:
        raise InvalidParams(f"invalid argument {name}: invalid hex data") from None


def parse_hash(value: Any, name: str) -> bytes:
    """Parse a 32-byte hash."""
    data = parse_data(value, name)
    if len(data) != 32:
        raise InvalidParams(
            f"invalid argument {name}: hash must be 32 bytes, got {len(data)}"
        )
    return data


def parse_block_id(value: Any, name: str, default: str = "latest") -> int | str | bytes:
    """Parse a block number, a tag, a hash, or an EIP-1898 object.

    Returns an ``int`` block number, a tag string, or 32 hash bytes.
    """
    if value is None:
        return default
    if isinstance(value, dict):
        if "blockHash" in value:
            return parse_hash(value["blockHash"], name)
        if "blockNumber" in value:
            return parse_block_id(value["blockNumber"], name)
        raise InvalidParams(
            f"invalid argument {name}: expected blockHash or blockNumber"
        )
    if isinstance(value, str) and value in BLOCK_TAGS:
        return value
    if isinstance(value, str) and value.startswith("0x") and len(value) == 66:
        return parse_hash(value, name)
    if isinstance(value, str) and value.startswith("0x"):
        return parse_quantity(value, name)
    raise InvalidParams(
        f"invalid argument {name}: block must be a hex number, a hash or one of "
        f"{', '.join(BLOCK_TAGS)}; got {value!r}"
    )


def parse_call_request(value: Any, name: str) -> CallRequest:
    """Parse the transaction object of eth_call / eth_estimateGas."""
    if not isinstance(value, dict):
        raise InvalidParams(f"invalid argument {name}: expected a transaction object")
    data_value = value.get("input", value.get("data"))
    if "input" in value and "data" in value and value["input"] != value["data"]:
        raise InvalidParams(
            f"invalid argument {name}: both input and data given, and they differ"
        )
    gas_price = value.get("gasPrice", value.get("maxFeePerGas"))
    return CallRequest(
        sender=None
        if value.get("from") is None
        else parse_address(value["from"], f"{name}.from"),
        to=None
        if value.get("to") is None
        else parse_address(value["to"], f"{name}.to"),
        gas=None
        if value.get("gas") is None
        else parse_quantity(value["gas"], f"{name}.gas"),
        gas_price=0
        if gas_price is None
        else parse_quantity(gas_price, f"{name}.gasPrice"),
        value=0
        if value.get("value") is None
        else parse_quantity(value["value"], f"{name}.value"),
        data=b"" if data_value is None else parse_data(data_value, f"{name}.data"),
    )


def parse_bool(value: Any, name: str) -> bool:
    if not isinstance(value, bool):
        raise InvalidParams(f"invalid argument {name}: expected true or false")
    return value
