"""QBFT wire messages against the shared and Besu interop vectors, and bad input."""

from __future__ import annotations

import contextlib
from typing import Any

import pytest
import rlp
from hypothesis import given, settings
from hypothesis import strategies as st

from chain.errors import QbftMessageError
from chain.qbft.messages import (
    Commit,
    CommitPayload,
    MessageCode,
    Prepare,
    PreparedRound,
    PreparePayload,
    Proposal,
    ProposalPayload,
    QbftMessage,
    RoundChange,
    RoundChangePayload,
    SignedPayload,
    decode_message,
    encode_message,
    sign,
    signing_hash,
)
from chain.qbft.signing import address_of_private_key
from tests.chain.qbft.conftest import hex_bytes, load_qbft_vectors

MESSAGE_CODES = {
    "proposal": MessageCode.PROPOSAL,
    "prepare": MessageCode.PREPARE,
    "commit": MessageCode.COMMIT,
    "roundChange": MessageCode.ROUND_CHANGE,
}
MESSAGE_VECTOR_NAMES = [
    "prepare",
    "commit",
    "roundChange_empty_prepares",
    "roundChange_with_prepares",
    "proposal_empty_prepares_and_roundChanges",
    "proposal_with_prepares_and_roundChanges",
]
KEY = bytes(range(1, 33))
DIGEST = bytes(range(32))


@pytest.fixture(scope="module")
def message_vectors() -> dict[str, Any]:
    return load_qbft_vectors("messages.json")


def _decode_vector(vector: dict[str, Any]) -> QbftMessage:
    code = MESSAGE_CODES[vector["message"]["type"]]
    return decode_message(code, hex_bytes(vector["rlp"]))


def test_every_message_vector_is_covered(message_vectors: dict[str, Any]) -> None:
    assert sorted(message_vectors) == sorted(MESSAGE_VECTOR_NAMES)


@pytest.mark.parametrize("name", MESSAGE_VECTOR_NAMES)
def test_message_vector_round_trips_byte_equal(
    message_vectors: dict[str, Any], name: str
) -> None:
    vector = message_vectors[name]

    message = _decode_vector(vector)

    assert encode_message(message) == (
        MESSAGE_CODES[vector["message"]["type"]],
        hex_bytes(vector["rlp"]),
    )


@pytest.mark.parametrize("name", MESSAGE_VECTOR_NAMES)
def test_message_vector_signatures_recover_an_author(
    message_vectors: dict[str, Any], name: str
) -> None:
    # The vectors' keys are not published, so only recovery itself is checked
    # here; the hash rule is pinned by Besu's interop vectors below.
    message = _decode_vector(message_vectors[name])

    assert len(message.author()) == 20


def _assert_prepare(signed: SignedPayload[PreparePayload], expected: Any) -> None:
    unsigned = expected["unsignedPrepare"]
    assert signed.payload == PreparePayload(
        unsigned["sequence"], unsigned["round"], hex_bytes(unsigned["digest"])
    )
    assert signed.signature == hex_bytes(expected["signature"])


def _assert_round_change_payload(
    signed: SignedPayload[RoundChangePayload], expected: Any
) -> None:
    unsigned = expected["unsignedRoundChange"]
    prepared = None
    if unsigned["preparedValue"] is not None:
        prepared = PreparedRound(
            unsigned["preparedRound"], hex_bytes(unsigned["preparedValue"])
        )
    assert signed.payload == RoundChangePayload(
        unsigned["sequence"], unsigned["round"], prepared
    )
    assert signed.signature == hex_bytes(expected["signature"])


def test_prepare_vector_fields(message_vectors: dict[str, Any]) -> None:
    message = _decode_vector(message_vectors["prepare"])

    assert isinstance(message, Prepare)
    _assert_prepare(message.signed, message_vectors["prepare"]["message"])


def test_commit_vector_fields(message_vectors: dict[str, Any]) -> None:
    expected = message_vectors["commit"]["message"]
    unsigned = expected["unsignedCommit"]

    message = _decode_vector(message_vectors["commit"])

    assert isinstance(message, Commit)
    assert message.signed.payload == CommitPayload(
        unsigned["sequence"],
        unsigned["round"],
        hex_bytes(unsigned["digest"]),
        hex_bytes(unsigned["commitSeal"]),
    )
    assert message.signed.signature == hex_bytes(expected["signature"])


@pytest.mark.parametrize(
    "name", ["roundChange_empty_prepares", "roundChange_with_prepares"]
)
def test_round_change_vector_fields(message_vectors: dict[str, Any], name: str) -> None:
    expected = message_vectors[name]["message"]

    message = _decode_vector(message_vectors[name])

    assert isinstance(message, RoundChange)
    _assert_round_change_payload(message.signed, expected["signedRoundChange"])
    block = None if expected["block"] is None else hex_bytes(expected["block"])
    assert message.prepared_block == block
    assert len(message.prepares) == len(expected["prepares"])
    for prepare, expected_prepare in zip(
        message.prepares, expected["prepares"], strict=True
    ):
        _assert_prepare(prepare, expected_prepare)


@pytest.mark.parametrize(
    "name",
    [
        "proposal_empty_prepares_and_roundChanges",
        "proposal_with_prepares_and_roundChanges",
    ],
)
def test_proposal_vector_fields(message_vectors: dict[str, Any], name: str) -> None:
    expected = message_vectors[name]["message"]
    unsigned = expected["signedProposal"]["unsignedProposal"]

    message = _decode_vector(message_vectors[name])

    assert isinstance(message, Proposal)
    assert message.signed.payload == ProposalPayload(
        unsigned["sequence"], unsigned["round"], hex_bytes(unsigned["block"])
    )
    assert message.signed.signature == hex_bytes(
        expected["signedProposal"]["signature"]
    )
    assert len(message.round_changes) == len(expected["roundChanges"])
    for signed, expected_rc in zip(
        message.round_changes, expected["roundChanges"], strict=True
    ):
        _assert_round_change_payload(signed, expected_rc)
    assert len(message.prepares) == len(expected["prepares"])
    for prepare, expected_prepare in zip(
        message.prepares, expected["prepares"], strict=True
    ):
        _assert_prepare(prepare, expected_prepare)


# Besu qbft-core tests CommitTest.testInterop and PrepareTest.testInterop
# (Apache-2.0): messages with known authors, which pin the hash a message signs
# as keccak256(RLP([code, payload])). Both authors are in the alloc of
# shared/vectors/qbft/besu_genesis_template.json.
BESU_INTEROP_VECTORS = [
    (
        MessageCode.COMMIT,
        "f8abf8660c80a0c0ad22d202fd84209d95dabf073162cd470370baf384814e63caaaf2fcbaf053"
        "b8415a161d0cb9380c9cff739190666408c3fc4a7a84f930482288762c524a66209b13a30876"
        "a1c9c56284eefc95096dc07580f24b58e22a045faddc825867627b7300b84145d73ddfb07c38"
        "ea484801060fe8207ea2ddab6e4fc0b80497b8681ce94df2110eebcf015e902d9526e746c414"
        "a6df458a0f25489e446551f68beacfa354154f00",
        "9f66f8a0f0a6537e4a36aa1799673ea7ae97a166",
    ),
    (
        MessageCode.PREPARE,
        "f867e30c80a0c0ad22d202fd84209d95dabf073162cd470370baf384814e63caaaf2fcbaf053"
        "b8419794f9facb6f9c6dcdd3792b461227457c07ab65bab5b11f08e154d845a9ce175c090b7a"
        "f46a38ce5c2eedf3a6a55597f3ec68cff10b5fc798feb210006e919501",
        "f4bbfd32c11c9d63e9b4c77bb225810f840342df",
    ),
]


@pytest.mark.parametrize(("code", "encoded", "author"), BESU_INTEROP_VECTORS)
def test_besu_interop_message_recovers_its_known_author(
    code: MessageCode, encoded: str, author: str
) -> None:
    message = decode_message(code, bytes.fromhex(encoded))

    assert message.author() == bytes.fromhex(author)
    assert (message.height, message.round) == (12, 0)
    assert message.encode() == bytes.fromhex(encoded)


def test_signing_hash_is_keccak_of_code_and_payload() -> None:
    from eth_utils.crypto import keccak

    payload = PreparePayload(12, 0, DIGEST)

    expected = keccak(rlp.encode([0x13, rlp.decode(payload.encode())]))
    assert signing_hash(payload) == expected


def _sample_messages() -> list[QbftMessage]:
    block = rlp.encode([[b"header", 7], [], []])
    prepare = sign(PreparePayload(7, 1, DIGEST), KEY)
    round_change = sign(RoundChangePayload(7, 2, PreparedRound(1, DIGEST)), KEY)
    return [
        Prepare(prepare),
        Commit(sign(CommitPayload(7, 1, DIGEST, b"\x01" * 65), KEY)),
        RoundChange(round_change, block, (prepare,)),
        RoundChange(sign(RoundChangePayload(7, 2), KEY)),
        Proposal(sign(ProposalPayload(7, 2, block), KEY), (round_change,), (prepare,)),
    ]


@pytest.mark.parametrize("message", _sample_messages(), ids=lambda m: type(m).__name__)
def test_signed_message_round_trips_and_recovers_the_signer(
    message: QbftMessage,
) -> None:
    code, data = encode_message(message)

    decoded = decode_message(code, data)

    assert decoded == message
    assert decoded.author() == address_of_private_key(KEY)


def _with_prepare_payload(items: list[Any]) -> bytes:
    return bytes(rlp.encode([items, b"\x01" * 65]))


@pytest.mark.parametrize(
    ("code", "data", "problem"),
    [
        (0x16, b"\xc0", "unknown message code"),
        (MessageCode.PREPARE, b"", "not valid RLP"),
        (MessageCode.PREPARE, b"\xf8\x01", "not valid RLP"),
        (MessageCode.PREPARE, b"\x83abc", "must be an RLP list"),
        (MessageCode.PREPARE, _with_prepare_payload([1, 0]), "3 items"),
        (
            MessageCode.PREPARE,
            _with_prepare_payload([b"\x00\x01", 0, DIGEST]),
            "leading zero",
        ),
        (MessageCode.PREPARE, _with_prepare_payload([1, b"\x01" * 5, DIGEST]), "round"),
        (MessageCode.PREPARE, _with_prepare_payload([1, 0, DIGEST[:31]]), "digest"),
        (MessageCode.PREPARE, _with_prepare_payload([1, 0, [DIGEST]]), "digest"),
        (MessageCode.PREPARE, rlp.encode([[1, 0, DIGEST], b"\x01" * 64]), "signature"),
        (MessageCode.COMMIT, _with_prepare_payload([1, 0, DIGEST, b"\x01"]), "seal"),
        (MessageCode.ROUND_CHANGE, _with_prepare_payload([1, 1, []]), "3 items"),
        (
            MessageCode.ROUND_CHANGE,
            rlp.encode([[[1, 1, [0]], b"\x01" * 65], [], []]),
            "prepared round",
        ),
        (
            MessageCode.PROPOSAL,
            rlp.encode([[[1, 0, b"block"], b"\x01" * 65], [[], []]]),
            "block",
        ),
        (
            MessageCode.PROPOSAL,
            rlp.encode([[[1, 0, []], b"\x01" * 65], [[], []]]),
            "block",
        ),
        (
            MessageCode.PROPOSAL,
            rlp.encode([[[1, 0, [b"b"]], b"\x01" * 65], []]),
            "justification",
        ),
    ],
)
def test_decode_rejects_malformed_bytes_naming_the_problem(
    code: int, data: bytes, problem: str
) -> None:
    with pytest.raises(QbftMessageError, match=problem):
        decode_message(code, data)


def test_decode_rejects_deeply_nested_rlp() -> None:
    nested = b"\xc0"
    for _ in range(5000):
        length = len(nested)
        prefix = (
            bytes([0xC0 + length])
            if length < 56
            else bytes([0xF7 + (length.bit_length() + 7) // 8])
            + length.to_bytes((length.bit_length() + 7) // 8, "big")
        )
        nested = prefix + nested

    with pytest.raises(QbftMessageError):
        decode_message(MessageCode.PROPOSAL, nested)


@pytest.mark.parametrize(
    "signature",
    [b"\x00" * 65, b"\x01" * 64 + b"\x02", b"\xff" * 64 + b"\x00"],
    ids=["zero r and s", "v above 1", "r and s above the curve order"],
)
def test_author_rejects_a_signature_that_recovers_no_key(signature: bytes) -> None:
    message = Prepare(SignedPayload(PreparePayload(1, 0, DIGEST), signature))

    with pytest.raises(QbftMessageError, match="bad signature"):
        message.author()


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=400), code=st.sampled_from(list(MessageCode)))
def test_decode_of_arbitrary_bytes_raises_only_qbft_message_error(
    data: bytes, code: MessageCode
) -> None:
    with contextlib.suppress(QbftMessageError):
        decode_message(code, data).author()


@settings(max_examples=300, deadline=None)
@given(
    message=st.sampled_from(_sample_messages()),
    position=st.integers(min_value=0),
    value=st.integers(min_value=0, max_value=255),
)
def test_decode_of_corrupted_messages_raises_only_qbft_message_error(
    message: QbftMessage, position: int, value: int
) -> None:
    data = bytearray(message.encode())
    data[position % len(data)] = value

    with contextlib.suppress(QbftMessageError):
        decode_message(message.code, bytes(data)).author()
