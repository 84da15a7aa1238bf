"""A node's key file: the member's secp256k1 key, as Besu keeps it.

The file holds the private key as 0x-prefixed hex and is created readable by its
owner only. The key never appears in a log line, a repr or an error message.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import coincurve

from chain.qbft.signing import address_of_private_key


class NodeKeyError(Exception):
    """The key file is missing, unreadable or does not hold a valid key."""


class NodeKey:
    """A member's private key; its repr shows only the address."""

    __slots__ = ("_private_key", "address")

    def __init__(self, private_key: bytes) -> None:
        try:
            coincurve.PrivateKey(private_key)
        except Exception:
            raise NodeKeyError("the key is not a valid secp256k1 private key") from None
        self._private_key = private_key
        self.address = address_of_private_key(private_key)

    @property
    def private_key(self) -> bytes:
        return self._private_key

    @property
    def public_key(self) -> bytes:
        """The 64-byte uncompressed public key: the member's node id."""
        point = coincurve.PrivateKey(self._private_key).public_key
        return bytes(point.format(compressed=False)[1:])

    def __repr__(self) -> str:
        return f"NodeKey(address=0x{self.address.hex()})"

    __str__ = __repr__


def generate_node_key() -> NodeKey:
    """Return a fresh random key."""
    return NodeKey(secrets.token_bytes(32))


def write_node_key(path: Path, key: NodeKey) -> None:
    """Write ``key`` to ``path`` with owner-only permissions."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write("0x" + key.private_key.hex() + "\n")


def read_node_key(path: Path) -> NodeKey:
    """Read a key file written by ``write_node_key`` (or Besu's ``key`` file)."""
    try:
        text = path.read_text().strip()
    except OSError as error:
        raise NodeKeyError(f"cannot read key file {path}: {error.strerror}") from None
    if text.startswith("0x"):
        text = text[2:]
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        raise NodeKeyError(f"key file {path} does not hold hex") from None
    if len(raw) != 32:
        raise NodeKeyError(f"key file {path} must hold a 32-byte key")
    return NodeKey(raw)
