"""A member's transport identity: a P-256 key and a self-signed certificate.

The certificate's subject common name is the member id. Peers do not trust it because
of who signed it (nobody did) but because its SHA-256 fingerprint is pinned in their
peer table: the fingerprint *is* the member's transport identity.

On disk the identity is two PEM files: the private key (PKCS#8, unencrypted, created
readable by its owner only) and the certificate. P-256 is used because every OpenSSL
that Python's ``ssl`` links against accepts it for TLS 1.3 client and server
authentication.

The private key never appears in a log line, a repr or an error message.
"""

from __future__ import annotations

import datetime
import hashlib
import os
import re
import stat
from collections.abc import Iterable
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from node.transport.errors import IdentityError

KEY_FILE_NAME = "transport.key"
CERTIFICATE_FILE_NAME = "transport.crt"
DEFAULT_VALIDITY_DAYS = 3650

# Member ids end up in certificate names, file names and log lines; keep them plain.
MEMBER_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_FINGERPRINT_PATTERN = re.compile(r"[0-9a-f]{64}")


class TransportIdentity:
    """One member's transport key and certificate; its repr shows no key material."""

    __slots__ = ("_private_key", "certificate", "fingerprint", "member_id")

    def __init__(
        self, private_key: ec.EllipticCurvePrivateKey, certificate: x509.Certificate
    ) -> None:
        """Pair ``private_key`` with ``certificate``.

        Rejects with ``IdentityError`` a key that is not P-256, a certificate whose
        public key is not the key's, or a certificate without a valid member id as its
        subject common name.
        """
        if not isinstance(private_key.curve, ec.SECP256R1):
            raise IdentityError("the transport key must be a P-256 (secp256r1) key")
        if certificate.public_key() != private_key.public_key():
            raise IdentityError("the certificate does not belong to the transport key")

        self._private_key = private_key
        self.certificate = certificate
        self.member_id = certificate_member_id(certificate)
        self.fingerprint = certificate_fingerprint(certificate)

    @property
    def private_key(self) -> ec.EllipticCurvePrivateKey:
        return self._private_key

    @property
    def certificate_pem(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.PEM)

    def private_key_pem(self, password: bytes | None = None) -> bytes:
        """Return the key as PKCS#8 PEM, encrypted when ``password`` is given."""
        encryption: serialization.KeySerializationEncryption = (
            serialization.BestAvailableEncryption(password)
            if password
            else serialization.NoEncryption()
        )
        return self._private_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
        )

    def __repr__(self) -> str:
        return (
            f"TransportIdentity(member_id={self.member_id!r}, "
            f"fingerprint={self.fingerprint!r})"
        )

    __str__ = __repr__


def validate_member_id(member_id: str) -> str:
    """Return ``member_id`` unchanged, or raise ``ValueError`` naming what is wrong."""
    if not MEMBER_ID_PATTERN.fullmatch(member_id):
        raise ValueError(
            f"member id {member_id!r} must be 1-64 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    return member_id


def certificate_fingerprint(certificate: x509.Certificate | bytes) -> str:
    """Return the SHA-256 fingerprint of a certificate (or its DER) as 64 hex digits."""
    der = (
        certificate
        if isinstance(certificate, bytes)
        else certificate.public_bytes(serialization.Encoding.DER)
    )
    return hashlib.sha256(der).hexdigest()


def normalize_fingerprint(text: str) -> str:
    """Return ``text`` as 64 lowercase hex digits.

    Accepts the forms people paste: lowercase or uppercase, with or without the colons
    that ``openssl x509 -fingerprint`` prints, with or without a ``sha256:`` prefix.
    Rejects anything else with ``ValueError``.
    """
    candidate = text.strip().lower()
    candidate = candidate.removeprefix("sha256:").replace(":", "")
    if not _FINGERPRINT_PATTERN.fullmatch(candidate):
        raise ValueError(
            f"expected a SHA-256 fingerprint of 64 hex digits, got {text!r}"
        )
    return candidate


def certificate_member_id(certificate: x509.Certificate) -> str:
    """Return the member id in the certificate's subject common name.

    Rejects with ``IdentityError`` a certificate with no common name, several, or one
    that is not a valid member id.
    """
    names = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if len(names) != 1:
        raise IdentityError("the certificate must have exactly one subject common name")
    value = names[0].value
    member_id = value.decode() if isinstance(value, bytes) else value
    try:
        return validate_member_id(member_id)
    except ValueError as error:
        raise IdentityError(f"certificate common name: {error}") from None


def generate_identity(
    member_id: str, valid_days: int = DEFAULT_VALIDITY_DAYS
) -> TransportIdentity:
    """Return a fresh P-256 key with a self-signed certificate for ``member_id``.

    The certificate is valid from an hour ago (tolerating clock skew between members)
    for ``valid_days`` days, and may authenticate both TLS clients and servers. Rejects
    an invalid member id with ``ValueError``.
    """
    validate_member_id(member_id)
    private_key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, member_id)])
    now = datetime.datetime.now(datetime.UTC)

    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(private_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=valid_days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_DIGITAL_SIGNATURE_ONLY, critical=True)
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
        .sign(private_key, hashes.SHA256())
    )
    return TransportIdentity(private_key, certificate)


_DIGITAL_SIGNATURE_ONLY = x509.KeyUsage(
    digital_signature=True,
    content_commitment=False,
    key_encipherment=False,
    data_encipherment=False,
    key_agreement=False,
    key_cert_sign=False,
    crl_sign=False,
    encipher_only=False,
    decipher_only=False,
)


def write_identity(
    identity: TransportIdentity, key_path: Path, certificate_path: Path
) -> None:
    """Write the key (owner-only) and the certificate as PEM files.

    An existing key file is overwritten and its permissions narrowed to the owner.
    """
    key_path.parent.mkdir(parents=True, exist_ok=True)
    certificate_path.parent.mkdir(parents=True, exist_ok=True)

    descriptor = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    # The mode above applies only to a new file; narrow an existing one as well.
    os.fchmod(descriptor, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(identity.private_key_pem())
    certificate_path.write_bytes(identity.certificate_pem)


def read_identity(key_path: Path, certificate_path: Path) -> TransportIdentity:
    """Read an identity written by ``write_identity``.

    Rejects with ``IdentityError`` a missing or unreadable file, a key file that group
    or others may read, a file that does not hold PEM of the right kind, and a key
    that does not match the certificate.
    """
    key_pem = _read_private_file(key_path)
    certificate_pem = _read_file(certificate_path, "certificate")

    try:
        private_key = serialization.load_pem_private_key(key_pem, password=None)
    except (ValueError, TypeError):
        # The parser's message may quote the file; say only which file is wrong.
        raise IdentityError(
            f"key file {key_path} does not hold an unencrypted PEM private key"
        ) from None
    if not isinstance(private_key, ec.EllipticCurvePrivateKey):
        raise IdentityError(f"key file {key_path} does not hold an EC private key")
    try:
        certificate = x509.load_pem_x509_certificate(certificate_pem)
    except ValueError:
        raise IdentityError(
            f"certificate file {certificate_path} does not hold a PEM certificate"
        ) from None

    try:
        return TransportIdentity(private_key, certificate)
    except IdentityError as error:
        raise IdentityError(f"{key_path} and {certificate_path}: {error}") from None


def identity_paths(directory: Path) -> tuple[Path, Path]:
    """Return the key and certificate paths of the identity kept in ``directory``."""
    return directory / KEY_FILE_NAME, directory / CERTIFICATE_FILE_NAME


def create_member_identities(
    directory: Path, member_ids: Iterable[str]
) -> dict[str, TransportIdentity]:
    """Generate and write one identity per member under ``directory/<member id>/``.

    Returns the identities by member id. Meant for tests and the local devnet, where
    one machine plays every member.
    """
    identities: dict[str, TransportIdentity] = {}
    for member_id in member_ids:
        identity = generate_identity(member_id)
        write_identity(identity, *identity_paths(directory / member_id))
        identities[member_id] = identity
    return identities


def _read_file(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        raise IdentityError(
            f"cannot read {what} file {path}: {error.strerror}"
        ) from None


def _read_private_file(path: Path) -> bytes:
    try:
        mode = path.stat().st_mode
    except OSError as error:
        raise IdentityError(f"cannot read key file {path}: {error.strerror}") from None
    # Like ssh, refuse a key others could have read: it may already be compromised.
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise IdentityError(
            f"key file {path} is accessible to group or others "
            f"(mode {stat.S_IMODE(mode):o}); run chmod 600 on it"
        )
    return _read_file(path, "key")
