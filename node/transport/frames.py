"""Frames on the wire: a 4-byte big-endian length, a 1-byte message kind, a payload.

The length counts the kind byte and the payload, so it is at least 1. Kinds below
``FIRST_APPLICATION_KIND`` belong to the transport (``HELLO``, ``PING``; the rest are
reserved); the application declares the kinds it uses, each with a ``Delivery``
policy, and a frame of any other kind is malformed.
"""

from __future__ import annotations

import asyncio
import enum
import struct
from collections.abc import Mapping

from node.transport.errors import FrameTooLarge, MalformedFrame

LENGTH_PREFIX = struct.Struct(">I")
DEFAULT_MAX_FRAME_SIZE = 8 * 1024 * 1024

HELLO = 0
PING = 1
FIRST_APPLICATION_KIND = 16
PROTOCOL_VERSION = 1


class Delivery(enum.Enum):
    """What ``send`` and ``broadcast`` do when a peer's send queue is full."""

    GOSSIP = "gossip"
    """Drop the oldest queued gossip frame to make room; never wait."""

    RELIABLE = "reliable"
    """Wait for room, up to the send timeout; then drop the peer's connection."""


def validate_kinds(kinds: Mapping[int, Delivery]) -> None:
    """Reject (``ValueError``) a declared kind outside the application range 16-255."""
    for kind in kinds:
        if not FIRST_APPLICATION_KIND <= kind <= 255:
            raise ValueError(
                f"message kind {kind} is not in {FIRST_APPLICATION_KIND}-255; "
                "lower kinds belong to the transport"
            )


def encode_frame(kind: int, payload: bytes, max_frame_size: int) -> bytes:
    """Return the bytes of one frame; rejects a frame over ``max_frame_size``."""
    length = 1 + len(payload)
    if length > max_frame_size:
        raise FrameTooLarge(length, max_frame_size)
    return LENGTH_PREFIX.pack(length) + bytes((kind,)) + payload


async def read_frame(
    reader: asyncio.StreamReader, max_frame_size: int
) -> tuple[int, bytes]:
    """Read one frame and return its kind and payload.

    Rejects with ``FrameTooLarge`` a length over ``max_frame_size`` before reading the
    body, so a peer cannot make us buffer more than that, and with ``MalformedFrame``
    a zero length. Raises ``asyncio.IncompleteReadError`` when the stream ends.
    """
    (length,) = LENGTH_PREFIX.unpack(await reader.readexactly(LENGTH_PREFIX.size))
    if length > max_frame_size:
        raise FrameTooLarge(length, max_frame_size)
    if length == 0:
        raise MalformedFrame("frame of length 0 has no message kind")

    body = await reader.readexactly(length)
    return body[0], body[1:]


def check_received_kind(kind: int, kinds: Mapping[int, Delivery]) -> None:
    """Reject (``MalformedFrame``) a kind that is neither ``PING`` nor declared.

    ``HELLO`` is valid only as the first frame, so it is rejected here too.
    """
    if kind == PING or kind in kinds:
        return
    if kind < FIRST_APPLICATION_KIND:
        raise MalformedFrame(f"message kind {kind} is reserved by the transport", kind)
    raise MalformedFrame(f"message kind {kind} is not declared", kind)


def encode_hello(member_id: str) -> bytes:
    """Return the payload of a ``HELLO``: protocol version, then the member id."""
    return bytes((PROTOCOL_VERSION,)) + member_id.encode()


def decode_hello(payload: bytes) -> str:
    """Return the member id in a ``HELLO`` payload.

    Rejects with ``MalformedFrame`` an empty payload, another protocol version, or a
    member id that is not UTF-8.
    """
    if not payload:
        raise MalformedFrame("empty hello", HELLO)
    if payload[0] != PROTOCOL_VERSION:
        raise MalformedFrame(
            f"peer speaks transport protocol {payload[0]}, we speak {PROTOCOL_VERSION}",
            HELLO,
        )
    try:
        return payload[1:].decode()
    except UnicodeDecodeError:
        raise MalformedFrame("hello member id is not UTF-8", HELLO) from None
