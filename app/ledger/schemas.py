"""The ledger API's output. Hashes are lowercase hex."""

from __future__ import annotations

from typing import Any

import msgspec


class LedgerOut(msgspec.Struct):
    id: int
    origin: str
    county_id: int | None
    size: int
    checkpoint_size: int | None


class EntryOut(msgspec.Struct, omit_defaults=True):
    ledger: int
    origin: str
    seq: int
    leaf_hash: str
    #: The entry as hashed (RFC 8785 JSON); only for reviewers and admins of the ledger.
    entry: dict[str, Any] | None = None


class InclusionOut(msgspec.Struct):
    ledger: int
    origin: str
    index: int
    tree_size: int
    leaf_hash: str
    inclusion_path: list[str]
    root: str
    checkpoint: str


class ConsistencyOut(msgspec.Struct):
    ledger: int
    origin: str
    old_size: int
    new_size: int
    old_root: str
    new_root: str
    consistency_path: list[str]
    old_checkpoint: str
    new_checkpoint: str


class CheckpointMade(msgspec.Struct):
    ledger: int
    origin: str
    size: int
    created: bool
    checkpoint: str
