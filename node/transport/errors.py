"""Errors of the peer transport.

::

    TransportError                    base of everything raised here
    ├── IdentityError                 a transport key or certificate is unusable
    ├── PeerTableError                the permissions file or an entry is bad
    ├── PeerError                     a call named a peer it cannot use
    │   ├── UnknownPeer               the member is not in the peer table
    │   ├── PeerNotConnected          the member has no live connection
    │   └── SendTimeout               the peer took no frame in time
    ├── FrameError                    a peer sent bytes that are not a valid frame
    │   ├── FrameTooLarge             length prefix over the maximum frame
    │   └── MalformedFrame            empty, reserved or undeclared kind
    └── PeerAuthenticationError       a TLS peer is not the member it must be

Received bad frames and failed authentications never reach callers of the public
API: the network raises them inside a connection, logs them, counts them and drops the
connection. The one exception is ``FrameTooLarge``, which ``send`` and ``broadcast``
raise for a payload too large to send. They are public so that tests and tools can
name them.

No message here carries key material: identity errors name the file, never its
contents.
"""

from __future__ import annotations


class TransportError(Exception):
    """Base of every error raised by ``node.transport``."""


class IdentityError(TransportError):
    """A transport key or certificate is missing, unreadable or inconsistent."""


class PeerTableError(TransportError):
    """The permissions file, or one peer entry in it, is invalid.

    ``field`` names the offending entry and field, for example
    ``members[2].fingerprint``; it is empty for file-level problems.
    """

    def __init__(self, message: str, field: str = "") -> None:
        super().__init__(f"{field}: {message}" if field else message)
        self.field = field


class PeerError(TransportError):
    """A call named a peer that cannot be used for it."""

    def __init__(self, message: str, peer_id: str) -> None:
        super().__init__(message)
        self.peer_id = peer_id


class UnknownPeer(PeerError):
    """The member id is not in the peer table."""

    def __init__(self, peer_id: str) -> None:
        super().__init__(
            f"member {peer_id!r} is not in the peer table; add it to the "
            "permissions file to talk to it",
            peer_id,
        )


class PeerNotConnected(PeerError):
    """The member is configured but has no live connection right now."""

    def __init__(self, peer_id: str) -> None:
        super().__init__(
            f"member {peer_id!r} is not connected; the network keeps redialling it",
            peer_id,
        )


class SendTimeout(PeerError):
    """The peer's send queue stayed full for longer than the send timeout."""

    def __init__(self, peer_id: str, timeout: float) -> None:
        super().__init__(
            f"member {peer_id!r} took no frame for {timeout:g} s; "
            "its connection was dropped",
            peer_id,
        )
        self.timeout = timeout


class FrameError(TransportError):
    """A peer sent bytes that do not form a valid frame."""


class FrameTooLarge(FrameError):
    """The length prefix announces more bytes than the maximum frame size."""

    def __init__(self, length: int, limit: int) -> None:
        super().__init__(f"frame of {length} bytes exceeds the limit of {limit}")
        self.length = length
        self.limit = limit


class MalformedFrame(FrameError):
    """The frame is empty, or its message kind is reserved or not declared."""

    def __init__(self, reason: str, kind: int | None = None) -> None:
        super().__init__(reason)
        self.kind = kind


class PeerAuthenticationError(TransportError):
    """The TLS peer's certificate or hello does not match a configured member."""

    def __init__(self, reason: str, fingerprint: str | None = None) -> None:
        super().__init__(reason)
        self.fingerprint = fingerprint
