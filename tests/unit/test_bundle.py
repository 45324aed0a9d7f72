"""Offline proof bundles: good bundles verify, every tamper is refused by the right check."""

from __future__ import annotations

import base64
import copy
import datetime as dt
import json
from collections.abc import Callable
from typing import Any

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from app.ledger import merkle, note
from app.ledger.bundle import (
    FORMAT,
    BundleVerdict,
    Check,
    check_bundle,
    dumps,
    make_bundle,
    verifiers_from_text,
)
from app.ledger.rules import Entry, staff_actor, system_actor

ORIGIN = "test/ledger"
SIGNER = note.Signer.generate(ORIGIN)
VERIFIER = SIGNER.verifier()
START = dt.datetime(2025, 3, 1, 9, 30, tzinfo=dt.UTC)

LABELS_IN_ORDER = [
    "证明包格式",
    "证明包字段",
    "检查点签名",
    "台账名称",
    "树大小",
    "叶子字节",
    "叶子哈希",
    "记录内容与叶子字节一致",
    "序号",
    "记录所属台账",
    "包含证明",
]


def _entry(seq: int) -> Entry:
    actor = staff_actor(3, "receptionist", 11) if seq % 2 else system_actor("nightly")
    return Entry(
        log=ORIGIN,
        seq=seq,
        recorded_at=START + dt.timedelta(minutes=seq),
        actor=actor,
        action="case.opened",
        subject_type="case",
        subject_id=f"C-{seq:04d}",
        payload={"title": f"第 {seq} 件来访：道路积水", "county": "云江县", "n": seq},
    )


ENTRIES = [_entry(seq) for seq in range(7)]
LEAVES = [entry.leaf() for entry in ENTRIES]
LEAF_HASHES = [merkle.leaf_hash(leaf) for leaf in LEAVES]


def _checkpoint_note(
    size: int, signer: note.Signer = SIGNER, origin: str = ORIGIN, root: bytes | None = None
) -> str:
    root = merkle.root(LEAF_HASHES[:size]) if root is None else root
    return note.sign_checkpoint(signer, note.Checkpoint(origin=origin, size=size, root=root))


def _bundle(index: int = 4, size: int = 7, checkpoint_note: str | None = None) -> dict[str, Any]:
    return make_bundle(
        origin=ORIGIN,
        index=index,
        tree_size=size,
        entry=ENTRIES[index].as_json(),
        leaf=LEAVES[index],
        inclusion_path=merkle.inclusion_proof(index, LEAF_HASHES[:size]),
        checkpoint_note=_checkpoint_note(size) if checkpoint_note is None else checkpoint_note,
    )


def _failing(verdict: BundleVerdict) -> list[str]:
    return [check.label for check in verdict.checks if not check.ok]


def _check(bundle: dict[str, Any]) -> BundleVerdict:
    return check_bundle(dumps(bundle), [VERIFIER])


# --------------------------------------------------------------------------- good bundles


@pytest.mark.parametrize(("index", "size"), [(0, 7), (3, 7), (4, 7), (6, 7), (0, 1), (2, 5)])
def test_bundles_for_several_entries_and_checkpoints_verify(index: int, size: int) -> None:
    verdict = _check(_bundle(index, size))
    assert verdict.ok, verdict.checks
    assert [check.label for check in verdict.checks] == LABELS_IN_ORDER
    assert verdict.entry == ENTRIES[index].as_json()
    assert verdict.checkpoint is not None and verdict.checkpoint.size == size


def test_a_bundle_verifies_as_bytes_text_or_dict() -> None:
    bundle = _bundle()
    for data in (dumps(bundle), dumps(bundle).decode("utf-8"), bundle):
        assert check_bundle(data, [VERIFIER]).ok


def test_the_summary_of_a_valid_bundle_names_the_ledger_the_entry_and_the_root() -> None:
    verdict = _check(_bundle(index=3))
    root = base64.b64encode(merkle.root(LEAF_HASHES)).decode("ascii")
    assert verdict.summary() == (
        f"该证明有效：台账 {ORIGIN} 序号为 3 的记录包含在大小为 7 的已签名检查点中（根哈希 {root}）。"
    )


def test_make_bundle_fills_in_the_format_and_the_leaf_hash() -> None:
    bundle = _bundle(index=2)
    assert bundle["format"] == FORMAT
    assert bundle["leaf_hash"] == merkle.leaf_hash(LEAVES[2]).hex()
    assert base64.b64decode(bundle["leaf"]) == LEAVES[2]
    assert all(len(node) == 64 and node == node.lower() for node in bundle["inclusion_path"])


def test_dumps_writes_sorted_pretty_utf8_with_a_trailing_newline() -> None:
    data = dumps(_bundle())
    text = data.decode("utf-8")
    assert text.endswith("}\n") and "\n  " in text
    assert "道路积水" in text  # not \\u escapes
    assert list(json.loads(text)) == sorted(json.loads(text))


def test_a_checkpoint_cosigned_by_an_unknown_witness_still_verifies() -> None:
    witness = note.Signer.generate("witness.example")
    cosigned = _checkpoint_note(7) + witness.signature_line(
        note.Checkpoint(ORIGIN, 7, merkle.root(LEAF_HASHES)).body()
    )
    assert _check(_bundle(checkpoint_note=cosigned)).ok


# --------------------------------------------------------------------------- tampering


def _rewrite_entry(bundle: dict[str, Any], **changes: Any) -> None:
    """Change the entry and make leaf and leaf_hash match it, as a careful forger would."""
    entry = {**bundle["entry"], **changes}
    raw = rfc8785.dumps(entry)
    bundle["entry"] = entry
    bundle["leaf"] = base64.b64encode(raw).decode("ascii")
    bundle["leaf_hash"] = merkle.leaf_hash(raw).hex()


def _change_payload(bundle: dict[str, Any]) -> None:
    bundle["entry"]["payload"]["title"] = "第 4 件来访：已办结"


def _change_leaf(bundle: dict[str, Any]) -> None:
    bundle["leaf"] = base64.b64encode(base64.b64decode(bundle["leaf"]) + b" ").decode("ascii")


def _change_leaf_hash(bundle: dict[str, Any]) -> None:
    bundle["leaf_hash"] = merkle.leaf_hash(b"something else").hex()


def _forge_entry_consistently(bundle: dict[str, Any]) -> None:
    _rewrite_entry(bundle, action="case.closed")


def _flip_a_path_bit(bundle: dict[str, Any]) -> None:
    node = bytearray(bytes.fromhex(bundle["inclusion_path"][1]))
    node[5] ^= 0x10
    bundle["inclusion_path"][1] = node.hex()


def _truncate_path(bundle: dict[str, Any]) -> None:
    bundle["inclusion_path"] = bundle["inclusion_path"][:-1]


def _wrong_index(bundle: dict[str, Any]) -> None:
    bundle["index"] = 5


def _wrong_index_and_seq(bundle: dict[str, Any]) -> None:
    bundle["index"] = 5
    _rewrite_entry(bundle, seq=5)


def _wrong_tree_size(bundle: dict[str, Any]) -> None:
    bundle["tree_size"] = 6


def _other_key(bundle: dict[str, Any]) -> None:
    bundle["checkpoint"] = _checkpoint_note(7, signer=note.Signer.generate(ORIGIN))


def _other_origin(bundle: dict[str, Any]) -> None:
    bundle["checkpoint"] = _checkpoint_note(7, origin="test/other-ledger")


def _other_log_in_entry(bundle: dict[str, Any]) -> None:
    _rewrite_entry(bundle, log="test/other-ledger")


def _bad_base64_leaf(bundle: dict[str, Any]) -> None:
    bundle["leaf"] = bundle["leaf"].rstrip("=") + "!"


def _uppercase_leaf_hash(bundle: dict[str, Any]) -> None:
    bundle["leaf_hash"] = bundle["leaf_hash"].upper()


def _bad_hex_in_path(bundle: dict[str, Any]) -> None:
    bundle["inclusion_path"][0] = "zz" + bundle["inclusion_path"][0][2:]


def _index_beyond_tree(bundle: dict[str, Any]) -> None:
    bundle["index"] = 7
    _rewrite_entry(bundle, seq=7)


def _non_list_path(bundle: dict[str, Any]) -> None:
    bundle["inclusion_path"] = "".join(bundle["inclusion_path"])


def _index_as_text(bundle: dict[str, Any]) -> None:
    bundle["index"] = "4"


def _unknown_format(bundle: dict[str, Any]) -> None:
    bundle["format"] = "jiefang-ledger-proof/2"


TAMPERS: list[tuple[str, Callable[[dict[str, Any]], None], str, set[str]]] = [
    # name, tamper, first failing label, all failing labels
    (
        "changed payload in entry",
        _change_payload,
        "记录内容与叶子字节一致",
        {"记录内容与叶子字节一致"},
    ),
    ("changed leaf bytes", _change_leaf, "叶子哈希", {"叶子哈希", "记录内容与叶子字节一致"}),
    ("changed leaf hash", _change_leaf_hash, "叶子哈希", {"叶子哈希", "包含证明"}),
    (
        "entry, leaf and hash rewritten together",
        _forge_entry_consistently,
        "包含证明",
        {"包含证明"},
    ),
    ("flipped bit in a path element", _flip_a_path_bit, "包含证明", {"包含证明"}),
    ("truncated path", _truncate_path, "包含证明", {"包含证明"}),
    ("wrong index", _wrong_index, "序号", {"序号", "包含证明"}),
    ("wrong index with a matching seq", _wrong_index_and_seq, "包含证明", {"包含证明"}),
    ("index beyond the tree", _index_beyond_tree, "包含证明", {"包含证明"}),
    ("wrong tree size", _wrong_tree_size, "树大小", {"树大小", "包含证明"}),
    (
        "checkpoint signed by another key",
        _other_key,
        "检查点签名",
        {"检查点签名", "台账名称", "树大小", "包含证明"},
    ),
    ("checkpoint of another origin", _other_origin, "台账名称", {"台账名称"}),
    ("entry of another ledger", _other_log_in_entry, "记录所属台账", {"记录所属台账", "包含证明"}),
    (
        "leaf not base64",
        _bad_base64_leaf,
        "叶子字节",
        {"叶子字节", "叶子哈希", "记录内容与叶子字节一致"},
    ),
    ("leaf hash in uppercase", _uppercase_leaf_hash, "叶子哈希", {"叶子哈希", "包含证明"}),
    ("path element not hex", _bad_hex_in_path, "包含证明", {"包含证明"}),
    ("path not a list", _non_list_path, "证明包字段", {"证明包字段", "包含证明"}),
    ("index as text", _index_as_text, "证明包字段", {"证明包字段", "序号", "包含证明"}),
    ("unknown format", _unknown_format, "证明包格式", {"证明包格式"}),
]


@pytest.mark.parametrize(
    ("tamper", "first", "failing"),
    [pytest.param(tamper, first, failing, id=name) for name, tamper, first, failing in TAMPERS],
)
def test_each_tamper_is_refused_by_the_right_check(
    tamper: Callable[[dict[str, Any]], None], first: str, failing: set[str]
) -> None:
    bundle = copy.deepcopy(_bundle(index=4))
    tamper(bundle)
    verdict = _check(bundle)
    assert not verdict.ok
    assert _failing(verdict)[0] == first
    assert set(_failing(verdict)) == failing
    assert verdict.summary().startswith(f"该证明无效：“{first}”未通过")


def test_a_checkpoint_that_fails_its_signature_is_not_returned() -> None:
    bundle = _bundle()
    _other_key(bundle)
    verdict = _check(bundle)
    assert verdict.checkpoint is None
    signature = next(check for check in verdict.checks if check.label == "检查点签名")
    assert "没有来自已知密钥的签名" in signature.detail


def test_the_summary_lists_the_other_failures_after_the_first() -> None:
    bundle = _bundle()
    _wrong_index(bundle)
    summary = _check(bundle).summary()
    assert summary.startswith("该证明无效：“序号”未通过——记录的序号是 4，证明包的 index 却是 5。")
    assert summary.endswith("另有 1 项检查未通过：“包含证明”。")


# --------------------------------------------------------------------------- malformed input


@pytest.mark.parametrize(
    "data",
    [
        b"{not json",
        b"",
        b"\xff\xfe{}",
        b"[1, 2, 3]",
        b'"a string"',
        '{"format": "jiefang-ledger-proof/1", "format": "x"}',
        '{"format": "jiefang-ledger-proof/1", "index": NaN}',
        "[" * 100_000,
    ],
    ids=[
        "malformed",
        "empty",
        "not utf-8",
        "array",
        "string",
        "duplicate key",
        "NaN",
        "too deep",
    ],
)
def test_malformed_json_is_one_failed_format_check(data: bytes | str) -> None:
    verdict = check_bundle(data, [VERIFIER])
    assert not verdict.ok
    assert [(check.ok, check.label) for check in verdict.checks] == [(False, "证明包格式")]
    assert verdict.entry is None and verdict.checkpoint is None


@pytest.mark.parametrize(
    "key",
    ["origin", "index", "tree_size", "entry", "leaf", "leaf_hash", "inclusion_path", "checkpoint"],
)
def test_a_missing_key_fails_the_field_check_and_names_the_key(key: str) -> None:
    bundle = _bundle()
    del bundle[key]
    verdict = _check(bundle)
    assert not verdict.ok
    fields = verdict.checks[1]
    assert (fields.ok, fields.label) == (False, "证明包字段")
    assert f"缺少 {key}" in fields.detail
    assert _failing(verdict)[0] == "证明包字段"


def test_a_missing_format_fails_the_format_check() -> None:
    bundle = _bundle()
    del bundle["format"]
    assert _failing(_check(bundle)) == ["证明包格式"]


WRONG_VALUES: list[Any] = [None, True, -1, 2**80, 1.5, "", "x", [], ["zz"], {}, {"seq": []}]


@pytest.mark.parametrize("key", [*_bundle().keys()])
@pytest.mark.parametrize("value", WRONG_VALUES, ids=repr)
def test_a_wrong_value_anywhere_is_refused_without_raising(key: str, value: Any) -> None:
    bundle = _bundle()
    bundle[key] = value
    verdict = check_bundle(bundle, [VERIFIER])
    assert not verdict.ok
    assert all(isinstance(check, Check) and check.detail for check in verdict.checks)
    assert verdict.summary().startswith("该证明无效：")


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=8,
)


@settings(max_examples=300, deadline=None)
@given(key=st.sampled_from(sorted(_bundle())), value=JSON_VALUES)
def test_any_json_value_in_any_field_never_raises(key: str, value: Any) -> None:
    bundle = _bundle()
    original = bundle[key]
    bundle[key] = value
    verdict = check_bundle(bundle, [VERIFIER])
    assert verdict.summary()
    assert not verdict.ok or value == original


@pytest.mark.parametrize(
    "entry",
    [{"seq": 2**70}, {"seq": 4, "x": float("nan")}, {1: 2}, {"seq": b"bytes"}],
    ids=["integer too large", "nan", "non-string key", "bytes"],
)
def test_an_entry_that_cannot_be_canonicalised_is_refused(entry: dict[Any, Any]) -> None:
    bundle = _bundle()
    bundle["entry"] = entry
    verdict = check_bundle(bundle, [VERIFIER])
    assert "记录内容与叶子字节一致" in _failing(verdict)
    detail = next(c.detail for c in verdict.checks if c.label == "记录内容与叶子字节一致")
    assert "RFC 8785" in detail


def test_no_verifiers_means_the_signature_check_fails() -> None:
    assert "检查点签名" in _failing(check_bundle(dumps(_bundle()), []))


# --------------------------------------------------------------------------- verifier keys


def test_verifiers_from_text_accepts_a_bundle_signed_by_the_second_key() -> None:
    retired = note.Signer.generate(ORIGIN)
    current = note.Signer.generate(ORIGIN)
    text = f"{retired.verifier().to_string()}\n\n  {current.verifier().to_string()}  \n"
    verifiers = verifiers_from_text(text)
    assert verifiers == [retired.verifier(), current.verifier()]
    verdict = check_bundle(dumps(_bundle(checkpoint_note=_checkpoint_note(7, current))), verifiers)
    assert verdict.ok
    assert f"{ORIGIN}+{current.key_id:08x}" in verdict.checks[2].detail


def test_verifiers_from_text_names_the_bad_line() -> None:
    text = f"{VERIFIER.to_string()}\nnot-a-key\n"
    with pytest.raises(note.NoteError, match="第 2 行"):
        verifiers_from_text(text)


def test_verifiers_from_text_of_an_empty_file_is_empty() -> None:
    assert verifiers_from_text("\n \n") == []
