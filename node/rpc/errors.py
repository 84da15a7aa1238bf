"""JSON-RPC errors, and the one place where domain errors become them.

Codes and messages follow geth, because client libraries parse them:

    RpcError
    ├── ParseError          -32700  the body is not JSON (id is null)
    ├── InvalidRequest      -32600  not a JSON-RPC 2.0 request object
    ├── MethodNotFound      -32601  no such method
    ├── InvalidParams       -32602  a parameter is malformed; names the parameter
    ├── ServerError         -32000  the node refused (transaction rejected, ...)
    ├── ExecutionReverted        3  a call or estimate reverted; data: the bytes
    └── LimitExceeded       -32005  a query asks for too much

``to_rpc_error`` maps every ``chain`` error to one of these; a test checks that
each leaf of the chain's error tree has a mapping.
"""

from __future__ import annotations

from typing import Any

from chain.errors import ChainError, TransactionRejected


class RpcError(Exception):
    """An error that is returned to the client as a JSON-RPC error object."""

    code = -32603

    def __init__(self, message: str, data: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.data = data

    def to_json(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.data is not None:
            error["data"] = self.data
        return error


class ParseError(RpcError):
    code = -32700


class InvalidRequest(RpcError):
    code = -32600


class MethodNotFound(RpcError):
    code = -32601


class InvalidParams(RpcError):
    code = -32602


class ServerError(RpcError):
    code = -32000


class LimitExceeded(RpcError):
    code = -32005


class ExecutionReverted(RpcError):
    code = 3

    def __init__(self, reason: str | None, revert_data: bytes) -> None:
        message = (
            "execution reverted" if not reason else f"execution reverted: {reason}"
        )
        super().__init__(message, "0x" + revert_data.hex())


def to_rpc_error(error: ChainError) -> RpcError:
    """Return the JSON-RPC error for a chain error; rejections keep their words."""
    if isinstance(error, TransactionRejected):
        return ServerError(str(error))
    return ServerError(str(error))
