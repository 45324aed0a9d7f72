"""The verifier's fast paths agree with the reference definitions they stand in for."""

from __future__ import annotations

import datetime as dt
from typing import Any

import rfc8785
from hypothesis import given
from hypothesis import strategies as st

from app.ledger import merkle
from app.ledger.audit import Rebuild
from app.ledger.rules import Entry, canonical, encodes_to, json_string, leaf_splices

leaves = st.lists(st.binary(max_size=40), min_size=1, max_size=300)


@given(leaves, st.integers(min_value=1, max_value=50))
def test_a_chunked_rebuild_finds_every_complete_node_and_the_root(
    data: list[bytes], chunk: int
) -> None:
    hashes = [merkle.leaf_hash(leaf) for leaf in data]
    expected: dict[tuple[int, int], bytes] = {}
    peaks: list[bytes] = []
    for size, leaf_hash in enumerate(hashes):
        peaks, finished = merkle.append_leaf(size, peaks, leaf_hash)
        expected.update({(level, idx): h for level, idx, h in finished})

    rebuild, found, seen = Rebuild(), {}, []
    for start in range(0, len(data), chunk):
        got, nodes = rebuild.add(data[start : start + chunk])
        seen += got
        found.update(nodes)

    assert seen == hashes
    assert found == expected
    assert rebuild.root() == merkle.root(hashes)
    assert rebuild.frontier() == b"".join(peaks)


ascii_keys = st.text(alphabet=st.characters(max_codepoint=127), max_size=8)
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53) + 1, max_value=2**53 - 1)
    | st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=12)
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(ascii_keys, inner, max_size=4),
    max_leaves=12,
)


@given(st.dictionaries(ascii_keys, values, max_size=6))
def test_the_fast_reencoding_accepts_exactly_the_rfc8785_bytes(value: dict[str, Any]) -> None:
    canonical = rfc8785.dumps(value)
    assert encodes_to(value, canonical)
    assert not encodes_to(value, canonical + b" ")
    assert not encodes_to({**value, "longer-than-any-key": 1}, canonical)


any_keys = st.text(max_size=6)
anything = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**60), max_value=2**60)
    | st.text(max_size=12),  # lone surrogates and control characters included
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(any_keys, inner, max_size=4),
    max_leaves=12,
)


def _reference(value: dict[str, Any]) -> bytes | None:
    try:
        return rfc8785.dumps(value)
    except (rfc8785.CanonicalizationError, ValueError):
        return None


@given(st.dictionaries(ascii_keys, values, max_size=6) | st.dictionaries(any_keys, anything))
def test_a_leaf_is_encoded_exactly_as_rfc8785_encodes_it(value: dict[str, Any]) -> None:
    expected = _reference(value)
    if expected is None:  # rfc8785 refuses it (e.g. an integer beyond 2**53): so do we
        try:
            canonical(value)
        except (rfc8785.CanonicalizationError, ValueError):
            return
        raise AssertionError("canonical() encoded what RFC 8785 cannot")
    assert canonical(value) == expected


@given(
    st.integers(min_value=0, max_value=2**53 - 1),
    st.text(st.characters(codec="utf-8"), max_size=12),
    st.dictionaries(
        st.sampled_from(["seq", "subject", "county", "fields", "log"]), values, max_size=3
    ),
    st.text(max_size=10),
)
def test_a_leaf_cut_around_origin_and_seq_rebuilds_the_leaf_of_any_of_them(
    seq: int, origin: str, payload: dict[str, Any], subject_id: str
) -> None:
    entry = Entry(
        origin,
        seq,
        dt.datetime(2026, 3, 2, 1, 0, tzinfo=dt.UTC),
        {"kind": "system", "job": 'tests},"log":"","payload":{'},
        "org.person.created",
        "person",
        subject_id,
        payload,
    )
    head, middle, tail = leaf_splices(entry)
    assert head + json_string(origin) + middle + str(seq).encode() + tail == entry.leaf()
