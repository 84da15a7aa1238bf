"""The peer transport: mutually authenticated TLS 1.3 between consortium members.

- ``identity``: a member's P-256 key and self-signed certificate; the certificate's
  SHA-256 fingerprint is the member's pin.
- ``peers``: the allowlist (permissions file) of members, addresses and pins.
- ``frames``: the wire format and the delivery policy of each message kind.
- ``tls`` and ``handshake``: TLS 1.3 contexts, the pin check and the hello exchange.
- ``connection``: one live connection, its bounded send queues and counters.
- ``network``: ``PeerNetwork``, which listens, dials, authenticates, keeps one
  connection per peer, redials with backoff, and sends and receives messages.

Errors form one tree under ``TransportError``, drawn in ``node.transport.errors``.
"""

from node.transport.connection import Direction, PeerStatus, TransportCounters
from node.transport.errors import (
    FrameError,
    FrameTooLarge,
    IdentityError,
    MalformedFrame,
    PeerAuthenticationError,
    PeerError,
    PeerNotConnected,
    PeerTableError,
    SendTimeout,
    TransportError,
    UnknownPeer,
)
from node.transport.frames import Delivery
from node.transport.identity import (
    TransportIdentity,
    create_member_identities,
    generate_identity,
    identity_paths,
    read_identity,
    write_identity,
)
from node.transport.network import InboundMessage, NetworkConfig, PeerNetwork
from node.transport.peers import (
    Peer,
    PeerTable,
    build_peer_table,
    load_permissions_file,
)

__all__ = [
    "Delivery",
    "Direction",
    "FrameError",
    "FrameTooLarge",
    "IdentityError",
    "InboundMessage",
    "MalformedFrame",
    "NetworkConfig",
    "Peer",
    "PeerAuthenticationError",
    "PeerError",
    "PeerNetwork",
    "PeerNotConnected",
    "PeerStatus",
    "PeerTable",
    "PeerTableError",
    "SendTimeout",
    "TransportCounters",
    "TransportError",
    "TransportIdentity",
    "UnknownPeer",
    "build_peer_table",
    "create_member_identities",
    "generate_identity",
    "identity_paths",
    "load_permissions_file",
    "read_identity",
    "write_identity",
]
