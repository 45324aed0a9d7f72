"""The 信访工作离任交接书 PDF: every case readable in its text, the dossier attached byte for
byte, the hash and checkpoint on every page, and three signatures that hold."""

from __future__ import annotations

import asyncio
import datetime as dt
import random
import re
from collections import defaultdict
from dataclasses import dataclass
from io import BytesIO
from typing import Any

import pdfplumber
import pytest
from pyhanko.pdf_utils.reader import PdfFileReader

from app.core import pdf as core_pdf
from app.core.certificates import CertificateAuthority, make_ca_certificate, make_ca_key
from app.core.codes import make_code
from app.core.pdf import PdfUnavailable, cjk_font
from app.handover.document import (
    Metrics,
    attached_dossier,
    footer_lines,
    render_handover,
    wrap,
)
from app.handover.dossier import (
    Anchor,
    Dossier,
    DossierAssignment,
    DossierCase,
    DossierSitting,
    Figures,
    Notes,
    Party,
    canonical,
    digest,
    load,
    overdue_first,
)
from app.handover.signing import issue_signer, sign_pdf, validate

NOW = dt.datetime(2026, 3, 31, 6, 30, tzinfo=dt.UTC)
PIN = "246810"
ORDER = [("departing", "王建国"), ("receiving", "李卫东"), ("office", "云江县信访局")]
HEADINGS = [
    "信访工作离任交接书",
    "一、交接基本情况",
    "二、包案信访事项",
    "三、积案",
    "四、待办交办事项",
    "五、今后接访安排及预约",
    "六、任期信访工作情况",
    "七、重点人员、风险隐患、未尽事项",
    "八、签字",
]
needs_font = pytest.mark.skipif(cjk_font() is None, reason="no CJK font installed")


def a_case(rng: random.Random, i: int) -> DossierCase:
    overdue = i % 5 == 0
    return DossierCase(
        id=100 + i,
        code=make_code(rng.randbytes(8)),
        category=rng.choice(["征地拆迁", "劳动社保", "城乡建设", "涉法涉诉"]),
        kind_label=rng.choice(["建议意见类", "检举控告类", "申诉求决类"]),
        status_label=rng.choice(["已受理", "办理中", "已转送/交办"]),
        role_label=rng.choice(["包案领导", "首接领导", "协同包案"]),
        received_on=(dt.date(2025, 6, 1) + dt.timedelta(days=7 * i)).isoformat(),
        target_date=(dt.date(2025, 9, 1) + dt.timedelta(days=7 * i)).isoformat(),
        next_due=(dt.date(2026, 3, 1) + dt.timedelta(days=2 * i)).isoformat(),
        next_clock_label=rng.choice(["办理期限", "延长办理期限", "复查意见"]),
        days_overdue=30 - i if overdue else 0,
        backlog=i % 7 == 3,
    )


def a_dossier(cases: int = 30, *, interim: bool = False, notes: Notes | None = None) -> Dossier:
    rng = random.Random(cases)
    listed = [a_case(rng, i) for i in range(cases)]
    return Dossier(
        handover_id=7,
        county="云江县",
        reason_label="调任",
        effective_date="2026-04-10",
        departing=Party(person_id=1, name="王建国", tenure_id=11, post="城关镇党委书记"),
        receiving=Party(person_id=2, name="李卫东", tenure_id=12, post="城关镇党委书记"),
        interim=interim,
        snapshot_at="2026-03-31T06:30:00.000000Z",
        cases=listed,
        backlog=[c for c in listed if c.backlog],
        sittings=[
            DossierSitting(
                id=5,
                day="2026-04-02",
                rule_name="党委书记接访日",
                venue_name="城关镇信访接待室",
                booked=3,
                waitlisted=1,
                booking_codes=[make_code(rng.randbytes(8), 8) for _ in range(3)],
            )
        ]
        if cases
        else [],
        assignments=[
            DossierAssignment(
                id=9,
                case_code=c.code,
                unit_name="县人力社保局",
                due_on=c.next_due,
                status_label="办理中",
            )
            for c in listed[::6]
        ],
        figures=Figures(
            received=90, resolved=60, replied=70, replied_on_time=61, evaluated=40, satisfied=33
        ),
        notes=notes
        if notes is not None
        else Notes(key_people="东村3组信访人张某，多次进京", risks="征地补偿纠纷", unfinished=""),
    )


def anchor_of(dossier: Dossier) -> Anchor:
    return Anchor(
        dossier_sha256=digest(dossier),
        origin="yunjiang/330824",
        checkpoint_size=1234,
        checkpoint_root="ab" * 32,
    )


@dataclass(frozen=True)
class Rendered:
    dossier: Dossier
    anchor: Anchor
    pdf: bytes
    pages: list[str]  # extracted text of each page

    @property
    def text(self) -> str:
        return "\n".join(self.pages)


def rendered(dossier: Dossier) -> Rendered:
    anchor = anchor_of(dossier)
    pdf = asyncio.run(render_handover(dossier, anchor))
    with pdfplumber.open(BytesIO(pdf)) as parsed:
        pages = [page.extract_text() for page in parsed.pages]
    return Rendered(dossier, anchor, pdf, pages)


@pytest.fixture(scope="module")
def document() -> Rendered:
    return rendered(a_dossier())


@pytest.fixture(scope="module")
def signed(document: Rendered) -> tuple[bytes, bytes]:
    """(CA certificate PEM, the document signed by all three in order)."""
    key_pem = make_ca_key()
    ca_pem = make_ca_certificate(key_pem, "测试县", NOW)
    ca = CertificateAuthority.from_pem(key_pem, ca_pem)
    pdf = document.pdf
    for person_id, (field, name) in enumerate(ORDER, start=1):
        signer = issue_signer(ca, name, person_id, PIN, NOW)
        pdf = sign_pdf(pdf, signer, PIN, field, "信访工作离任交接", ca_pem)
    return ca_pem, pdf


@needs_font
def test_the_text_has_every_heading_and_every_case_code(document: Rendered) -> None:
    for heading in HEADINGS:
        assert heading in document.text
    for case in document.dossier.cases:
        assert case.code in document.text
    assert "逾期30天" in document.text and "未逾期" in document.text


@needs_font
def test_cases_are_listed_most_overdue_first(document: Rendered) -> None:
    listed = document.text.split("二、包案信访事项")[1].split("三、积案")[0]
    order = [c.code for c in overdue_first(document.dossier.cases)]
    assert sorted(order, key=listed.index) == order


@needs_font
def test_the_backlog_assignments_and_sittings_are_listed(document: Rendered) -> None:
    backlog = document.text.split("三、积案")[1].split("四、待办交办事项")[0]
    assert {c.code for c in document.dossier.backlog} == {
        c.code for c in document.dossier.cases if c.code in backlog
    }
    for code in document.dossier.sittings[0].booking_codes:
        assert code in document.text
    assert "共 5 项" in document.text  # assignments


@needs_font
def test_the_attachment_is_the_canonical_dossier(document: Rendered) -> None:
    attached = attached_dossier(document.pdf)
    assert attached == canonical(document.dossier)
    assert attached is not None and load(attached) == document.dossier


@needs_font
def test_every_page_prints_its_number_the_hash_and_the_checkpoint(document: Rendered) -> None:
    digest_line, checkpoint_line = footer_lines(document.anchor)
    assert checkpoint_line == f"台账检查点：yunjiang/330824 第 1234 条 根哈希 {'ab' * 32}"
    total = len(document.pages)
    assert total > 1
    for number, text in enumerate(document.pages, start=1):
        assert f"第 {number} 页 共 {total} 页" in text
        assert digest_line in text and checkpoint_line in text


def deref(reference: Any) -> Any:
    return reference.get_object()


@needs_font
def test_it_is_pdf_a_3b_with_the_dossier_as_its_data(document: Rendered) -> None:
    root = PdfFileReader(BytesIO(document.pdf)).root
    metadata = root["/Metadata"].data
    assert b'pdfaid:part="3" pdfaid:conformance="B"' in metadata
    specs = {(str(s["/UF"]), str(s["/AFRelationship"])) for s in map(deref, root["/AF"])}
    assert specs == {("dossier.json", "/Data")}
    assert "/OutputIntents" in root


def clusters(xs: set[float], tolerance: float = 0.3) -> list[list[float]]:
    groups: list[list[float]] = []
    for x in sorted(xs):
        if groups and x - groups[-1][-1] <= tolerance:
            groups[-1].append(x)
        else:
            groups.append([x])
    return groups


@needs_font
def test_the_list_columns_line_up_on_every_row(document: Rendered) -> None:
    """Each list row is one line of text: its columns must still start at the same place."""
    codes = {c.code for c in document.dossier.cases}
    starts: dict[str, set[float]] = defaultdict(set)
    with pdfplumber.open(BytesIO(document.pdf)) as parsed:
        for page in parsed.pages:
            for word in page.extract_words(keep_blank_chars=False):
                if word["text"] in codes:
                    starts["code"].add(round(word["x0"], 2))
                elif re.fullmatch(r"20\d\d-\d\d-\d\d", word["text"]):
                    starts["date"].add(round(word["x0"], 2))
    assert len(clusters(starts["code"])) == 1
    assert len(clusters(starts["date"])) <= 6  # the lists' six date columns, nowhere else


@needs_font
def test_an_interim_receiver_and_empty_sections() -> None:
    small = rendered(a_dossier(0, interim=True, notes=Notes()))
    assert "临时接收人" in small.text and "系办公室指定的临时接收人" in small.text
    for heading in HEADINGS[2:6]:
        assert f"{heading}\n无" in small.text
    assert small.text.count("\n无\n") >= 4


@needs_font
def test_three_signatures_validate_and_the_attachment_survives(
    document: Rendered, signed: tuple[bytes, bytes]
) -> None:
    ca_pem, pdf = signed
    checks = validate(pdf, ca_pem)
    assert [(c.field_name, c.signer_name) for c in checks] == ORDER
    assert all(c.ok for c in checks)
    assert pdf.startswith(document.pdf)  # incremental updates of the rendered file
    assert attached_dossier(pdf) == canonical(document.dossier)


@needs_font
def test_one_changed_byte_in_the_signed_range_fails_every_signature(
    document: Rendered, signed: tuple[bytes, bytes]
) -> None:
    ca_pem, pdf = signed
    at = pdf.index(b"stream", len(document.pdf) // 2) + 40  # inside a stream of the original
    assert at < len(document.pdf)
    tampered = pdf[:at] + bytes([pdf[at] ^ 0x01]) + pdf[at + 1 :]
    checks = validate(tampered, ca_pem)
    assert len(checks) == 3
    assert not any(c.intact or c.ok for c in checks)


def test_without_a_chinese_font_it_refuses_instead_of_printing_boxes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(core_pdf, "cjk_font", lambda: None)
    dossier = a_dossier(2)
    with pytest.raises(PdfUnavailable, match="中文字体"):
        asyncio.run(render_handover(dossier, anchor_of(dossier)))


def test_it_finds_no_attachment_in_what_is_not_a_handover_pdf() -> None:
    assert attached_dossier(b"not a pdf") is None


def test_wrapping_keeps_codes_and_dates_whole() -> None:
    def width(text: str) -> float:
        return float(len(text))

    assert wrap("ABCDEFGH2、XYZW2345K、MNPQ", 11, width) == ["ABCDEFGH2、", "XYZW2345K、", "MNPQ"]
    assert wrap("县自然资源和规划局", 4, width) == ["县自然资", "源和规划", "局"]
    assert wrap("2026-03-13 延长办理期限", 11, width) == ["2026-03-13", "延长办理期限"]


def test_gaps_are_made_of_space_glyphs_to_two_hundredths_of_an_em() -> None:
    """Gaps between columns are at least two cell paddings (0.57 em) wide."""
    advances = {0x20: 0.26, 0x2002: 0.5, 0x2003: 1.0, 0x2004: 0.3335, 0x2005: 0.25}
    advances |= {0x2006: 0.1665, 0x2009: 0.2, 0x200A: 0.1}
    metrics = Metrics(advances)
    for hundredths in range(57, 1500, 7):
        em = hundredths / 100
        gap = metrics.gap(em)
        assert set(gap) <= {chr(cp) for cp in advances}
        assert abs(metrics.width(gap) - em) < 0.02
