"""Committed seals: validators' signatures over a block hash.

A QBFT committed seal is a recoverable secp256k1 signature ``r || s || v`` (``v``
in {0, 1}) over the block hash, which itself excludes the seals (see
``chain.blocks``). The signer's address is recovered from the seal, so a header
needs no separate list of who signed.
"""

from __future__ import annotations

import coincurve
from eth_hash.auto import keccak
from eth_typing import Address, Hash32

from chain.errors import ExtraDataError


def sign_block_hash(block_hash: Hash32, private_key: bytes) -> bytes:
    """Return the 65-byte committed seal of ``private_key`` over ``block_hash``."""
    key = coincurve.PrivateKey(private_key)
    return bytes(key.sign_recoverable(bytes(block_hash), hasher=None))


def recover_sealer(block_hash: Hash32, seal: bytes) -> Address:
    """Return the address that produced ``seal`` over ``block_hash``.

    Rejects a seal that is not 65 bytes or does not recover to a public key.
    """
    if len(seal) != 65 or seal[64] > 1:
        raise ExtraDataError("committed seal must be 65 bytes with v in {0, 1}")
    try:
        public_key = coincurve.PublicKey.from_signature_and_message(
            seal, bytes(block_hash), hasher=None
        )
    except Exception:
        raise ExtraDataError("committed seal does not recover a public key") from None
    return Address(keccak(public_key.format(compressed=False)[1:])[-20:])


def address_of_private_key(private_key: bytes) -> Address:
    """Return the account address that ``private_key`` controls."""
    public_key = coincurve.PrivateKey(private_key).public_key
    return Address(keccak(public_key.format(compressed=False)[1:])[-20:])
