"""Signing the 信访工作离任交接书: departing official → successor → office, all verifiable."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path

import pytest
import weasyprint
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

from app.core import keys
from app.core.certificates import CertificateAuthority
from app.handover.signing import (
    SignerKey,
    WrongPin,
    issue_signer,
    sha256_hex,
    sign_pdf,
    validate,
)

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)
PIN = "246810"
ORDER = [("departing", "王离任"), ("successor", "李接任"), ("office", "县信访局")]


@dataclass(frozen=True)
class Handover:
    ca_pem: bytes
    signers: dict[str, SignerKey]
    original: bytes
    revisions: list[bytes]  # the PDF after each signature, in order

    @property
    def signed(self) -> bytes:
        return self.revisions[-1]


def ca_from_keys_init(keys_dir: Path, deployment: str) -> tuple[CertificateAuthority, bytes]:
    keys.init_keys(keys_dir, deployment, NOW)
    return keys.KeyRing(keys_dir).handover_ca(), keys.handover_ca_certificate_pem(keys_dir)


@pytest.fixture(scope="module")
def handover(tmp_path_factory: pytest.TempPathFactory) -> Handover:
    ca, ca_pem = ca_from_keys_init(tmp_path_factory.mktemp("keys"), "测试县")
    signers = {
        field: issue_signer(ca, name, person_id, PIN, NOW)
        for person_id, (field, name) in enumerate(ORDER, start=1)
    }
    original = weasyprint.HTML(string="<p>信访工作离任交接书</p>").write_pdf()
    revisions, pdf = [], original
    for field, _ in ORDER:
        pdf = sign_pdf(pdf, signers[field], PIN, field, "信访工作离任交接", ca_pem)
        revisions.append(pdf)
    return Handover(ca_pem, signers, original, revisions)


def test_all_three_signatures_validate_in_signing_order(handover: Handover) -> None:
    checks = validate(handover.signed, handover.ca_pem)
    assert [(c.field_name, c.signer_name) for c in checks] == [
        ("departing", "王离任"),
        ("successor", "李接任"),
        ("office", "县信访局"),
    ]
    assert all(c.ok and c.intact and c.trusted for c in checks)


def test_earlier_signatures_cover_a_prefix_and_the_last_the_whole_file(
    handover: Handover,
) -> None:
    checks = validate(handover.signed, handover.ca_pem)
    assert [c.covers_whole_file for c in checks] == [False, False, True]
    assert all(c.later_changes_allowed for c in checks)


def test_each_signature_reports_the_revision_it_produced(handover: Handover) -> None:
    checks = validate(handover.signed, handover.ca_pem)
    assert [c.revision_sha256 for c in checks] == [sha256_hex(r) for r in handover.revisions]
    assert handover.revisions[1].startswith(handover.revisions[0])  # incremental updates


def test_one_changed_byte_in_the_signed_range_fails_every_signature(handover: Handover) -> None:
    at = handover.signed.index(b"WeasyPrint")  # the /Producer string of the original revision
    tampered = handover.signed[:at] + b"X" + handover.signed[at + 1 :]
    checks = validate(tampered, handover.ca_pem)
    assert len(checks) == 3
    assert not any(c.intact or c.ok for c in checks)


def test_content_added_after_signing_is_reported_against_earlier_signatures(
    handover: Handover,
) -> None:
    writer = IncrementalPdfFileWriter(BytesIO(handover.signed))
    stream = writer.add_object(generic.StreamObject(stream_data=b"BT /F1 12 Tf (forged) Tj ET"))
    writer.add_stream_to_page(0, stream)  # type: ignore[no-untyped-call]
    out = BytesIO()
    writer.write(out)  # type: ignore[no-untyped-call]
    checks = validate(out.getvalue(), handover.ca_pem)
    assert all(c.intact and c.trusted for c in checks)
    assert not any(c.later_changes_allowed or c.ok for c in checks)


def test_a_wrong_pin_cannot_sign(handover: Handover) -> None:
    with pytest.raises(WrongPin, match="签章密码不正确"):
        sign_pdf(
            handover.original, handover.signers["departing"], "135790", "x", "r", handover.ca_pem
        )


def test_the_pin_is_not_stored_with_the_key(handover: Handover) -> None:
    signer = handover.signers["departing"]
    assert PIN.encode() not in signer.key_enc and b"PRIVATE KEY" not in signer.key_enc


def test_a_signer_from_another_ca_is_not_trusted(handover: Handover, tmp_path: Path) -> None:
    other_ca, other_pem = ca_from_keys_init(tmp_path / "other", "别的县")
    stranger = issue_signer(other_ca, "冒名者", 99, PIN, NOW)
    pdf = sign_pdf(handover.original, stranger, PIN, "departing", "冒签", other_pem)
    [check] = validate(pdf, handover.ca_pem)
    assert check.intact and not check.trusted and not check.ok
    [own] = validate(pdf, other_pem)
    assert own.trusted


def test_a_short_pin_is_refused(tmp_path: Path) -> None:
    ca, _ = ca_from_keys_init(tmp_path, "测试县")
    with pytest.raises(ValueError, match="签章密码至少需要 6 位"):
        issue_signer(ca, "王离任", 1, "12345", NOW)


def test_the_ca_certificate_is_a_published_self_signed_ca(tmp_path: Path) -> None:
    from cryptography import x509

    ca, ca_pem = ca_from_keys_init(tmp_path, "测试县")
    certificate = x509.load_pem_x509_certificate(ca_pem)
    assert certificate.subject == certificate.issuer
    assert "测试县 信访工作交接签章 CA" in certificate.subject.rfc4514_string()
    assert certificate.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert certificate.extensions.get_extension_for_class(x509.KeyUsage).value.key_cert_sign
    assert ca.certificate_pem() == ca_pem
    assert (tmp_path / "handover-ca.key").stat().st_mode & 0o777 == 0o600
