"""Signing 信访工作离任交接书 PDFs: the handover CA, signers' keys, PAdES signatures.

Bytes and keys in, bytes out; no database. Keys are ECDSA P-256: PAdES and every common PDF
reader accept it, it gives 128-bit security (RSA-2048 gives 112), and a key is made in well
under a millisecond, so issuing a signer at enrolment time costs nothing.

A signer's private key is kept encrypted under the signing PIN, which is never stored: scrypt
(memory-hard, so each guess of a short PIN costs 32 MiB and tens of milliseconds) derives an
AES-256-GCM key, and the GCM tag tells a wrong PIN apart from a right one without ever
producing a garbled key.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from dataclasses import dataclass
from io import BytesIO

from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt
from cryptography.x509.oid import NameOID
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.misc import PdfReadError
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import fields, signers
from pyhanko.sign.diff_analysis import ModificationLevel
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko.sign.validation.status import PdfSignatureStatus, SignatureCoverageLevel
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.registry import SimpleCertificateStore

from app.core.certificates import (
    CertificateAuthority,
    key_usage,
)

PIN_MIN_LENGTH = 6
SIGNER_VALIDITY = dt.timedelta(days=5 * 365)

# Version 1 of the sealed-key format: magic, 16-byte salt, 12-byte nonce, AES-GCM ciphertext.
_SEALED_V1 = b"JFSK1"
_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**15, 8, 1


class WrongPin(ValueError):
    """The PIN does not open the signer's private key; nothing was signed."""

    def __init__(self) -> None:
        super().__init__("签章密码不正确")


@dataclass(frozen=True, slots=True)
class SignerKey:
    """What is stored for a signer: the certificate and the PIN-sealed private key."""

    cert_pem: bytes
    key_enc: bytes

    @property
    def certificate(self) -> x509.Certificate:
        return x509.load_pem_x509_certificate(self.cert_pem)


@dataclass(frozen=True, slots=True)
class SignatureCheck:
    field_name: str
    signer_name: str
    intact: bool  # the signed bytes are unchanged and the signature is cryptographically sound
    trusted: bool  # the signer's certificate chains to the handover CA
    covers_whole_file: bool  # False when later incremental updates follow this signature
    later_changes_allowed: bool  # later updates only add signatures (no edited content)
    revision_sha256: str  # the file as it was right after this signature was added

    @property
    def ok(self) -> bool:
        return self.intact and self.trusted and self.later_changes_allowed


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# ---------------------------------------------------------------- signers


def issue_signer(
    ca: CertificateAuthority, person_name: str, person_id: int, pin: str, now: dt.datetime
) -> SignerKey:
    """A key pair and CA-issued certificate for one person; the key is sealed under the PIN."""
    if len(pin) < PIN_MIN_LENGTH:
        raise ValueError(f"签章密码至少需要 {PIN_MIN_LENGTH} 位")
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, person_name),
            x509.NameAttribute(NameOID.USER_ID, str(person_id)),
        ]
    )
    ca_public = ca.key.public_key()
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca.certificate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(min(now + SIGNER_VALIDITY, ca.certificate.not_valid_after_utc))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(key_usage(digital_signature=True, content_commitment=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_public), critical=False
        )
        .sign(ca.key, hashes.SHA256())
    )
    return SignerKey(
        cert_pem=certificate.public_bytes(serialization.Encoding.PEM),
        key_enc=_seal(key.private_bytes(*_PKCS8_DER), pin),
    )


_PKCS8_DER = (
    serialization.Encoding.DER,
    serialization.PrivateFormat.PKCS8,
    serialization.NoEncryption(),
)


def _pin_key(pin: str, salt: bytes) -> bytes:
    kdf = Scrypt(salt=salt, length=32, n=_SCRYPT_N, r=_SCRYPT_R, p=_SCRYPT_P)
    return kdf.derive(pin.encode())


def _seal(private_der: bytes, pin: str) -> bytes:
    salt, nonce = os.urandom(16), os.urandom(12)
    sealed = AESGCM(_pin_key(pin, salt)).encrypt(nonce, private_der, _SEALED_V1)
    return _SEALED_V1 + salt + nonce + sealed


def _unseal(key_enc: bytes, pin: str) -> bytes:
    if not key_enc.startswith(_SEALED_V1):
        raise ValueError("无法识别的签章私钥格式")
    body = key_enc[len(_SEALED_V1) :]
    salt, nonce, sealed = body[:16], body[16:28], body[28:]
    try:
        return AESGCM(_pin_key(pin, salt)).decrypt(nonce, sealed, _SEALED_V1)
    except InvalidTag:
        raise WrongPin() from None


def _unlock(signer: SignerKey, pin: str) -> asn1_keys.PrivateKeyInfo:
    private_der = _unseal(signer.key_enc, pin)
    key = serialization.load_der_private_key(private_der, password=None)
    if key.public_key() != signer.certificate.public_key():
        raise ValueError("签章证书与私钥不匹配")
    return asn1_keys.PrivateKeyInfo.load(private_der)


def _asn1_certificate(cert: x509.Certificate) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))


def _asn1_certificate_pem(cert_pem: bytes) -> asn1_x509.Certificate:
    return _asn1_certificate(x509.load_pem_x509_certificate(cert_pem))


# ---------------------------------------------------------------- signing and validation


def sign_pdf(
    pdf: bytes, signer: SignerKey, pin: str, field_name: str, reason: str, ca_cert: bytes
) -> bytes:
    """Add a PAdES baseline-B signature as an incremental update; earlier ones stay valid.

    `ca_cert` is the CA certificate PEM, embedded with the signer's so the chain is complete.
    A wrong PIN raises `WrongPin` before anything is written.
    """
    private_key = _unlock(signer, pin)
    ca = _asn1_certificate_pem(ca_cert)
    chain = SimpleCertificateStore.from_certs([ca])  # type: ignore[no-untyped-call]
    simple = signers.SimpleSigner(
        signing_cert=_asn1_certificate(signer.certificate),
        signing_key=private_key,
        cert_registry=chain,
    )
    metadata = signers.PdfSignatureMetadata(
        field_name=field_name,
        reason=reason,
        subfilter=fields.SigSeedSubFilter.PADES,
        md_algorithm="sha256",
    )
    output = BytesIO()
    writer = IncrementalPdfFileWriter(BytesIO(pdf), strict=False)
    signers.PdfSigner(metadata, signer=simple).sign_pdf(writer, output=output)
    return output.getvalue()


_ALLOWED_LATER_CHANGES = {
    ModificationLevel.NONE,
    ModificationLevel.LTA_UPDATES,
    ModificationLevel.FORM_FILLING,  # filling a signature field is form filling
}


def _later_changes_allowed(status: PdfSignatureStatus) -> bool:
    return status.docmdp_ok is not False and status.modification_level in _ALLOWED_LATER_CHANGES


def validate(pdf: bytes, ca_cert: bytes, at: dt.datetime | None = None) -> list[SignatureCheck]:
    """Check every embedded signature, in signing order, against the CA certificate (PEM).

    `at` is the validation time (default now); baseline-B signatures carry no trusted time,
    so a signature checked after its certificate expired is untrusted unless `at` is given.
    """
    try:
        reader = PdfFileReader(BytesIO(pdf), strict=False)
        embedded = list(reader.embedded_signatures)
    except PdfReadError as unreadable:
        raise ValueError(f"无法读取 PDF：{unreadable}") from unreadable
    context = ValidationContext(trust_roots=[_asn1_certificate_pem(ca_cert)], moment=at)
    checks = []
    for signature in embedded:
        status = validate_pdf_signature(signature, signer_validation_context=context)
        _, _, start, length = signature.byte_range
        checks.append(
            SignatureCheck(
                field_name=str(signature.field_name),
                signer_name=str(signature.signer_cert.subject.native.get("common_name", "")),
                intact=bool(status.intact and status.valid),
                trusted=bool(status.trusted),
                covers_whole_file=status.coverage == SignatureCoverageLevel.ENTIRE_FILE,
                later_changes_allowed=_later_changes_allowed(status),
                revision_sha256=sha256_hex(pdf[: start + length]),
            )
        )
    return checks
