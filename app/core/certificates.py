"""The certificate authority of handover signatures (信访工作离任交接书签章): an ECDSA P-256
key and its self-signed certificate, made by `jiefang keys init` and kept with the other
keys; the certificate is published so reviewers can check signatures without trusting the
server. Signers' certificates are issued in `app.handover.signing`."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

CA_VALIDITY = dt.timedelta(days=20 * 365)


@dataclass(frozen=True, slots=True)
class CertificateAuthority:
    key: ec.EllipticCurvePrivateKey
    certificate: x509.Certificate

    @classmethod
    def from_pem(cls, key_pem: bytes, cert_pem: bytes) -> CertificateAuthority:
        key = serialization.load_pem_private_key(key_pem, password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise ValueError("交接签章 CA 私钥不是 ECDSA 密钥")
        return cls(key, x509.load_pem_x509_certificate(cert_pem))

    def certificate_pem(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.PEM)


def make_ca_key() -> bytes:
    """A new CA private key as unencrypted PKCS#8 PEM (stored mode 0600 like every key)."""
    return private_pem(ec.generate_private_key(ec.SECP256R1()))


def make_ca_certificate(key_pem: bytes, deployment: str, now: dt.datetime) -> bytes:
    """The self-signed CA certificate for a CA key, as PEM; it is published for reviewers."""
    key = serialization.load_pem_private_key(key_pem, password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ValueError("交接签章 CA 私钥不是 ECDSA 密钥")
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, f"{deployment} 信访工作交接签章 CA"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, deployment),
        ]
    )
    public = key.public_key()
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + CA_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(key_usage(key_cert_sign=True, crl_sign=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )
    return certificate.public_bytes(serialization.Encoding.PEM)


def key_usage(
    *, digital_signature: bool = False, content_commitment: bool = False, **ca: bool
) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=digital_signature,
        content_commitment=content_commitment,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca.get("key_cert_sign", False),
        crl_sign=ca.get("crl_sign", False),
        encipher_only=False,
        decipher_only=False,
    )


def private_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
