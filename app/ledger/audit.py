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
        nodes they finish (consecutive indexes from the one covering the first new leaf).

        Level by level: the new nodes of a level, after the old peak of that level when
        they start at an odd index, pair up into the next level's new nodes; an unpaired
        last one is that level's new peak. One comprehension per level, not a loop turn
        per node."""
        start = self.size
        hashes = [sha256(_LEAF + leaf).digest() for leaf in leaves]
        levels = [lv for lv in range(start.bit_length() - 1, -1, -1) if start >> lv & 1]
        peak = dict(zip(levels, self.peaks, strict=True))
        done: dict[int, Finished] = {}
        run, first, level = hashes, start, 0
        while run:
            if level:
                done[level] = Finished(first, run)
            if first & 1:
                run = [peak.pop(level), *run]
            if len(run) & 1:
                peak[level] = run[-1]
            pairs = zip(run[0::2], run[1::2], strict=False)  # the odd one out: the peak
            run = [sha256(_NODE + a + b).digest() for a, b in pairs]
            first, level = first >> 1, level + 1
        self.size = start + len(leaves)
        self.peaks = [peak[lv] for lv in sorted(peak, reverse=True)]
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
