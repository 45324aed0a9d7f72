"""RFC 9162 §2.1 Merkle trees: hashes, proofs and their verification.

Nodes are addressed ``(level, index)``; a node covers leaves
``[index << level, (index + 1) << level)`` and level 0 is the leaf hash itself.
Every proof element is MTH(D[start:end]) of a range, and every such range is
made of complete nodes (``range_nodes``), so proofs can be built from a table
of stored complete nodes (``range_hash``). The list-based functions build that
table in memory and use the same range algorithms.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from hashlib import sha256

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "append_leaf",
    "consistency_proof",
    "consistency_ranges",
    "inclusion_proof",
    "inclusion_ranges",
    "leaf_hash",
    "node_hash",
    "peaks",
    "range_hash",
    "range_nodes",
    "root",
    "root_from_peaks",
    "verify_consistency",
    "verify_inclusion",
]

HASH_SIZE = 32
EMPTY_ROOT = sha256(b"").digest()

NodeLookup = Callable[[int, int], bytes]


# --------------------------------------------------------------------------- hashing


def leaf_hash(data: bytes) -> bytes:
    """SHA-256(0x00 ‖ data)."""
    return sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """SHA-256(0x01 ‖ left ‖ right)."""
    return sha256(b"\x01" + left + right).digest()


def _is_hash(value: object) -> bool:
    return isinstance(value, bytes) and len(value) == HASH_SIZE


def _is_count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _require_hashes(hashes: Sequence[bytes], what: str) -> None:
    if not all(_is_hash(h) for h in hashes):
        raise ValueError(f"every {what} must be {HASH_SIZE} bytes")


def _split(n: int) -> int:
    """The largest power of two smaller than n (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


# --------------------------------------------------------------------------- ranges and nodes


def range_nodes(start: int, end: int) -> list[tuple[int, int]]:
    """The complete nodes (level, index) MTH(D[start:end]) is made of, left to right.

    Raises ValueError for an empty range or one not aligned to its largest power of two,
    which never occurs in an RFC 9162 tree.
    """
    size = end - start
    if start < 0 or size <= 0 or start % (1 << (size.bit_length() - 1)):
        raise ValueError(f"[{start}, {end}) is not a range of an RFC 9162 tree")
    nodes: list[tuple[int, int]] = []
    for level in reversed(range(size.bit_length())):
        if size >> level & 1:
            nodes.append((level, start >> level))
            start += 1 << level
    return nodes


def peaks(size: int) -> list[tuple[int, int]]:
    """The complete subtrees (level, index) of a tree of `size` leaves, left to right."""
    if size < 0:
        raise ValueError("size must not be negative")
    return range_nodes(0, size) if size else []


def root_from_peaks(peak_hashes: Sequence[bytes]) -> bytes:
    """The root of a tree from its peak hashes, left to right; EMPTY_ROOT when empty."""
    if not peak_hashes:
        return EMPTY_ROOT
    digest = peak_hashes[-1]
    for peak in reversed(peak_hashes[:-1]):
        digest = node_hash(peak, digest)
    return digest


def range_hash(start: int, end: int, node: NodeLookup) -> bytes:
    """MTH(D[start:end]) from complete-node lookups node(level, index)."""
    return root_from_peaks([node(level, index) for level, index in range_nodes(start, end)])


def append_leaf(
    size: int, peak_hashes: list[bytes], leaf: bytes
) -> tuple[list[bytes], list[tuple[int, int, bytes]]]:
    """Append a leaf hash to a tree of `size` leaves given by its peak hashes.

    Returns the new peak hashes and the newly completed nodes (level, index, hash),
    level >= 1, bottom up.
    """
    if size < 0 or len(peak_hashes) != size.bit_count():
        raise ValueError(f"a tree of {size} leaves has {size.bit_count()} peaks")
    _require_hashes([*peak_hashes, leaf], "peak and leaf hash")
    new_peaks = list(peak_hashes)
    completed: list[tuple[int, int, bytes]] = []
    digest, level = leaf, 0
    while size >> level & 1:
        digest = node_hash(new_peaks.pop(), digest)
        level += 1
        completed.append((level, size >> level, digest))
    new_peaks.append(digest)
    return new_peaks, completed


# --------------------------------------------------------------------------- proof ranges


def inclusion_ranges(index: int, size: int) -> list[tuple[int, int]]:
    """The ranges whose MTH values form PATH(index, D[size]), leaf to root."""
    if not 0 <= index < size:
        raise ValueError(f"leaf {index} is not in a tree of {size} leaves")
    ranges: list[tuple[int, int]] = []
    start, end = 0, size
    while end - start > 1:
        mid = start + _split(end - start)
        if index < mid:
            ranges.append((mid, end))
            end = mid
        else:
            ranges.append((start, mid))
            start = mid
    ranges.reverse()
    return ranges


def consistency_ranges(old_size: int, new_size: int) -> list[tuple[int, int]]:
    """The ranges whose MTH values form PROOF(old_size, D[new_size]), in proof order."""
    if not 0 <= old_size <= new_size:
        raise ValueError(f"no consistency proof from {old_size} to {new_size} leaves")
    if old_size in (0, new_size):
        return []
    ranges: list[tuple[int, int]] = []
    start, end, m, whole_old_tree = 0, new_size, old_size, True
    while m != end - start:
        mid = start + _split(end - start)
        if m <= mid - start:
            ranges.append((mid, end))
            end = mid
        else:
            ranges.append((start, mid))
            m -= mid - start
            start, whole_old_tree = mid, False
    if not whole_old_tree:
        ranges.append((start, end))
    ranges.reverse()
    return ranges


# --------------------------------------------------------------------------- list-based trees


def _parents(level: Sequence[bytes]) -> list[bytes]:
    pairs = iter(level)
    return [node_hash(left, right) for left, right in zip(pairs, pairs, strict=False)]


def _node_table(leaf_hashes: Sequence[bytes]) -> NodeLookup:
    _require_hashes(leaf_hashes, "leaf hash")
    levels: list[Sequence[bytes]] = [leaf_hashes]
    while len(levels[-1]) > 1:
        levels.append(_parents(levels[-1]))
    return lambda level, index: levels[level][index]


def root(leaf_hashes: Sequence[bytes]) -> bytes:
    """MTH(D[n]) of the leaf hashes; EMPTY_ROOT when empty."""
    _require_hashes(leaf_hashes, "leaf hash")
    size = len(leaf_hashes)
    # The peak at level l is the last node of level l when that level is odd-sized;
    # keeping only those lets lower levels be dropped as soon as the next one exists.
    last_of_level: dict[int, bytes] = {}
    level, nodes = 0, leaf_hashes
    while nodes:
        if len(nodes) & 1:
            last_of_level[level] = nodes[-1]
        level, nodes = level + 1, _parents(nodes)
    return root_from_peaks([last_of_level[lvl] for lvl, _ in peaks(size)])


def inclusion_proof(index: int, leaf_hashes: Sequence[bytes]) -> list[bytes]:
    """PATH(index, D[n]) (RFC 9162 §2.1.3.1), leaf to root."""
    ranges = inclusion_ranges(index, len(leaf_hashes))
    node = _node_table(leaf_hashes)
    return [range_hash(start, end, node) for start, end in ranges]


def consistency_proof(old_size: int, leaf_hashes: Sequence[bytes]) -> list[bytes]:
    """PROOF(old_size, D[n]) (RFC 9162 §2.1.4.1)."""
    ranges = consistency_ranges(old_size, len(leaf_hashes))
    if not ranges:
        return []
    node = _node_table(leaf_hashes)
    return [range_hash(start, end, node) for start, end in ranges]


# --------------------------------------------------------------------------- verification


def _proof_hashes(proof: object) -> list[bytes] | None:
    """The proof as a list of 32-byte hashes, or None if it is anything else."""
    if not isinstance(proof, Sequence):
        return None
    try:
        hashes = list(proof)
    except Exception:
        return None
    return hashes if all(_is_hash(h) for h in hashes) else None


def _shift_until_odd_or_zero(fn: int, sn: int) -> tuple[int, int]:
    while fn and not fn & 1:
        fn, sn = fn >> 1, sn >> 1
    return fn, sn


def verify_inclusion(
    index: int, size: int, leaf_hash: bytes, proof: Sequence[bytes], root: bytes
) -> bool:
    """RFC 9162 §2.1.3.2. Never raises: anything malformed is False."""
    path = _proof_hashes(proof)
    if path is None or not (_is_hash(leaf_hash) and _is_hash(root)):
        return False
    if not (_is_count(index) and _is_count(size)) or index >= size:
        return False
    fn, sn, r = index, size - 1, leaf_hash
    for p in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            fn, sn = _shift_until_odd_or_zero(fn, sn)
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and r == root


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> bool:
    """RFC 9162 §2.1.4.2. Never raises: anything malformed is False.

    Equal sizes need an empty proof and equal roots; old_size 0 needs an empty proof.
    """
    path = _proof_hashes(proof)
    if path is None or not (_is_hash(old_root) and _is_hash(new_root)):
        return False
    if not (_is_count(old_size) and _is_count(new_size)) or old_size > new_size:
        return False
    if old_size == new_size:
        return not path and old_root == new_root
    if old_size == 0:
        return not path
    return _consistency_path_holds(old_size, new_size, old_root, new_root, path)


def _consistency_path_holds(
    first: int, second: int, first_hash: bytes, second_hash: bytes, path: list[bytes]
) -> bool:
    """Steps 1-7 of RFC 9162 §2.1.4.2 for 0 < first < second."""
    if not path:
        return False
    if first & (first - 1) == 0:
        path = [first_hash, *path]
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            fn, sn = _shift_until_odd_or_zero(fn, sn)
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and fr == first_hash and sr == second_hash
