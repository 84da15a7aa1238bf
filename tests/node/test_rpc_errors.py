"""Every chain error has a JSON-RPC error, and keeps the words clients parse."""

from __future__ import annotations

import chain.errors as chain_errors
from chain.errors import ChainError
from chain.execution import CallFailed  # a ChainError defined outside errors.py
from node.rpc.errors import RpcError, ServerError, to_rpc_error


def leaf_classes(base: type[Exception]) -> list[type[Exception]]:
    leaves = []
    for subclass in base.__subclasses__():
        leaves.extend(leaf_classes(subclass) or [subclass])
    return leaves


def make(error_class: type[Exception]) -> ChainError:
    samples = {
        "InvalidChainId": (1, 2),
        "SenderNotPermitted": ("0x" + "11" * 20,),
        "NonceTooLow": (1, 2),
        "InsufficientFunds": (1, 2),
        "IntrinsicGasTooLow": (1, 2),
        "ExceedsBlockGasLimit": (1, 2),
        "TransactionTooLarge": (1, 2),
        "AlreadyKnown": ("0x" + "22" * 32,),
        "ReplacementUnderpriced": (1,),
        "BlockRejected": (1, "a rule"),
        "QbftMessageError": ("PREPARE", "a problem"),
    }
    if error_class.__name__ == "CallFailed":
        return CallFailed("execution reverted", reverted=True, output=b"")
    arguments = samples.get(error_class.__name__, ("what went wrong",))
    error = error_class(*arguments)
    assert isinstance(error, ChainError)
    return error


def test_every_chain_error_maps_to_a_json_rpc_error_with_its_message() -> None:
    leaves = leaf_classes(ChainError)
    assert len(leaves) >= 10
    for error_class in leaves:
        assert error_class.__module__ == chain_errors.__name__ or issubclass(
            error_class, ChainError
        )
        error = make(error_class)
        mapped = to_rpc_error(error)
        assert isinstance(mapped, RpcError)
        assert isinstance(mapped, ServerError)
        assert mapped.message == str(error)
        assert mapped.to_json()["code"] == -32000
