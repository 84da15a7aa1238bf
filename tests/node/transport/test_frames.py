"""The frame format: length prefix, kind byte, payload, and what is malformed."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given
from hypothesis import strategies as st

from node.transport import Delivery, FrameTooLarge, MalformedFrame
from node.transport.frames import (
    HELLO,
    PING,
    PROTOCOL_VERSION,
    check_received_kind,
    decode_hello,
    encode_frame,
    encode_hello,
    read_frame,
    validate_kinds,
)
from tests.node.transport.support import KINDS, run

LIMIT = 4096


def read_from(data: bytes, limit: int = LIMIT) -> tuple[int, bytes]:
    """Feed ``data`` to a stream reader and read one frame from it."""

    async def read() -> tuple[int, bytes]:
        reader = asyncio.StreamReader()
        reader.feed_data(data)
        reader.feed_eof()
        return await read_frame(reader, limit)

    return run(read())


@given(st.integers(0, 255), st.binary(max_size=LIMIT - 1))
def test_frames_round_trip(kind: int, payload: bytes) -> None:
    frame = encode_frame(kind, payload, LIMIT)

    assert frame[:4] == (1 + len(payload)).to_bytes(4, "big")
    assert read_from(frame) == (kind, payload)


def test_refuses_to_encode_a_frame_over_the_limit() -> None:
    with pytest.raises(FrameTooLarge) as raised:
        encode_frame(16, bytes(LIMIT), LIMIT)

    assert (raised.value.length, raised.value.limit) == (LIMIT + 1, LIMIT)


def test_rejects_an_oversized_length_before_reading_the_body() -> None:
    # Only the prefix is there: the reader must not wait for a body it won't accept.
    with pytest.raises(FrameTooLarge):
        read_from((LIMIT + 1).to_bytes(4, "big"))


def test_rejects_a_frame_of_length_zero() -> None:
    with pytest.raises(MalformedFrame, match="length 0"):
        read_from(bytes(4))


def test_a_truncated_frame_is_end_of_stream() -> None:
    with pytest.raises(asyncio.IncompleteReadError):
        read_from(encode_frame(16, b"payload", LIMIT)[:-1])


def test_accepts_ping_and_declared_kinds_only() -> None:
    check_received_kind(PING, KINDS)
    for kind in KINDS:
        check_received_kind(kind, KINDS)

    with pytest.raises(MalformedFrame, match="reserved"):
        check_received_kind(HELLO, KINDS)
    with pytest.raises(MalformedFrame, match="reserved"):
        check_received_kind(7, KINDS)
    with pytest.raises(MalformedFrame, match="not declared") as raised:
        check_received_kind(200, KINDS)
    assert raised.value.kind == 200


def test_application_kinds_must_be_above_the_transport_range() -> None:
    validate_kinds({16: Delivery.GOSSIP, 255: Delivery.RELIABLE})

    with pytest.raises(ValueError, match="belong to the transport"):
        validate_kinds({15: Delivery.GOSSIP})


def test_hello_carries_the_version_and_member_id() -> None:
    assert decode_hello(encode_hello("town")) == "town"

    with pytest.raises(MalformedFrame, match="protocol"):
        decode_hello(bytes((PROTOCOL_VERSION + 1,)) + b"town")
    with pytest.raises(MalformedFrame, match="empty"):
        decode_hello(b"")
    with pytest.raises(MalformedFrame, match="UTF-8"):
        decode_hello(bytes((PROTOCOL_VERSION, 0xFF)))
