"""Reference implementation of score commitments and presentations.

This module mirrors ``CreditRegistry.vy`` byte for byte; the tests check
that both give the same result on random valid and invalid presentations.
The encoding (also in the contract's module docstring):

- hash chain: ``H(x) = keccak256(x)``; a score ``S`` commits to the tip
  ``H^(S+1)(seed)``; showing ``score >= T`` reveals
  ``node = H^(S+1-T)(seed)``, which hashes to the tip in ``T`` steps;
- leaf: ``keccak256(keccak256(abi.encode(address holder, bytes32 tip)))``;
- tree: sorted-pair ``keccak256(min(a, b) ++ max(a, b))``; an odd node at
  the end of a level moves up unchanged; a proof lists siblings from the
  leaf up;
- signature: EIP-712, domain ``("Gongfen Credit Registry", "1", chainId,
  registry address)``, type ``Presentation(address bank,bytes32 nonce,
  uint256 threshold,uint256 epoch,uint256 version,uint256 expiry)``.

Nonce freshness belongs to the bank: it draws ``new_nonce()`` per request
and passes it as ``expected_nonce``; any other nonce fails.
"""

from __future__ import annotations

import enum
import random
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from eth_abi import encode
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_account.signers.local import LocalAccount
from eth_keys import keys
from eth_keys.exceptions import BadSignature, ValidationError
from eth_typing import ChecksumAddress
from eth_utils import keccak, to_canonical_address, to_checksum_address

DOMAIN_NAME = "Gongfen Credit Registry"
DOMAIN_VERSION = "1"
MAX_THRESHOLD = 1000
MAX_PROOF_DEPTH = 32
PRESENTATION_TYPE = (
    "Presentation(address bank,bytes32 nonce,uint256 threshold,uint256 epoch,"
    "uint256 version,uint256 expiry)"
)
PRESENTATION_TYPEHASH = keccak(text=PRESENTATION_TYPE)
_DOMAIN_TYPEHASH = keccak(
    text="EIP712Domain(string name,string version,uint256 chainId,"
    "address verifyingContract)"
)
_SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
_TYPED_DATA_TYPES = {
    "EIP712Domain": [
        {"name": "name", "type": "string"},
        {"name": "version", "type": "string"},
        {"name": "chainId", "type": "uint256"},
        {"name": "verifyingContract", "type": "address"},
    ],
    "Presentation": [
        {"name": "bank", "type": "address"},
        {"name": "nonce", "type": "bytes32"},
        {"name": "threshold", "type": "uint256"},
        {"name": "epoch", "type": "uint256"},
        {"name": "version", "type": "uint256"},
        {"name": "expiry", "type": "uint256"},
    ],
}


class PresentationResult(enum.IntEnum):
    """The codes of ``CreditRegistry.checkPresentation``, in check order."""

    VALID = 0
    THRESHOLD_TOO_HIGH = 1
    WRONG_BANK = 2
    NOT_A_BANK = 3
    NONCE_MISMATCH = 4
    PRESENTATION_EXPIRED = 5
    UNKNOWN_COMMITMENT = 6
    SUPERSEDED_VERSION = 7
    COMMITMENT_EXPIRED = 8
    BAD_SIGNATURE = 9
    NOT_IN_TREE = 10


# -- hash chains and leaves ---------------------------------------------


def hash_chain(node: bytes, steps: int) -> bytes:
    """Hash ``node`` ``steps`` times with keccak256."""
    for _ in range(steps):
        node = keccak(node)
    return node


def new_seed() -> bytes:
    """A fresh random 32-byte hash-chain seed; it never leaves the wallet."""
    return secrets.token_bytes(32)


def new_nonce() -> bytes:
    """A fresh random 32-byte bank nonce, one per presentation request."""
    return secrets.token_bytes(32)


def commitment_tip(seed: bytes, score: int) -> bytes:
    """The committed tip for ``score``: ``H^(score+1)(seed)``.

    Rejects a negative score or a seed that is not 32 bytes.
    """
    if score < 0:
        raise ValueError(f"score must not be negative, got {score}")
    if len(seed) != 32:
        raise ValueError(f"seed must be 32 bytes, got {len(seed)}")
    return hash_chain(seed, score + 1)


def reveal_node(seed: bytes, score: int, threshold: int) -> bytes:
    """The node that proves ``score >= threshold``: ``H^(score+1-threshold)``.

    Rejects a threshold above the score or a negative one: no such node
    can be made without breaking keccak256.
    """
    if not 0 <= threshold <= score:
        raise ValueError(f"threshold {threshold} is not within 0..score ({score})")
    return hash_chain(seed, score + 1 - threshold)


def leaf_hash(holder: str, tip: bytes) -> bytes:
    """The Merkle leaf committing ``holder`` to ``tip`` (double keccak)."""
    return keccak(keccak(encode(["address", "bytes32"], [holder, tip])))


def hash_pair(a: bytes, b: bytes) -> bytes:
    """Sorted-pair hash of two tree nodes."""
    return keccak(a + b) if a < b else keccak(b + a)


# -- Merkle tree ----------------------------------------------------------


@dataclass
class MerkleTree:
    """A sorted-pair Merkle tree over 32-byte leaves, in the given order."""

    leaves: list[bytes]
    levels: list[list[bytes]] = field(init=False)

    def __post_init__(self) -> None:
        if not self.leaves:
            raise ValueError("a Merkle tree needs at least one leaf")
        levels = [list(self.leaves)]
        while len(levels[-1]) > 1:
            below = levels[-1]
            above = [
                hash_pair(below[i], below[i + 1]) for i in range(0, len(below) - 1, 2)
            ]
            if len(below) % 2:
                above.append(below[-1])
            levels.append(above)
        self.levels = levels

    @property
    def root(self) -> bytes:
        """The root hash."""
        return self.levels[-1][0]

    def proof(self, leaf: bytes) -> list[bytes]:
        """The sibling hashes from ``leaf`` to the root.

        Rejects a leaf that is not in the tree.
        """
        try:
            index = self.leaves.index(leaf)
        except ValueError:
            raise ValueError(f"leaf 0x{leaf.hex()} is not in the tree") from None
        path: list[bytes] = []
        for level in self.levels[:-1]:
            sibling = index ^ 1
            if sibling < len(level):
                path.append(level[sibling])
            index //= 2
        return path


def process_proof(leaf: bytes, proof: Sequence[bytes]) -> bytes:
    """The root that ``proof`` leads to from ``leaf``."""
    node = leaf
    for sibling in proof:
        node = hash_pair(node, sibling)
    return node


def build_tree(
    tips: Mapping[ChecksumAddress, bytes] | Mapping[str, bytes],
    shuffle: random.Random | None = None,
) -> MerkleTree:
    """Build an epoch's tree from each holder's committed tip.

    Takes tips by holder address and a random source for the leaf order
    (default: the system's secure one), so that a leaf's position says
    nothing about the holder.
    """
    leaves = [leaf_hash(holder, tip) for holder, tip in tips.items()]
    (shuffle or random.SystemRandom()).shuffle(leaves)
    return MerkleTree(leaves)


# -- presentations --------------------------------------------------------


@dataclass(frozen=True)
class Presentation:
    """What a holder gives a bank; ``as_abi`` is the contract's tuple."""

    holder: str
    bank: str
    nonce: bytes
    threshold: int
    epoch: int
    version: int
    expiry: int
    node: bytes
    proof: tuple[bytes, ...]
    signature: bytes

    def as_abi(self) -> tuple[Any, ...]:
        """The ``Presentation`` struct as an ABI tuple, in field order."""
        return (
            self.holder,
            self.bank,
            self.nonce,
            self.threshold,
            self.epoch,
            self.version,
            self.expiry,
            self.node,
            list(self.proof),
            self.signature,
        )


def typed_data(
    *,
    bank: str,
    nonce: bytes,
    threshold: int,
    epoch: int,
    version: int,
    expiry: int,
    chain_id: int,
    registry: str,
) -> dict[str, Any]:
    """The EIP-712 message a holder signs, as ``eth_signTypedData_v4`` JSON."""
    return {
        "types": _TYPED_DATA_TYPES,
        "primaryType": "Presentation",
        "domain": {
            "name": DOMAIN_NAME,
            "version": DOMAIN_VERSION,
            "chainId": chain_id,
            "verifyingContract": to_checksum_address(registry),
        },
        "message": {
            "bank": to_checksum_address(bank),
            "nonce": nonce,
            "threshold": threshold,
            "epoch": epoch,
            "version": version,
            "expiry": expiry,
        },
    }


def presentation_digest(
    *,
    bank: str,
    nonce: bytes,
    threshold: int,
    epoch: int,
    version: int,
    expiry: int,
    chain_id: int,
    registry: str,
) -> bytes:
    """The EIP-712 digest of a presentation, computed by hand."""
    domain_separator = keccak(
        encode(
            ["bytes32", "bytes32", "bytes32", "uint256", "address"],
            [
                _DOMAIN_TYPEHASH,
                keccak(text=DOMAIN_NAME),
                keccak(text=DOMAIN_VERSION),
                chain_id,
                registry,
            ],
        )
    )
    struct_hash = keccak(
        encode(
            [
                "bytes32",
                "address",
                "bytes32",
                "uint256",
                "uint256",
                "uint256",
                "uint256",
            ],
            [PRESENTATION_TYPEHASH, bank, nonce, threshold, epoch, version, expiry],
        )
    )
    return keccak(b"\x19\x01" + domain_separator + struct_hash)


def sign_presentation(
    holder: LocalAccount,
    *,
    bank: str,
    nonce: bytes,
    threshold: int,
    epoch: int,
    version: int,
    expiry: int,
    node: bytes,
    proof: Sequence[bytes],
    chain_id: int,
    registry: str,
) -> Presentation:
    """Sign a presentation with the holder's key (EIP-712 typed data)."""
    message = encode_typed_data(
        full_message=typed_data(
            bank=bank,
            nonce=nonce,
            threshold=threshold,
            epoch=epoch,
            version=version,
            expiry=expiry,
            chain_id=chain_id,
            registry=registry,
        )
    )
    signed = Account.sign_message(message, holder.key)
    return Presentation(
        holder=holder.address,
        bank=to_checksum_address(bank),
        nonce=nonce,
        threshold=threshold,
        epoch=epoch,
        version=version,
        expiry=expiry,
        node=node,
        proof=tuple(proof),
        signature=bytes(signed.signature),
    )


def recover_signer(digest: bytes, signature: bytes) -> str | None:
    """The address that signed ``digest``, or None for a bad signature.

    Applies the contract's rules: 65 bytes ``r ++ s ++ v``, ``v`` 27 or 28,
    ``s`` in the lower half of the curve order, ``r`` and ``s`` non-zero
    and below the order.
    """
    if len(signature) != 65:
        return None
    r = int.from_bytes(signature[:32], "big")
    s = int.from_bytes(signature[32:64], "big")
    v = signature[64]
    if s > _SECP256K1_N // 2 or v not in (27, 28):
        return None
    if not (0 < r < _SECP256K1_N and s > 0):
        return None
    try:
        public_key = keys.Signature(
            vrs=(v - 27, r, s)
        ).recover_public_key_from_msg_hash(digest)
    except (BadSignature, ValidationError):
        return None
    return public_key.to_checksum_address()


# -- verification ---------------------------------------------------------


@dataclass(frozen=True)
class Commitment:
    """One published version of an epoch's commitment."""

    root: bytes
    valid_until: int


@dataclass
class RegistryView:
    """What the verifier reads from the chain: versions and banks.

    ``versions[epoch]`` lists the commitments of ``epoch`` in publishing
    order, so version ``v`` is ``versions[epoch][v - 1]``.
    """

    chain_id: int
    address: str
    versions: dict[int, list[Commitment]] = field(default_factory=dict)
    banks: set[str] = field(default_factory=set)

    def publish(self, epoch: int, commitment: Commitment) -> int:
        """Record a new version of ``epoch``; return its number."""
        self.versions.setdefault(epoch, []).append(commitment)
        return len(self.versions[epoch])


def check_presentation(
    presentation: Presentation,
    *,
    bank: str,
    expected_nonce: bytes,
    now: int,
    registry: RegistryView,
) -> PresentationResult:
    """Check a presentation exactly as ``CreditRegistry.checkPresentation``.

    Takes the presentation, the verifying bank, the nonce it issued for
    this request, the time (the block timestamp the contract would see)
    and the registry's state. Returns ``VALID`` or the first failing rule.
    Raises ``ValueError`` for a proof longer than ``MAX_PROOF_DEPTH`` or a
    signature longer than 65 bytes, which the contract's ABI decoder
    refuses before any rule is checked.
    """
    p = presentation
    if len(p.proof) > MAX_PROOF_DEPTH or len(p.signature) > 65:
        raise ValueError("proof or signature longer than the contract accepts")
    if p.threshold > MAX_THRESHOLD:
        return PresentationResult.THRESHOLD_TOO_HIGH
    if _canonical(p.bank) != _canonical(bank):
        return PresentationResult.WRONG_BANK
    if _canonical(bank) not in {_canonical(b) for b in registry.banks}:
        return PresentationResult.NOT_A_BANK
    if p.nonce != expected_nonce:
        return PresentationResult.NONCE_MISMATCH
    if now > p.expiry:
        return PresentationResult.PRESENTATION_EXPIRED

    versions = registry.versions.get(p.epoch, [])
    if not versions or p.version == 0 or p.version > len(versions):
        return PresentationResult.UNKNOWN_COMMITMENT
    if p.version < len(versions):
        return PresentationResult.SUPERSEDED_VERSION
    commitment = versions[-1]
    if now > commitment.valid_until:
        return PresentationResult.COMMITMENT_EXPIRED

    digest = presentation_digest(
        bank=p.bank,
        nonce=p.nonce,
        threshold=p.threshold,
        epoch=p.epoch,
        version=p.version,
        expiry=p.expiry,
        chain_id=registry.chain_id,
        registry=registry.address,
    )
    signer = recover_signer(digest, p.signature)
    if signer is None or _canonical(signer) != _canonical(p.holder):
        return PresentationResult.BAD_SIGNATURE

    leaf = leaf_hash(p.holder, hash_chain(p.node, p.threshold))
    if process_proof(leaf, p.proof) != commitment.root:
        return PresentationResult.NOT_IN_TREE
    return PresentationResult.VALID


def _canonical(address: str) -> bytes:
    return to_canonical_address(address)
