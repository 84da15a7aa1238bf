"""Opening a connection to a member: TCP, TLS 1.3, the pin check, the hello.

Both directions end the same way: each side checks the other's certificate, then sends
a ``HELLO`` and waits for the other's. Receiving the hello proves that the peer accepted
us too: in TLS 1.3 the client's handshake ends before the server has judged the client
certificate, so without it a refused client would briefly believe it was connected.

Callers bound the whole exchange with their handshake timeout and handle the errors in
``HANDSHAKE_ERRORS``; anything else is a bug and propagates.
"""

from __future__ import annotations

import asyncio
import ssl
from typing import Any

from node.transport.connection import Direction, PeerStatus
from node.transport.errors import FrameError, MalformedFrame, PeerAuthenticationError
from node.transport.frames import (
    HELLO,
    decode_hello,
    encode_frame,
    encode_hello,
    read_frame,
)
from node.transport.identity import certificate_fingerprint
from node.transport.peers import Peer, PeerTable

Streams = tuple[asyncio.StreamReader, asyncio.StreamWriter]

# Errors that end one handshake or dial attempt.
HANDSHAKE_ERRORS = (
    OSError,  # refused, reset, ssl.SSLError; TimeoutError too
    asyncio.IncompleteReadError,
    FrameError,
    PeerAuthenticationError,
)
# Among those, the ones where we refused the peer (rather than it refusing us).
OUR_REFUSALS = (ssl.SSLCertVerificationError, PeerAuthenticationError)


async def dial_member(
    peer: Peer, context: ssl.SSLContext, member_id: str, max_frame_size: int
) -> tuple[PeerStatus, Streams]:
    """Connect to ``peer`` as ``member_id`` and return the live connection's streams.

    Rejects with ``PeerAuthenticationError`` a server whose certificate is not the one
    pinned for ``peer`` (the trust store holds every member's, so TLS alone would
    accept any member at that address) or whose hello names someone else.
    """
    assert peer.host is not None and peer.port is not None
    address = f"{peer.host}:{peer.port}"
    reader, writer = await asyncio.open_connection(peer.host, peer.port, ssl=context)
    try:
        fingerprint = peer_fingerprint(writer)
        if fingerprint != peer.fingerprint:
            raise PeerAuthenticationError(
                f"{address} presented certificate {fingerprint}, not the one pinned "
                f"for {peer.member_id}",
                fingerprint,
            )
        status = connection_status(peer, Direction.OUTBOUND, address, writer)
        await exchange_hello(status, reader, writer, member_id, max_frame_size)
    except BaseException:
        writer.transport.abort()
        raise
    return status, (reader, writer)


async def accept_member(
    streams: Streams,
    context: ssl.SSLContext,
    peers: PeerTable,
    member_id: str,
    max_frame_size: int,
) -> PeerStatus:
    """Run TLS as the server on accepted ``streams`` and identify the member.

    Returns the status of the member whose pin matches the client certificate.
    Rejects with ``PeerAuthenticationError`` a certificate pinned for nobody or a hello
    that names someone else. The caller aborts the streams on any error.
    """
    reader, writer = streams
    address = format_address(writer.get_extra_info("peername"))
    await writer.start_tls(context)

    fingerprint = peer_fingerprint(writer)
    peer = peers.by_fingerprint(fingerprint)
    if peer is None:
        raise PeerAuthenticationError(
            f"certificate {fingerprint} is not pinned for any member", fingerprint
        )
    status = connection_status(peer, Direction.INBOUND, address, writer)
    await exchange_hello(status, reader, writer, member_id, max_frame_size)
    return status


async def exchange_hello(
    status: PeerStatus,
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    member_id: str,
    max_frame_size: int,
) -> None:
    """Send our hello, then read the peer's.

    Rejects with ``MalformedFrame`` a first frame that is not a valid hello, and with
    ``PeerAuthenticationError`` a hello from another member than ``status`` names.
    """
    writer.write(encode_frame(HELLO, encode_hello(member_id), max_frame_size))
    await writer.drain()
    kind, payload = await read_frame(reader, max_frame_size)

    if kind != HELLO:
        raise MalformedFrame(f"expected a hello first, got kind {kind}", kind)
    claimed = decode_hello(payload)
    if claimed != status.peer_id:
        raise PeerAuthenticationError(
            f"certificate of {status.peer_id} but hello from {claimed!r}",
            status.fingerprint,
        )


def peer_fingerprint(writer: asyncio.StreamWriter) -> str:
    """Return the SHA-256 fingerprint of the TLS peer's certificate."""
    ssl_object = writer.get_extra_info("ssl_object")
    certificate = ssl_object.getpeercert(binary_form=True) if ssl_object else None
    if not certificate:
        raise PeerAuthenticationError("the peer presented no certificate")
    return certificate_fingerprint(certificate)


def connection_status(
    peer: Peer, direction: Direction, address: str, writer: asyncio.StreamWriter
) -> PeerStatus:
    ssl_object = writer.get_extra_info("ssl_object")
    return PeerStatus(
        peer.member_id, direction, address, ssl_object.version(), peer.fingerprint
    )


def format_address(peername: Any) -> str:
    """Return a socket's peer name as ``host:port``."""
    if isinstance(peername, tuple) and len(peername) >= 2:
        return f"{peername[0]}:{peername[1]}"
    return str(peername)


def describe_failure(error: BaseException) -> str:
    """Return a short, key-free reason for a failed handshake, for log lines."""
    if isinstance(error, ssl.SSLCertVerificationError):
        # The trust store holds exactly the pinned certificates (see tls.py).
        return f"certificate is not pinned for any member ({error.verify_message})"
    if isinstance(error, ssl.SSLError):
        return f"TLS: {error.reason or error}"
    if isinstance(error, TimeoutError):
        return "handshake timed out"
    if isinstance(error, asyncio.IncompleteReadError):
        return "closed during the handshake"
    return str(error) or type(error).__name__
