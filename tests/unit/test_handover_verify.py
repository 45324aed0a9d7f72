"""Verifying an archived handover, without a database: the ownership replay, the ledger's
story of the handover, the revision chain of a really signed PDF, and each check's verdict."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
import weasyprint

from app.core import keys
from app.handover import sign_services
from app.handover import verify as v
from app.handover.signing import issue_signer, sha256_hex, sign_pdf
from app.handover.workflow import Step, field_name
from app.ledger.rules import ACTIONS
from app.ownership import owner_services
from app.ownership.workflow import FINISHED

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)
PIN = "246810"
TENURE, OTHER, RECEIVER = 7, 8, 9
FINISHED_STATUSES = {str(s) for s in FINISHED}


def entry(seq: int, action: str, subject: int, **payload: Any) -> dict[str, Any]:
    return {
        "log": "test/990001",
        "seq": seq,
        "recorded_at": "2026-03-02T01:00:00.000000Z",
        "actor": {"kind": "system", "job": "tests"},
        "action": action,
        "subject": {"type": "case", "id": str(subject)},
        "payload": payload,
    }


def assumed(seq: int, case: int, tenure: int = TENURE, role: str = "lead") -> dict[str, Any]:
    return entry(seq, v.OWNER_ASSUMED, case, person=1, tenure=tenure, role=role, target_date=None)


def renounced(
    seq: int, case: int, tenure: int = TENURE, role: str = "lead", cause: str = "reassigned"
) -> dict[str, Any]:
    return entry(seq, v.OWNER_RENOUNCED, case, person=1, tenure=tenure, role=role, cause=cause)


def status(seq: int, case: int, to: str) -> dict[str, Any]:
    return entry(seq, v.STATUS_CHANGED, case, from_status="accepted", to_status=to)


# ---------------------------------------------------------------- replaying ownership


def test_it_names_the_same_actions_as_the_services_that_write_them() -> None:
    assert v.SNAPSHOTTED == sign_services.SNAPSHOTTED
    assert v.RENDERED == sign_services.RENDERED
    assert v.SIGNED == sign_services.SIGNED
    assert v.ARCHIVED == sign_services.ARCHIVED
    assert v.OWNER_ASSUMED == owner_services.OWNER_ASSUMED
    assert v.OWNER_RENOUNCED == owner_services.OWNER_RENOUNCED
    assert owner_services.RenounceCause.handover == v.HANDOVER_CAUSE


def test_it_reads_the_digest_fields_the_actions_declare() -> None:
    assert {v.DOSSIER_DIGEST, "cases"} <= set(ACTIONS[v.SNAPSHOTTED].fields)
    assert {v.PDF_DIGEST, v.DOSSIER_DIGEST, "checkpoint_size", "checkpoint_root"} <= set(
        ACTIONS[v.RENDERED].fields
    )
    assert {"step", "person", v.BEFORE, v.AFTER} <= set(ACTIONS[v.SIGNED].fields)
    assert {"receiver_tenure", "cases"} <= set(ACTIONS[v.ARCHIVED].fields)
    assert {"tenure", "role", "cause"} <= set(ACTIONS[v.OWNER_RENOUNCED].fields)
    assert "to_status" in ACTIONS[v.STATUS_CHANGED].fields


def test_an_assumed_case_is_owned_until_renounced() -> None:
    entries = [assumed(1, 100), assumed(2, 101), renounced(3, 100)]
    assert v.owned_at(entries, TENURE, 3) == {100, 101}
    assert v.owned_at(entries, TENURE, 4) == {101}


def test_it_replays_up_to_but_not_including_the_given_seq() -> None:
    entries = [assumed(5, 100)]
    assert v.owned_at(entries, TENURE, 5) == set()
    assert v.owned_at(entries, TENURE, 6) == {100}


def test_another_tenures_ownership_does_not_count() -> None:
    entries = [assumed(1, 100, tenure=OTHER), assumed(2, 101), renounced(3, 101, tenure=OTHER)]
    assert v.owned_at(entries, TENURE, 10) == {101}


def test_a_case_held_in_two_roles_stays_until_both_are_renounced() -> None:
    entries = [assumed(1, 100, role="first"), assumed(2, 100, role="lead"), renounced(3, 100)]
    assert v.owned_at(entries, TENURE, 10) == {100}
    assert v.owned_at([*entries, renounced(4, 100, role="first")], TENURE, 10) == set()


def test_it_replays_in_seq_order_whatever_order_the_entries_come_in() -> None:
    entries = [renounced(3, 100), assumed(1, 100)]
    assert v.owned_at(entries, TENURE, 10) == set()


def test_a_closed_case_keeps_its_owner_rows_but_is_no_longer_held() -> None:
    entries = [assumed(1, 100), assumed(2, 101), status(3, 100, "closed")]
    assert v.owned_at(entries, TENURE, 10, FINISHED_STATUSES) == {101}
    reopened = [*entries, status(4, 100, "review_requested")]
    assert v.owned_at(reopened, TENURE, 10, FINISHED_STATUSES) == {100, 101}


def test_the_archive_starts_at_its_first_handover_renouncement_after_the_receiving_signature() -> (
    None
):
    entries = [
        assumed(1, 100),
        assumed(2, 101),
        renounced(3, 102, cause="handover"),  # an earlier handover, before the signatures
        assumed(10, 100, tenure=RECEIVER),
        renounced(11, 100, cause="handover"),
        assumed(12, 101, tenure=RECEIVER),
        renounced(13, 101, cause="handover"),
    ]
    start = v.archive_start(entries, TENURE, after_seq=5, archived_seq=20)
    assert start == 11
    assert v.owned_at(entries, TENURE, start) == {100, 101}
    assert v.moved_by_archive(entries, TENURE, start, 20) == {100, 101}


def test_an_archive_that_moved_nothing_starts_at_its_own_entry() -> None:
    assert v.archive_start([assumed(1, 100)], TENURE, after_seq=5, archived_seq=20) == 20


# ---------------------------------------------------------------- the handover's story


def handover_entry(seq: int, action: str, **payload: Any) -> dict[str, Any]:
    found = entry(seq, action, 1, **payload)
    found["subject"] = {"type": "handover", "id": "1"}
    return found


def test_the_story_is_the_last_render_before_the_first_signature() -> None:
    entries = [
        handover_entry(1, v.OPENED, tenure=TENURE),
        handover_entry(2, v.SNAPSHOTTED, dossier_hash="a", cases=[]),
        handover_entry(3, v.RENDERED, pdf_hash="p1", dossier_hash="a"),
        handover_entry(4, v.SNAPSHOTTED, dossier_hash="b", cases=[]),
        handover_entry(5, v.RENDERED, pdf_hash="p2", dossier_hash="b"),
        handover_entry(6, v.SIGNED, step="departing"),
        handover_entry(7, v.SIGNED, step="receiving"),
        handover_entry(8, v.ARCHIVED, receiver_tenure=RECEIVER, cases=[]),
        handover_entry(9, v.SIGNED, step="office"),
    ]
    tale = v.story(reversed(entries))
    assert v.payload_of(tale.rendered)["pdf_hash"] == "p2"
    assert v.payload_of(tale.snapshotted)["dossier_hash"] == "b"
    assert [s.step for s in tale.steps] == ["departing", "receiving", "office"]
    assert (tale.tenure, tale.receiver_tenure) == (TENURE, RECEIVER)
    assert tale.receiving_seq == 7
    assert tale.end_seq == 9


# ---------------------------------------------------------------- a really signed PDF


@dataclass(frozen=True)
class Signed:
    ca_pem: bytes
    unsigned: bytes
    revisions: list[bytes]
    tale: v.Story
    rows: list[v.SignedStep]

    @property
    def pdf(self) -> bytes:
        return self.revisions[-1]


@pytest.fixture(scope="module")
def signed(tmp_path_factory: pytest.TempPathFactory) -> Signed:
    folder: Path = tmp_path_factory.mktemp("keys")
    keys.init_keys(folder, "测试县", NOW)
    ca, ca_pem = keys.KeyRing(folder).handover_ca(), keys.handover_ca_certificate_pem(folder)
    unsigned = weasyprint.HTML(string="<p>Handover</p>").write_pdf()
    revisions, pdf = [], unsigned
    entries = [handover_entry(3, v.RENDERED, pdf_hash=sha256_hex(unsigned))]
    for person, step in enumerate(Step, start=1):
        signer = issue_signer(ca, f"签字人{person}", person, PIN, NOW)
        after = sign_pdf(pdf, signer, PIN, field_name(step), "交接", ca_pem)
        entries.append(
            handover_entry(
                3 + person,
                v.SIGNED,
                step=str(step),
                person=person,
                before_hash=sha256_hex(pdf),
                after_hash=sha256_hex(after),
            )
        )
        revisions.append(after)
        pdf = after
    tale = v.story(entries)
    return Signed(ca_pem, unsigned, revisions, tale, tale.steps)


def flipped(data: bytes, at: int) -> bytes:
    changed = bytearray(data)
    changed[at] ^= 0x01
    return bytes(changed)


def test_the_unsigned_file_is_found_as_a_prefix_ending_at_an_eof(signed: Signed) -> None:
    assert v.revision_ending(signed.pdf, sha256_hex(signed.unsigned)) == signed.unsigned
    assert v.revision_ending(signed.pdf, sha256_hex(signed.revisions[0])) == signed.revisions[0]
    assert v.revision_ending(signed.pdf, "0" * 64) is None


def test_an_untouched_file_passes_the_signature_and_chain_checks(signed: Signed) -> None:
    sigs = v.read_signatures(signed.pdf, signed.ca_pem, NOW)
    assert sigs.persons == [1, 2, 3]
    signatures = v.check_signatures(sigs, signed.tale, signed.rows, (1, 2))
    chain = v.check_chain(signed.pdf, sigs, signed.tale, signed.rows)
    assert signatures.ok, signatures.detail
    assert chain.ok, chain.detail


@pytest.mark.parametrize("where", ["unsigned part", "second revision", "last revision"])
def test_one_changed_byte_fails_the_signature_and_chain_checks(signed: Signed, where: str) -> None:
    at = {
        "unsigned part": len(signed.unsigned) // 2,
        "second revision": len(signed.revisions[0]) + 100,
        "last revision": len(signed.pdf) - 300,
    }[where]
    tampered = flipped(signed.pdf, at)
    sigs = v.read_signatures(tampered, signed.ca_pem, NOW)
    signatures = v.check_signatures(sigs, signed.tale, signed.rows, (1, 2))
    chain = v.check_chain(tampered, sigs, signed.tale, signed.rows)
    assert not signatures.ok
    assert not chain.ok
    assert "最终文件的哈希" in chain.detail


def test_a_signature_by_someone_else_than_the_ledger_says_fails(signed: Signed) -> None:
    sigs = v.read_signatures(signed.pdf, signed.ca_pem, NOW)
    rows = [replace(signed.rows[0], person=5), *signed.rows[1:]]
    check = v.check_signatures(sigs, signed.tale, rows, (1, 2))
    assert not check.ok
    assert "签字记录表第 1 行" in check.detail


def test_signers_who_are_not_the_dossiers_parties_fail(signed: Signed) -> None:
    sigs = v.read_signatures(signed.pdf, signed.ca_pem, NOW)
    check = v.check_signatures(sigs, signed.tale, signed.rows, (2, 1))
    assert not check.ok
    assert "不是清单中的离任领导" in check.detail


def test_a_file_signed_in_the_wrong_order_fails(signed: Signed) -> None:
    swapped = v.story(
        [
            signed.tale.rendered or {},
            {**signed.tale.signed[1], "seq": 4},
            {**signed.tale.signed[0], "seq": 5},
            signed.tale.signed[2],
        ]
    )
    sigs = v.read_signatures(signed.pdf, signed.ca_pem, NOW)
    assert not v.check_signatures(sigs, swapped, swapped.steps, (1, 2)).ok
    assert not v.check_chain(signed.pdf, sigs, swapped, swapped.steps).ok


def test_a_file_without_its_last_signature_fails_the_chain(signed: Signed) -> None:
    shorter = signed.revisions[1]
    sigs = v.read_signatures(shorter, signed.ca_pem, NOW)
    check = v.check_chain(shorter, sigs, signed.tale, signed.rows)
    assert not check.ok
    assert not v.check_signatures(sigs, signed.tale, signed.rows, (1, 2)).ok


def test_a_file_that_is_not_a_pdf_is_reported_not_raised(signed: Signed) -> None:
    sigs = v.read_signatures(b"not a pdf", signed.ca_pem, NOW)
    assert sigs.unreadable
    assert not v.check_signatures(sigs, signed.tale, signed.rows, (1, 2)).ok
    assert not v.check_chain(b"not a pdf", sigs, signed.tale, signed.rows).ok


# ---------------------------------------------------------------- ledger, cases, dossier


ANCHORING = v.Anchoring(printed_size=10, reference_size=20, reference_saved=False, problems=[])


def test_entries_not_yet_under_a_checkpoint_leave_the_ledger_check_pending() -> None:
    proofs = [
        v.EntryProof(5, v.SNAPSHOTTED, 10),
        v.EntryProof(12, v.RENDERED, 20),
        v.EntryProof(25, v.SIGNED, None),
    ]
    check = v.check_ledger(proofs, ANCHORING, snapshot_seq=5)
    assert check.ok and check.pending
    assert "第 25 条记录尚未被已签名检查点覆盖" in check.detail


def test_a_failed_proof_or_an_inconsistent_log_fails_the_ledger_check() -> None:
    bad = [v.EntryProof(5, v.SNAPSHOTTED, 10), v.EntryProof(12, v.RENDERED, 20, "叶子哈希未通过")]
    check = v.check_ledger(bad, ANCHORING, 5)
    assert not check.ok and "第 12 条记录" in check.detail
    broken = replace(ANCHORING, problems=["日志不一致"])
    assert not v.check_ledger([v.EntryProof(5, v.SNAPSHOTTED, 10)], broken, 5).ok


def test_the_snapshot_must_be_proven_against_the_printed_checkpoint() -> None:
    proofs = [v.EntryProof(5, v.SNAPSHOTTED, 20)]
    check = v.check_ledger(proofs, ANCHORING, 5)
    assert not check.ok and "PDF 所印的检查点" in check.detail


def sets(**changes: Any) -> v.CaseSets:
    base = v.CaseSets(
        listed=[1, 2],
        replayed={1, 2},
        moved_in_ledger={1, 2},
        archived=[1, 2],
        moved_from_rows={1, 2},
        moved_to_rows={1, 2},
    )
    return replace(base, **changes)


def test_the_cases_check_names_which_source_disagrees() -> None:
    assert v.check_cases(sets(), []).ok
    check = v.check_cases(sets(moved_from_rows={1}), [])
    assert not check.ok
    assert "包案记录表中随归档移出的事项与清单不同" in check.detail
    assert "缺少清单所列的事项 2" in check.detail
    replayed = v.check_cases(sets(replayed={1, 2, 3}), [])
    assert not replayed.ok and "按台账回放" in replayed.detail
    assert "多出清单未列的事项 3" in replayed.detail


def test_a_replayed_entry_that_fails_its_proof_fails_the_cases_check() -> None:
    proofs = [v.EntryProof(3, v.OWNER_ASSUMED, 10, "叶子哈希未通过")]
    check = v.check_cases(sets(), proofs)
    assert not check.ok and "据以回放的第 3 条记录" in check.detail


def test_the_dossier_attachment_must_hash_to_the_ledgers_digest() -> None:
    body = b'{"cases":[]}'
    tale = v.story(
        [
            handover_entry(2, v.SNAPSHOTTED, dossier_hash=sha256_hex(body), cases=[]),
            handover_entry(3, v.RENDERED, pdf_hash="p", dossier_hash=sha256_hex(body)),
        ]
    )
    missing = v.check_dossier(None, None, tale, None)
    assert not missing.ok and "dossier.json" in missing.detail
    other = v.check_dossier(b'{"cases":[1]}', None, tale, None)
    assert not other.ok and "哈希" in other.detail


def test_a_verdict_names_the_failed_checks() -> None:
    good = v.Check("chain", v.LABEL_CHAIN, True, "好")
    bad = v.Check("cases", v.LABEL_CASES, False, "不同")
    assert v.Verdict(1, (good,)).summary().startswith("验证通过")
    failed = v.Verdict(1, (good, bad))
    assert not failed.ok
    assert v.LABEL_CASES in failed.summary()
    waiting = v.Verdict(1, (replace(good, pending=True),))
    assert waiting.ok and not waiting.complete
