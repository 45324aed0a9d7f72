"""Ledger JSON API. Reading the log's shape, checkpoints and proofs is public — anyone
holding a checkpoint must be able to check it; whole entries are for reviewers and admins."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any, cast

from litestar import Controller, MediaType, Request, Response, get, post
from litestar.di import Provide
from litestar.params import Parameter, QueryParameter
from litestar.status_codes import HTTP_304_NOT_MODIFIED
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.auth.access import Principal, allow, public
from app.core.auth.roles import Role
from app.core.clock import Clock
from app.core.db import read_only_factory, transaction
from app.core.web import runtime_of
from app.ledger import services
from app.ledger.cache import ProofCache
from app.ledger.checkpoints import make_checkpoint, signer, verifiers
from app.ledger.models import Ledger, LedgerCheckpoint
from app.ledger.schemas import CheckpointMade, ConsistencyOut, EntryOut, InclusionOut, LedgerOut

TEXT = MediaType.TEXT


#: A proof against an explicit tree size never changes; one against the latest may.
CACHE_IMMUTABLE = "public, max-age=31536000, immutable"
CACHE_REVALIDATE = "public, no-cache"
_PROOF_CACHE = "ledger.proof_cache"
_READ_FACTORY = "ledger.read_only_sessions"


def _keys_dir(request: Request[Any, Any, Any]) -> Any:
    return runtime_of(request).keys.keys_dir


def proof_cache(request: Request[Any, Any, Any]) -> ProofCache:
    """This application's memory of ledger names and checkpoints (app/ledger/cache.py)."""
    extras = runtime_of(request).extras
    cache = extras.get(_PROOF_CACHE)
    if not isinstance(cache, ProofCache):
        cache = extras[_PROOF_CACHE] = ProofCache()
    return cache


async def provide_read_db(request: Request[Any, Any, Any]) -> AsyncIterator[AsyncSession]:
    """The request's one transaction, read-only (app/core/db.py `read_only_factory`)."""
    extras = runtime_of(request).extras
    factory = extras.get(_READ_FACTORY)
    if factory is None:
        factory = extras[_READ_FACTORY] = read_only_factory(runtime_of(request).engine)
    async with transaction(factory) as session:
        yield session


def etag_matches(if_none_match: str | None, etag: str) -> bool:
    """RFC 9110 §13.1.2: weak comparison against a list of entity tags, or `*`."""
    if not if_none_match:
        return False
    tags = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
    return "*" in tags or etag in tags


async def ledger_out(db: AsyncSession, ledger: Ledger) -> LedgerOut:
    latest = await services.latest_checkpoint(db, ledger.id)
    return LedgerOut(
        ledger.id,
        ledger.origin,
        ledger.county_id,
        int(ledger.size),
        int(latest.size) if latest else None,
    )


class LedgerController(Controller):
    path = "/api/v1/ledger"
    tags = ("ledger",)

    @get("/", opt=public())
    async def list_ledgers(self, db: AsyncSession) -> list[LedgerOut]:
        """Every ledger of this deployment with its size and latest checkpoint size."""
        return [await ledger_out(db, ledger) for ledger in await services.ledgers(db)]

    @get("/key", opt=public(), media_type=TEXT)
    async def key(self, request: Request[Any, Any, Any]) -> str:
        """The current C2SP verifier key of checkpoint signatures."""
        return verifiers(_keys_dir(request))[0].to_string() + "\n"

    @get("/keys", opt=public(), media_type=TEXT)
    async def keys(self, request: Request[Any, Any, Any]) -> str:
        """Every verifier key, current first, then those of rotated signing keys."""
        return "".join(v.to_string() + "\n" for v in verifiers(_keys_dir(request)))

    @get("/{ledger_id:int}/checkpoint", opt=public(), media_type=TEXT)
    async def checkpoint(
        self, db: AsyncSession, ledger_id: int, size: int | None = Parameter(default=None, ge=1)
    ) -> str:
        """The latest signed checkpoint note (or the stored one of `size`)."""
        ledger = await services.get_ledger(db, ledger_id)
        row: LedgerCheckpoint = await services.checkpoint_at(db, ledger.id, size)
        return row.note

    @post("/{ledger_id:int}/checkpoint", opt=allow(Role.admin), status_code=200)
    async def make(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        clock: Clock,
        actor: Principal,
        ledger_id: int,
    ) -> CheckpointMade:
        """Sign a checkpoint now, if the ledger grew since the last one."""
        ledger = await services.get_ledger(db, ledger_id)
        await services.require_ledger_admin(db, actor, ledger)
        made = await make_checkpoint(db, ledger.id, signer(_keys_dir(request)), clock.now())
        if made is not None:
            proof_cache(request).forget_latest(ledger.id)
        row = made or await services.checkpoint_at(db, ledger.id, None)
        return CheckpointMade(ledger.id, ledger.origin, int(row.size), made is not None, row.note)

    @get("/{ledger_id:int}/entries/{seq:int}", opt=public())
    async def entry(
        self, db: AsyncSession, request: Request[Any, Any, Any], ledger_id: int, seq: int
    ) -> EntryOut:
        """The entry for reviewers and admins of the ledger's county; its leaf hash for others."""
        ledger = await services.get_ledger(db, ledger_id)
        row = await services.get_entry(db, ledger.id, seq)
        out = EntryOut(ledger.id, ledger.origin, seq, bytes(row.leaf_hash).hex())
        if await services.may_read_entries(db, request.scope.get("user"), ledger):
            out.entry = services.entry_json(row)
        return out

    @get(
        "/{ledger_id:int}/entries/{seq:int}/proof",
        opt=public(),
        dependencies={"db": Provide(provide_read_db)},
    )
    async def proof(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        ledger_id: int,
        seq: int,
        size: int | None = Parameter(default=None, ge=1),
    ) -> Response[InclusionOut]:
        """Inclusion proof against the stored checkpoint of `size`, or the latest.

        With `size` the answer never changes and may be cached for good; without, caches
        revalidate. Either way `If-None-Match` with the ETag answers 304 without a query."""
        found = await proof_cache(request).inclusion(db, ledger_id, seq, size)
        etag = found.etag
        headers = {
            "ETag": etag,
            "Cache-Control": CACHE_IMMUTABLE if size is not None else CACHE_REVALIDATE,
        }
        if etag_matches(request.headers.get("if-none-match"), etag):
            not_modified = Response(None, status_code=HTTP_304_NOT_MODIFIED, headers=headers)
            return cast(Response[InclusionOut], not_modified)
        leaf_hash, path = await services.inclusion_path(db, found.ledger.id, seq, found.tree.size)
        out = InclusionOut(
            found.ledger.id,
            found.ledger.origin,
            seq,
            found.tree.size,
            leaf_hash.hex(),
            [h.hex() for h in path],
            found.tree.root.hex(),
            found.tree.note,
        )
        return Response(out, headers=headers)

    @get("/{ledger_id:int}/consistency", opt=public())
    async def consistency(
        self,
        db: AsyncSession,
        ledger_id: int,
        from_size: Annotated[int, QueryParameter(name="from", ge=1)],
        to_size: Annotated[int | None, QueryParameter(name="to", ge=1)] = None,
    ) -> ConsistencyOut:
        """Consistency proof between two stored checkpoints (`to` defaults to the latest)."""
        ledger = await services.get_ledger(db, ledger_id)
        proof = await services.prove_consistency(db, ledger, from_size, to_size)
        return ConsistencyOut(
            ledger.id,
            ledger.origin,
            int(proof.old.size),
            int(proof.new.size),
            bytes(proof.old.root).hex(),
            bytes(proof.new.root).hex(),
            [h.hex() for h in proof.path],
            proof.old.note,
            proof.new.note,
        )

    @get("/{ledger_id:int}/entries/{seq:int}/bundle", opt=allow(*services.ENTRY_READERS))
    async def bundle(
        self,
        db: AsyncSession,
        actor: Principal,
        ledger_id: int,
        seq: int,
        size: int | None = Parameter(default=None, ge=1),
    ) -> dict[str, Any]:
        """The offline proof bundle (docs/ledger-bundle.md) of one entry."""
        ledger = await services.get_ledger(db, ledger_id)
        await services.require_entry_reader(db, actor, ledger)
        return await services.proof_bundle(db, ledger, seq, size)


ROUTES = [LedgerController]
