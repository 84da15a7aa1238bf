"""Transport identities: generation, files, and keeping the key out of sight."""

from __future__ import annotations

import hashlib
import logging
import stat
import tempfile
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from node.transport import (
    IdentityError,
    TransportIdentity,
    create_member_identities,
    generate_identity,
    identity_paths,
    read_identity,
    write_identity,
)
from node.transport.identity import normalize_fingerprint
from node.transport.tls import create_client_context, create_server_context
from tests.node.transport.support import make_consortium


def key_body(pem: bytes) -> str:
    """The base64 lines of a PEM key: what must never leak."""
    return "".join(line for line in pem.decode().splitlines() if "-----" not in line)


def test_certificate_names_the_member_and_its_sha256_is_the_pin() -> None:
    identity = generate_identity("dashigai-village")

    der = identity.certificate.public_bytes(serialization.Encoding.DER)
    common_name = identity.certificate.subject.get_attributes_for_oid(
        NameOID.COMMON_NAME
    )[0].value
    assert common_name == "dashigai-village"
    assert identity.certificate.issuer == identity.certificate.subject
    assert identity.fingerprint == hashlib.sha256(der).hexdigest()
    assert isinstance(identity.private_key.curve, ec.SECP256R1)


def test_identity_round_trips_through_owner_only_files(tmp_path: Path) -> None:
    identity = generate_identity("town")
    key_path, certificate_path = identity_paths(tmp_path / "town")

    write_identity(identity, key_path, certificate_path)
    loaded = read_identity(key_path, certificate_path)

    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    assert loaded.member_id == "town"
    assert loaded.fingerprint == identity.fingerprint
    assert loaded.private_key_pem() == identity.private_key_pem()


def test_rewriting_a_key_file_narrows_its_permissions(tmp_path: Path) -> None:
    key_path, certificate_path = identity_paths(tmp_path)
    key_path.write_text("old")
    key_path.chmod(0o644)

    write_identity(generate_identity("town"), key_path, certificate_path)

    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600


def test_rejects_key_file_readable_by_others(tmp_path: Path) -> None:
    key_path, certificate_path = identity_paths(tmp_path)
    write_identity(generate_identity("town"), key_path, certificate_path)
    key_path.chmod(0o640)

    with pytest.raises(IdentityError, match="chmod 600"):
        read_identity(key_path, certificate_path)


def test_rejects_key_that_does_not_match_the_certificate(tmp_path: Path) -> None:
    key_path, certificate_path = identity_paths(tmp_path)
    write_identity(generate_identity("town"), key_path, certificate_path)
    other_key, _ = identity_paths(tmp_path / "other")
    write_identity(generate_identity("town"), other_key, certificate_path)

    with pytest.raises(IdentityError, match="does not belong"):
        read_identity(key_path, certificate_path)


def test_rejects_missing_files_naming_the_file(tmp_path: Path) -> None:
    key_path, certificate_path = identity_paths(tmp_path)

    with pytest.raises(IdentityError, match="transport.key"):
        read_identity(key_path, certificate_path)


def test_rejects_a_key_that_is_not_p256(tmp_path: Path) -> None:
    other_curve = ec.generate_private_key(ec.SECP384R1())
    certificate = generate_identity("town").certificate

    with pytest.raises(IdentityError, match="P-256"):
        TransportIdentity(other_curve, certificate)


@pytest.mark.parametrize("member_id", ["", "-town", "town hall", "镇", "x" * 65])
def test_rejects_invalid_member_ids(member_id: str) -> None:
    with pytest.raises(ValueError, match="member id"):
        generate_identity(member_id)


def test_key_never_appears_in_repr_str_or_errors(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    identity = generate_identity("bank")
    secret = key_body(identity.private_key_pem())
    key_path, certificate_path = identity_paths(tmp_path)
    write_identity(identity, key_path, certificate_path)
    # Corrupt the key file while keeping most of the secret in it.
    key_path.write_text(identity.private_key_pem().decode().replace("A", "!"))
    caplog.set_level(logging.DEBUG)

    with pytest.raises(IdentityError) as raised:
        read_identity(key_path, certificate_path)

    for text in (repr(identity), str(identity), str(raised.value), caplog.text):
        assert secret[:24] not in text
        assert secret[-24:] not in text
        assert "PRIVATE KEY" not in text
    assert identity.fingerprint in repr(identity)


def test_tls_contexts_load_the_key_without_leaving_it_on_disk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    consortium = make_consortium(tmp_path / "members", ["a", "b"])
    private_temporary = tmp_path / "temporary"
    private_temporary.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(private_temporary))

    server = create_server_context(consortium.identities["a"], consortium.table)
    client = create_client_context(consortium.identities["a"], consortium.table)

    assert list(private_temporary.iterdir()) == []
    assert server.minimum_version == server.maximum_version == client.maximum_version


def test_creates_identities_for_many_members(tmp_path: Path) -> None:
    identities = create_member_identities(tmp_path, ["town", "bank", "shop"])

    assert sorted(identities) == ["bank", "shop", "town"]
    assert len({identity.fingerprint for identity in identities.values()}) == 3
    for member_id, identity in identities.items():
        loaded = read_identity(*identity_paths(tmp_path / member_id))
        assert loaded.fingerprint == identity.fingerprint
        certificate = x509.load_pem_x509_certificate(
            (tmp_path / member_id / "transport.crt").read_bytes()
        )
        assert certificate == identity.certificate


@pytest.mark.parametrize(
    "text",
    [
        "AB" * 32,
        ":".join(["ab"] * 32),
        "sha256:" + "ab" * 32,
        "  " + "ab" * 32 + "\n",
    ],
)
def test_accepts_fingerprints_as_people_paste_them(text: str) -> None:
    assert normalize_fingerprint(text) == "ab" * 32


@pytest.mark.parametrize("text", ["ab" * 31, "zz" * 32, "sha1:" + "ab" * 32, ""])
def test_rejects_malformed_fingerprints(text: str) -> None:
    with pytest.raises(ValueError, match="64 hex digits"):
        normalize_fingerprint(text)
