"""secp256k1 signatures as QBFT uses them: 65 bytes ``r || s || v``, ``v`` in {0, 1}.

Consensus messages and committed seals are both signatures over a 32-byte hash
with no further hashing; the address of a signer is the last 20 bytes of the
keccak-256 of its uncompressed public key, as for Ethereum accounts.

Errors::

    ValueError     a private key that is not a valid secp256k1 scalar
    (callers turn a bad signature into their own ChainError subclass)
"""

from __future__ import annotations

from coincurve import PrivateKey, PublicKey
from eth_typing import Address
from eth_utils.crypto import keccak

SIGNATURE_LENGTH = 65
HASH_LENGTH = 32
# The order of the secp256k1 group; r and s must lie in [1, n).
CURVE_ORDER = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


class ValidatorKey:
    """A validator's private key, kept out of every repr and str."""

    def __init__(self, private_key: bytes) -> None:
        """Wrap ``private_key`` (32 bytes); reject a value that is not a key."""
        self._key = PrivateKey(private_key)
        self.address = address_of_public_key(self._key.public_key)

    def sign_hash(self, message_hash: bytes) -> bytes:
        """Sign the 32-byte ``message_hash``; return ``r || s || v``."""
        return sign_hash(message_hash, self._key)

    def __repr__(self) -> str:
        return f"ValidatorKey(address=0x{self.address.hex()}, private_key=***)"


def sign_hash(message_hash: bytes, private_key: PrivateKey | bytes) -> bytes:
    """Sign the 32-byte ``message_hash`` and return the 65-byte ``r || s || v``.

    The signature is deterministic (RFC 6979) with a low ``s``, as Besu makes
    them. Rejects a hash that is not 32 bytes.
    """
    if len(message_hash) != HASH_LENGTH:
        raise ValueError(f"message hash must be 32 bytes, got {len(message_hash)}")
    key = (
        private_key if isinstance(private_key, PrivateKey) else PrivateKey(private_key)
    )
    return key.sign_recoverable(message_hash, hasher=None)


def recover_signer(signature: bytes, message_hash: bytes) -> Address | None:
    """Return the address that made ``signature`` over ``message_hash``.

    Returns None for a signature that is not 65 bytes, has ``r`` or ``s``
    outside [1, n) or ``v`` outside {0, 1}, or recovers no public key.
    """
    if len(signature) != SIGNATURE_LENGTH or len(message_hash) != HASH_LENGTH:
        return None
    r = int.from_bytes(signature[:32], "big")
    s = int.from_bytes(signature[32:64], "big")
    if not (0 < r < CURVE_ORDER and 0 < s < CURVE_ORDER) or signature[64] > 1:
        return None
    try:
        public_key = PublicKey.from_signature_and_message(
            signature, message_hash, hasher=None
        )
    except ValueError:
        return None
    return address_of_public_key(public_key)


def address_of_public_key(public_key: PublicKey) -> Address:
    """Return the 20-byte account address of ``public_key``."""
    return Address(keccak(public_key.format(compressed=False)[1:])[12:])


def address_of_private_key(private_key: bytes) -> Address:
    """Return the 20-byte account address that ``private_key`` signs for."""
    return address_of_public_key(PrivateKey(private_key).public_key)
