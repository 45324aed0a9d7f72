"""RFC 9162 Merkle trees: known answers, properties and strict rejection.

Known answers come from the Certificate Transparency reference tests in
github.com/transparency-dev/merkle (proof/verify_test.go for hashes, proof/proof_test.go
for the nodes proofs are made of; the Go vectors number leaves from 1, here from 0).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from hashlib import sha256
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.ledger.merkle import (
    EMPTY_ROOT,
    HASH_SIZE,
    append_leaf,
    consistency_proof,
    consistency_ranges,
    inclusion_proof,
    inclusion_ranges,
    leaf_hash,
    node_hash,
    peaks,
    range_hash,
    range_nodes,
    root,
    root_from_peaks,
    verify_consistency,
    verify_inclusion,
)

h = bytes.fromhex

CT_INPUTS = [
    "",
    "00",
    "10",
    "2021",
    "3031",
    "40414243",
    "5051525354555657",
    "606162636465666768696a6b6c6d6e6f",
]
CT_LEAVES = [leaf_hash(h(x)) for x in CT_INPUTS]
CT_ROOTS = [
    h("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
    h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
    h("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"),
    h("aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77"),
    h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
    h("4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4"),
    h("76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef"),
    h("ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c"),
    h("5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"),
]
SOME_HASH = h("abacaba000000000000000000000000000000000000000000060061e00123456")

# (index, size, proof)
CT_INCLUSION = [
    (0, 1, []),
    (
        0,
        8,
        [
            h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
            h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            h("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"),
        ],
    ),
    (
        5,
        8,
        [
            h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
            h("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
            h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
        ],
    ),
    (2, 3, [h("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125")]),
    (
        1,
        5,
        [
            h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
            h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
        ],
    ),
]

# (old_size, new_size, proof)
CT_CONSISTENCY = [
    (1, 1, []),
    (
        1,
        8,
        [
            h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
            h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            h("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"),
        ],
    ),
    (
        6,
        8,
        [
            h("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
            h("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
            h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
        ],
    ),
    (
        2,
        5,
        [
            h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
        ],
    ),
    (
        6,
        7,
        [
            h("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
            h("b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f"),
            h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
        ],
    ),
]

Node = tuple[int, int]

# (index, size, the nodes of each proof element): proof/proof_test.go TestInclusion.
CT_INCLUSION_NODES: list[tuple[int, int, list[list[Node]]]] = [
    (0, 1, []),
    (0, 2, [[(0, 1)]]),
    (1, 2, [[(0, 0)]]),
    (1, 3, [[(0, 0)], [(0, 2)]]),
    (0, 7, [[(0, 1)], [(1, 1)], [(1, 2), (0, 6)]]),
    (1, 7, [[(0, 0)], [(1, 1)], [(1, 2), (0, 6)]]),
    (2, 7, [[(0, 3)], [(1, 0)], [(1, 2), (0, 6)]]),
    (3, 7, [[(0, 2)], [(1, 0)], [(1, 2), (0, 6)]]),
    (4, 7, [[(0, 5)], [(0, 6)], [(2, 0)]]),
    (5, 7, [[(0, 4)], [(0, 6)], [(2, 0)]]),
    (6, 7, [[(1, 2)], [(2, 0)]]),
    (2, 4, [[(0, 3)], [(1, 0)]]),
    (3, 5, [[(0, 2)], [(1, 0)], [(0, 4)]]),
    (3, 6, [[(0, 2)], [(1, 0)], [(1, 2)]]),
    (4, 6, [[(0, 5)], [(2, 0)]]),
    (10, 15, [[(0, 11)], [(1, 4)], [(1, 6), (0, 14)], [(3, 0)]]),
    (24, 31, [[(0, 25)], [(1, 13)], [(1, 14), (0, 30)], [(3, 2)], [(4, 0)]]),
    (
        81,
        95,
        [[(0, 80)], [(1, 41)], [(2, 21)], [(2, 22), (1, 46), (0, 94)], [(4, 4)], [(6, 0)]],
    ),
]

# (old_size, new_size, the nodes of each proof element): proof/proof_test.go TestConsistency.
CT_CONSISTENCY_NODES: list[tuple[int, int, list[list[Node]]]] = [
    (1, 2, [[(0, 1)]]),
    (1, 4, [[(0, 1)], [(1, 1)]]),
    (1, 6, [[(0, 1)], [(1, 1)], [(1, 2)]]),
    (2, 3, [[(0, 2)]]),
    (2, 8, [[(1, 1)], [(2, 1)]]),
    (3, 7, [[(0, 2)], [(0, 3)], [(1, 0)], [(1, 2), (0, 6)]]),
    (4, 7, [[(1, 2), (0, 6)]]),
    (5, 7, [[(0, 4)], [(0, 5)], [(0, 6)], [(2, 0)]]),
    (6, 7, [[(1, 2)], [(0, 6)], [(2, 0)]]),
    (7, 8, [[(0, 6)], [(0, 7)], [(1, 2)], [(2, 0)]]),
    (1, 1, []),
    (2, 2, []),
    (3, 3, []),
    (4, 4, []),
    (5, 5, []),
    (7, 7, []),
    (8, 8, []),
    (2, 4, [[(1, 1)]]),
    (3, 5, [[(0, 2)], [(0, 3)], [(1, 0)], [(0, 4)]]),
    (3, 6, [[(0, 2)], [(0, 3)], [(1, 0)], [(1, 2)]]),
    (4, 6, [[(1, 2)]]),
    (1, 7, [[(0, 1)], [(1, 1)], [(1, 2), (0, 6)]]),
    (10, 15, [[(1, 4)], [(1, 5)], [(1, 6), (0, 14)], [(3, 0)]]),
    (24, 31, [[(3, 2)], [(2, 6), (1, 14), (0, 30)], [(4, 0)]]),
    (
        81,
        95,
        [
            [(0, 80)],
            [(0, 81)],
            [(1, 41)],
            [(2, 21)],
            [(2, 22), (1, 46), (0, 94)],
            [(4, 4)],
            [(6, 0)],
        ],
    ),
]

LEAVES = [leaf_hash(b"entry %d" % i) for i in range(300)]
sizes = st.integers(min_value=1, max_value=300)
bits = st.integers(min_value=0, max_value=HASH_SIZE * 8 - 1)


# --------------------------------------------------------------------------- helpers


def rfc_mth(d: Sequence[bytes]) -> bytes:
    """MTH(D[n]) written exactly as RFC 9162 §2.1.1 defines it."""
    if not d:
        return sha256(b"").digest()
    if len(d) == 1:
        return d[0]
    k = 1 << ((len(d) - 1).bit_length() - 1)
    return node_hash(rfc_mth(d[:k]), rfc_mth(d[k:]))


def rfc_path(m: int, d: Sequence[bytes]) -> list[bytes]:
    """PATH(m, D[n]) written exactly as RFC 9162 §2.1.3.1 defines it."""
    if len(d) == 1:
        return []
    k = 1 << ((len(d) - 1).bit_length() - 1)
    if m < k:
        return [*rfc_path(m, d[:k]), rfc_mth(d[k:])]
    return [*rfc_path(m - k, d[k:]), rfc_mth(d[:k])]


def rfc_subproof(m: int, d: Sequence[bytes], b: bool) -> list[bytes]:
    """SUBPROOF(m, D[n], b) written exactly as RFC 9162 §2.1.4.1 defines it."""
    if m == len(d):
        return [] if b else [rfc_mth(d)]
    k = 1 << ((len(d) - 1).bit_length() - 1)
    if m <= k:
        return [*rfc_subproof(m, d[:k], b), rfc_mth(d[k:])]
    return [*rfc_subproof(m - k, d[k:], False), rfc_mth(d[:k])]


def appended(leaves: Sequence[bytes]) -> tuple[dict[Node, bytes], list[bytes]]:
    """A node table and peak hashes built the way the database builds them."""
    table: dict[Node, bytes] = {}
    peak_hashes: list[bytes] = []
    for size, leaf in enumerate(leaves):
        table[(0, size)] = leaf
        peak_hashes, completed = append_leaf(size, peak_hashes, leaf)
        for level, index, digest in completed:
            assert (level, index) not in table
            table[(level, index)] = digest
    return table, peak_hashes


def lookup(table: dict[Node, bytes]) -> Callable[[int, int], bytes]:
    return lambda level, index: table[(level, index)]


def flip(digest: bytes, bit: int) -> bytes:
    flipped = bytearray(digest)
    flipped[bit // 8] ^= 1 << (bit % 8)
    return bytes(flipped)


def with_bit_flipped(proof: list[bytes], element: int, bit: int) -> list[bytes]:
    return [flip(p, bit) if i == element else p for i, p in enumerate(proof)]


def inclusion_probes(
    index: int, size: int, proof: list[bytes], root_hash: bytes, leaf: bytes
) -> dict[str, tuple[int, int, bytes, list[bytes], bytes]]:
    """The corruptions transparency-dev/merkle's verifierCheck must reject."""
    probes = {
        "index - 1": (index - 1, size, leaf, proof, root_hash),
        "index + 1": (index + 1, size, leaf, proof, root_hash),
        "index ^ 2": (index ^ 2, size, leaf, proof, root_hash),
        "size * 2": (index, size * 2, leaf, proof, root_hash),
        "size / 2": (index, size // 2, leaf, proof, root_hash),
        "wrong leaf": (index, size, b"WrongLeaf", proof, root_hash),
        "empty root": (index, size, leaf, proof, EMPTY_ROOT),
        "random root": (index, size, leaf, proof, SOME_HASH),
        "trailing garbage": (index, size, leaf, [*proof, b""], root_hash),
        "trailing root": (index, size, leaf, [*proof, root_hash], root_hash),
        "preceding garbage": (index, size, leaf, [b"", *proof], root_hash),
        "preceding root": (index, size, leaf, [root_hash, *proof], root_hash),
    }
    for i in range(len(proof)):
        probes[f"proof[{i}] bit 3"] = (index, size, leaf, with_bit_flipped(proof, i, 3), root_hash)
    if proof:
        probes["removed component"] = (index, size, leaf, proof[:-1], root_hash)
    if len(proof) > 1:
        inserted = [proof[0], SOME_HASH, *proof[1:]]
        probes["inserted component"] = (index, size, leaf, inserted, root_hash)
    return probes


def consistency_probes(
    old: int, new: int, old_root: bytes, new_root: bytes, proof: list[bytes]
) -> dict[str, tuple[int, int, bytes, bytes, list[bytes]]]:
    """The corruptions transparency-dev/merkle's verifierConsistencyCheck must reject."""
    probes = {
        "old - 1": (old - 1, new, old_root, new_root, proof),
        "old + 1": (old + 1, new, old_root, new_root, proof),
        "old ^ 2": (old ^ 2, new, old_root, new_root, proof),
        "new * 2": (old, new * 2, old_root, new_root, proof),
        "new / 2": (old, new // 2, old_root, new_root, proof),
        "wrong old root": (old, new, b"WrongRoot", new_root, proof),
        "wrong new root": (old, new, old_root, b"WrongRoot", proof),
        "swapped roots": (old, new, new_root, old_root, proof),
        "empty proof": (old, new, old_root, new_root, []),
        "trailing garbage": (old, new, old_root, new_root, [*proof, b""]),
        "trailing old root": (old, new, old_root, new_root, [*proof, old_root]),
        "trailing new root": (old, new, old_root, new_root, [*proof, new_root]),
        "preceding garbage": (old, new, old_root, new_root, [b"", *proof]),
        "preceding old root": (old, new, old_root, new_root, [old_root, *proof]),
        "preceding new root": (old, new, old_root, new_root, [new_root, *proof]),
        "preceding proof[0]": (old, new, old_root, new_root, [proof[0], *proof]),
        "truncated": (old, new, old_root, new_root, proof[:-1]),
    }
    for i in range(len(proof)):
        probes[f"proof[{i}] bit 4"] = (old, new, old_root, new_root, with_bit_flipped(proof, i, 4))
    return probes


# --------------------------------------------------------------------------- known answers


def test_the_empty_tree_hashes_to_sha256_of_nothing() -> None:
    assert EMPTY_ROOT == CT_ROOTS[0] == sha256(b"").digest()
    assert root([]) == EMPTY_ROOT
    assert root_from_peaks([]) == EMPTY_ROOT
    assert HASH_SIZE == 32


def test_leaves_and_nodes_are_hashed_with_their_domain_prefixes() -> None:
    assert leaf_hash(b"") == sha256(b"\x00").digest() == CT_ROOTS[1]
    assert (
        node_hash(CT_LEAVES[0], CT_LEAVES[1])
        == sha256(b"\x01" + CT_LEAVES[0] + CT_LEAVES[1]).digest()
    )
    assert node_hash(CT_LEAVES[0], CT_LEAVES[1]) == CT_ROOTS[2]


@pytest.mark.parametrize("size", range(9))
def test_the_reference_tree_has_the_published_root_at_every_size(size: int) -> None:
    assert root(CT_LEAVES[:size]) == CT_ROOTS[size]


def test_the_reference_tree_has_the_published_size_8_root() -> None:
    assert root(CT_LEAVES).hex() == (
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"
    )


@pytest.mark.parametrize(("index", "size", "proof"), CT_INCLUSION)
def test_inclusion_proofs_match_the_reference_vectors(
    index: int, size: int, proof: list[bytes]
) -> None:
    assert inclusion_proof(index, CT_LEAVES[:size]) == proof
    assert verify_inclusion(index, size, CT_LEAVES[index], proof, CT_ROOTS[size]) is True


@pytest.mark.parametrize(("old", "new", "proof"), CT_CONSISTENCY)
def test_consistency_proofs_match_the_reference_vectors(
    old: int, new: int, proof: list[bytes]
) -> None:
    assert consistency_proof(old, CT_LEAVES[:new]) == proof
    assert verify_consistency(old, new, CT_ROOTS[old], CT_ROOTS[new], proof) is True


@pytest.mark.parametrize(("index", "size", "proof"), CT_INCLUSION)
def test_corrupted_reference_inclusion_proofs_are_rejected(
    index: int, size: int, proof: list[bytes]
) -> None:
    probes = inclusion_probes(index, size, proof, CT_ROOTS[size], CT_LEAVES[index])
    accepted = [name for name, args in probes.items() if verify_inclusion(*args) is not False]
    assert accepted == []


@pytest.mark.parametrize(("old", "new", "proof"), [v for v in CT_CONSISTENCY if v[2]])
def test_corrupted_reference_consistency_proofs_are_rejected(
    old: int, new: int, proof: list[bytes]
) -> None:
    probes = consistency_probes(old, new, CT_ROOTS[old], CT_ROOTS[new], proof)
    accepted = [name for name, args in probes.items() if verify_consistency(*args) is not False]
    assert accepted == []


@pytest.mark.parametrize(("index", "size", "nodes"), CT_INCLUSION_NODES)
def test_inclusion_ranges_are_made_of_the_reference_nodes(
    index: int, size: int, nodes: list[list[Node]]
) -> None:
    assert [range_nodes(*r) for r in inclusion_ranges(index, size)] == nodes


@pytest.mark.parametrize(("old", "new", "nodes"), CT_CONSISTENCY_NODES)
def test_consistency_ranges_are_made_of_the_reference_nodes(
    old: int, new: int, nodes: list[list[Node]]
) -> None:
    assert [range_nodes(*r) for r in consistency_ranges(old, new)] == nodes


def test_a_million_leaves_hash_to_the_root_of_the_literal_rfc_definition() -> None:
    # Computed once with rfc_mth above; root() must stay iterative and linear to do this.
    leaves = [leaf_hash(i.to_bytes(4, "big")) for i in range(1_000_000)]
    assert root(leaves).hex() == (
        "fd5537b3f13c7508f8c7d21dfaaa1306c2a4b030843ddaad963d2832ddf34b4c"
    )


# --------------------------------------------------------------------------- nodes and peaks


def test_appending_the_fourth_leaf_completes_two_nodes() -> None:
    _, three = appended(CT_LEAVES[:3])
    new_peaks, completed = append_leaf(3, three, CT_LEAVES[3])
    assert [(level, index) for level, index, _ in completed] == [(1, 1), (2, 0)]
    assert completed[-1][2] == CT_ROOTS[4]
    assert new_peaks == [CT_ROOTS[4]]


def test_appending_to_an_even_tree_completes_nothing() -> None:
    _, two = appended(CT_LEAVES[:2])
    new_peaks, completed = append_leaf(2, two, CT_LEAVES[2])
    assert completed == []
    assert new_peaks == [CT_ROOTS[2], CT_LEAVES[2]]


def test_peaks_follow_the_set_bits_of_the_size() -> None:
    assert peaks(0) == []
    assert peaks(1) == [(0, 0)]
    assert peaks(7) == [(2, 0), (1, 2), (0, 6)]
    assert peaks(8) == [(3, 0)]
    assert peaks(13) == [(3, 0), (2, 2), (0, 12)]


def test_range_nodes_split_at_the_largest_power_of_two() -> None:
    assert range_nodes(0, 1) == [(0, 0)]
    assert range_nodes(4, 7) == [(1, 2), (0, 6)]
    assert range_nodes(88, 95) == [(2, 22), (1, 46), (0, 94)]
    assert range_nodes(64, 128) == [(6, 1)]


@pytest.mark.parametrize(("start", "end"), [(1, 3), (3, 5), (2, 6), (3, 3), (5, 4), (-2, 0)])
def test_range_nodes_refuse_ranges_no_rfc_tree_has(start: int, end: int) -> None:
    with pytest.raises(ValueError):
        range_nodes(start, end)


def test_range_hash_combines_node_lookups_like_the_rfc_split() -> None:
    table, _ = appended(CT_LEAVES)
    assert range_hash(0, 7, lookup(table)) == CT_ROOTS[7]
    assert range_hash(4, 8, lookup(table)) == rfc_mth(CT_LEAVES[4:8])
    assert range_hash(4, 7, lookup(table)) == rfc_mth(CT_LEAVES[4:7])


def test_peaks_refuse_a_negative_size() -> None:
    with pytest.raises(ValueError):
        peaks(-1)


def test_append_leaf_refuses_peaks_that_do_not_fit_the_size() -> None:
    with pytest.raises(ValueError):
        append_leaf(3, [CT_LEAVES[0]], CT_LEAVES[3])
    with pytest.raises(ValueError):
        append_leaf(-1, [], CT_LEAVES[0])
    with pytest.raises(ValueError):
        append_leaf(0, [], b"short")


@pytest.mark.parametrize(("index", "size"), [(0, 0), (1, 0), (2, 1), (3, 0), (8, 7), (-1, 5)])
def test_inclusion_of_a_leaf_outside_the_tree_is_refused(index: int, size: int) -> None:
    with pytest.raises(ValueError):
        inclusion_ranges(index, size)
    with pytest.raises(ValueError):
        inclusion_proof(index, LEAVES[:size])


@pytest.mark.parametrize(("old", "new"), [(5, 0), (9, 8), (-1, 3)])
def test_consistency_back_in_time_is_refused(old: int, new: int) -> None:
    with pytest.raises(ValueError):
        consistency_ranges(old, new)
    with pytest.raises(ValueError):
        consistency_proof(old, LEAVES[:new])


def test_trivial_consistency_proofs_are_empty() -> None:
    assert consistency_proof(0, CT_LEAVES) == []
    assert consistency_proof(8, CT_LEAVES) == []
    assert consistency_proof(0, []) == []


def test_list_functions_refuse_leaf_hashes_that_are_not_32_bytes() -> None:
    with pytest.raises(ValueError):
        root([b"not a hash"])
    with pytest.raises(ValueError):
        inclusion_proof(0, [CT_LEAVES[0], b"not a hash"])
    with pytest.raises(ValueError):
        consistency_proof(1, [CT_LEAVES[0], b"not a hash"])


# --------------------------------------------------------------------------- properties


@given(size=sizes)
def test_every_inclusion_proof_in_a_tree_verifies(size: int) -> None:
    leaves = LEAVES[:size]
    table, _ = appended(leaves)
    root_hash = root(leaves)
    for index in range(size):
        proof = [range_hash(s, e, lookup(table)) for s, e in inclusion_ranges(index, size)]
        assert verify_inclusion(index, size, leaves[index], proof, root_hash) is True


@given(size=sizes)
def test_every_consistency_proof_into_a_tree_verifies(size: int) -> None:
    table, _ = appended(LEAVES[:size])
    node = lookup(table)
    new_root = root(LEAVES[:size])
    for old in range(size + 1):
        old_root = range_hash(0, old, node) if old else EMPTY_ROOT
        proof = [range_hash(s, e, node) for s, e in consistency_ranges(old, size)]
        assert verify_consistency(old, size, old_root, new_root, proof) is True


@given(data=st.data(), size=sizes)
def test_list_based_proofs_follow_the_literal_rfc_definitions(
    data: st.DataObject, size: int
) -> None:
    leaves = LEAVES[:size]
    index = data.draw(st.integers(0, size - 1), label="index")
    old = data.draw(st.integers(1, size), label="old_size")
    assert root(leaves) == rfc_mth(leaves)
    assert inclusion_proof(index, leaves) == rfc_path(index, leaves)
    assert consistency_proof(old, leaves) == rfc_subproof(old, leaves, True)


@given(data=st.data(), size=sizes)
def test_proofs_from_appended_nodes_equal_the_list_based_proofs(
    data: st.DataObject, size: int
) -> None:
    leaves = LEAVES[:size]
    node = lookup(appended(leaves)[0])
    index = data.draw(st.integers(0, size - 1), label="index")
    old = data.draw(st.integers(0, size), label="old_size")
    assert range_hash(0, size, node) == root(leaves)
    assert [range_hash(s, e, node) for s, e in inclusion_ranges(index, size)] == (
        inclusion_proof(index, leaves)
    )
    assert [range_hash(s, e, node) for s, e in consistency_ranges(old, size)] == (
        consistency_proof(old, leaves)
    )


@given(size=st.integers(min_value=0, max_value=300))
def test_appending_leaves_one_by_one_keeps_every_complete_node_and_the_root(size: int) -> None:
    leaves = LEAVES[:size]
    table, peak_hashes = appended(leaves)
    assert root_from_peaks(peak_hashes) == root(leaves)
    assert peak_hashes == [table[p] for p in peaks(size)]
    every_complete_node = {
        (level, index) for level in range(size.bit_length()) for index in range(size >> level)
    }
    assert set(table) == every_complete_node


@given(data=st.data(), size=sizes, bit=bits)
def test_flipping_any_bit_breaks_an_inclusion_proof(
    data: st.DataObject, size: int, bit: int
) -> None:
    leaves = LEAVES[:size]
    index = data.draw(st.integers(0, size - 1), label="index")
    proof, root_hash, leaf = inclusion_proof(index, leaves), root(leaves), leaves[index]
    target = data.draw(st.integers(0, len(proof) + 1), label="target")
    if target == len(proof):
        leaf = flip(leaf, bit)
    elif target == len(proof) + 1:
        root_hash = flip(root_hash, bit)
    else:
        proof = with_bit_flipped(proof, target, bit)
    assert verify_inclusion(index, size, leaf, proof, root_hash) is False


@given(data=st.data(), size=sizes, bit=bits)
def test_flipping_any_bit_breaks_a_consistency_proof(
    data: st.DataObject, size: int, bit: int
) -> None:
    leaves = LEAVES[:size]
    old = data.draw(st.integers(1, size), label="old_size")
    proof = consistency_proof(old, leaves)
    old_root, new_root = root(leaves[:old]), root(leaves)
    target = data.draw(st.integers(0, len(proof) + 1), label="target")
    if target == len(proof):
        old_root = flip(old_root, bit)
    elif target == len(proof) + 1:
        new_root = flip(new_root, bit)
    else:
        proof = with_bit_flipped(proof, target, bit)
    assert verify_consistency(old, size, old_root, new_root, proof) is False


def changed_lengths(proof: list[bytes], extra: bytes) -> list[list[bytes]]:
    variants = [[*proof, extra], [extra, *proof]]
    if proof:
        variants += [proof[:-1], proof[1:], [*proof, proof[-1]], [proof[0], extra, *proof[1:]]]
    return variants


@given(data=st.data(), size=sizes, extra=st.binary(min_size=32, max_size=32))
def test_truncated_or_extended_inclusion_proofs_fail(
    data: st.DataObject, size: int, extra: bytes
) -> None:
    leaves = LEAVES[:size]
    index = data.draw(st.integers(0, size - 1), label="index")
    proof, root_hash = inclusion_proof(index, leaves), root(leaves)
    for variant in changed_lengths(proof, extra):
        assert verify_inclusion(index, size, leaves[index], variant, root_hash) is False


@given(data=st.data(), size=sizes, extra=st.binary(min_size=32, max_size=32))
def test_truncated_or_extended_consistency_proofs_fail(
    data: st.DataObject, size: int, extra: bytes
) -> None:
    leaves = LEAVES[:size]
    old = data.draw(st.integers(0, size), label="old_size")
    proof, old_root, new_root = consistency_proof(old, leaves), root(leaves[:old]), root(leaves)
    for variant in changed_lengths(proof, extra):
        assert verify_consistency(old, size, old_root, new_root, variant) is False


# --------------------------------------------------------------------------- strict rejection

GOOD_INCLUSION: dict[str, Any] = {
    "index": 5,
    "size": 8,
    "leaf_hash": CT_LEAVES[5],
    "proof": CT_INCLUSION[2][2],
    "root": CT_ROOTS[8],
}
BAD_INCLUSION: dict[str, dict[str, Any]] = {
    "a negative index": {"index": -1},
    "an index equal to the size": {"index": 8},
    "an index past the size": {"index": 9},
    "a tree of size 0": {"index": 0, "size": 0, "proof": []},
    "a negative size": {"size": -8},
    "a float index": {"index": 5.0},
    "a size given as text": {"size": "8"},
    "a leaf hash of 31 bytes": {"leaf_hash": CT_LEAVES[5][:31]},
    "a leaf hash of 33 bytes": {"leaf_hash": CT_LEAVES[5] + b"\x00"},
    "a leaf hash given as hex": {"leaf_hash": CT_LEAVES[5].hex()},
    "a leaf hash given as a bytearray": {"leaf_hash": bytearray(CT_LEAVES[5])},
    "no leaf hash": {"leaf_hash": None},
    "a root of 31 bytes": {"root": CT_ROOTS[8][:31]},
    "a root given as hex": {"root": CT_ROOTS[8].hex()},
    "no root": {"root": None},
    "a proof element of 31 bytes": {"proof": [CT_INCLUSION[2][2][0][:31], *CT_INCLUSION[2][2][1:]]},
    "a proof element given as hex": {"proof": [p.hex() for p in CT_INCLUSION[2][2]]},
    "a proof element that is None": {"proof": [None, *CT_INCLUSION[2][2][1:]]},
    "a proof that is not a sequence": {"proof": None},
    "a proof given as one byte string": {"proof": b"".join(CT_INCLUSION[2][2])},
    "a proof one element short": {"proof": CT_INCLUSION[2][2][:-1]},
    "a proof one element long": {"proof": [*CT_INCLUSION[2][2], CT_ROOTS[8]]},
    "an empty proof": {"proof": []},
}

GOOD_CONSISTENCY: dict[str, Any] = {
    "old_size": 6,
    "new_size": 8,
    "old_root": CT_ROOTS[6],
    "new_root": CT_ROOTS[8],
    "proof": CT_CONSISTENCY[2][2],
}
BAD_CONSISTENCY: dict[str, dict[str, Any]] = {
    "an old size larger than the new size": {
        "old_size": 8,
        "new_size": 6,
        "old_root": CT_ROOTS[8],
        "new_root": CT_ROOTS[6],
    },
    "a negative old size": {"old_size": -6},
    "a negative new size": {"new_size": -8},
    "a float old size": {"old_size": 6.0},
    "equal sizes with a non-empty proof": {
        "old_size": 8,
        "old_root": CT_ROOTS[8],
        "proof": [CT_ROOTS[8]],
    },
    "equal sizes with different roots": {"old_size": 8, "proof": []},
    "two empty trees with different roots": {
        "old_size": 0,
        "new_size": 0,
        "old_root": EMPTY_ROOT,
        "proof": [],
    },
    "an empty old tree with a non-empty proof": {"old_size": 0, "old_root": EMPTY_ROOT},
    "an old root of 31 bytes": {"old_root": CT_ROOTS[6][:31]},
    "a new root of 33 bytes": {"new_root": CT_ROOTS[8] + b"\x00"},
    "an old root given as hex": {"old_root": CT_ROOTS[6].hex()},
    "no new root": {"new_root": None},
    "a proof element of 31 bytes": {
        "proof": [CT_CONSISTENCY[2][2][0][:31], *CT_CONSISTENCY[2][2][1:]]
    },
    "a proof element that is None": {"proof": [*CT_CONSISTENCY[2][2][:-1], None]},
    "a proof that is not a sequence": {"proof": 42},
    "a proof one element short": {"proof": CT_CONSISTENCY[2][2][:-1]},
    "a proof one element long": {"proof": [*CT_CONSISTENCY[2][2], CT_ROOTS[8]]},
    "an empty proof": {"proof": []},
}


def test_the_untouched_examples_verify() -> None:
    assert verify_inclusion(**GOOD_INCLUSION) is True
    assert verify_consistency(**GOOD_CONSISTENCY) is True


@pytest.mark.parametrize("change", BAD_INCLUSION.values(), ids=BAD_INCLUSION.keys())
def test_inclusion_verification_says_false_instead_of_raising(change: dict[str, Any]) -> None:
    assert verify_inclusion(**{**GOOD_INCLUSION, **change}) is False


@pytest.mark.parametrize("change", BAD_CONSISTENCY.values(), ids=BAD_CONSISTENCY.keys())
def test_consistency_verification_says_false_instead_of_raising(change: dict[str, Any]) -> None:
    assert verify_consistency(**{**GOOD_CONSISTENCY, **change}) is False


def test_trivial_consistency_holds_only_with_an_empty_proof() -> None:
    assert verify_consistency(0, 5, EMPTY_ROOT, CT_ROOTS[5], []) is True
    assert verify_consistency(0, 0, EMPTY_ROOT, EMPTY_ROOT, []) is True
    assert verify_consistency(8, 8, CT_ROOTS[8], CT_ROOTS[8], []) is True
    assert verify_consistency(0, 5, EMPTY_ROOT, CT_ROOTS[5], [CT_ROOTS[5]]) is False
    assert verify_consistency(8, 8, CT_ROOTS[8], CT_ROOTS[8], [CT_ROOTS[8]]) is False


def test_a_single_leaf_tree_proves_its_leaf_with_an_empty_proof() -> None:
    assert verify_inclusion(0, 1, CT_LEAVES[0], [], CT_ROOTS[1]) is True
    assert verify_inclusion(0, 1, CT_LEAVES[1], [], CT_ROOTS[1]) is False
    assert verify_inclusion(0, 1, CT_LEAVES[0], [], b"") is False
    assert verify_inclusion(0, 1, b"", [], CT_ROOTS[1]) is False
