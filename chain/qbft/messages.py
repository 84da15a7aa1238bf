"""QBFT wire messages: PROPOSAL, PREPARE, COMMIT and ROUND-CHANGE.

The layout is Besu's ``qbft-core`` (``messagewrappers`` and ``payload``), pinned
byte for byte by ``shared/vectors/qbft/messages.json``. The message code travels
beside the bytes as the devp2p message id; it is not inside them::

    signed(P)      = [P, signature]
    PREPARE        = signed([height, round, digest])
    COMMIT         = signed([height, round, digest, committed_seal])
    ROUND-CHANGE   = [signed([height, round, [prepared_round, prepared_digest] | []]),
                      prepared_block | [],
                      [signed prepare, ...]]
    PROPOSAL       = [signed([height, round, block]),
                      [[signed round-change payload, ...], [signed prepare, ...]]]

``height`` is the number of the block being decided (Besu's "sequence"), an
unsigned scalar of at most 8 bytes; rounds are scalars of at most 4 bytes;
digests are 32-byte block hashes; blocks are embedded as RLP lists and kept here
as their encoded bytes.

A signature is over ``keccak256(RLP([code, P]))``: the message code as an RLP
scalar followed by the payload's own RLP list (Besu ``QbftPayload.
hashForSignature``; checked against Besu's ``CommitTest``/``PrepareTest``
interop vectors, whose signers are known).

Errors::

    QbftMessageError (chain.errors.ChainError)
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum
from typing import ClassVar, Generic, TypeVar

import rlp
from eth_typing import Address
from eth_utils.crypto import keccak

from chain.errors import QbftMessageError
from chain.qbft.signing import SIGNATURE_LENGTH, recover_signer, sign_hash

DIGEST_LENGTH = 32
HEIGHT_MAXIMUM_BYTES = 8
ROUND_MAXIMUM_BYTES = 4
EMPTY_LIST = b"\xc0"


class MessageCode(IntEnum):
    """The devp2p message ids of QBFT (Besu ``QbftV1``)."""

    PROPOSAL = 0x12
    PREPARE = 0x13
    COMMIT = 0x14
    ROUND_CHANGE = 0x15


# --- unsigned payloads ------------------------------------------------------------


@dataclass(frozen=True)
class PreparedRound:
    """The round in which a validator last prepared, and the digest it prepared."""

    round: int
    digest: bytes

    def __post_init__(self) -> None:
        _check_round("ROUND_CHANGE", self.round, "prepared round")
        _check_digest("ROUND_CHANGE", self.digest, "prepared digest")


@dataclass(frozen=True)
class ProposalPayload:
    """The leader's proposal of ``block`` (RLP bytes) for ``height`` and ``round``."""

    code: ClassVar[MessageCode] = MessageCode.PROPOSAL
    height: int
    round: int
    block: bytes

    def __post_init__(self) -> None:
        _check_height("PROPOSAL", self.height)
        _check_round("PROPOSAL", self.round, "round")
        if not self.block or self.block[0] < 0xC0 or self.block == EMPTY_LIST:
            raise QbftMessageError("PROPOSAL", "block must be a non-empty RLP list")

    def encode(self) -> bytes:
        """Return the payload's RLP list, the part that is signed."""
        return _list(_scalar(self.height), _scalar(self.round), self.block)


@dataclass(frozen=True)
class PreparePayload:
    """A validator's statement that it accepted the proposal with ``digest``."""

    code: ClassVar[MessageCode] = MessageCode.PREPARE
    height: int
    round: int
    digest: bytes

    def __post_init__(self) -> None:
        _check_height("PREPARE", self.height)
        _check_round("PREPARE", self.round, "round")
        _check_digest("PREPARE", self.digest, "digest")

    def encode(self) -> bytes:
        """Return the payload's RLP list, the part that is signed."""
        return _list(_scalar(self.height), _scalar(self.round), rlp.encode(self.digest))


@dataclass(frozen=True)
class CommitPayload:
    """A validator's commit to ``digest`` with its committed seal over ``digest``."""

    code: ClassVar[MessageCode] = MessageCode.COMMIT
    height: int
    round: int
    digest: bytes
    committed_seal: bytes

    def __post_init__(self) -> None:
        _check_height("COMMIT", self.height)
        _check_round("COMMIT", self.round, "round")
        _check_digest("COMMIT", self.digest, "digest")
        if len(self.committed_seal) != SIGNATURE_LENGTH:
            raise QbftMessageError(
                "COMMIT",
                f"committed seal must be {SIGNATURE_LENGTH} bytes, "
                f"got {len(self.committed_seal)}",
            )

    def encode(self) -> bytes:
        """Return the payload's RLP list, the part that is signed."""
        return _list(
            _scalar(self.height),
            _scalar(self.round),
            rlp.encode(self.digest),
            rlp.encode(self.committed_seal),
        )


@dataclass(frozen=True)
class RoundChangePayload:
    """A validator's move to ``round``, with what it last prepared, if anything."""

    code: ClassVar[MessageCode] = MessageCode.ROUND_CHANGE
    height: int
    round: int
    prepared: PreparedRound | None = None

    def __post_init__(self) -> None:
        _check_height("ROUND_CHANGE", self.height)
        _check_round("ROUND_CHANGE", self.round, "round")

    def encode(self) -> bytes:
        """Return the payload's RLP list, the part that is signed."""
        prepared = EMPTY_LIST
        if self.prepared is not None:
            prepared = _list(
                _scalar(self.prepared.round), rlp.encode(self.prepared.digest)
            )
        return _list(_scalar(self.height), _scalar(self.round), prepared)


Payload = ProposalPayload | PreparePayload | CommitPayload | RoundChangePayload
P = TypeVar("P", ProposalPayload, PreparePayload, CommitPayload, RoundChangePayload)


def signing_hash(payload: Payload) -> bytes:
    """Return ``keccak256(RLP([code, payload]))``, the hash a message signs."""
    return keccak(_list(_scalar(payload.code), payload.encode()))


# --- signed payloads and messages -------------------------------------------------


@dataclass(frozen=True)
class SignedPayload(Generic[P]):
    """A payload with its author's 65-byte ``r || s || v`` signature."""

    payload: P
    signature: bytes

    def __post_init__(self) -> None:
        if len(self.signature) != SIGNATURE_LENGTH:
            raise QbftMessageError(
                self.payload.code.name,
                f"signature must be {SIGNATURE_LENGTH} bytes, "
                f"got {len(self.signature)}",
            )

    def author(self) -> Address:
        """Return the address that signed the payload.

        Rejects a signature that recovers no public key (``r`` or ``s`` out of
        range, ``v`` not 0 or 1) with ``QbftMessageError``.
        """
        author = self._recovered_author
        if author is None:
            raise QbftMessageError(self.payload.code.name, "bad signature")
        return author

    @functools.cached_property
    def _recovered_author(self) -> Address | None:
        # Recovery costs tens of microseconds and every validator checks every
        # message and justification, so each signed payload recovers once.
        return recover_signer(self.signature, signing_hash(self.payload))

    def encode(self) -> bytes:
        """Return ``RLP([payload, signature])``."""
        return _list(self.payload.encode(), rlp.encode(self.signature))


def sign(payload: P, private_key_bytes: bytes) -> SignedPayload[P]:
    """Sign ``payload`` with the 32-byte secp256k1 ``private_key_bytes``."""
    return SignedPayload(payload, sign_hash(signing_hash(payload), private_key_bytes))


class _SignedMessage(Generic[P]):
    """What every QBFT message has: a signed payload naming height and round."""

    signed: SignedPayload[P]

    @property
    def height(self) -> int:
        return self.signed.payload.height

    @property
    def round(self) -> int:
        return self.signed.payload.round

    def author(self) -> Address:
        """Return the sender's address; reject a bad signature."""
        return self.signed.author()

    def encode(self) -> bytes:
        """Return the message bytes as they go on the wire."""
        return self.signed.encode()


@dataclass(frozen=True)
class Proposal(_SignedMessage[ProposalPayload]):
    """PROPOSAL: a block for a round, justified by round changes and prepares.

    A round-0 proposal carries no justification. A later one carries a quorum of
    ROUND-CHANGE payloads for its round and, if any of them is prepared, a quorum
    of PREPAREs for the highest prepared round among them.
    """

    code: ClassVar[MessageCode] = MessageCode.PROPOSAL
    signed: SignedPayload[ProposalPayload]
    round_changes: tuple[SignedPayload[RoundChangePayload], ...] = ()
    prepares: tuple[SignedPayload[PreparePayload], ...] = ()

    @property
    def block(self) -> bytes:
        return self.signed.payload.block

    def encode(self) -> bytes:
        """Return the message bytes as they go on the wire."""
        justification = _list(
            _list(*(round_change.encode() for round_change in self.round_changes)),
            _list(*(prepare.encode() for prepare in self.prepares)),
        )
        return _list(self.signed.encode(), justification)


@dataclass(frozen=True)
class Prepare(_SignedMessage[PreparePayload]):
    """PREPARE: the sender accepted the proposal whose block hash is ``digest``."""

    code: ClassVar[MessageCode] = MessageCode.PREPARE
    signed: SignedPayload[PreparePayload]

    @property
    def digest(self) -> bytes:
        return self.signed.payload.digest


@dataclass(frozen=True)
class Commit(_SignedMessage[CommitPayload]):
    """COMMIT: the sender saw a prepared quorum; carries its committed seal."""

    code: ClassVar[MessageCode] = MessageCode.COMMIT
    signed: SignedPayload[CommitPayload]

    @property
    def digest(self) -> bytes:
        return self.signed.payload.digest

    @property
    def committed_seal(self) -> bytes:
        return self.signed.payload.committed_seal


@dataclass(frozen=True)
class RoundChange(_SignedMessage[RoundChangePayload]):
    """ROUND-CHANGE: the sender moved to a round; proves what it last prepared.

    When the payload names a prepared round, ``prepared_block`` is that block and
    ``prepares`` is the quorum of PREPAREs that prepared it; otherwise both are
    empty.
    """

    code: ClassVar[MessageCode] = MessageCode.ROUND_CHANGE
    signed: SignedPayload[RoundChangePayload]
    prepared_block: bytes | None = None
    prepares: tuple[SignedPayload[PreparePayload], ...] = ()

    @property
    def prepared(self) -> PreparedRound | None:
        return self.signed.payload.prepared

    def encode(self) -> bytes:
        """Return the message bytes as they go on the wire."""
        block = EMPTY_LIST if self.prepared_block is None else self.prepared_block
        prepares = _list(*(prepare.encode() for prepare in self.prepares))
        return _list(self.signed.encode(), block, prepares)


QbftMessage = Proposal | Prepare | Commit | RoundChange


def encode_message(message: QbftMessage) -> tuple[MessageCode, bytes]:
    """Return ``(code, bytes)`` of ``message`` as the transport sends them."""
    return message.code, message.encode()


def decode_message(message_code: int, data: bytes) -> QbftMessage:
    """Decode the bytes of a message that arrived with ``message_code``.

    Returns the message; its signature is checked when ``author()`` is called.
    Rejects an unknown code, bytes that are not canonical RLP, and any item of
    the wrong shape, with ``QbftMessageError`` naming the message and field.
    """
    try:
        code = MessageCode(message_code)
    except ValueError:
        raise QbftMessageError(
            "message", f"unknown message code {message_code:#04x}"
        ) from None
    try:
        item = rlp.decode(data)
    except (rlp.exceptions.RLPException, RecursionError) as error:
        raise QbftMessageError(code.name, f"not valid RLP: {error}") from None
    return _DECODERS[code](item)


def _decode_proposal(item: object) -> Proposal:
    signed_item, justification = _items(item, 2, "PROPOSAL", "message")
    round_changes, prepares = _items(justification, 2, "PROPOSAL", "justification")
    return Proposal(
        signed=_signed(signed_item, _proposal_payload, "PROPOSAL"),
        round_changes=tuple(
            _signed(entry, _round_change_payload, "ROUND_CHANGE")
            for entry in _items(round_changes, None, "PROPOSAL", "round changes")
        ),
        prepares=_prepare_list(prepares, "PROPOSAL"),
    )


def _decode_prepare(item: object) -> Prepare:
    return Prepare(_signed(item, _prepare_payload, "PREPARE"))


def _decode_commit(item: object) -> Commit:
    return Commit(_signed(item, _commit_payload, "COMMIT"))


def _decode_round_change(item: object) -> RoundChange:
    signed_item, block_item, prepares = _items(item, 3, "ROUND_CHANGE", "message")
    if not isinstance(block_item, list):
        raise QbftMessageError("ROUND_CHANGE", "prepared block must be an RLP list")
    return RoundChange(
        signed=_signed(signed_item, _round_change_payload, "ROUND_CHANGE"),
        prepared_block=rlp.encode(block_item) if block_item else None,
        prepares=_prepare_list(prepares, "ROUND_CHANGE"),
    )


_DECODERS: dict[MessageCode, Callable[[object], QbftMessage]] = {
    MessageCode.PROPOSAL: _decode_proposal,
    MessageCode.PREPARE: _decode_prepare,
    MessageCode.COMMIT: _decode_commit,
    MessageCode.ROUND_CHANGE: _decode_round_change,
}


# --- payload decoding -------------------------------------------------------------


def _proposal_payload(item: object) -> ProposalPayload:
    height, round_item, block = _items(item, 3, "PROPOSAL", "payload")
    if not isinstance(block, list):
        raise QbftMessageError("PROPOSAL", "block must be an RLP list")
    return ProposalPayload(
        height=_height(height, "PROPOSAL"),
        round=_round(round_item, "PROPOSAL", "round"),
        # Re-encoding gives back the received bytes: rlp.decode accepts only
        # canonical encodings.
        block=rlp.encode(block),
    )


def _prepare_payload(item: object) -> PreparePayload:
    height, round_item, digest = _items(item, 3, "PREPARE", "payload")
    return PreparePayload(
        height=_height(height, "PREPARE"),
        round=_round(round_item, "PREPARE", "round"),
        digest=_bytes(digest, "PREPARE", "digest"),
    )


def _commit_payload(item: object) -> CommitPayload:
    height, round_item, digest, seal = _items(item, 4, "COMMIT", "payload")
    return CommitPayload(
        height=_height(height, "COMMIT"),
        round=_round(round_item, "COMMIT", "round"),
        digest=_bytes(digest, "COMMIT", "digest"),
        committed_seal=_bytes(seal, "COMMIT", "committed seal"),
    )


def _round_change_payload(item: object) -> RoundChangePayload:
    height, round_item, prepared_item = _items(item, 3, "ROUND_CHANGE", "payload")
    prepared_fields = _items(prepared_item, None, "ROUND_CHANGE", "prepared round")
    prepared = None
    if prepared_fields:
        if len(prepared_fields) != 2:
            raise QbftMessageError(
                "ROUND_CHANGE", "prepared round must be [] or [round, digest]"
            )
        prepared = PreparedRound(
            round=_round(prepared_fields[0], "ROUND_CHANGE", "prepared round"),
            digest=_bytes(prepared_fields[1], "ROUND_CHANGE", "prepared digest"),
        )
    return RoundChangePayload(
        height=_height(height, "ROUND_CHANGE"),
        round=_round(round_item, "ROUND_CHANGE", "round"),
        prepared=prepared,
    )


def _prepare_list(item: object, name: str) -> tuple[SignedPayload[PreparePayload], ...]:
    entries = _items(item, None, name, "prepares")
    return tuple(_signed(entry, _prepare_payload, "PREPARE") for entry in entries)


def _signed(
    item: object, decode_payload: Callable[[object], P], name: str
) -> SignedPayload[P]:
    payload, signature = _items(item, 2, name, "signed payload")
    return SignedPayload(decode_payload(payload), _bytes(signature, name, "signature"))


# --- RLP items --------------------------------------------------------------------


def _items(item: object, length: int | None, name: str, what: str) -> list[object]:
    if not isinstance(item, list):
        raise QbftMessageError(name, f"{what} must be an RLP list")
    if length is not None and len(item) != length:
        raise QbftMessageError(
            name, f"{what} must have {length} items, got {len(item)}"
        )
    return item


def _bytes(item: object, name: str, what: str) -> bytes:
    if not isinstance(item, bytes):
        raise QbftMessageError(name, f"{what} must be an RLP string")
    return item


def _scalar_value(item: object, name: str, what: str, maximum_bytes: int) -> int:
    value = _bytes(item, name, what)
    if value[:1] == b"\x00":
        raise QbftMessageError(name, f"{what} has a leading zero byte")
    if len(value) > maximum_bytes:
        raise QbftMessageError(name, f"{what} is longer than {maximum_bytes} bytes")
    return int.from_bytes(value, "big")


def _height(item: object, name: str) -> int:
    return _scalar_value(item, name, "height", HEIGHT_MAXIMUM_BYTES)


def _round(item: object, name: str, what: str) -> int:
    return _scalar_value(item, name, what, ROUND_MAXIMUM_BYTES)


def _check_height(name: str, height: int) -> None:
    if not 0 <= height < 2 ** (8 * HEIGHT_MAXIMUM_BYTES):
        raise QbftMessageError(name, f"height {height} is out of range")


def _check_round(name: str, round_number: int, what: str) -> None:
    if not 0 <= round_number < 2 ** (8 * ROUND_MAXIMUM_BYTES):
        raise QbftMessageError(name, f"{what} {round_number} is out of range")


def _check_digest(name: str, digest: bytes, what: str) -> None:
    if len(digest) != DIGEST_LENGTH:
        raise QbftMessageError(
            name, f"{what} must be {DIGEST_LENGTH} bytes, got {len(digest)}"
        )


def _scalar(value: int) -> bytes:
    return bytes(rlp.encode(value))


def _list(*encoded_items: bytes) -> bytes:
    # Items arrive already encoded, so an embedded block is copied, not re-encoded.
    body = b"".join(encoded_items)
    if len(body) < 56:
        return bytes([0xC0 + len(body)]) + body
    length = len(body).to_bytes((len(body).bit_length() + 7) // 8, "big")
    return bytes([0xF7 + len(length)]) + length + body
