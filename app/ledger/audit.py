"""Rebuilding a ledger's tree from its leaf bytes: the pure heart of `jiefang ledger verify`.

The rebuild keeps only the frontier (one hash per set bit of the size) and reports every
complete subtree it finishes, so the caller can compare them with the stored nodes chunk
by chunk without holding the log in memory. The inner loop is written for speed: it runs
once per entry of a ledger that may hold millions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from hashlib import sha256

from app.ledger import merkle

_LEAF = b"\x00"
_NODE = b"\x01"


@dataclass(frozen=True, slots=True)
class Finished:
    """The nodes of one level finished by a chunk: indexes first, first + 1, …"""

    first: int
    hashes: list[bytes]


@dataclass
class Rebuild:
    size: int = 0
    peaks: list[bytes] = field(default_factory=list)

    def extend(self, leaves: list[bytes]) -> tuple[list[bytes], dict[int, Finished]]:
        """Append leaf byte strings; return their leaf hashes and, per level >= 1, the
        nodes they finish (consecutive indexes from the one covering the first new leaf)."""
        start, peaks = self.size, self.peaks
        hashes = [sha256(_LEAF + leaf).digest() for leaf in leaves]
        levels: list[list[bytes]] = [[] for _ in range(64)]
        size = start
        for h in hashes:
            n, level = size, 0
            while n & 1:
                h = sha256(_NODE + peaks.pop() + h).digest()
                n >>= 1
                level += 1
                levels[level].append(h)
            peaks.append(h)
            size += 1
        self.size = size
        done = {lv: Finished(start >> lv, got) for lv, got in enumerate(levels) if got}
        return hashes, done

    def add(self, leaves: list[bytes]) -> tuple[list[bytes], dict[tuple[int, int], bytes]]:
        """Like `extend`, with the finished nodes keyed by (level, index)."""
        hashes, done = self.extend(leaves)
        nodes = {
            (level, run.first + k): h
            for level, run in done.items()
            for k, h in enumerate(run.hashes)
        }
        return hashes, nodes

    def root(self) -> bytes:
        return merkle.root_from_peaks(self.peaks)

    def frontier(self) -> bytes:
        return b"".join(self.peaks)
