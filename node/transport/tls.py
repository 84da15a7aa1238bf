"""TLS 1.3 contexts for mutual authentication between consortium members.

Python's ``ssl`` has no certificate-verification callback, so a self-signed
certificate can only pass ``CERT_REQUIRED`` if it is in the context's trust store.
The trust store therefore holds exactly the certificates of the configured peers,
each already checked against its pinned fingerprint when the peer table was built.
OpenSSL then refuses any other certificate during the handshake, and the network
checks the fingerprint once more afterwards to learn (or confirm) which member it is
talking to.
"""

from __future__ import annotations

import secrets
import ssl
import tempfile
from pathlib import Path

from node.transport.identity import TransportIdentity
from node.transport.peers import PeerTable


def create_server_context(
    identity: TransportIdentity, peers: PeerTable
) -> ssl.SSLContext:
    """Return a TLS 1.3 server context that requires a peer certificate."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    # No session tickets: every connection does a full, mutually authenticated
    # handshake, and a restarted peer never resumes a session it no longer owns.
    context.num_tickets = 0
    _configure(context, identity, peers)
    return context


def create_client_context(
    identity: TransportIdentity, peers: PeerTable
) -> ssl.SSLContext:
    """Return a TLS 1.3 client context that requires and pins the server certificate.

    Host names are not checked: members are known by certificate, not by DNS name, and
    the network compares the fingerprint with the dialled member's pin instead.
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    _configure(context, identity, peers)
    return context


def _configure(
    context: ssl.SSLContext, identity: TransportIdentity, peers: PeerTable
) -> None:
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    context.maximum_version = ssl.TLSVersion.TLSv1_3
    context.verify_mode = ssl.CERT_REQUIRED
    trusted = "".join(peer.certificate_pem for peer in peers.values())
    if trusted:
        context.load_verify_locations(cadata=trusted)
    _load_identity(context, identity)


def _load_identity(context: ssl.SSLContext, identity: TransportIdentity) -> None:
    # ssl loads keys only from files. Write the key encrypted under a one-time random
    # password into a private temporary folder, so that the plain key never touches
    # the disk, and remove it as soon as OpenSSL has read it.
    password = secrets.token_bytes(32).hex().encode()
    with tempfile.TemporaryDirectory(prefix="gongfen-tls-") as folder:
        key_path = Path(folder) / "key.pem"
        certificate_path = Path(folder) / "certificate.pem"
        key_path.write_bytes(identity.private_key_pem(password))
        certificate_path.write_bytes(identity.certificate_pem)
        context.load_cert_chain(certificate_path, key_path, password=password)
