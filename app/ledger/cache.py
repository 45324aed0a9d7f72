"""What the public proof route remembers between requests, one memory per application.

An inclusion proof needs the ledger's id and origin, a signed checkpoint and O(log n)
stored nodes. The first two never change once written — a ledger keeps its origin, and
checkpoint rows are insert-only (on PostgreSQL a trigger refuses changes) — so they are
kept here and a proof costs one statement. The one answer that does change is *which*
checkpoint is the latest: it is kept for `LATEST_TTL_SECONDS` only, forgotten when a
checkpoint is signed through this application's API, and read again before a request
would be refused because of it (an entry newer than the remembered checkpoint); "no
checkpoint yet" is never remembered. Any signed checkpoint is a correct answer, and the
response says which one it used.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from app.ledger import services
from app.ledger.models import LedgerCheckpoint

#: How long the latest checkpoint of a ledger is taken as still the latest. A job signs one
#: every few minutes at most, so readers lag by this at worst, never by a checkpoint interval.
LATEST_TTL_SECONDS = 1.0
#: Bounds on what is kept (ledgers of a province; checkpoints asked for by size).
MAX_LEDGERS = 4096
MAX_CHECKPOINTS = 16384


@dataclass(frozen=True, slots=True)
class LedgerName:
    """The parts of a ledger row that never change."""

    id: int
    origin: str
    county_id: int | None


@dataclass(frozen=True, slots=True)
class SignedTree:
    """A stored checkpoint: tree size, root and signed note (rows are never changed)."""

    size: int
    root: bytes
    note: str


@dataclass(frozen=True, slots=True)
class CachedInclusion:
    ledger: LedgerName
    seq: int
    tree: SignedTree

    @property
    def etag(self) -> str:
        """Names the response body exactly: ledger, entry and the signed tree it is proven in."""
        tag = hashlib.sha256(f"{self.ledger.origin}\n{self.seq}\n{self.tree.note}".encode())
        return f'"{self.ledger.id}-{self.seq}-{self.tree.size}-{tag.hexdigest()[:24]}"'


def _tree(row: LedgerCheckpoint) -> SignedTree:
    return SignedTree(int(row.size), bytes(row.root), row.note)


class ProofCache:
    """Ledger names and checkpoints by size for good; the latest checkpoint for a second."""

    def __init__(
        self,
        *,
        latest_ttl: float = LATEST_TTL_SECONDS,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.latest_ttl = latest_ttl
        self.monotonic = monotonic
        self._ledgers: dict[int, LedgerName] = {}
        self._trees: dict[tuple[int, int], SignedTree] = {}
        self._latest: dict[int, tuple[float, SignedTree]] = {}

    async def ledger(self, db: AsyncSession, ledger_id: int) -> LedgerName:
        """The ledger of this id (NotFound, not remembered, when there is none)."""
        known = self._ledgers.get(ledger_id)
        if known is not None:
            return known
        row = await services.get_ledger(db, ledger_id)
        name = LedgerName(row.id, row.origin, row.county_id)
        if row.id == ledger_id:  # not when the number matched a county code instead
            _keep(self._ledgers, ledger_id, name, MAX_LEDGERS)
        return name

    async def checkpoint(self, db: AsyncSession, ledger_id: int, size: int) -> SignedTree:
        """The stored checkpoint of `size` (NotFound, not remembered, until it exists)."""
        known = self._trees.get((ledger_id, size))
        if known is not None:
            return known
        tree = _tree(await services.checkpoint_at(db, ledger_id, size))
        _keep(self._trees, (ledger_id, size), tree, MAX_CHECKPOINTS)
        return tree

    async def latest(self, db: AsyncSession, ledger_id: int, *, fresh: bool = False) -> SignedTree:
        """The latest checkpoint as read at most `latest_ttl` ago (`fresh`: read it now)."""
        now = self.monotonic()
        held = self._latest.get(ledger_id)
        if held is not None and not fresh and now - held[0] < self.latest_ttl:
            return held[1]
        tree = _tree(await services.checkpoint_at(db, ledger_id, None))
        self._latest[ledger_id] = (now, tree)
        _keep(self._trees, (ledger_id, tree.size), tree, MAX_CHECKPOINTS)
        return tree

    def forget_latest(self, ledger_id: int) -> None:
        """This process signed a checkpoint: the next reader sees it."""
        self._latest.pop(ledger_id, None)

    async def inclusion(
        self, db: AsyncSession, ledger_id: int, seq: int, size: int | None
    ) -> CachedInclusion:
        """Which ledger and signed tree the proof of `seq` is against (the path itself is
        `services.inclusion_path`). Raises NotFound / RuleViolation as `prove_inclusion` does."""
        ledger = await self.ledger(db, ledger_id)
        if size is not None:
            tree = await self.checkpoint(db, ledger.id, size)
        else:
            tree = await self.latest(db, ledger.id)
            if seq >= tree.size:  # perhaps newer than what is remembered: ask again
                tree = await self.latest(db, ledger.id, fresh=True)
        if seq >= tree.size:
            await services.refuse_newer_entry(db, ledger.id, seq, tree.size)
        return CachedInclusion(ledger, seq, tree)


K = TypeVar("K")
V = TypeVar("V")


def _keep(memory: dict[K, V], key: K, value: V, limit: int) -> None:
    if len(memory) >= limit:
        memory.clear()  # rare (more distinct keys than a deployment has): start over
    memory[key] = value
