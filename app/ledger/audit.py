"""Rebuilding a ledger's tree from its leaf bytes: the pure heart of `jiefang ledger verify`.

The rebuild keeps only the frontier (one hash per set bit of the size) and reports every
complete subtree it finishes, so the caller can compare them with the stored nodes chunk
by chunk without holding the log in memory.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from hashlib import sha256

from app.ledger import merkle

_LEAF = b"\x00"
_NODE = b"\x01"


@dataclass
class Rebuild:
    size: int = 0
    peaks: list[bytes] = field(default_factory=list)

    def add(self, leaves: list[bytes]) -> tuple[list[bytes], dict[tuple[int, int], bytes]]:
        """Append leaf byte strings; return their leaf hashes and the nodes they complete."""
        peaks, size = self.peaks, self.size
        hashes: list[bytes] = []
        done: dict[tuple[int, int], bytes] = {}
        for leaf in leaves:
            h = sha256(_LEAF + leaf).digest()
            hashes.append(h)
            n, level = size, 0
            while n & 1:
                h = sha256(_NODE + peaks.pop() + h).digest()
                n >>= 1
                level += 1
                done[(level, n)] = h
            peaks.append(h)
            size += 1
        self.size = size
        return hashes, done

    def root(self) -> bytes:
        return merkle.root_from_peaks(self.peaks)

    def frontier(self) -> bytes:
        return b"".join(self.peaks)
