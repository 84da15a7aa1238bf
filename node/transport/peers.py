"""The allowlist of peers: who may connect, where to dial them, and their pins.

The permissions file is JSON::

    {
      "members": [
        {
          "id": "town",
          "host": "127.0.0.1",
          "port": 30303,
          "fingerprint": "3f1c...64 hex digits...9a",
          "certificateFile": "town/transport.crt"
        },
        {
          "id": "bank",
          "fingerprint": "AB:CD:...",
          "certificate": "-----BEGIN CERTIFICATE-----\\nMIIB...\\n-----END ..."
        }
      ]
    }

Each member has:

- ``id``: the member id, which must also be the certificate's subject common name.
- ``host`` and ``port``: where to dial it. Both or neither: a member without an
  address is never dialled but may still connect to us.
- ``fingerprint``: the pin, the SHA-256 of the certificate's DER encoding, as 64 hex
  digits (colons, upper case and a ``sha256:`` prefix are accepted).
- ``certificate`` (PEM text) or ``certificateFile`` (a path, relative to the
  permissions file's folder): the certificate itself, exactly one of the two. TLS
  needs it as a trust anchor; it is accepted only if its SHA-256 equals the pin, so it
  may travel over a less trusted channel than the fingerprint.

Other keys are ignored, so the genesis ``gongfen.members`` entries (which also carry
``name``, ``role``, ``validator`` and ``nodeId``) can feed ``build_peer_table``
directly once they carry these fields. The table may include the local member itself;
the network leaves it out.
"""

from __future__ import annotations

import json
import ssl
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from node.transport.errors import IdentityError, PeerTableError
from node.transport.identity import (
    certificate_fingerprint,
    certificate_member_id,
    normalize_fingerprint,
    validate_member_id,
)


@dataclass(frozen=True)
class Peer:
    """One configured member: its id, where to dial it, and its pinned certificate."""

    member_id: str
    host: str | None
    port: int | None
    fingerprint: str
    certificate_der: bytes

    @property
    def dialable(self) -> bool:
        return self.host is not None and self.port is not None

    @property
    def certificate_pem(self) -> str:
        return ssl.DER_cert_to_PEM_cert(self.certificate_der)

    def __repr__(self) -> str:
        return (
            f"Peer(member_id={self.member_id!r}, host={self.host!r}, "
            f"port={self.port!r}, fingerprint={self.fingerprint!r})"
        )


class PeerTable(Mapping[str, Peer]):
    """An immutable map from member id to ``Peer``, also searchable by fingerprint."""

    def __init__(self, peers: Iterable[Peer] = ()) -> None:
        """Index ``peers``; rejects a repeated member id or fingerprint."""
        self._by_id: dict[str, Peer] = {}
        self._by_fingerprint: dict[str, Peer] = {}
        for peer in peers:
            if peer.member_id in self._by_id:
                raise PeerTableError(f"member {peer.member_id!r} is listed twice")
            if peer.fingerprint in self._by_fingerprint:
                other = self._by_fingerprint[peer.fingerprint].member_id
                raise PeerTableError(
                    f"members {other!r} and {peer.member_id!r} share one certificate"
                )
            self._by_id[peer.member_id] = peer
            self._by_fingerprint[peer.fingerprint] = peer

    def __getitem__(self, member_id: str) -> Peer:
        return self._by_id[member_id]

    def __iter__(self) -> Iterator[str]:
        return iter(self._by_id)

    def __len__(self) -> int:
        return len(self._by_id)

    def by_fingerprint(self, fingerprint: str) -> Peer | None:
        """Return the member pinned to ``fingerprint`` (64 lowercase hex), if any."""
        return self._by_fingerprint.get(fingerprint)

    def without(self, member_id: str) -> PeerTable:
        """Return a copy of the table without ``member_id`` (absent ids are fine)."""
        return PeerTable(p for p in self._by_id.values() if p.member_id != member_id)

    def __repr__(self) -> str:
        return f"PeerTable({sorted(self._by_id)!r})"


def load_permissions_file(path: Path) -> PeerTable:
    """Read a permissions file (format in the module docstring) into a ``PeerTable``.

    Rejects with ``PeerTableError`` an unreadable file, invalid JSON, a document
    without a ``members`` list, and any entry that ``build_peer_table`` rejects.
    """
    return build_peer_table(read_permission_entries(path), base_directory=path.parent)


def read_permission_entries(path: Path) -> list[Any]:
    """The ``members`` list of a permissions file, its entries not yet checked.

    Rejects with ``PeerTableError`` an unreadable file, invalid JSON and a
    document without a ``members`` list.
    """
    try:
        document = json.loads(path.read_text())
    except OSError as error:
        raise PeerTableError(
            f"cannot read permissions file {path}: {error.strerror}"
        ) from None
    except ValueError as error:
        raise PeerTableError(f"permissions file {path} is not JSON: {error}") from None

    if not isinstance(document, dict) or not isinstance(document.get("members"), list):
        raise PeerTableError(
            f"permissions file {path} must be an object with a 'members' list"
        )
    members: list[Any] = document["members"]
    return members


def build_peer_table(
    entries: Iterable[Mapping[str, Any]], base_directory: Path | None = None
) -> PeerTable:
    """Build a ``PeerTable`` from member entries shaped like the permissions file's.

    ``base_directory`` resolves relative ``certificateFile`` paths (default: the
    current folder). Rejects with ``PeerTableError``, naming ``members[i].field``, an
    entry that is not an object, an invalid id, host or port, a malformed
    fingerprint, a missing or unreadable certificate, a certificate whose SHA-256 is
    not the pinned fingerprint or whose common name is not the member id, and a
    member id or certificate that appears twice.
    """
    base = base_directory or Path()
    peers = []
    for index, entry in enumerate(entries):
        where = f"members[{index}]"
        if not isinstance(entry, Mapping):
            raise PeerTableError("expected an object", where)
        peers.append(_parse_peer(entry, where, base))
    return PeerTable(peers)


def _parse_peer(entry: Mapping[str, Any], where: str, base: Path) -> Peer:
    member_id = _parse_member_id(entry.get("id"), f"{where}.id")
    host, port = _parse_address(entry, where)
    fingerprint = _parse_fingerprint(entry.get("fingerprint"), f"{where}.fingerprint")
    certificate = _load_certificate(entry, where, base)

    actual = certificate_fingerprint(certificate)
    if actual != fingerprint:
        raise PeerTableError(
            f"the certificate's SHA-256 is {actual}, not the pinned {fingerprint}; "
            "the certificate or the pin is wrong",
            f"{where}.certificate",
        )
    try:
        named = certificate_member_id(certificate)
    except IdentityError as error:
        raise PeerTableError(str(error), f"{where}.certificate") from None
    if named != member_id:
        raise PeerTableError(
            f"the certificate names member {named!r}, not {member_id!r}",
            f"{where}.certificate",
        )

    der = certificate.public_bytes(serialization.Encoding.DER)
    return Peer(member_id, host, port, fingerprint, der)


def _parse_member_id(value: object, where: str) -> str:
    if not isinstance(value, str):
        raise PeerTableError(f"expected a string, got {value!r}", where)
    try:
        return validate_member_id(value)
    except ValueError as error:
        raise PeerTableError(str(error), where) from None


def _parse_address(
    entry: Mapping[str, Any], where: str
) -> tuple[str | None, int | None]:
    host, port = entry.get("host"), entry.get("port")
    if host is None and port is None:
        return None, None

    if not isinstance(host, str) or not host:
        raise PeerTableError(
            f"expected a host name or address, got {host!r}", f"{where}.host"
        )
    # bool is an int subclass; "port": true is a typo, not port 1.
    if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
        raise PeerTableError(
            f"expected a port in 1-65535, got {port!r}", f"{where}.port"
        )
    return host, port


def _parse_fingerprint(value: object, where: str) -> str:
    if not isinstance(value, str):
        raise PeerTableError(f"expected a string, got {value!r}", where)
    try:
        return normalize_fingerprint(value)
    except ValueError as error:
        raise PeerTableError(str(error), where) from None


def _load_certificate(
    entry: Mapping[str, Any], where: str, base: Path
) -> x509.Certificate:
    inline, file_name = entry.get("certificate"), entry.get("certificateFile")
    if (inline is None) == (file_name is None):
        raise PeerTableError(
            "give exactly one of 'certificate' (PEM text) or 'certificateFile'", where
        )

    if inline is not None:
        if not isinstance(inline, str):
            raise PeerTableError("expected PEM text", f"{where}.certificate")
        pem, field = inline.encode(), f"{where}.certificate"
    else:
        if not isinstance(file_name, str):
            raise PeerTableError("expected a path", f"{where}.certificateFile")
        field = f"{where}.certificateFile"
        try:
            pem = (base / file_name).read_bytes()
        except OSError as error:
            raise PeerTableError(
                f"cannot read {base / file_name}: {error.strerror}", field
            ) from None

    try:
        return x509.load_pem_x509_certificate(pem)
    except ValueError:
        raise PeerTableError("does not hold a PEM certificate", field) from None
